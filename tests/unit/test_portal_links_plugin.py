import importlib.util
import json

from harvesters.settings import REPO_ROOT


def load_plugin_module():
    spec = importlib.util.spec_from_file_location("portal_links", REPO_ROOT / "plugins" / "portal_links.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_links_follow_the_portal_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_GDC_PORTAL", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:5999/"}))
    views = load_plugin_module().PortalLinksPlugin.external_views
    assert {v["destination"]: v["href"] for v in views} == {
        "nav": "http://127.0.0.1:5999",
        "dag": "http://127.0.0.1:5999/dataset/{DAG_ID}",
    }


def test_no_portal_no_links(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_GDC_PORTAL", raising=False)
    monkeypatch.delenv("HARVEST_PORTAL_URL", raising=False)
    assert load_plugin_module().PortalLinksPlugin.external_views == []
