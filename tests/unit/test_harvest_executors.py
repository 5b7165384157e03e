"""The stale-exit guard of plugins/harvest_executors.py, step by step (the live race: tests/e2e/test_approval_race.py)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

from airflow.executors.base_executor import BaseExecutor
from airflow.models.taskinstancekey import TaskInstanceKey
from airflow.utils.state import TaskInstanceState

from harvesters.settings import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "plugins"))
import harvest_executors  # noqa: E402

KEY = TaskInstanceKey("dag", "approve", "run", try_number=1, map_index=0)
OTHER = TaskInstanceKey("dag", "publish", "run", try_number=1, map_index=0)


class _Recorder(BaseExecutor):
    """A base executor that sends nothing anywhere: the guard's bookkeeping is all that runs."""

    def _process_workloads(self, workload_list):
        pass


class Guarded(harvest_executors.StaleExitGuard, _Recorder):
    pass


def _send(executor, *keys):
    executor._process_workloads([SimpleNamespace(key=k) for k in keys])


def _finish(executor, key, state=TaskInstanceState.SUCCESS):
    executor.change_state(key, state)
    return executor.event_buffer.pop(key, None)


def test_an_ordinary_exit_is_reported():
    ex = Guarded()
    _send(ex, KEY)
    assert _finish(ex, KEY) == (TaskInstanceState.SUCCESS, None)
    _send(ex, KEY)  # resumed later, after the parked run's exit was read: reported too
    assert _finish(ex, KEY, TaskInstanceState.FAILED) == (TaskInstanceState.FAILED, None)


def test_the_exit_of_a_run_already_superseded_is_dropped():
    ex = Guarded()
    _send(ex, KEY)  # the approval runs and parks
    _send(ex, KEY)  # answered at once: resumed and sent out again before the parked run's exit was read
    assert _finish(ex, KEY) is None  # the parked run's exit: stale, so the scheduler never sees it
    assert _finish(ex, KEY) == (TaskInstanceState.SUCCESS, None)  # the resumed run's own exit counts
    assert KEY not in ex._sent and KEY not in ex._finished  # nothing kept once every run has ended


def test_other_tasks_and_running_reports_pass_through():
    ex = Guarded()
    _send(ex, KEY, KEY)
    ex.change_state(KEY, TaskInstanceState.RUNNING, remove_running=False)
    assert ex.event_buffer.pop(KEY) == (TaskInstanceState.RUNNING, None)
    assert _finish(ex, OTHER) == (TaskInstanceState.SUCCESS, None)  # a key this executor never sent


def test_production_executors_carry_the_guard():
    from airflow.executors.local_executor import LocalExecutor
    from airflow.providers.celery.executors.celery_executor import CeleryExecutor

    assert issubclass(harvest_executors.HarvestLocalExecutor, LocalExecutor)
    celery = harvest_executors.HarvestCeleryExecutor
    assert issubclass(celery, CeleryExecutor) and issubclass(celery, harvest_executors.StaleExitGuard)
    # Airflow's executor loader finds both by the names the demo and docker-compose.yaml configure.
    from airflow.executors.executor_loader import ExecutorLoader
    from airflow.executors.executor_utils import ExecutorName

    for name, base in (("HarvestLocalExecutor", LocalExecutor), ("HarvestCeleryExecutor", CeleryExecutor)):
        loaded = ExecutorLoader.import_executor_cls(ExecutorName(f"harvest_executors.{name}"))[0]
        # (Airflow's plugin manager may import plugins/ modules under its own name: compare by name.)
        assert loaded.__name__ == name and issubclass(loaded, base)
        assert "StaleExitGuard" in [c.__name__ for c in loaded.__mro__]
