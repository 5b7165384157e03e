"""A LocalExecutor that reads a finished worker's exit late, up to when the same task is sent out again.

On a busy scheduler, a worker's exit is read some time after the worker told
the API what it did. An approval task parks itself (its worker exits); an
answer that comes before the scheduler reads that exit resumes the task under
the same key, and the stale exit is read while the resumed task is queued or
running. That is the race test_approval_race.py reproduces; this executor makes
it certain instead of occasional: a finished report is held until its task key
has been sent to a worker again (or at most ``HOLD`` seconds), and delivered at
once if that already happened. Loaded by that test's scheduler through
``AIRFLOW__CORE__EXECUTOR``, in two kinds: over Airflow's own LocalExecutor
(``PlainLagging``, the upstream reproduction) and over the project's
``HarvestLocalExecutor`` (``GuardedLagging``, the fix).
"""

from __future__ import annotations

import time
from collections import Counter

from airflow.executors.local_executor import LocalExecutor
from airflow.utils.state import TaskInstanceState
from harvest_executors import HarvestLocalExecutor

HOLD = 30.0  # seconds at most (a busy test machine may take long to answer)


class _Lag:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._held: list[tuple[float, object, object, object, bool]] = []
        self._lag_sent: Counter = Counter()  # times each key went to a worker
        self._lag_reported: Counter = Counter()  # finished reports delivered per key

    def _process_workloads(self, workload_list):
        self._lag_sent.update(w.key for w in workload_list)
        super()._process_workloads(workload_list)

    def _sent_again(self, key) -> bool:
        return self._lag_sent[key] > self._lag_reported[key] + 1

    def _deliver(self, key, state, info, remove_running) -> None:
        self._lag_reported[key] += 1
        super().change_state(key, state, info, remove_running)

    def change_state(self, key, state, info=None, remove_running=True) -> None:
        if state not in (TaskInstanceState.SUCCESS, TaskInstanceState.FAILED):
            super().change_state(key, state, info, remove_running)
        elif self._sent_again(key) or self._lag_reported[key]:  # only a key's first exit is held
            self._deliver(key, state, info, remove_running)
        else:
            self._held.append((time.monotonic() + HOLD, key, state, info, remove_running))

    def sync(self) -> None:
        super().sync()
        now, held = time.monotonic(), []
        for entry in self._held:
            until, key, state, info, remove_running = entry
            if until <= now or self._sent_again(key):
                self._deliver(key, state, info, remove_running)
            else:
                held.append(entry)
        self._held = held


class PlainLagging(_Lag, LocalExecutor):
    pass


class GuardedLagging(_Lag, HarvestLocalExecutor):
    pass
