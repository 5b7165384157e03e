"""One Airflow DAG per harvest source config (``include/sources/<agency>/<source>.yaml``).

The configs are found relative to this file, or in ``$HARVEST_SOURCES_DIR``.
The DAGs themselves are rendered by ``harvest_factory`` (the Airflow glue, next
to this file). A config that fails validation becomes a placeholder DAG named
``invalid__<agency>__<file>`` whose only task fails with the validation
message, so the problem shows in the UI and every other source still loads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from airflow.sdk import get_parsing_context

# Airflow's own processes put the DAG bundle's folder on sys.path; a bare DagBag(dag_folder=...) does not.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from harvest_factory import build_dag, build_error_dag  # noqa: E402
from harvesters.config import discover, load_all  # noqa: E402

SOURCES_DIR = Path(os.environ.get("HARVEST_SOURCES_DIR") or Path(__file__).resolve().parent.parent / "include" / "sources")


def render_all(sources_dir: Path = SOURCES_DIR) -> dict:
    wanted = get_parsing_context().dag_id  # on a worker: build only the DAG being run
    paths = discover(sources_dir)
    loaded, errors = load_all(sources_dir, paths)
    dags = {}
    for source in loaded:
        if wanted is None or wanted == source.config.id:
            dags[source.config.id] = build_dag(source, sources_dir)
    for error in errors:
        d = build_error_dag(error)
        if wanted is None or wanted == d.dag_id:
            dags[d.dag_id] = d
    return dags


# Airflow finds DAGs among module globals.
globals().update({f"dag__{k.replace('-', '_')}": v for k, v in render_all().items()})
