"""Fault-and-abuse suite against the real local stack: the portal going down mid-publish, and secrets.

- CKAN (the real process) is stopped at the first write of an update and started
  again: the published version stays intact, the run fails retryably with the
  failure named, and the retry lands the update once, in place (same resource
  ids, no duplicate dataset or resource).
- Everything an end-to-end `harvest run` writes (its staging folder, its report
  and messages, the logs, the portal's datasets) is searched for the portal token
  and the connection secrets.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from pathlib import Path

import ckanapi
import pytest

from harvesters.cli import main
from harvesters.config import load_source
from harvesters.errors import RetryableError
from harvesters.portal import READ_ACTIONS, Portal
from harvesters.runner import run_source
from harvesters.settings import REPO_ROOT, PortalSettings, Settings
from tests.conftest import devstack
from tests.loopback import Handler, serve, serve_directory

pytestmark = pytest.mark.integration
SOURCES = REPO_ROOT / "include" / "sources"


def demo_generator():
    spec = importlib.util.spec_from_file_location("demo_generate", REPO_ROOT / "include" / "demo" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_source(tmp_path: Path, agency: str, file: str, new_id: str, replace: dict[str, str] | None = None) -> Path:
    root = tmp_path / "sources"
    if not root.exists():
        shutil.copytree(SOURCES, root)
    path = root / agency / f"{new_id}.yaml"
    text = (root / agency / file).read_text(encoding="utf-8")
    old_id = next(line for line in text.splitlines() if line.startswith("id: "))
    text = text.replace(old_id, f"id: {new_id}")
    text = text.replace("\n  title: ", f"\n  title: ({new_id}) ", 1)  # a live dataset's title is unique on the portal
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def with_other_value(csv: bytes) -> bytes:
    """The same table with the first reading changed (a real update)."""
    lines = csv.split(b"\r\n")
    head, _ = lines[2].rsplit(b",", 1)
    lines[2] = head + b",99.9"
    return b"\r\n".join(lines)


def resources_by_key(pkg: dict) -> dict[str, dict]:
    return {r["harvest_key"]: r for r in pkg["resources"]}


def test_ckan_stopped_at_publish_keeps_the_old_version_and_the_retry_lands_once(
        services, services_state_dir, demo_env, tmp_path, monkeypatch):
    name = "pcd-fault-ckan-restart"
    site = tmp_path / "site" / "pcd"
    site.mkdir(parents=True)
    v1 = demo_generator().pcd_bytes()
    (site / "pm25_hourly.csv").write_bytes(v1)
    with serve_directory(tmp_path / "site") as url:
        monkeypatch.setenv("HARVEST_CFG_DEMO_SITE_URL", url)
        loaded = load_source(copy_source(tmp_path, "pcd", "pm25-hourly.yaml", name))

        def settings() -> PortalSettings:
            return PortalSettings(url=services["ckan"]["url"], token=services["ckan"]["token"])

        run_source(loaded, settings=Settings.from_env(), portal_settings=settings(), approved_by="fault-test",
                   run_id="v1")
        ckan = ckanapi.RemoteCKAN(services["ckan"]["url"], apikey=services["ckan"]["token"])
        published = ckan.action.package_show(id=name)
        assert len(published["resources"]) == 2 and published["private"] is False

        (site / "pm25_hourly.csv").write_bytes(with_other_value(v1))
        real_call = Portal._call
        stopped = []

        def stop_ckan_at_first_write(self, action, **kwargs):
            if action not in READ_ACTIONS and not stopped:
                devstack.kill_group(devstack.read_pid(services_state_dir, "ckan"))
                stopped.append(action)
            return real_call(self, action, **kwargs)

        monkeypatch.setattr(Portal, "_call", stop_ckan_at_first_write)
        with pytest.raises(RetryableError) as info:
            run_source(loaded, settings=Settings.from_env(), portal_settings=settings(), run_id="v2")
        monkeypatch.setattr(Portal, "_call", real_call)
        assert stopped and "cannot reach the portal" in str(info.value)
        assert "connection refused" in str(info.value)

        # CKAN comes back (the other services are reused); later tests read the session's `services`.
        services["ckan"].update(devstack.start(services_state_dir)["ckan"])
        ckan = ckanapi.RemoteCKAN(services["ckan"]["url"], apikey=services["ckan"]["token"])
        after_outage = ckan.action.package_show(id=name)
        assert resources_by_key(after_outage) == resources_by_key(published)  # the old version, intact

        report = run_source(loaded, settings=Settings.from_env(), portal_settings=settings(), run_id="v2-retry")
        assert report.datasets[0].published is not None
    final = ckan.action.package_show(id=name)
    before, after = resources_by_key(published), resources_by_key(final)
    assert after.keys() == before.keys()
    assert all(after[k]["id"] == before[k]["id"] for k in before)  # replaced in place
    assert all(after[k]["harvest_sha256"] != before[k]["harvest_sha256"] for k in before)  # the new data
    assert ckan.action.package_search(fq=f"name:{name}", include_private=True)["count"] == 1


# ------------------------------------------------------------------ secrets


API_SECRET = "api-bearer-Zx81-never-written"


def test_no_secret_in_anything_a_harvest_run_writes(services, demo_env, tmp_path, monkeypatch, capsys, caplog):
    ckan_info = services["ckan"]
    monkeypatch.delenv("HARVEST_PORTAL_URL", raising=False)
    monkeypatch.delenv("HARVEST_PORTAL_TOKEN", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_GDC_PORTAL", json.dumps(
        {"conn_type": "http", "host": ckan_info["url"], "password": ckan_info["token"]}))
    monkeypatch.setenv("AIRFLOW_CONN_AGENCY_API", json.dumps({"conn_type": "http", "password": API_SECRET}))
    demo_site = demo_env["demo_site"]["url"]

    class GuardedApi(Handler):
        """The demo stations API behind a bearer token (what an agency API with a Connection looks like)."""

        def do_GET(self):
            import urllib.request

            if self.headers.get("Authorization") != f"Bearer {API_SECRET}":
                return self.reply(401, b'{"error": "token"}')
            with urllib.request.urlopen(demo_site + self.path, timeout=10) as answer:  # noqa: S310 - loopback
                self.reply(200, answer.read())

    staging = Path(Settings.from_env().staging_dir)
    caplog.set_level(logging.DEBUG)
    with serve(GuardedApi) as api:
        sources = tmp_path / "sources"
        copy_source(tmp_path, "pcd", "pm25-hourly.yaml", "pcd-secrets-pm25")
        copy_source(tmp_path, "pcd", "air-stations-api.yaml", "pcd-secrets-api", {
            "${HARVEST_CFG_DEMO_SITE_URL:-http://127.0.0.1:8765}/api/pcd/stations": f"{api}/api/pcd/stations",
            "  records_path: data": "  records_path: data\n  connection: agency_api\n  auth: bearer"})
        for source_id in ("pcd-secrets-pm25", "pcd-secrets-api"):
            # --json: the whole run record on stdout (the drops' dry runs below print the text for people).
            assert main(["run", source_id, "--approved-by", "secrets-test", "--sources-dir", str(sources),
                         "--json"]) == 0
    # The drops read their servers through Connections; dry runs leave the shared drops unmarked.
    for source_id in ("pcd-pm25-daily-drop", "ddc-influenza-weekly-drop", "gistda-burned-area-drop"):
        assert main(["run", source_id, "--dry-run", "--sources-dir", str(sources)]) == 0
    out = capsys.readouterr()

    secrets = {"portal token": ckan_info["token"], "API bearer token": API_SECRET,
               "S3 secret key": services["s3"]["secret_key"]}
    key_lines = Path(services["sftp"]["key_file"]).read_text().splitlines()
    secrets["SFTP private key"] = key_lines[len(key_lines) // 2]
    ckan = ckanapi.RemoteCKAN(ckan_info["url"], apikey=ckan_info["token"])
    written = {
        "stdout (the run records and summaries)": out.out,
        "stderr": out.err,
        "logs": "\n".join(f"{r.name} {r.getMessage()} {r.args}" for r in caplog.records),
        "portal datasets": json.dumps([ckan.action.package_show(id=n) for n in ("pcd-secrets-pm25", "pcd-secrets-api")],
                                      ensure_ascii=False),
    }
    files = [p for p in staging.rglob("*") if p.is_file()]
    assert len(files) > 20  # raw, converted and validation files of five sources
    for path in files:
        written[f"staging {path.relative_to(staging)}"] = path.read_bytes().decode("latin-1")
    assert '"published"' in out.out and "pcd-secrets-api" in written["portal datasets"]
    leaks = [(what, where) for what, secret in secrets.items() for where, text in written.items() if secret in text]
    assert leaks == []
