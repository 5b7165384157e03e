"""Shared fixtures.

`services`: the whole local stack (bin/setup must have run), started once per
test session in a fresh temp state dir and stopped at the end, also on failure.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include" / "devstack"))

import services as devstack  # noqa: E402


@pytest.fixture(scope="session")
def services_state_dir():
    # Under /tmp, not tmp_path_factory: the postgres OS user must be able to
    # reach the data dir, and /tmp/pytest-of-root is mode 0700.
    path = Path(tempfile.mkdtemp(prefix="harvest-devstack-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def services(services_state_dir):
    """services.json of a running stack: {"ckan": {"url", "token", ...}, "s3": {...}, ...}."""
    try:
        yield devstack.start(services_state_dir)
    finally:
        devstack.stop(services_state_dir)


@pytest.fixture()
def demo_env(services, monkeypatch, tmp_path):
    """The environment the demo source configs read (${HARVEST_CFG_DEMO_SITE_URL} etc.), and a private staging dir."""
    monkeypatch.setenv("HARVEST_CFG_DEMO_SITE_URL", services["demo_site"]["url"])
    monkeypatch.setenv("HARVEST_CFG_DEMO_CATALOG_URL", services["ckan"]["url"])
    monkeypatch.setenv("HARVEST_CFG_DEMO_DROP_DIR", services["demo_site"]["drop_dir"])
    # Deployment allowlists (never in a source config): the stack listens on 127.0.0.1; the drop root.
    monkeypatch.setenv("HARVEST_ALLOW_HOSTS", "127.0.0.1")
    # The demo's drop folder, and temp dirs where tests make drops of their own.
    monkeypatch.setenv("HARVEST_DROP_ROOTS", f"{services['demo_site']['drop_dir']},{tempfile.gettempdir()}")
    monkeypatch.setenv("HARVEST_STAGING_DIR", str(tmp_path / "staging"))
    for name, value in devstack.demo_connections(services).items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", value)
    return services


@pytest.fixture()
def portal_settings(services):
    """The local CKAN as a PortalSettings (the portal client's own settings)."""
    from harvesters.settings import PortalSettings

    return PortalSettings(url=services["ckan"]["url"], token=services["ckan"]["token"])


@pytest.fixture()
def ckan(services):
    """A ckanapi client of the local CKAN, with the sysadmin token (to look at what was published)."""
    import ckanapi

    return ckanapi.RemoteCKAN(services["ckan"]["url"], apikey=services["ckan"]["token"])
