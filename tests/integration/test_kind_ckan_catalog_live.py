"""Source kind `ckan_catalog` against the real local CKAN 2.12 (GD Catalog schema) playing an agency catalog.

The agency's datasets are seeded with include/demo/agency_catalog.py (an XLSX, an
HTML table and a PDF each), plus a legacy XLS dataset without an allow_harvest
field, one the agency has not consented to, and a private one. Then the stages
run as `harvest run` runs them: gather, fetch, convert.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import ckanapi
import pytest

from harvesters import net, stages
from harvesters.config import load_source
from harvesters.errors import FinalError
from harvesters.gdc.model import DatasetMetadata
from harvesters.kinds.base import ConnectionInfo
from harvesters.settings import REPO_ROOT, Settings
from harvesters.staging import RunStaging, run_key

pytestmark = pytest.mark.integration

ORG = "agency-catalog-test"
SITE = REPO_ROOT / "include" / "demo" / "site"
SIMPLE_XLS = REPO_ROOT.parent / "shared" / "fixtures" / "messytables-horror" / "simple.xls"


def _seeder():
    spec = importlib.util.spec_from_file_location("agency_catalog", REPO_ROOT / "include" / "demo" / "agency_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONFIG = f"""\
id: pcd-agency-catalog
schedule: null
source:
  kind: ckan_catalog
  url: ${{HARVEST_CFG_CATALOG_URL}}
  organization: {ORG}
  dataset_prefix: pcd-
  page_size: 2
metadata:
  data_type: statistical
  title: ชุดข้อมูลจากแคตตาล็อกข้อมูลหน่วยงาน
  notes: ชุดข้อมูลที่คัดลอกจากแคตตาล็อกข้อมูลของหน่วยงาน
  tags: [แคตตาล็อกข้อมูล]
  update_frequency_unit: month
  geo_coverage: country
"""


@pytest.fixture(scope="module")
def catalog(services):
    url, token = services["ckan"]["url"], services["ckan"]["token"]
    seeder = _seeder()
    names = seeder.seed_catalog(url, token, ORG, SITE)
    ckan = ckanapi.RemoteCKAN(url, apikey=token)
    base = seeder.portal_fields({**seeder.COMMON, "title": "ข้อมูลอุณหภูมิ (ไฟล์ Excel รุ่นเก่า)",
                                 "notes": "ตัวอย่างไฟล์ XLS", "tags": ["อุณหภูมิ"]})
    # No allow_harvest at all (as on a plain CKAN): taken.
    seeder.ensure_dataset(ckan, f"{ORG}-legacy-xls", ORG, {**base, "data_format": ["XLS"]},
                          [{"name": "อุณหภูมิรายวัน", "file": str(SIMPLE_XLS), "format": "XLS"}], SITE)
    # The agency has not consented: never gathered.
    seeder.ensure_dataset(ckan, f"{ORG}-not-consented", ORG,
                          {**base, "title": "ยังไม่ยินยอม", "data_format": ["CSV"], "allow_harvest": "False"},
                          [{"name": "ค่าฝุ่นรายวัน", "file": "pcd/files/pm25_daily_2568-02.csv", "format": "CSV"}], SITE)
    # Private: only with the catalog's API token.
    seeder.ensure_dataset(ckan, f"{ORG}-private-stats", ORG,
                          {**base, "title": "สถิติภายใน", "data_format": ["HTML"], "private": True},
                          [{"name": "ตารางภายใน", "file": "gistda/stats.html", "format": "HTML"}], SITE)
    return {"url": url, "token": token, "seeded": names}


@pytest.fixture()
def cfg(catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("HARVEST_CFG_CATALOG_URL", catalog["url"] + "/")
    monkeypatch.setenv("HARVEST_STAGING_DIR", str(tmp_path / "staging"))
    folder = tmp_path / "sources" / "pcd"
    folder.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "include" / "sources" / "pcd" / "_agency.yaml", folder / "_agency.yaml")
    (folder / "pcd-agency-catalog.yaml").write_text(CONFIG, encoding="utf-8")
    return load_source(folder / "pcd-agency-catalog.yaml").config


def run(cfg, connection=None):
    settings = Settings.from_env()
    ctx = stages.context(cfg, settings, connection)
    files = stages.gather(cfg, ctx)
    staging = RunStaging(settings.staging_dir, cfg.id, run_key())
    converted = {f.key: stages.convert(cfg, stages.fetch(cfg, f, staging, ctx), staging) for f in files}
    return files, converted


def test_gather_fetch_convert_from_a_real_agency_catalog(catalog, cfg):
    hotspots, stats = (f"pcd-{n}" for n in catalog["seeded"])
    files, converted = run(cfg)
    targets = {f.dataset.name: f.dataset for f in files}
    assert set(targets) == {hotspots, stats, f"pcd-{ORG}-legacy-xls"}  # not the unconsented, not the private
    assert targets[hotspots].title == "จุดความร้อนจากดาวเทียม รายจังหวัด รายวัน มีนาคม 2567"
    assert targets[stats].title == "สถิติจุดความร้อนสะสมรายจังหวัด มกราคม–มีนาคม"
    assert targets[hotspots].origin == f"{catalog['url']}/dataset/{catalog['seeded'][0]}"

    md = targets[hotspots].metadata
    assert md["tags"] == sorted(["จุดความร้อน", "ไฟป่า", "ฝุ่นละออง"])  # CKAN lists tags by name
    assert md["notes"].startswith("จำนวนจุดความร้อนจากดาวเทียมรายวันใน 17 จังหวัดภาคเหนือ")
    assert (md["data_type"], md["geo_coverage"], md["license_id"]) == ("ข้อมูลสถิติ", "จังหวัด", "Open Data Common")
    assert md["objective"] == ["เพื่อการให้บริการประชาชน", "พันธกิจหน่วยงาน"]
    assert md["update_frequency_interval"] == "1"  # CKAN answers numbers as strings
    assert not {"allow_harvest", "data_format", "owner_org", "name", "title"} & set(md)
    assert targets[stats].metadata["update_frequency_unit"] == "ปี"
    # What publishing will do per dataset: the copied metadata over the config's still fits the GD Catalog.
    merged = DatasetMetadata.model_validate({**cfg.metadata.model_dump(exclude_none=True), **md,
                                             "title": targets[hotspots].title})
    assert merged.maintainer_email == "opendata@agency.example.go.th" and merged.update_frequency_interval == 1

    # The PDFs are never gathered (so never fetched); every taken file is an uploaded data file.
    assert sorted(f.suffix for f in files) == [".html", ".xls", ".xlsx"]
    assert all("/download/" in f.url and not f.url.endswith(".pdf") for f in files)

    by_file = {c.fetched.remote.url.rsplit("/", 1)[1]: c for c in converted.values()}
    assert set(by_file) == {"hotspots.xlsx", "stats.html", "simple.xls"}
    (xlsx,) = by_file["hotspots.xlsx"].tables
    assert (xlsx.rows, [c.name for c in xlsx.columns]) == \
        (238, ["จังหวัด", "ภาค", "วันที่", "จำนวนจุดความร้อน", "พื้นที่ - ป่าอนุรักษ์", "พื้นที่ - พื้นที่เกษตร"])
    (html,) = by_file["stats.html"].tables
    assert (html.rows, [c.name for c in html.columns]) == \
        (8, ["จังหวัด", "จุดความร้อน 2568 (จุด)", "จุดความร้อน 2567 (จุด)"])
    (xls,) = by_file["simple.xls"].tables
    assert (xls.rows, [(c.name, c.type) for c in xls.columns]) == \
        (6, [("date", "date"), ("temperature", "integer"), ("place", "text")])
    assert Path(html.csv).read_text(encoding="utf-8").splitlines()[1] == "เชียงใหม่,1523,1210"


def test_private_datasets_need_the_catalog_token(catalog, cfg, tmp_path):
    source = cfg.source.model_copy(update={"connection": "agency_catalog"})
    with_token = cfg.model_copy(update={"source": source})
    files, converted = run(with_token, lambda conn_id: ConnectionInfo(conn_id, "http", password=catalog["token"]))
    private = [f for f in files if f.dataset.name == f"pcd-{ORG}-private-stats"]
    assert len(private) == 1 and len(files) == 4
    # The upload of a private dataset downloads only with the token (sent to the catalog's own host).
    (table,) = converted[private[0].key].tables
    assert table.rows == 8
    with pytest.raises(FinalError, match=r"HTTP 40[34]"):
        net.download(private[0].url, tmp_path / "anonymous.html", http=net.session(), timeout=30)
