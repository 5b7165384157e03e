"""Renders the harvest DAGs of one shard file (``harvest_sources_NN.py``): one DAG per source config.

Not a DAG file itself (see ``.airflowignore``): the shard files next to it call ``render_shard``.
The configs (``include/sources/<agency>/<source>.yaml``, or ``$HARVEST_SOURCES_DIR``) are split
over the shard files by a stable hash of their path, each shard keeps a content-keyed cache of
its YAML and an index from DAG id to config file; why, and the measurements behind it, are in
``harvesters/source_index.py``. ``harvest_factory`` (next to this file) builds each DAG.

On a worker (``get_parsing_context().dag_id`` set) only the wanted source's config is read. A
config that fails validation becomes a placeholder DAG named ``invalid__<agency>__<file>``
whose only task fails with the validation message, so the problem shows in the UI and every
other source still loads. More sources: add shard files (copies of ``harvest_sources_00.py``,
numbered on); each holds about 1/N of them.
"""

from __future__ import annotations

import gc
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from airflow.sdk import get_parsing_context

HERE = Path(__file__).resolve().parent
# Airflow's own processes put the DAG bundle's folder on sys.path; a bare DagBag(dag_folder=...) does not.
if str(HERE) not in sys.path:
    sys.path.append(str(HERE))

from harvest_factory import build_dag, build_error_dag  # noqa: E402
from harvesters.config import load_source  # noqa: E402
from harvesters.errors import ConfigError  # noqa: E402
from harvesters.source_index import Shard  # noqa: E402

SHARD_PREFIX = "harvest_sources_"


def sources_dir() -> Path:
    return Path(os.environ.get("HARVEST_SOURCES_DIR") or HERE.parent / "include" / "sources")


def shard_count() -> int:
    numbers = sorted(int(p.stem[len(SHARD_PREFIX):]) for p in HERE.glob(f"{SHARD_PREFIX}[0-9]*.py"))
    if numbers != list(range(len(numbers))):
        raise ImportError(f"the shard files {SHARD_PREFIX}NN.py in {HERE} must be numbered 00, 01, ... without gaps "
                          f"(found {numbers})")
    return len(numbers)


def _one(shard: Shard, wanted: str):
    """The wanted DAG from the one config the shard's index names ({} when the index says another shard
    has it), or None when the index cannot tell (none yet, or that file no longer gives that DAG)."""
    index = shard.index()
    if index is None:
        return None
    if wanted not in index:
        return {}
    try:
        dag = build_dag(load_source(index[wanted], shard.sources_dir), shard.sources_dir)
    except ConfigError as error:
        dag = build_error_dag(error)
    return dag if dag.dag_id == wanted else None


def render(shard: Shard, wanted: str | None = None) -> dict:
    """This shard's DAGs by id; with ``wanted`` (a worker), just that one when the index knows it."""
    if wanted is not None and (dag := _one(shard, wanted)) is not None:
        return {wanted: dag} if dag else {}
    loaded, errors = shard.load()
    dags, files = {}, {}
    for source in loaded:
        if wanted is None or wanted == source.config.id:
            dags[source.config.id] = build_dag(source, shard.sources_dir)
        files[source.config.id] = source.path
    for error in errors:
        d = build_error_dag(error)
        files[d.dag_id] = Path(error.file)
        if wanted is None or wanted == d.dag_id:
            dags[d.dag_id] = d
    shard.save(files)
    return dags


def render_shard(dag_file: str, namespace: dict) -> None:
    """Put the DAGs of the shard file ``dag_file`` among its module globals (where Airflow finds them)."""
    number = int(Path(dag_file).stem[len(SHARD_PREFIX):])
    shard = Shard(sources_dir(), number, shard_count())
    with _without_cyclic_gc():
        dags = render(shard, get_parsing_context().dag_id)
    namespace.update({f"dag__{k.replace('-', '_')}": v for k, v in dags.items()})


@contextmanager
def _without_cyclic_gc():
    """Python's cyclic garbage collector paused while a shard's DAGs are built, and what they
    leave standing kept out of its later passes.

    Building a DAG allocates thousands of container objects (operators, their params and
    dependencies) that all live on: the collector ran again and again over every object
    built so far, for this shard and the ones parsed before it, and found nothing to free.
    Paused, the build's own garbage is collected once at the end (the young generation:
    only what this shard made) and the survivors are frozen (``gc.freeze``), so the next
    shards' collections skip them. They live as long as the parse does anyway (Airflow parses
    each DAG file in a process of its own, and a task's process builds its one DAG). Measured
    with bench dagbag: 10,000 configs in 25.6 s, against 39.1 s paused only and ~41-55 s
    before; 3,000 in 8.6-9.0 s against 11.4-15.6 s."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        gc.freeze()
        if was_enabled:
            gc.enable()
