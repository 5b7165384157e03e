"""A failed task's log ends with what failed, for which file or dataset, and what to do.

Read as a data engineer reads it: the task logs a real Airflow (scheduler, DAG processor,
API server, the project's LocalExecutor) wrote, fetched through Airflow's own log endpoint
(what the UI shows), for real harvest DAGs against the real local CKAN and a loopback agency
site. One Airflow, four DAGs, the common failures side by side:

- ``invalid__pcd__fail-broken``: a config error (the file, the field, the fix);
- ``fail-files``: one source, three files: a 404, a file the converter refuses because the
  agency replaced its table by a notice (layout changed), and data that breaks the suite;
- ``fail-portal``: the portal refuses a field (named with its Thai and English label):
  an e-mail address in Thai letters, which CKAN's e-mail rule refuses;
- ``fail-reject``: the agency's approver rejects the dataset, with a reason.

The processes bind 127.0.0.1 (the scheduler's log server is switched off: the API server
reads the task log files itself) and are stopped by process group. Set FAILMSG_AIRFLOW_HOME to
keep the Airflow home (its airflow.log and task logs) for a look after the test.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from harvesters.config import load_all
from harvesters.kinds import pools
from harvesters.settings import REPO_ROOT
from tests.airflow_stack import AirflowStack
from tests.loopback import serve_directory

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

APPROVER, PASSWORD = "pcd-approver", "approver-pw"
REJECT_REASON = "ตัวเลขเดือนนี้ยังไม่ได้ตรวจทาน"
GOOD_CSV = "จังหวัด,จำนวน\nเชียงใหม่,12\nลำปาง,7\n"
SUITE = {"name": "fail_counts", "expectations": [
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "จำนวน", "min_value": 0}}]}


def _source(root: Path, source_id: str, files: list[str], site: str, extra: str = "", more: str = "") -> None:
    listed = "\n".join(f"    - url: {site}/{name}\n      title: ไฟล์ {name}" for name in files)
    (root / "pcd" / f"{source_id}.yaml").write_text(f"""
id: {source_id}
schedule: null
retries: 0
source:
  kind: http
  files:
{listed}
{extra}
metadata:
  data_type: record
  title: ทดสอบข้อความเมื่อล้มเหลว {source_id}
  notes: ทดสอบว่าบันทึกของงานที่ล้มเหลวบอกว่าต้องทำอะไร
  tags: [ทดสอบ]
  update_frequency_unit: day
  geo_coverage: province
{more}""", encoding="utf-8")


def make_sources(tmp: Path, site: str) -> Path:
    root = tmp / "sources"
    (root / "pcd").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "include" / "sources" / "pcd" / "_agency.yaml", root / "pcd" / "_agency.yaml")
    _source(root, "fail-files", ["missing.csv", "layout.csv", "counts.csv"], site,
            "validation: {suite: fail_counts, on_failure: block}")
    # An address in Thai letters: the config check takes it, CKAN's e-mail rule (ASCII only) refuses it.
    _source(root, "fail-portal", ["portal.csv"], site, more="  maintainer_email: ศูนย์ข้อมูล@pcd.example.go.th\n")
    _source(root, "fail-reject", ["reject.csv"], site)
    (root / "pcd" / "fail-broken.yaml").write_text(
        "id: fail-broken\nsource: {kind: http, files: [{url: " + site + "/x.csv, title: x}]}\n"
        "metadata: {data_type: record, title: เสีย, notes: เสีย, tags: [ทดสอบ], update_frequency_unit: fortnight,"
        " geo_coverage: province}\n", encoding="utf-8")
    return root


class Airflow(AirflowStack):
    """The project's DAGs in a real scheduler (HarvestLocalExecutor), with an admin and the agency's approver."""

    def __init__(self, home: Path, env: dict[str, str]):
        super().__init__(home, users={"admin": ("admin", "admin"), APPROVER: (PASSWORD, "user")}, env={
            **env,
            "AIRFLOW__CORE__EXECUTOR": "harvest_executors.HarvestLocalExecutor",
            # SQLite behind a busy API server: a worker waits longer for its answers than the default.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        })
        self.admin, self.approver = self.clients["admin"], self.clients[APPROVER]

    def run_of(self, dag_id: str, deadline: float) -> str:
        """The run the scheduler started itself (the error DAG is @once)."""
        while time.time() < deadline:
            runs = self.admin.get(f"/dags/{dag_id}/dagRuns")["dag_runs"]
            if runs:
                return runs[0]["dag_run_id"]
            time.sleep(2)
        raise RuntimeError(f"{dag_id} never ran")

    def finish(self, runs: dict[str, str], deadline: float) -> dict[str, str]:
        """Wait for every run to end; reject each approval as the agency's approver, with a reason."""
        states: dict[str, str] = {}
        while len(states) < len(runs) and time.time() < deadline:
            pending = self.admin.get("/dags/~/dagRuns/~/hitlDetails", response_received="false")["hitl_details"]
            for detail in pending:
                ti = detail["task_instance"]
                self.approver.send("PATCH", f"/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/"
                                            f"{ti['task_id']}/{ti['map_index']}/hitlDetails",
                                   {"chosen_options": ["Reject"], "params_input": {"reason": REJECT_REASON}})
            for dag_id, run_id in runs.items():
                state = self.admin.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
                if state in ("success", "failed"):
                    states[dag_id] = state
            time.sleep(2)
        return states

    def task_log(self, dag_id: str, run_id: str, task_id: str, label: str | None = None) -> list[str]:
        """The task's log as the UI shows it, up to Airflow's collapsed "Post Execute" group, as text lines."""
        tis = self.admin.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]
        ti = next(t for t in tis if t["task_id"] == task_id
                  and (label is None or (t.get("rendered_map_index") or "").startswith(label)))
        events = self.admin.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{ti['try_number']}",
                                map_index=ti["map_index"])["content"]
        events = [e for e in events if isinstance(e, dict)]
        # Airflow's "Post Execute" group (collapsed in the UI) closes each execution: keep what comes before
        # the last one (an approval runs twice: before it pauses and when it is answered).
        ends = [i for i, e in enumerate(events) if str(e.get("event", "")).startswith("::group::Post Execute")]
        shown = events[:ends[-1]] if ends else events
        return [line for line in _text(shown) if line.strip()]


def _text(events: list[dict]) -> list[str]:
    """Log events as the UI prints them: the message, then an error's traceback ending "Type: value"."""
    lines: list[str] = []
    for event in events:
        lines += str(event.get("event", "")).splitlines()
        for detail in event.get("error_detail") or []:
            lines.append(f"{detail.get('exc_type')}:")
            lines += str(detail.get("exc_value", "")).splitlines()
    return lines


@pytest.fixture(scope="module")
def failed_runs(services, tmp_path_factory):
    """All four DAGs run in one Airflow; their run states and a reader of their task logs."""
    site_root = tmp_path_factory.mktemp("site")
    (site_root / "layout.csv").write_text("ข้อมูลชุดนี้ย้ายไปที่ระบบใหม่แล้ว\n", encoding="utf-8")  # the table is gone
    (site_root / "counts.csv").write_text("จังหวัด,จำนวน\nเชียงใหม่,-3\nลำปาง,7\n", encoding="utf-8")
    for name in ("portal.csv", "reject.csv"):
        (site_root / name).write_text(GOOD_CSV, encoding="utf-8")
    tmp = tmp_path_factory.mktemp("failmsg")
    expectations = tmp / "expectations"
    expectations.mkdir()
    (expectations / "fail_counts.json").write_text(json.dumps(SUITE), encoding="utf-8")
    home = Path(os.environ.get("FAILMSG_AIRFLOW_HOME") or tmp / "airflow")  # set it to keep the logs
    home.mkdir(parents=True, exist_ok=True)
    with serve_directory(site_root) as site:
        sources = make_sources(tmp, site)
        ckan = services["ckan"]
        env = {
            "HARVEST_SOURCES_DIR": str(sources), "HARVEST_EXPECTATIONS_DIR": str(expectations),
            "HARVEST_STAGING_DIR": str(tmp / "staging"), "HARVEST_ALLOW_HOSTS": "127.0.0.1",
            "AIRFLOW_CONN_GDC_PORTAL": json.dumps({"conn_type": "http", "host": ckan["url"],
                                                   "password": ckan["token"]}),
            "GX_ANALYTICS_ENABLED": "False",
        }
        airflow = Airflow(home, env)
        try:
            airflow.start()
            deadline = time.time() + 600
            dags = {"fail-files", "fail-portal", "fail-reject", "invalid__pcd__fail-broken"}
            airflow.wait_for_dags(dags, deadline)
            # The per-host pools (a fresh home has none); the client retries SQLite's busy answers.
            for name, slots in pools(load_all(sources)[0]).items():
                airflow.admin.send("POST", "/pools", {"name": name, "slots": slots})
            runs = {dag_id: airflow.admin.send("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]
                    for dag_id in sorted(dags - {"invalid__pcd__fail-broken"})}
            runs["invalid__pcd__fail-broken"] = airflow.run_of("invalid__pcd__fail-broken", deadline)
            states = airflow.finish(runs, deadline)
            yield airflow, runs, states
        finally:
            airflow.stop()


def _ends_with(lines: list[str], *expected: str) -> str:
    """The block that ends the log: its last lines hold each expected text, in order, ending with what to do."""
    block = lines[lines.index(next(line for line in reversed(lines) if line.startswith("HARVEST "))):]
    text = "\n".join(block)
    assert block[-1].startswith("What to do  : "), "\n".join(lines[-15:])
    position = 0
    for part in expected:
        found = text.find(part, position)
        assert found >= 0, f"{part!r} not in the end of the log:\n{text}"
        position = found
    return text


@pytest.mark.timeout(1500)  # startup and about 35 task starts on a shared 2-core machine
def test_each_common_failure_ends_its_task_log_with_what_to_do(failed_runs):
    airflow, runs, states = failed_runs
    assert set(states) == set(runs), f"runs still going: {states}"
    assert all(states[dag_id] == "failed" for dag_id in runs if dag_id != "fail-reject"), states
    log = airflow.task_log

    # A config error: the file, the field (with its Thai label), how to check the fix.
    _ends_with(log("invalid__pcd__fail-broken", runs["invalid__pcd__fail-broken"], "report_config_error"),
                      "HARVEST FAILED · config", "What failed : the source config is invalid",
                      "Config file : ", "fail-broken.yaml",
                      "metadata.update_frequency_unit (หน่วยความถี่ของการปรับปรุงข้อมูล)",
                      "What to do  : fix the fields above", "harvest sources validate ")

    files = runs["fail-files"]
    # The agency's file is gone (404): the URL, and to check it with the agency.
    _ends_with(log("fail-files", files, "file.fetch", "missing"),
               "HARVEST FAILED · fetch · fail-files", "What failed : HTTP 404", "File        : http://127.0.0.1:",
               "/missing.csv", "What to do  : the agency's server refused", "update the URL in the source config")
    # The agency replaced its table by a notice: the converter refuses it, the advice names a layout change.
    _ends_with(log("fail-files", files, "file.convert", "layout"),
               "HARVEST FAILED · convert · fail-files", "the converter refused the file (no table)",
               "/layout.csv", "What to do  : the agency seems to have changed the file's layout",
               "last good raw copy in the archive")
    # The suite blocks publishing: which expectation on which column, where the full result is.
    _ends_with(log("fail-files", files, "file.validate", "counts"),
               "HARVEST FAILED · validate · fail-files", "suite fail_counts failed 1 of 1",
               "expect_column_values_to_be_between(จำนวน)", "File        : counts",
               "Result      : ", "validation/counts.json", "What to do  : the data broke the expectation suite")

    # Its dataset is held back whole: which files, and that their own logs say what to do.
    _ends_with(log("fail-files", files, "dataset.prepare"), "HARVEST FAILED · prepare · fail-files",
               "dataset fail-files held back", "layout, missing", "validation failed", "counts",
               "Dataset     : fail-files", "What to do  : deal with each file named above")

    # The portal refuses a field: its key, Thai and English label, and the config key to change.
    _ends_with(log("fail-portal", runs["fail-portal"], "dataset.prepare"),
                      "HARVEST FAILED · prepare · fail-portal", "portal refused package_create of fail-portal",
                      "maintainer_email (อีเมลผู้ติดต่อ / Contact Email)", "is not a valid format",
                      "Dataset     : fail-portal", "What to do  : in the source config of fail-portal, change "
                      "metadata.maintainer_email", "harvest sources validate --portal")

    # A rejection: who and why, in the approval's own log and in the held-back publish's.
    for task_id in ("dataset.approve", "dataset.publish"):
        _ends_with(log("fail-reject", runs["fail-reject"], task_id), f"HARVEST HELD BACK · {task_id[8:]}",
                   "Dataset     : fail-reject", f"Rejected by : {APPROVER}, because: {REJECT_REASON}",
                   "What to do  : nothing was published")
