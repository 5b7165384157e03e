"""End to end: the demo sources' DAGs run under Airflow (dag.test()) into the real local CKAN.

Fetches from the demo agency website, converts (cp874 CSV with Buddhist Era
dates, merged-header XLSX), validates with the GX suites, waits for the agency's
approver, publishes through the Action API; a rerun publishes directly with no
duplicate; a source whose data breaks its suite never reaches the portal.
"""

import io

import ckanapi
import pyarrow.parquet as pq
import pytest
import requests

from conftest_e2e import load_dags, run_cost, run_dag, task_states, xcom  # noqa: F401 (see conftest)

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


@pytest.fixture(scope="module")
def dagbag(airflow_portal):
    return load_dags()


def csv_lines(url: str, token: str) -> list[str]:
    body = requests.get(url, headers={"Authorization": token}, timeout=30)
    body.raise_for_status()
    return body.content.decode("utf-8").splitlines()


def test_pm25_source_publishes_after_approval_then_updates_directly(dagbag, airflow_portal, services):
    run, approver = run_dag(dagbag, "pcd-pm25-hourly", approve_as="pcd-approver")
    assert approver.answered
    assert run.state == "success", task_states(run)

    pkg = airflow_portal.action.package_show(id="pcd-pm25-hourly")
    assert pkg["title"] == "ค่าฝุ่นละอองขนาดไม่เกิน 2.5 ไมครอน (PM2.5) รายชั่วโมง รายสถานี"
    assert pkg["organization"]["name"] == "pcd"
    assert pkg["private"] is False and pkg["allow_harvest"] == "True"  # opened by the approval
    assert pkg["data_type"] == "ข้อมูลสถิติ"
    assert pkg["geo_coverage"] == "จังหวัด"
    assert pkg["maintainer_email"] == "opendata@pcd.example.go.th"
    assert sorted(t["name"] for t in pkg["tags"]) == sorted(["คุณภาพอากาศ", "ฝุ่นละออง", "PM2.5"])
    assert "CSV" in pkg["data_format"]
    assert (pkg["first_year_of_data"], pkg["last_year_of_data"]) == ("2567", "2567")  # BE, from the dates

    resources = {r["format"]: r for r in pkg["resources"]}
    assert set(resources) == {"CSV", "Parquet"}
    assert resources["CSV"]["harvest_rows"] == "480"
    assert resources["CSV"]["harvest_source_url"].endswith("/pcd/pm25_hourly.csv")
    lines = csv_lines(resources["CSV"]["url"], services["ckan"]["token"])
    assert lines[0] == "วันที่,เวลา,รหัสสถานี,ชื่อสถานี,จังหวัด,PM2.5 (มคก./ลบ.ม.)"
    assert len(lines) == 1 + 480
    assert lines[1].startswith("2024-01-")  # Buddhist Era 2567 → 2024
    table = pq.read_table(io.BytesIO(requests.get(resources["Parquet"]["url"], timeout=30).content))
    assert table.num_rows == 480
    assert str(table.schema.field("วันที่").type) == "date32[day]"

    # A second run of the unchanged source: green, nothing converted, uploaded or recorded by the portal.
    ids_before = {r["id"]: r["last_modified"] for r in pkg["resources"]}
    activities_before = airflow_portal.action.package_activity_list(id="pcd-pm25-hourly", limit=100)
    datasets_before = sorted(airflow_portal.action.package_list())
    rerun, _ = run_dag(dagbag, "pcd-pm25-hourly")
    states = task_states(rerun)
    assert rerun.state == "success", states
    # An unchanged file ends at fetch (skipped, labelled why); its convert and validate are skipped by the
    # scheduler, never started: one task start per unchanged file, and small XCom records.
    assert states[("file.fetch", 0)] == states[("file.convert", 0)] == states[("file.validate", 0)] == "skipped"
    assert states[("dataset.approve", 0)] == "skipped" and states[("dataset.publish", 0)] == "success"
    assert xcom(rerun, "file.fetch", 0)["status"] == "unchanged"
    started, xcom_bytes = run_cost(rerun)
    print(f"unchanged re-run: task starts {started}, XCom {xcom_bytes} bytes (first run: {run_cost(run)})")
    assert started == {"gather": 1, "missing": 1, "datasets": 1, "file.fetch": 1, "dataset.prepare": 1,
                       "dataset.approve": 1, "dataset.publish": 1, "assets": 1, "report": 1}, started
    assert xcom_bytes < 5_000, xcom_bytes  # 6,904 bytes before records stopped being pushed key by key too
    published = xcom(rerun, "dataset.publish")
    assert (published["status"], published["uploaded"], published["uploaded_bytes"]) == ("unchanged", [], 0)
    fetch_ti = next(t for t in rerun.get_task_instances() if t.task_id == "file.fetch")
    assert fetch_ti.rendered_map_index == "pm25-hourly · unchanged"  # what the data engineer reads in the grid
    again = airflow_portal.action.package_show(id="pcd-pm25-hourly")
    assert {r["id"]: r["last_modified"] for r in again["resources"]} == ids_before
    assert airflow_portal.action.package_activity_list(id="pcd-pm25-hourly", limit=100) == activities_before
    assert again["private"] is False and again["allow_harvest"] == "True"
    assert sorted(airflow_portal.action.package_list()) == datasets_before
    assert datasets_before.count("pcd-pm25-hourly") == 1


def test_xlsx_source_with_merged_headers(dagbag, airflow_portal, services):
    run, _ = run_dag(dagbag, "gistda-hotspots", approve_as="gistda-approver")
    assert run.state == "success", task_states(run)
    pkg = airflow_portal.action.package_show(id="gistda-hotspots")
    csv = next(r for r in pkg["resources"] if r["format"] == "CSV")
    lines = csv_lines(csv["url"], services["ckan"]["token"])
    assert lines[0] == "จังหวัด,ภาค,วันที่,จำนวนจุดความร้อน,พื้นที่ - ป่าอนุรักษ์,พื้นที่ - พื้นที่เกษตร"
    assert len(lines) == 1 + 238


def test_failing_suite_blocks_the_publish(dagbag, airflow_portal):
    run, _ = run_dag(dagbag, "ddc-respiratory-patients")
    assert run.state == "failed"
    states = task_states(run)
    assert states[("file.validate", 0)] == "failed", states
    # prepare still runs (so other datasets of a source would go on) and holds this one back.
    assert states[("dataset.prepare", 0)] == "failed", states
    assert [v for (t, _), v in states.items() if t == "dataset.publish"] == ["upstream_failed"], states
    with pytest.raises(ckanapi.NotFound):
        airflow_portal.action.package_show(id="ddc-respiratory-patients")


def test_agency_catalog_datasets_are_copied_with_their_metadata_and_converted(dagbag, airflow_portal, services):
    """ckan_catalog: GISTDA's own catalog (organization gistda-catalog of the local CKAN) → central datasets."""
    run, approver = run_dag(dagbag, "gistda-catalog", approve_as="gistda-approver")
    assert run.state == "success", task_states(run)
    names = ["ogd-gistda-catalog-hotspot-stats", "ogd-gistda-catalog-hotspots-daily"]
    assert sorted(approver.answered) == names  # one approval per new dataset

    for name in names:
        copy = airflow_portal.action.package_show(id=name)
        origin = airflow_portal.action.package_show(id=name.removeprefix("ogd-"))
        assert copy["organization"]["name"] == "gistda" and origin["organization"]["name"] == "gistda-catalog"
        assert (copy["private"], copy["allow_harvest"]) == (False, "True")
        # The agency's own metadata, not the config's defaults.
        for field in ("notes", "maintainer_email", "update_frequency_unit", "unit_of_measure"):
            assert copy[field] == origin[field], field
        # Its own title, naming its origin: the portal keeps one live dataset per title.
        assert copy["title"] == f"{origin['title']} (จาก {origin['organization']['title']})"
        assert sorted(t["name"] for t in copy["tags"]) == sorted(t["name"] for t in origin["tags"])
        # XLSX/HTML in, CSV and Parquet out (3 stars); the agency's PDFs stay behind.
        assert {r["format"] for r in origin["resources"]} >= {"PDF"}
        assert sorted(r["format"] for r in copy["resources"]) == ["CSV", "Parquet"]
        csv = next(r for r in copy["resources"] if r["format"] == "CSV")
        assert csv["harvest_source_url"] in {r["url"] for r in origin["resources"]}
        assert csv["harvest_stars"].endswith("->3")

    stats = airflow_portal.action.package_show(id="ogd-gistda-catalog-hotspots-daily")
    rows = next(r for r in stats["resources"] if r["format"] == "CSV")["harvest_rows"]
    assert rows == "238"  # the merged-header XLSX, as the web-page source reads it
