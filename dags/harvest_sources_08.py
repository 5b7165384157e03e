"""Harvest DAGs (Airflow): the source configs of this shard, one DAG each. All shard files are alike;
which sources a file renders follows from its number (see harvest_sources.py)."""

import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # Airflow adds the DAG folder; a bare DagBag does not
    sys.path.append(str(Path(__file__).resolve().parent))

from harvest_sources import render_shard  # noqa: E402

render_shard(__file__, globals())
