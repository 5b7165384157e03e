"""Airflow's executors with one fix: an approval answered the moment it is asked is never failed.

The race (apache-airflow 3.3.2, reproduced in ``tests/e2e/test_approval_race.py``):
an approval task parks itself in ``awaiting_input`` and its worker process
exits. If the approver answers before the scheduler has read that exit, the
task is resumed under the same task-instance key: the scheduler queues it and
the executor sends it to a worker. Then the executor reads the stale exit of the
parked run, reports "success" for that key and forgets the task it has just
sent out; the scheduler finds the task instance queued or running, takes it for
"killed externally" and fails it. Airflow 3.3 guards only the case where the
resumed task is still ``scheduled``. The same holds for any deferred task that
resumes quickly.

The fix, at its root: an executor that has sent a task out again since a run of
it started knows that run's exit report is stale, and drops it (the task
instance's state was already reported to the API by the task itself; only the
resumed run's own exit counts). Select it with
``AIRFLOW__CORE__EXECUTOR=harvest_executors.HarvestLocalExecutor`` (bin/demo) or
``harvest_executors.HarvestCeleryExecutor`` (docker-compose.yaml). This module
lives in ``plugins/`` because Airflow puts that folder on ``sys.path`` of all
its processes, where the executor loader finds it by name.
"""

from __future__ import annotations

from collections import Counter

from airflow.executors.local_executor import LocalExecutor
from airflow.utils.state import TaskInstanceState

_FINISHED = (TaskInstanceState.SUCCESS, TaskInstanceState.FAILED)


class StaleExitGuard:
    """Mixin for an executor: drop a finished report of a run that was superseded by a resend of its key."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sent: Counter = Counter()  # times each workload key went to a worker
        self._finished: Counter = Counter()  # finished reports seen per key

    def _process_workloads(self, workload_list):
        self._sent.update(w.key for w in workload_list)
        super()._process_workloads(workload_list)

    def change_state(self, key, state, info=None, remove_running=True) -> None:
        if state not in _FINISHED or key not in self._sent:
            super().change_state(key, state, info, remove_running)
            return
        self._finished[key] += 1
        stale = self._sent[key] > self._finished[key]  # a later run of the same key is already out
        if self._sent[key] <= self._finished[key]:  # every run of the key has ended: forget it
            del self._sent[key], self._finished[key]
        if stale:
            self.log.info("Ignoring the exit of an earlier run of %s: the task was resumed and sent out again "
                          "before this exit was read", key)
            return
        super().change_state(key, state, info, remove_running)


class HarvestLocalExecutor(StaleExitGuard, LocalExecutor):
    """LocalExecutor with the stale-exit guard (the demo's executor)."""


def __getattr__(name: str):
    # The Celery provider is in the production image, not in every venv: build that class on first use.
    if name == "HarvestCeleryExecutor":
        from airflow.providers.celery.executors.celery_executor import CeleryExecutor

        cls = type(name, (StaleExitGuard, CeleryExecutor),
                   {"__module__": __name__, "__doc__": "CeleryExecutor with the stale-exit guard (production)."})
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
