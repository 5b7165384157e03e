"""End to end: a demo source's DAG runs under Airflow (dag.test()) into the real local CKAN.

Fetches from the demo agency website, converts (cp874 CSV with Buddhist Era
dates, merged-header XLSX), validates with the GX suites, publishes through the
Action API; a rerun creates no duplicate; a source whose data breaks its suite
never reaches the portal.
"""

import io
import json

import ckanapi
import pyarrow.parquet as pq
import pytest
import requests

from harvesters.settings import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


@pytest.fixture(scope="module")
def airflow_portal(services, airflow_db, monkeypatch_module):
    ckan = services["ckan"]
    # The portal comes from the Airflow connection only: the env fallback is switched off here.
    monkeypatch_module.delenv("HARVEST_PORTAL_URL", raising=False)
    monkeypatch_module.delenv("HARVEST_PORTAL_TOKEN", raising=False)
    monkeypatch_module.setenv("AIRFLOW_CONN_GDC_PORTAL", json.dumps(
        {"conn_type": "http", "host": ckan["url"], "password": ckan["token"]}))
    monkeypatch_module.setenv("DEMO_SITE_URL", services["demo_site"]["url"])
    return ckanapi.RemoteCKAN(ckan["url"], apikey=ckan["token"])


@pytest.fixture(scope="module")
def dagbag(airflow_portal):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


def task_states(run) -> dict[str, str]:
    return {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}


def csv_rows(url: str, token: str) -> list[str]:
    body = requests.get(url, headers={"Authorization": token}, timeout=30)
    body.raise_for_status()
    return body.content.decode("utf-8").splitlines()


def test_pm25_source_publishes_dataset_with_both_resources(dagbag, airflow_portal, services):
    run = dagbag.dags["pcd-pm25-hourly"].test()
    assert run.state == "success", task_states(run)

    pkg = airflow_portal.action.package_show(id="pcd-pm25-hourly")
    assert pkg["title"] == "ค่าฝุ่นละอองขนาดไม่เกิน 2.5 ไมครอน (PM2.5) รายชั่วโมง รายสถานี"
    assert pkg["organization"]["name"] == "pcd"
    assert pkg["private"] is False
    assert pkg["data_type"] == "ข้อมูลสถิติ"
    assert pkg["geo_coverage"] == "จังหวัด"
    assert pkg["maintainer_email"] == "opendata@pcd.example.go.th"
    assert sorted(t["name"] for t in pkg["tags"]) == sorted(["คุณภาพอากาศ", "ฝุ่นละออง", "PM2.5"])
    assert "CSV" in pkg["data_format"]

    resources = {r["format"]: r for r in pkg["resources"]}
    assert set(resources) == {"CSV", "Parquet"}
    lines = csv_rows(resources["CSV"]["url"], services["ckan"]["token"])
    assert lines[0] == "วันที่,เวลา,รหัสสถานี,ชื่อสถานี,จังหวัด,PM2.5 (มคก./ลบ.ม.)"
    assert len(lines) == 1 + 480
    assert lines[1].startswith("2024-01-")  # Buddhist Era 2567 → 2024
    parquet = requests.get(resources["Parquet"]["url"], timeout=30).content
    table = pq.read_table(io.BytesIO(parquet))
    assert table.num_rows == 480
    assert str(table.schema.field("วันที่").type) == "date32[day]"

    # A second run updates in place: same dataset, same resource ids, no duplicate.
    ids_before = {r["id"] for r in pkg["resources"]}
    datasets_before = sorted(airflow_portal.action.package_list())
    rerun = dagbag.dags["pcd-pm25-hourly"].test()
    assert rerun.state == "success", task_states(rerun)
    again = airflow_portal.action.package_show(id="pcd-pm25-hourly")
    assert {r["id"] for r in again["resources"]} == ids_before
    assert len(again["resources"]) == 2
    assert sorted(airflow_portal.action.package_list()) == datasets_before
    assert datasets_before.count("pcd-pm25-hourly") == 1


def test_xlsx_source_with_merged_headers(dagbag, airflow_portal, services):
    run = dagbag.dags["gistda-hotspots"].test()
    assert run.state == "success", task_states(run)
    pkg = airflow_portal.action.package_show(id="gistda-hotspots")
    csv = next(r for r in pkg["resources"] if r["format"] == "CSV")
    lines = csv_rows(csv["url"], services["ckan"]["token"])
    assert lines[0] == "จังหวัด,ภาค,วันที่,จำนวนจุดความร้อน,พื้นที่ - ป่าอนุรักษ์,พื้นที่ - พื้นที่เกษตร"
    assert len(lines) == 1 + 238


def test_failing_suite_blocks_the_publish(dagbag, airflow_portal):
    run = dagbag.dags["ddc-respiratory-patients"].test()
    assert run.state == "failed"
    states = task_states(run)
    assert states[("validate", 0)] == "failed", states
    assert states[("publish", -1)] == "upstream_failed", states
    with pytest.raises(ckanapi.NotFound):
        airflow_portal.action.package_show(id="ddc-respiratory-patients")
