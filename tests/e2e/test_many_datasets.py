"""One source, several portal datasets (web_page each_file_dataset), run by Airflow against the real CKAN.

Each dataset is prepared, approved and published on its own: the approver opens
one and rejects another, and a file the converter refuses holds back only its
own dataset. The run still ends failed, so the data engineer sees the refusal.
"""

from __future__ import annotations

import ckanapi
import pytest

from conftest_e2e import load_dags, run_dag, task_states, xcom
from test_approval import agency_site  # noqa: F401 (a fixture: the tiny agency website)
from test_approval import make_sources

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

PAGE = """<html><head><meta charset="utf-8"></head><body>
<h1>รายงานสถานีตรวจวัด</h1>
<ul id="reports">
  <li><a href="files/north.csv">สถานีภาคเหนือ</a></li>
  <li><a href="files/south.csv">สถานีภาคใต้</a></li>
  <li><a href="files/broken.csv">สถานีที่ไฟล์เสีย</a></li>
</ul></body></html>"""


@pytest.fixture(scope="module")
def bag(airflow_portal, agency_site, tmp_path_factory):  # noqa: F811
    site_root, site_url = agency_site
    (site_root / "files").mkdir(exist_ok=True)
    (site_root / "reports.html").write_text(PAGE, encoding="utf-8")
    (site_root / "files" / "north.csv").write_text("จังหวัด,จำนวน\nเชียงใหม่,12\nลำปาง,7\n", encoding="utf-8")
    (site_root / "files" / "south.csv").write_text("จังหวัด,จำนวน\nสงขลา,4\nภูเก็ต,3\nตรัง,1\n", encoding="utf-8")
    (site_root / "files" / "broken.csv").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    root = make_sources(tmp_path_factory.mktemp("many"), site_url, ["many"])
    config = root / "pcd" / "many.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        f"""  kind: http
  files:
    - url: {site_url}/many.csv
      title: จำนวนสถานีตรวจวัด""",
        f"""  kind: web_page
  url: {site_url}/reports.html
  links: {{selector: "#reports"}}
  each_file_dataset: true"""), encoding="utf-8")
    return load_dags(root)


def test_each_dataset_is_approved_published_or_held_back_on_its_own(bag, airflow_portal):
    run, approver = run_dag(bag, "many", approve_as="pcd-approver",
                            options={"many-north": "Approve", "many-south": "Reject"})
    assert sorted(approver.answered) == ["many-north", "many-south"]
    assert run.state == "failed"  # the refused file fails its convert task, so the run shows red

    states = task_states(run)
    by_dataset = {xcom(run, "dataset.prepare", i)["dataset"]: i for i in range(3)
                  if xcom(run, "dataset.prepare", i)}
    assert set(by_dataset) == {"many-north", "many-south"}
    north, south = by_dataset["many-north"], by_dataset["many-south"]
    broken = ({0, 1, 2} - {north, south}).pop()
    assert states[("dataset.prepare", broken)] == "failed", states  # held back: its file was refused
    assert states[("dataset.publish", north)] == "success", states
    assert states[("dataset.publish", south)] == "skipped", states  # rejected
    assert xcom(run, "dataset.publish", north)["approved_by"] == "pcd-approver"

    opened = airflow_portal.action.package_show(id="many-north")
    assert (opened["private"], opened["allow_harvest"]) == (False, "True")
    assert opened["title"] == "สถานีภาคเหนือ"  # the link text
    assert opened["notes"] == "ทดสอบการอนุมัติ" and opened["organization"]["name"] == "pcd"  # from the config
    assert {r["format"]: r["harvest_rows"] for r in opened["resources"]} == {"CSV": "2", "Parquet": "2"}

    rejected = airflow_portal.action.package_show(id="many-south")
    assert (rejected["private"], rejected["allow_harvest"]) == (True, "False")  # staged, never opened
    assert {r["format"]: r["harvest_rows"] for r in rejected["resources"]} == {"CSV": "3", "Parquet": "3"}

    with pytest.raises(ckanapi.NotFound):  # nothing of the refused file's dataset reached the portal
        airflow_portal.action.package_show(id="many-broken")



def test_a_drop_with_nothing_new_skips_every_later_task(airflow_portal, tmp_path_factory):
    """gather skips (nothing new): no dataset is prepared, the run is a success, the portal untouched."""
    root = make_sources(tmp_path_factory.mktemp("drop"), "http://unused", ["drop-empty"])
    drop = tmp_path_factory.mktemp("folder")
    (drop / "_processed").mkdir()
    config = root / "pcd" / "drop-empty.yaml"
    text = config.read_text(encoding="utf-8")
    start, end = text.index("  kind: http"), text.index("approval:")
    config.write_text(text[:start] + f"  kind: folder_drop\n  path: {drop}\n  mode: move\n" + text[end:],
                      encoding="utf-8")
    run, _ = run_dag(load_dags(root), "drop-empty")
    states = task_states(run)
    assert run.state == "success", states
    assert states[("gather", -1)] == "skipped", states
    assert all(state == "skipped" for (task, _), state in states.items() if task.startswith("dataset.")), states
    with pytest.raises(ckanapi.NotFound):
        airflow_portal.action.package_show(id="drop-empty")
