"""Running harvest DAGs with dag.test() against the real local CKAN, answering approvals like a person.

dag.test() parks an approval task in ``awaiting_input`` and polls the database.
A background thread plays the approver: it waits for that state, then answers
through Airflow's public endpoint ``PATCH .../taskInstances/dataset.approve/<i>/hitlDetails``,
served in-process by FastAPI's TestClient with a token of the approver's own
user, so Airflow's rule that only assigned users may answer is exercised too.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path

import ckanapi
import pytest

from harvesters.settings import REPO_ROOT

# Airflow imports happen here, in the main thread: the answering thread importing
# them while dag.test() runs deadlocks on import locks (see platform notes).
from airflow.api_fastapi.app import create_app, get_auth_manager  # noqa: E402
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser  # noqa: E402
from airflow.dag_processing.dagbag import DagBag  # noqa: E402
from airflow.models.hitl import HITLDetail  # noqa: E402
from airflow.models.taskinstance import TaskInstance  # noqa: E402
from airflow.utils.session import create_session  # noqa: E402
from airflow.utils.state import TaskInstanceState  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

APPROVAL_WAIT = 180  # seconds before the safety valve fails a parked task


@pytest.fixture(scope="module")
def monkeypatch_module():
    """Environment changes that last for one test module (pytest's monkeypatch is per test)."""
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def airflow_portal(services, airflow_db, monkeypatch_module):
    ckan = services["ckan"]
    # The portal comes from the Airflow connection only: the env fallback is switched off here.
    monkeypatch_module.delenv("HARVEST_PORTAL_URL", raising=False)
    monkeypatch_module.delenv("HARVEST_PORTAL_TOKEN", raising=False)
    monkeypatch_module.setenv("AIRFLOW_CONN_GDC_PORTAL", json.dumps(
        {"conn_type": "http", "host": ckan["url"], "password": ckan["token"]}))
    monkeypatch_module.setenv("HARVEST_CFG_DEMO_SITE_URL", services["demo_site"]["url"])
    monkeypatch_module.setenv("HARVEST_CFG_DEMO_CATALOG_URL", ckan["url"])
    return ckanapi.RemoteCKAN(ckan["url"], apikey=ckan["token"])


def load_dags(sources_dir: Path | None = None) -> DagBag:
    """The DAGs of a sources folder (default: the repo's). dag.test() re-parses the DAG file,
    so run_dag puts the same folder in force again while a DAG runs."""
    with _sources(sources_dir):
        bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    bag.harvest_sources_dir = sources_dir
    return bag


@contextlib.contextmanager
def _sources(sources_dir: Path | None):
    previous = os.environ.pop("HARVEST_SOURCES_DIR", None)
    if sources_dir is not None:
        os.environ["HARVEST_SOURCES_DIR"] = str(sources_dir)
    try:
        yield
    finally:
        os.environ.pop("HARVEST_SOURCES_DIR", None)
        if previous is not None:
            os.environ["HARVEST_SOURCES_DIR"] = previous


APPROVE_TASK = "dataset.approve"  # the mapped task group runs prepare → approve → publish per dataset


class Approver(threading.Thread):
    """Answers each of the run's approval tasks once it waits for input; fails it if answering breaks.

    ``options`` may name a different answer per dataset (by dataset name).
    """

    def __init__(self, dag_id: str, user: str, option: str, reason: str = "", options: dict[str, str] | None = None):
        super().__init__(daemon=True)
        self.dag_id, self.user, self.option, self.reason = dag_id, user, option, reason
        self.options = options or {}
        self.answered: list[str] = []  # dataset names, in the order answered
        self.error: str | None = None
        self.stop = threading.Event()
        self.started_at = time.time()
        # Built here, in the main thread; it also initialises the auth manager that signs our token.
        self.app = create_app()

    def _parked(self) -> list[TaskInstance]:
        with create_session() as session:
            tis = (session.query(TaskInstance)
                   .filter(TaskInstance.dag_id == self.dag_id, TaskInstance.task_id == APPROVE_TASK,
                           TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                           TaskInstance.start_date >= _utc(self.started_at - 5))
                   .all())
            for ti in tis:
                session.expunge(ti)
            return tis

    def _dataset(self, ti: TaskInstance) -> str:
        """The dataset an approval asks about: its subject reads "Open <dataset> on the portal?"."""
        with create_session() as session:
            detail = session.get(HITLDetail, ti.id)
            subject = detail.subject if detail is not None else ""
        return subject.removeprefix("Open ").removesuffix(" on the portal?") or str(ti.map_index)

    def _answer(self, ti: TaskInstance) -> None:
        name = self._dataset(ti)
        option = self.options.get(name, self.option)
        token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=self.user, role="user"))
        with TestClient(self.app) as client:
            response = client.patch(
                f"/api/v2/dags/{self.dag_id}/dagRuns/{ti.run_id}/taskInstances/{APPROVE_TASK}/{ti.map_index}"
                "/hitlDetails",
                json={"chosen_options": [option], "params_input": {"reason": self.reason}},
                headers={"Authorization": f"Bearer {token}"})
        if response.status_code != 200:
            raise RuntimeError(f"answering the approval of {name} failed: {response.status_code} "
                               f"{response.text[:300]}")
        self.answered.append(name)

    def run(self) -> None:
        done: set[str] = set()
        deadline = time.time() + APPROVAL_WAIT
        ti = None
        try:
            while not self.stop.is_set() and time.time() < deadline:
                for ti in self._parked():
                    if ti.id not in done:
                        time.sleep(1)  # answering the instant it parks races the runner (platform notes)
                        self._answer(ti)
                        done.add(ti.id)
                time.sleep(0.5)
        except Exception as exc:  # noqa: BLE001 - recorded, and the safety valve below unblocks dag.test()
            self.error = f"{type(exc).__name__}: {exc}"
            if ti is not None:
                with create_session() as session:
                    session.query(TaskInstance).filter(TaskInstance.id == ti.id).update(
                        {"state": TaskInstanceState.FAILED})


def _utc(ts: float):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc)


def run_dag(bag: DagBag, dag_id: str, *, approve_as: str | None = None, reject_as: str | None = None,
            reason: str = "", options: dict[str, str] | None = None):
    """dag.test() with an approver answering if the run asks. Returns (dag_run, approver or None)."""
    approver = None
    if approve_as or reject_as:
        approver = Approver(dag_id, approve_as or reject_as, "Approve" if approve_as else "Reject", reason, options)
        approver.start()
    try:
        with _sources(bag.harvest_sources_dir):
            run = bag.dags[dag_id].test()
    finally:
        if approver:
            approver.stop.set()
            approver.join(timeout=10)
    if approver and approver.error:
        raise AssertionError(approver.error)
    return run, approver


def xcom(run, task_id: str, map_index: int | None = None):
    """A task's return value in a finished run, read from the metadata database.

    Tasks of the ``dataset`` group are mapped: the first dataset's unless ``map_index`` says otherwise.
    """
    from airflow.models.xcom import XComModel

    if map_index is None:
        map_index = 0 if task_id.startswith("dataset.") else -1
    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id,
                                                 key="return_value", map_indexes=map_index)).first()
        return XComModel.deserialize_value(row) if row else None


def approval_answer(run, map_index: int = 0) -> HITLDetail | None:
    """What the approver answered (the record Airflow's UI shows under Required Actions)."""
    ti = next(t for t in run.get_task_instances() if t.task_id == APPROVE_TASK and t.map_index == map_index)
    with create_session() as session:
        detail = session.get(HITLDetail, ti.id)
        if detail is not None:
            session.expunge(detail)
        return detail


def task_states(run) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}


def run_cost(run) -> tuple[dict[str, int], int]:
    """What a finished run cost Airflow: how many task instances of each task started on a worker, and the
    bytes of XCom the run wrote (their JSON). A task instance the scheduler skipped or left unexpanded never
    started: its try_number stays 0."""
    from airflow.models.xcom import XComModel

    started: dict[str, int] = {}
    for ti in run.get_task_instances():
        if ti.try_number:
            started[ti.task_id] = started.get(ti.task_id, 0) + 1
    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id)).all()
        size = sum(len(json.dumps(XComModel.deserialize_value(r), ensure_ascii=False).encode()) for r in rows)
    return started, size
