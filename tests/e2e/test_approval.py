"""Approval and publishing rules against the real local CKAN, answered through Airflow's own API.

create → approve → public; reject → private with the reason recorded; an update
without schema change publishes directly; a schema change asks again; a config
that asks for every update asks again; only the agency's approver may answer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest_e2e import approval_answer, load_dags, run_dag, task_states, xcom
from harvesters.settings import REPO_ROOT
from tests.loopback import serve_directory

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

CSV_V1 = "จังหวัด,จำนวน\nเชียงใหม่,12\nลำปาง,7\n"
CSV_V2 = "จังหวัด,จำนวน,หมายเหตุสถานี\nเชียงใหม่,12,ก\nลำปาง,7,ข\n"  # a column added


@pytest.fixture(scope="module")
def agency_site(tmp_path_factory):
    """A tiny agency website whose files the tests rewrite between runs."""
    root = tmp_path_factory.mktemp("site")
    with serve_directory(root) as url:
        yield root, url


def make_sources(tmp: Path, site_url: str, ids: list[str], every_update: bool = False) -> Path:
    """Copies of the pcd agency with one small source per id, served by agency_site."""
    root = tmp / "sources"
    (root / "pcd").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "include" / "sources" / "pcd" / "_agency.yaml", root / "pcd" / "_agency.yaml")
    for source_id in ids:
        (root / "pcd" / f"{source_id}.yaml").write_text(f"""
id: {source_id}
schedule: null
source:
  kind: http
  files:
    - url: {site_url}/{source_id}.csv
      title: จำนวนสถานีตรวจวัด
approval:
  every_update: {str(every_update).lower()}
  approvers: [{{id: pcd-approver, name: ผู้อนุมัติ}}]
metadata:
  data_type: record
  title: สถานีตรวจวัด {source_id}
  notes: ทดสอบการอนุมัติ
  tags: [ทดสอบ]
  update_frequency_unit: day
  geo_coverage: province
""", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def dags(airflow_portal, agency_site, tmp_path_factory):
    site_root, site_url = agency_site
    ids = ["appr-create", "appr-reject", "appr-schema", "appr-wrong-user"]
    for source_id in ids:
        (site_root / f"{source_id}.csv").write_text(CSV_V1, encoding="utf-8")
    (site_root / "appr-every.csv").write_text(CSV_V1, encoding="utf-8")
    tmp = tmp_path_factory.mktemp("cfg")
    bag = load_dags(make_sources(tmp, site_url, ids))
    every = load_dags(make_sources(tmp / "every", site_url, ["appr-every"], every_update=True))
    return bag, every, site_root


def test_create_then_approve_opens_the_dataset(dags, airflow_portal):
    bag, _, _ = dags
    run, approver = run_dag(bag, "appr-create", approve_as="pcd-approver")
    assert approver.answered and run.state == "success", task_states(run)
    pkg = airflow_portal.action.package_show(id="appr-create")
    assert (pkg["private"], pkg["allow_harvest"]) == (False, "True")
    assert {r["format"] for r in pkg["resources"]} == {"CSV", "Parquet"}
    assert xcom(run, "dataset.publish")["approved_by"] == "pcd-approver"


def test_reject_keeps_it_private_and_records_why(dags, airflow_portal):
    bag, _, _ = dags
    run, approver = run_dag(bag, "appr-reject", reject_as="pcd-approver", reason="ตัวเลขยังไม่ได้ตรวจทาน")
    states = task_states(run)
    assert approver.answered
    assert states[("dataset.approve", 0)] == "success" and states[("dataset.publish", 0)] == "skipped", states
    pkg = airflow_portal.action.package_show(id="appr-reject")
    assert (pkg["private"], pkg["allow_harvest"]) == (True, "False")  # staged, never opened
    # The run keeps the answer, who gave it and why (shown in the UI's Required Actions).
    answer = approval_answer(run)
    assert answer.chosen_options == ["Reject"]
    assert answer.params_input["reason"] == "ตัวเลขยังไม่ได้ตรวจทาน"
    assert answer.responded_by["id"] == "pcd-approver"
    assert "appr-reject" in answer.body and "new dataset" in answer.body  # the summary the approver saw
    assert "| จังหวัด | จำนวน |" in answer.body  # with a sample of rows


def test_schema_change_asks_again_and_plain_update_does_not(dags, airflow_portal):
    bag, _, site = dags
    first, _ = run_dag(bag, "appr-schema", approve_as="pcd-approver")
    assert first.state == "success", task_states(first)
    ids = {r["id"] for r in airflow_portal.action.package_show(id="appr-schema")["resources"]}

    same, _ = run_dag(bag, "appr-schema")  # same columns: direct
    assert task_states(same)[("dataset.approve", 0)] == "skipped" and same.state == "success"

    (site / "appr-schema.csv").write_text(CSV_V2, encoding="utf-8")
    changed, approver = run_dag(bag, "appr-schema", approve_as="pcd-approver")
    assert approver.answered and changed.state == "success", task_states(changed)
    plan = xcom(changed, "dataset.prepare")
    assert plan["reasons"] == ["table schema changed: appr-schema: columns added: หมายเหตุสถานี"]
    pkg = airflow_portal.action.package_show(id="appr-schema")
    assert {r["id"] for r in pkg["resources"]} == ids  # replaced in place
    assert (pkg["private"], pkg["allow_harvest"]) == (False, "True")


def test_config_can_ask_approval_for_every_update(dags, airflow_portal):
    _, every, site = dags
    run_dag(every, "appr-every", approve_as="pcd-approver")
    unchanged, _ = run_dag(every, "appr-every")  # nothing changed: no update, so nobody is asked
    assert unchanged.state == "success" and task_states(unchanged)[("dataset.approve", 0)] == "skipped"
    assert xcom(unchanged, "dataset.prepare")["action"] == "unchanged"
    (site / "appr-every.csv").write_text(CSV_V1.replace("12", "13"), encoding="utf-8")  # same columns, new data
    again, approver = run_dag(every, "appr-every", approve_as="pcd-approver")
    assert approver.answered and again.state == "success"
    plan = xcom(again, "dataset.prepare")
    assert plan["reasons"] == ["the source's config asks for approval of every update"]


def test_only_the_agencys_approver_may_answer(dags, airflow_portal):
    bag, _, _ = dags
    with pytest.raises(AssertionError, match="403"):
        run_dag(bag, "appr-wrong-user", approve_as="gistda-approver")
    pkg = airflow_portal.action.package_show(id="appr-wrong-user")
    assert (pkg["private"], pkg["allow_harvest"]) == (True, "False")
