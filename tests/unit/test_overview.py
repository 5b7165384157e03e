"""The overview page's data and links (harvesters/overview.py), from real configs and real run reports.

Reports are built by ``report.build`` from stage records and stored in a local archive, as the
DAG's report task does; the configs are the repo's demo sources.
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from harvesters import archive
from harvesters.config import load_all
from harvesters.overview import (AirflowRun, collect, links_page, portal_answer, published, render_overview,
                                 reports_of, source_config, source_page)
from harvesters.report import build
from harvesters.results import (Column, ConvertedFile, ConvertedTable, DatasetGroup, FetchedFile, PublishPlan,
                                PublishResult, RemoteFile, ValidationSummary)
from harvesters.settings import REPO_ROOT, Settings

SOURCES = REPO_ROOT / "include" / "sources"
PORTAL = "http://portal.example/dataset"


def remote(src: str, key: str) -> RemoteFile:
    return RemoteFile(source=src, url=f"https://agency.example.go.th/{key}.xlsx", key=key, title=f"ไฟล์ {key}",
                      suffix=".xlsx")


def fetched(src: str, key: str, status: str = "changed") -> FetchedFile:
    return FetchedFile(remote=remote(src, key), path=f"/s/{key}", sha256="ab" * 32, size=100,
                       fetched_at="2026-12-01T10:00:00+00:00", status=status)


def converted(src: str, key: str, rows: int, stars_in: int = 2) -> ConvertedFile:
    table = ConvertedTable(key=key, title=key, csv="/c.csv", parquet="/c.parquet", rows=rows,
                           columns=[Column(name="a", type="integer")], table_schema={})
    return ConvertedFile(fetched=fetched(src, key), format="xlsx", encoding="utf-8", stars_in=stars_in, stars_out=3,
                         report="/r.json", tables=[table])


def result(name: str, status: str) -> PublishResult:
    return PublishResult(dataset=name, url=f"{PORTAL}/{name}", created=status == "create", resources=[], rows=1,
                         status=status)


def run(src: str, run_id: str, when: str, datasets: dict[str, str], rows: int = 10, outcome: str = "passed",
        waiting: tuple[str, ...] = ()):
    """A report of a run that published ``datasets`` (name -> publish status: create/update/unchanged)."""
    names = [*datasets, *waiting]
    plans = [PublishPlan(dataset=n, url=f"{PORTAL}/{n}", exists=False, approved_before=False, needs_approval=True,
                         reasons=["new"], staged=True, summary_md="") for n in waiting]
    unchanged = {n for n, s in datasets.items() if s == "unchanged"}
    return build(src, run_id, started_at=when, finished_at=when.replace(":00+", ":30+"),
                 gathered=[remote(src, n) for n in names], groups=[DatasetGroup(name=n, files=[n]) for n in names],
                 fetched=[fetched(src, n, "unchanged" if n in unchanged else "changed") for n in names],
                 converted=[converted(src, n, rows) for n in names if n not in unchanged],
                 checks=[ValidationSummary(table=n, suite="s", success=outcome != "failed", outcome=outcome)
                         for n in names if n not in unchanged],
                 plans=plans, published=[result(n, s) for n, s in datasets.items()])


@pytest.fixture()
def settings(tmp_path):
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES, sources)
    return dataclasses.replace(Settings.from_env(), sources_dir=sources, archive=str(tmp_path / "archive"))


def keep(settings, report) -> None:
    archive.store_report(archive.backend(settings), report.source, report.run_id.replace(":", "-"), report.dump())


def test_source_page_is_the_agency_page_or_where_the_source_is_read():
    loaded, errors = load_all(SOURCES)
    assert errors == []
    pages = {s.config.id: source_page(s.config) for s in loaded}
    assert pages["gistda-hotspot-stats"].endswith("/gistda/stats.html")  # html_table: the page
    assert pages["pcd-pm25-hourly"].endswith("/pcd/pm25_hourly.csv")  # http: its file
    assert pages["gistda-catalog"].endswith("/organization/gistda-catalog")  # an agency catalog: its organization
    assert pages["gistda-burned-area-drop"] is None  # a drop folder is no page
    drop = next(s.config for s in loaded if s.config.id == "gistda-burned-area-drop")
    with_page = drop.model_copy(update={"metadata": drop.metadata.model_copy(
        update={"url": "https://user:secret@www.gistda.or.th/burned-area"})})
    assert source_page(with_page) == "https://www.gistda.or.th/burned-area"  # metadata.url, never credentials


def test_overview_rows_from_configs_reports_and_airflow_runs(settings):
    older = run("gistda-catalog", "scheduled__2026-11-30T00:00:00+00:00", "2026-11-30T00:00:00+00:00",
                {"gistda-hotspots-2568": "create", "gistda-burned-2568": "create"}, rows=40)
    last = run("gistda-catalog", "manual__2026-12-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00",
               {"gistda-hotspots-2568": "unchanged", "gistda-burned-2568": "unchanged"})
    blocked = run("ddc-respiratory-patients", "manual__2026-12-01T01:00:00+00:00", "2026-12-01T01:00:00+00:00",
                  {}, rows=7, outcome="failed", waiting=("ddc-respiratory-patients",))
    for report in (older, last, blocked):
        keep(settings, report)
    runs = {"gistda-catalog": AirflowRun(last.run_id, "success", "2026-12-01T00:00:05+00:00"),
            "ddc-respiratory-patients": AirflowRun("manual__2026-12-02T00:00:00+00:00", "running",
                                                   "2026-12-02T00:00:00+00:00")}
    (settings.sources_dir / "pcd" / "broken.yaml").write_text("id: pcd-broken\nsource: {kind: nope}\n")

    rows = {r.source: r for r in collect(settings, runs, "/airflow")}

    catalog = rows["gistda-catalog"]
    assert (catalog.state, catalog.run_id, catalog.agency) == ("success", last.run_id, "gistda")
    assert catalog.agency_name.startswith("สำนักงานพัฒนาเทคโนโลยีอวกาศ")
    assert catalog.run_url == ("/airflow/dags/gistda-catalog/runs/"
                               "manual__2026-12-01T00%3A00%3A00%2B00%3A00")
    assert [d.name for d in catalog.datasets] == ["gistda-hotspots-2568", "gistda-burned-2568"]
    assert catalog.datasets[0].url == f"{PORTAL}/gistda-hotspots-2568"
    # The last run changed nothing: the data last changed with the run before.
    assert catalog.last_change == older.finished_at
    assert (catalog.stars_in, catalog.stars_out, catalog.validation) == (None, None, "skipped")

    ddc = rows["ddc-respiratory-patients"]  # Airflow's run is still going: its state, the last report's figures
    assert (ddc.state, ddc.rows, ddc.validation, ddc.stars_in, ddc.stars_out) == ("running", 7, "failed", 2, 3)
    assert ddc.waiting == ["ddc-respiratory-patients"] and ddc.datasets == []

    assert rows["pcd-pm25-hourly"].state == "never run" and rows["pcd-pm25-hourly"].run_url is None
    assert rows["broken"].state == "config error" and "broken.yaml" in rows["broken"].config_error
    assert len(rows) == 11  # ten demo sources and the broken file

    # Only the DAGs the viewer may read (and the broken file, which names no data).
    assert [r.source for r in collect(settings, runs, readable={"gistda-catalog"})] == ["gistda-catalog", "broken"]


def test_overview_html_thai_links_and_agency_filter(settings):
    keep(settings, run("pcd-pm25-hourly", "manual__1", "2026-12-01T00:00:00+00:00", {"pcd-pm25-hourly": "create"},
                       rows=1234))
    rows = collect(settings, {"pcd-pm25-hourly": AirflowRun("manual__1", "success", "2026-12-01T00:00:00")})
    page = render_overview(rows)
    assert '<meta charset="utf-8">' in page and 'font-family: "Noto Sans Thai"' in page  # CSS not escaped
    assert "ค่าฝุ่นละอองขนาดไม่เกิน 2.5 ไมครอน" in page  # the config's Thai title
    assert f'href="{PORTAL}/pcd-pm25-hourly"' in page and "1,234" in page and "★★☆☆☆ → ★★★☆☆" in page
    assert 'href="/dags/pcd-pm25-hourly/runs/manual__1"' in page
    only_pcd = render_overview(rows, "pcd")
    assert 'data-agency="pcd"' in only_pcd and 'data-agency="gistda"' not in only_pcd
    assert '<option value="pcd" selected>' in only_pcd


def test_titles_are_escaped(settings):
    cfg = settings.sources_dir / "pcd" / "pm25-hourly.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("title: ค่าฝุ่น", "title: <script>x</script>ค่าฝุ่น"),
                   encoding="utf-8")
    page = render_overview(collect(settings, {}))
    assert "<script>x" not in page and "&lt;script&gt;x" in page


def test_portal_link_follows_what_the_run_published(settings):
    src = "pcd-pm25-daily-reports"
    two = run(src, "manual__two", "2026-12-01T00:00:00+00:00", {f"{src}-jan": "create", f"{src}-feb": "update"})
    one = run(src, "manual__one", "2026-12-02T00:00:00+00:00", {f"{src}-jan": "update"})
    none = run(src, "manual__none", "2026-12-03T00:00:00+00:00", {}, waiting=(f"{src}-mar",))
    for report in (two, one, none):
        keep(settings, report)
    reports = reports_of(archive.backend(settings), src)
    assert [r.run_id for r in reports] == ["manual__none", "manual__one", "manual__two"]

    assert portal_answer(src, reports, "manual__one").redirect == f"{PORTAL}/{src}-jan"
    several = portal_answer(src, reports, "manual__two")
    assert several.redirect is None and [d.url for d in several.links] == [f"{PORTAL}/{src}-jan",
                                                                            f"{PORTAL}/{src}-feb"]
    assert several.message == "Run manual__two of pcd-pm25-daily-reports published 2 datasets:"
    nothing = portal_answer(src, reports, "manual__none")
    assert nothing.links == [] and nothing.message.endswith(
        f"published no dataset ({src}-mar: awaiting approval).")
    assert "has no run report" in portal_answer(src, reports, "manual__missing").message
    # No run named (the DAG's link): the last run that published.
    assert portal_answer(src, reports).redirect == f"{PORTAL}/{src}-jan"
    assert portal_answer("new-source", []).message == "new-source has not published a dataset yet."

    page = links_page(source_config(settings, src), src, reports, "manual__two")
    assert page.count('class="dataset"') == 2 and 'class="source-page" href="http' in page
    assert published(none) == []
