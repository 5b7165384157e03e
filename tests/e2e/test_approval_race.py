"""An approval answered the moment it is asked is taken: a real scheduler, executor and API server.

The race (Airflow 3.3.2, LocalExecutor or Celery): the approval task parks
itself in ``awaiting_input`` and its worker process exits. An answer that comes
before the scheduler has read that exit resumes the task at once: the scheduler
queues it again under the same try number, then reads the stale exit
("success"), and the executor drops the queued task from its running set while
doing so; the scheduler concludes the task was "killed externally" and fails it
("Executor reported that the task instance finished with state success, but the
task instance's state attribute is queued"). Airflow 3.3 guards the case where
the resumed task is still ``scheduled``, not ``queued`` or ``running``.

``lagging_executor`` makes the scheduler read each exit late, until the same
task has been sent out again, so an answer given at once always lands in that
window. One Airflow runs two executors side by side:
- ``test_upstream_race``: Airflow's own LocalExecutor and ApprovalOperator, the
  minimal reproduction to report upstream (an xfail: when it passes run after
  run, Airflow fixed it and the project's guard can go; it is not strict, since
  the scheduler's loop order can, rarely, still dodge the race);
- ``test_answer_given_at_once_is_taken``: the project's executor
  (``plugins/harvest_executors.py``, which drops the stale exit) and its
  ApprovalIfNeeded (dags/harvest_factory.py): the run ends green on the first
  try, and the scheduler's log shows the guard at work.

The processes bind 127.0.0.1 (the scheduler's log server is switched off) and
are stopped by process group.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from harvesters.settings import REPO_ROOT
from tests.airflow_stack import AirflowStack

pytestmark = pytest.mark.airflow

AIRFLOW_VERSION_WITH_RACE = "3.3.2"
PROJECT_DAG, UPSTREAM_DAG = "approval_race_project", "approval_race_upstream"
DATASETS = ["race-a", "race-b"]

DAG_FILE = textwrap.dedent(f'''
    from datetime import datetime

    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.sdk import dag

    from harvest_factory import ApprovalIfNeeded

    START = datetime(2026, 1, 1)


    @dag(dag_id={PROJECT_DAG!r}, schedule=None, start_date=START, catchup=False)
    def project():
        ApprovalIfNeeded.partial(
            task_id="approve", subject="approve?", body="", map_index_template="{{{{ file_key }}}}",
            retries=0, executor="guarded",
        ).expand(plan=[{{"dataset": name, "needs_approval": True, "summary_md": "answer at once"}}
                       for name in {DATASETS!r}])


    @dag(dag_id={UPSTREAM_DAG!r}, schedule=None, start_date=START, catchup=False)
    def upstream():
        ApprovalOperator(task_id="approve", subject="approve?", body="", retries=0, executor="plain")


    project()
    upstream()
''')


class Airflow(AirflowStack):
    """scheduler + dag-processor + api-server over the race DAGs, with the lagging test executors."""

    def __init__(self, home: Path):
        dags = home / "dags"
        dags.mkdir(parents=True)
        (dags / "race_dags.py").write_text(DAG_FILE, encoding="utf-8")
        super().__init__(home, dags_folder=dags, env={
            "AIRFLOW__CORE__EXECUTOR": "guarded:lagging_executor.GuardedLagging,plain:lagging_executor.PlainLagging",
            # The test executors, the project's executor, and the DAG glue (harvest_factory) the test DAG imports.
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(REPO_ROOT / "plugins"),
                                           str(REPO_ROOT / "dags")]),
        })
        self.client = self.clients["admin"]  # the demo's client: login, retried calls

    def log_once(self, ready, deadline: float) -> str:
        """The processes' log once ``ready(text)`` holds (a run can end before the scheduler logs its last events)."""
        while True:
            text = (self.home / "airflow.log").read_text(encoding="utf-8", errors="replace")
            if ready(text) or time.time() > deadline:
                return text
            time.sleep(1)

    def api(self, method: str, path: str, json: dict | None = None) -> dict:
        return self.client.get(path) if method == "GET" else self.client.send(method, path, json)

    def trigger(self, dag_id: str, deadline: float) -> str:
        while time.time() < deadline:  # the DAG processor needs a moment to parse the file
            r = self.client.http.get(f"{self.base}/api/v2/dags/{dag_id}", timeout=30)
            if r.status_code == 200:
                return self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"]
            time.sleep(1)
        raise RuntimeError(f"{dag_id} was never parsed; see {self.home / 'airflow.log'}")

    def answer_at_once(self, runs: dict[str, str], deadline: float) -> dict[str, str]:
        """Approve every approval the moment it waits (no pause), until each run ends; run states by DAG."""
        answered: set[tuple[str, int]] = set()
        states: dict[str, str] = {}
        while len(states) < len(runs) and time.time() < deadline:
            for dag_id, run_id in runs.items():
                if dag_id in states:
                    continue
                tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
                for ti in tis:
                    key = (dag_id, ti["map_index"])
                    if ti["state"] == "awaiting_input" and key not in answered:
                        self.api("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/approve/"
                                          f"{ti['map_index']}/hitlDetails", json={"chosen_options": ["Approve"]})
                        answered.add(key)
                state = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
                if state in ("success", "failed"):
                    states[dag_id] = state
            time.sleep(0.2)
        return states


@pytest.fixture(scope="module")
def race(tmp_path_factory):
    """Both DAGs run side by side in one Airflow, every approval answered at once; their run states."""
    airflow = Airflow(tmp_path_factory.mktemp("airflow-race"))
    try:
        airflow.start()
        deadline = time.time() + 300
        runs = {dag_id: airflow.trigger(dag_id, deadline) for dag_id in (PROJECT_DAG, UPSTREAM_DAG)}
        states = airflow.answer_at_once(runs, deadline)
        tis = {dag_id: airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
               for dag_id, run_id in runs.items()}
        hitl = airflow.api("GET", "/dags/~/dagRuns/~/hitlDetails")["hitl_details"]
        log = airflow.log_once(lambda text: text.count("Ignoring the exit of an earlier run") >= len(DATASETS),
                               time.time() + 45)
        yield {"states": states, "tis": tis, "hitl": hitl, "runs": runs, "log": log}
    finally:
        airflow.stop()


def test_answer_given_at_once_is_taken(race):
    assert race["states"][PROJECT_DAG] == "success", race["tis"][PROJECT_DAG]
    approvals = race["tis"][PROJECT_DAG]
    assert sorted(ti["rendered_map_index"] for ti in approvals) == DATASETS
    assert all(ti["state"] == "success" and ti["try_number"] == 1 for ti in approvals), approvals
    # The race happened (each resumed approval went out before its parked run's exit was read), and the
    # project's executor dropped that stale exit instead of reporting it.
    guarded = [line for line in race["log"].splitlines()
               if "Ignoring the exit of an earlier run" in line and PROJECT_DAG in line]
    assert guarded, "the race never happened: the test proves nothing"
    # Asked once per dataset, and the answer on record is the one given.
    details = [d for d in race["hitl"] if d["task_instance"]["dag_id"] == PROJECT_DAG]
    assert len(details) == len(DATASETS)
    assert all(d["chosen_options"] == ["Approve"] and d["responded_by_user"]["id"] == "admin" for d in details)


@pytest.mark.xfail(strict=False, reason=f"apache-airflow=={AIRFLOW_VERSION_WITH_RACE}: an approval answered before "
                                       "the scheduler reads the parked worker's exit is failed as 'killed "
                                       "externally'. When this passes, Airflow fixed it: drop "
                                       "plugins/harvest_executors.py.")
def test_upstream_race(race):
    assert race["states"][UPSTREAM_DAG] == "success"
