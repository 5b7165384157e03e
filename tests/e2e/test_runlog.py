"""The end of a run under Airflow: archive, quarantine, report task, run note, asset events, failure mail.

One source, two portal datasets (web_page, each file its own dataset): one file is fine
and is published after approval, the other holds Thai national ID numbers and is refused.
The refused file fails only its own mapped task; its raw bytes go to quarantine; the good
dataset gets an asset event and the refused one none; the report task logs the summary,
stores the report, sets the run's note through the REST API and fails the run; the
agency's notifier mails the failure to a real SMTP server on loopback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
import uvicorn
import yaml

from conftest_e2e import load_dags, run_dag, task_states, xcom
from test_approval import agency_site  # noqa: F401 (a fixture: the tiny agency website)
from test_approval import make_sources
from tests.smtp_sink import smtp_sink
from tests.thai_ids import thai_id

pytestmark = [pytest.mark.integration, pytest.mark.airflow,
              pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]

PAGE = """<html><head><meta charset="utf-8"></head><body><ul id="reports">
  <li><a href="files/north.csv">สถานีภาคเหนือ (ชุดรายงาน)</a></li>
  <li><a href="files/people.csv">รายชื่อผู้ป่วย</a></li>
</ul></body></html>"""
NORTH = "จังหวัด,จำนวน\nเชียงใหม่,12\nลำปาง,7\n".encode("utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def airflow_api(airflow_portal, monkeypatch_module):
    """Airflow's API server (the app dag.test() shares the database with), in a thread on loopback."""
    from airflow.api_fastapi.app import create_app

    monkeypatch_module.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "runlog-e2e-" + "x" * 60)
    app = create_app()  # in the main thread (import locks: see the platform notes); also writes the passwords
    passwords = json.loads((Path(os.environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated")
                           .read_text())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.1)
    monkeypatch_module.setenv("AIRFLOW_CONN_AIRFLOW_API", json.dumps(
        {"conn_type": "http", "host": f"http://127.0.0.1:{port}", "login": "admin", "password": passwords["admin"]}))
    yield
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def bag(airflow_portal, airflow_api, agency_site, tmp_path_factory):  # noqa: F811
    site_root, site_url = agency_site
    (site_root / "files").mkdir(exist_ok=True)
    (site_root / "runlog.html").write_text(PAGE, encoding="utf-8")
    (site_root / "files" / "north.csv").write_bytes(NORTH)
    ids = [thai_id(f"1{n:011d}") for n in (10170020345, 31020012345, 50990011223)]
    (site_root / "files" / "people.csv").write_text(
        "ชื่อ,เลขประจำตัวประชาชน\n" + "".join(f"คนที่ {i},{v}\n" for i, v in enumerate(ids)), encoding="utf-8")
    root = make_sources(tmp_path_factory.mktemp("runlog"), site_url, ["runlog"])
    config = root / "pcd" / "runlog.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        f"""  kind: http
  files:
    - url: {site_url}/runlog.csv
      title: จำนวนสถานีตรวจวัด""",
        f"""  kind: web_page
  url: {site_url}/runlog.html
  links: {{selector: "#reports"}}
  each_file_dataset: true"""), encoding="utf-8")
    agency = root / "pcd" / "_agency.yaml"
    defaults = yaml.safe_load(agency.read_text(encoding="utf-8"))
    defaults["notify"] = {"email": {"to": ["ops@pcd.example.go.th"], "connection": "pcd_smtp"}}
    agency.write_text(yaml.safe_dump(defaults, allow_unicode=True), encoding="utf-8")
    return load_dags(root), ids


class Lines(logging.Handler):
    """What the report task logs (dag.test() runs it in this process; the test session logs warnings only)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_failed_file_report_note_assets_quarantine_and_mail(bag, airflow_portal, services, monkeypatch):
    dags, ids = bag
    logger, captured = logging.getLogger("harvest_runlog"), Lines()
    logger.addHandler(captured)
    monkeypatch.setattr(logger, "level", logging.INFO)
    try:
        with smtp_sink() as sink:
            monkeypatch.setenv("AIRFLOW_CONN_PCD_SMTP", sink.connection_json())
            run, approver = run_dag(dags, "runlog", approve_as="pcd-approver")
    finally:
        logger.removeHandler(captured)

    # One bad file fails its own mapped task, not its sibling; the run ends failed.
    states = task_states(run)
    assert run.state == "failed", states
    assert approver.answered == ["runlog-north"]
    fetched = {xcom(run, "file.fetch", i)["remote"]["key"]: i for i in range(2)}
    assert states[("file.convert", fetched["people"])] == "failed", states
    assert states[("file.validate", fetched["north"])] == "success", states
    publish = {xcom(run, "dataset.publish", i)["dataset"]: i for i in range(2) if xcom(run, "dataset.publish", i)}
    assert list(publish) == ["runlog-north"]
    assert states[("assets", -1)] == "success" and states[("report", -1)] == "failed", states

    # The report task's last log lines: the summary table, naming the file and the reason.
    lines = captured.lines
    tail = lines[lines.index(next(line for line in lines if line.startswith("Run report: runlog"))):]
    assert "FAILED" in tail[0] and tail[-1].startswith("  dataset runlog-people: held back")
    assert "added 1" in tail[1] and "failed 1" in tail[1]
    people = next(line for line in tail if line.strip().startswith("people"))
    assert "failed" in people and "pii" in people

    # The stored report, and `harvest report` reads the same.
    staging = Path(os.environ["HARVEST_STAGING_DIR"])
    [stored] = list(staging.glob("runlog/*/report.json"))
    report = json.loads(stored.read_text(encoding="utf-8"))
    assert report["run_id"] == run.run_id and report["state"] == "failed"
    assert report["counts"]["added"] == 1 and report["counts"]["failed"] == 1
    bad = next(f for f in report["files"] if f["key"] == "people")
    assert bad["reason"] == "pii" and bad["archived"].startswith("_quarantine/runlog/")
    assert {d["name"]: d["status"] for d in report["datasets"]} == {"runlog-north": "created",
                                                                   "runlog-people": "held back"}

    # The run's note, set through the REST API.
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        note = session.get(DagRun, run.id).note
    assert note and note.startswith("**failed**") and "`people`" in note and "pii" in note

    # Archive: the raw file with its checksum; the refused file only in quarantine, owner-only.
    run_dir = stored.parent
    raw = run_dir / "raw" / "north.csv"
    meta = json.loads((run_dir / "raw" / "north.csv.meta.json").read_text())
    assert raw.read_bytes() == NORTH and meta["sha256"] == hashlib.sha256(NORTH).hexdigest()
    assert not list((run_dir / "raw").glob("people*"))
    quarantined = staging / "_quarantine" / "runlog" / run_dir.name / "people.csv"
    assert stat.S_IMODE(quarantined.stat().st_mode) == 0o600
    assert stat.S_IMODE(quarantined.parent.stat().st_mode) == 0o700

    # Asset events: one for the dataset that was published, none for the held-back one.
    from airflow.models.asset import AssetEvent, AssetModel

    with create_session() as session:
        events = session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).filter(
            AssetEvent.source_run_id == run.run_id).with_entities(AssetModel.name, AssetModel.uri).all()
    assert events == [("runlog-north", xcom(run, "dataset.publish", publish["runlog-north"])["url"])]

    # The failure mail: source, file and reason; no secret and no ID number.
    assert len(sink.messages) == 1
    mail = sink.messages[0]
    body = mail.get_body(("html",)).get_content()
    assert mail["Subject"].startswith("[harvest] runlog: 1 file failed")
    assert "Source: runlog" in body and "people (pii)" in body
    for secret in (sink.password, services["ckan"]["token"], *ids):
        assert secret not in mail.as_string()


def test_rerun_with_nothing_changed_emits_no_asset_event(bag, airflow_portal, monkeypatch):
    """The published dataset is unchanged at the source: no upload, no asset event; the report says unchanged."""
    dags, _ = bag
    with smtp_sink() as sink:
        monkeypatch.setenv("AIRFLOW_CONN_PCD_SMTP", sink.connection_json())
        run, _ = run_dag(dags, "runlog")
    assert run.state == "failed", task_states(run)  # the refused file still fails (and is mailed) every run
    assert len(sink.messages) == 1
    assert xcom(run, "assets") == []

    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        assert session.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id).count() == 0
    staging = Path(os.environ["HARVEST_STAGING_DIR"])
    from harvesters.staging import run_key

    report = json.loads((staging / "runlog" / run_key(run.run_id) / "report.json").read_text(encoding="utf-8"))
    assert report["counts"]["unchanged"] == 1 and report["bytes_uploaded"] == 0
    assert {d["name"]: d["status"] for d in report["datasets"]}["runlog-north"] == "unchanged"
