"""The harvest overview page and the portal links, in a real Airflow API server and a real headless Chromium.

One Airflow (api-server + dag-processor of a throwaway AIRFLOW_HOME, the repo's DAGs and
plugins) runs for the module. Three demo sources get runs in Airflow (triggered through the
REST API, their state set there: no scheduler, nothing is harvested) and the run reports those
runs would have stored (built by ``report.build`` from stage records, kept in the archive as the
DAG's report task keeps them). Debian's chromium, driven by Playwright (no browser download),
logs in through Airflow's login form, opens Browse → Harvest overview, checks the Thai titles and
the links, filters by agency, and saves a screenshot under the test's tmp dir
(``HARVEST_SCREENSHOT_DIR`` copies it, e.g. to docs/ for the README).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import pytest
import requests

from harvesters import archive
from harvesters.report import build
from harvesters.results import (Column, ConvertedFile, ConvertedTable, DatasetGroup, FetchedFile, PublishResult,
                                RemoteFile, ValidationSummary)
from harvesters.settings import REPO_ROOT, Settings
from harvesters.staging import run_key
from tests.airflow_stack import AirflowStack

pytestmark = pytest.mark.airflow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PORTAL = "http://127.0.0.1:9/dataset"  # never asked: the links are only checked
CATALOG = "gistda-catalog"  # a run that published two datasets
HOURLY = "pcd-pm25-hourly"  # one dataset
BLOCKED = "ddc-respiratory-patients"  # validation failed, nothing published
RUN = "manual__2026-12-01T03:00:00+00:00"


def _report(source: str, published: dict[str, str], rows: int, outcome: str = "passed", failed: bool = False):
    """The report of a run whose files (one per dataset) converted with ``rows`` rows each."""
    names = list(published) or [source]
    remotes = {n: RemoteFile(source=source, url=f"http://127.0.0.1:9/{n}.xlsx", key=n, title=n, suffix=".xlsx")
               for n in names}
    fetched = {n: FetchedFile(remote=r, path=f"/s/{n}", sha256="ab" * 32, size=2048,
                              fetched_at="2026-12-01T03:00:02+00:00", status="new") for n, r in remotes.items()}
    converted = [ConvertedFile(fetched=fetched[n], format="xlsx", encoding="utf-8", stars_in=2, stars_out=3,
                               report="/r.json", tables=[ConvertedTable(
                                   key=n, title=n, csv="/c.csv", parquet="/c.parquet", rows=rows,
                                   columns=[Column(name="a", type="integer")], table_schema={})]) for n in names]
    results = [PublishResult(dataset=n, url=f"{PORTAL}/{n}", created=True, resources=[], rows=rows, status=s)
               for n, s in published.items()]
    return build(source, RUN, started_at="2026-12-01T03:00:00+00:00", finished_at="2026-12-01T03:01:10+00:00",
                 gathered=list(remotes.values()), groups=[DatasetGroup(name=n, files=[n]) for n in names],
                 fetched=list(fetched.values()), converted=converted,
                 checks=[ValidationSummary(table=n, suite="s", success=outcome != "failed", outcome=outcome)
                         for n in names],
                 published=results,
                 dataset_errors={source: f"{source}: held back: validation failed"} if failed else None)


REPORTS = {
    CATALOG: (_report(CATALOG, {"gistda-catalog-hotspots": "create", "gistda-catalog-burned": "create"}, 120),
              "success"),
    HOURLY: (_report(HOURLY, {HOURLY: "create"}, 1234), "success"),
    BLOCKED: (_report(BLOCKED, {}, 77, outcome="failed", failed=True), "failed"),
}


class Airflow(AirflowStack):
    """api-server + dag-processor (no scheduler: the runs' states are set through the API)."""

    def __init__(self, home: Path):
        self.archive = home / "archive"
        super().__init__(home, env={
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW_CONN_GDC_PORTAL": json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9"}),
            "HARVEST_ARCHIVE": str(self.archive),
            "HARVEST_SOURCES_DIR": str(REPO_ROOT / "include" / "sources"),
        })
        self.client = self.clients["admin"]

    def start(self) -> None:
        super().start(("api-server", "dag-processor"))

    def run(self, dag_id: str, run_id: str, state: str, deadline: float) -> None:
        """A run of ``dag_id`` in Airflow, in ``state`` (once the DAG processor has parsed it)."""
        while self.client.http.get(f"{self.base}/api/v2/dags/{dag_id}", timeout=30).status_code != 200:
            if time.time() > deadline:
                raise RuntimeError(f"{dag_id} was never parsed; see {self.home / 'airflow.log'}")
            time.sleep(1)
        self.client.send("POST", f"/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None})
        self.client.send("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", {"state": state})


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    af = Airflow(tmp_path_factory.mktemp("airflow-ui"))
    store = archive.backend(dataclasses.replace(Settings.from_env(), archive=str(af.archive)))
    for source, (report, _) in REPORTS.items():
        archive.store_report(store, source, run_key(report.run_id), report.dump())
    try:
        af.start()
        deadline = time.time() + 240
        for source, (report, state) in REPORTS.items():
            af.run(source, report.run_id, state, deadline)
        yield af
    finally:
        af.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1600, "height": 1150}, locale="th-TH")
        try:
            yield context
        finally:
            context.close()


def test_overview_page_in_the_airflow_ui(airflow, browser, tmp_path):
    page = browser.new_page()
    page.goto(f"{airflow.base}/plugin/harvest-overview")
    # Airflow's own login form (SimpleAuthManager), then back to the page asked for.
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("admin")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/plugin/harvest-overview")

    frame = page.frame_locator('iframe[title="Harvest overview"]')
    table = frame.locator("table#sources")
    table.wait_for(timeout=60_000)
    rows = frame.locator("tbody tr[data-source]")
    assert rows.count() == 10  # every demo source, run or not
    catalog = frame.locator(f'tr[data-source="{CATALOG}"]')
    assert "success" in catalog.inner_text() and "240" in catalog.inner_text()  # 2 datasets × 120 rows
    assert [catalog.locator("a.dataset").nth(i).get_attribute("href") for i in range(2)] == [
        f"{PORTAL}/gistda-catalog-hotspots", f"{PORTAL}/gistda-catalog-burned"]
    assert catalog.locator("a.run").get_attribute("href") == f"/dags/{CATALOG}/runs/{requests.utils.quote(RUN, safe='')}"
    hourly = frame.locator(f'tr[data-source="{HOURLY}"]')
    assert "ค่าฝุ่นละอองขนาดไม่เกิน 2.5 ไมครอน" in hourly.inner_text()  # Thai, as the config spells it
    assert "1,234" in hourly.inner_text() and "★★☆☆☆ → ★★★☆☆" in hourly.inner_text()
    assert hourly.locator("a.source-page").get_attribute("href").endswith("/pcd/pm25_hourly.csv")
    blocked = frame.locator(f'tr[data-source="{BLOCKED}"]')
    assert "failed" in blocked.inner_text() and blocked.locator("a.dataset").count() == 0

    shots = [screenshot(page, tmp_path / "harvest-overview.png")]

    frame.locator("select#agency").select_option("pcd")  # submits the filter
    frame.locator('tr[data-agency="gistda"]').first.wait_for(state="detached")
    agencies = {frame.locator("tbody tr").nth(i).get_attribute("data-agency")
                for i in range(frame.locator("tbody tr").count())}
    assert agencies == {"pcd"}
    assert frame.locator("select#agency").input_value() == "pcd"
    shots.append(screenshot(page, tmp_path / "harvest-overview-pcd.png"))
    if os.environ.get("HARVEST_SCREENSHOT_DIR"):  # the README's picture: all agencies
        shutil.copy(shots[0], Path(os.environ["HARVEST_SCREENSHOT_DIR"]) / shots[0].name)

    # Links leave the sandboxed frame: the portal in a new tab, a run in Airflow's UI itself.
    browser.route(f"{PORTAL}/**", lambda route: route.fulfill(body="the portal", content_type="text/html"))
    with browser.expect_page() as portal_tab:
        frame.locator(f'tr[data-source="{HOURLY}"] a.dataset').click()
    portal_tab.value.wait_for_load_state()
    assert portal_tab.value.url == f"{PORTAL}/{HOURLY}"
    portal_tab.value.close()
    frame.locator(f'tr[data-source="{HOURLY}"] a.run').click()
    page.wait_for_url(f"**/dags/{HOURLY}/runs/**")
    assert "/plugin/" not in page.url


def screenshot(page, path: Path) -> Path:
    page.evaluate("document.fonts.ready")  # Thai glyphs loaded before the picture is taken
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_run_tab_lists_both_datasets_and_the_agency_page(airflow, browser):
    page = browser.new_page()  # the same browser profile: logged in by the test above, or log in here
    page.goto(f"{airflow.base}/dags/{CATALOG}/runs/{requests.utils.quote(RUN, safe='')}/plugin/harvest-run-links")
    if "login" in page.url:
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill("admin")
        page.get_by_role("button", name="Sign in").click()
    frame = page.frame_locator('iframe[title="Agency & portal"]')
    frame.locator("a.dataset").first.wait_for(timeout=60_000)
    assert frame.locator("a.dataset").count() == 2
    assert frame.locator("a.source-page").get_attribute("href").endswith("/organization/gistda-catalog")


def test_portal_link_goes_where_the_run_published(airflow):
    http = airflow.client.http  # logged in as admin (bearer token)
    go = f"{airflow.base}/harvest/go/portal"
    one = http.get(f"{go}/{HOURLY}", params={"run_id": RUN}, allow_redirects=False, timeout=30)
    assert one.status_code == 307 and one.headers["location"] == f"{PORTAL}/{HOURLY}"
    two = http.get(f"{go}/{CATALOG}", params={"run_id": RUN}, allow_redirects=False, timeout=30)
    assert two.status_code == 200 and "published 2 datasets" in two.text
    assert f'href="{PORTAL}/gistda-catalog-hotspots"' in two.text and f'href="{PORTAL}/gistda-catalog-burned"' in two.text
    none = http.get(f"{go}/{BLOCKED}", params={"run_id": RUN}, allow_redirects=False, timeout=30)
    assert none.status_code == 404 and "published no dataset" in none.text and "held back" in none.text
    source = http.get(f"{airflow.base}/harvest/go/source/{CATALOG}", allow_redirects=False, timeout=30)
    assert source.status_code == 307 and source.headers["location"].endswith("/organization/gistda-catalog")
    anonymous = requests.get(f"{go}/{HOURLY}", allow_redirects=False, timeout=30)  # no login: Airflow's login page
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
