"""plugins/portal_links.py: its UI entries, and its FastAPI app served in-process by Airflow's own app.

The real API server and a real browser are in tests/e2e/test_overview_ui.py.
"""

import importlib.util
import json
import re
import shutil

import pytest

from harvesters.settings import REPO_ROOT


def load_plugin_module():
    spec = importlib.util.spec_from_file_location("portal_links", REPO_ROOT / "plugins" / "portal_links.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_views_link_dags_runs_and_tasks_through_the_plugin_and_the_nav_to_the_portal(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_GDC_PORTAL", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:5999/"}))
    plugin = load_plugin_module().PortalLinksPlugin
    views = {(v["destination"], v.get("url_route")): v["href"] for v in plugin.external_views}
    assert views == {
        ("nav", "harvest-overview"): "/harvest/overview",
        ("dag", "harvest-links"): "/harvest/links/{DAG_ID}",
        ("dag_run", "harvest-run-links"): "/harvest/links/{DAG_ID}?run_id={RUN_ID}",
        ("task_instance", "harvest-task-links"): "/harvest/links/{DAG_ID}?run_id={RUN_ID}",
        ("nav", None): "http://127.0.0.1:5999",
    }
    assert [a["url_prefix"] for a in plugin.fastapi_apps] == ["/harvest"]


def test_no_portal_no_portal_link(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_GDC_PORTAL", raising=False)
    monkeypatch.delenv("HARVEST_PORTAL_URL", raising=False)
    hrefs = [v["href"] for v in load_plugin_module().PortalLinksPlugin.external_views]
    assert all(h.startswith("/harvest/") for h in hrefs)


def test_views_follow_airflows_base_path(monkeypatch):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.go.th/ops/")
    hrefs = [v["href"] for v in load_plugin_module().PortalLinksPlugin.external_views]
    assert "/ops/harvest/overview" in hrefs


@pytest.fixture()
def client(airflow_db):
    """Airflow's API app with the repo's plugins mounted, and a token of a plain user."""
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session

    with create_session() as session:  # the DAG the user may read (the auth manager lists DAGs from the DB)
        if session.get(DagBundleModel, "dags-folder") is None:
            session.add(DagBundleModel(name="dags-folder"))
            session.flush()
        if session.get(DagModel, "gistda-hotspot-stats") is None:
            session.add(DagModel(dag_id="gistda-hotspot-stats", bundle_name="dags-folder"))
    app = create_app()  # also initialises the auth manager that signs the token
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="pcd-approver", role="user"))
    with TestClient(app, follow_redirects=False) as test_client:
        test_client.token = token
        yield test_client


def test_endpoints_need_an_airflow_login(client):
    assert client.get("/harvest/go/source/gistda-hotspot-stats", headers={"Authorization": "Bearer x"}
                      ).status_code in (401, 403)
    browser = client.get("/harvest/overview")  # no login: to Airflow's login page, and back
    assert browser.status_code == 303 and "login" in browser.headers["location"]
    assert "next=" in browser.headers["location"]


def test_source_link_redirects_to_the_agency_page(client):
    auth = {"Authorization": f"Bearer {client.token}"}
    r = client.get("/harvest/go/source/gistda-hotspot-stats", headers=auth)
    assert r.status_code == 307 and r.headers["location"].endswith("/gistda/stats.html")
    assert client.get("/harvest/go/source/not-a-dag", headers=auth).status_code == 404
    nothing = client.get("/harvest/go/portal/gistda-hotspot-stats", headers=auth)
    assert nothing.status_code == 404 and "has not published a dataset yet" in nothing.text


def test_overview_lists_only_the_dags_the_user_may_read(client, tmp_path, monkeypatch):
    """A source whose DAG Airflow has not parsed (so no one may read it yet) is not listed."""
    from sqlalchemy import select

    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    sources = tmp_path / "sources"
    shutil.copytree(REPO_ROOT / "include" / "sources", sources)
    hourly = (sources / "pcd" / "pm25-hourly.yaml").read_text(encoding="utf-8")
    (sources / "pcd" / "never-parsed.yaml").write_text(
        hourly.replace("id: pcd-pm25-hourly", "id: pcd-never-parsed")
              .replace("(PM2.5) รายชั่วโมง รายสถานี", "(PM2.5) ชุดที่ยังไม่เคยอ่าน"), encoding="utf-8")
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(sources))
    with create_session() as session:  # other tests of the session may have put more DAGs in the database
        in_airflow = set(session.scalars(select(DagModel.dag_id)))
    page = client.get("/harvest/overview", headers={"Authorization": f"Bearer {client.token}"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html; charset=utf-8")
    listed = set(re.findall(r'<tr data-source="([^"]+)"', page.text))
    assert "gistda-hotspot-stats" in listed and "pcd-never-parsed" not in listed
    assert listed <= in_airflow
    assert "never run" in page.text and "จำนวนจุดความร้อน" in page.text
