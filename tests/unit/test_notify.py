"""Failure notifications: the agency's notify: block, the message, and a real SMTP sink and webhook on loopback."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from harvesters.config import load_source
from harvesters.errors import ConfigError, RefusedFile
from harvesters.notify import failure_payload, failure_subject
from harvesters.report import FileError, build
from harvesters.results import DatasetGroup, RemoteFile
from harvesters.settings import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "dags"))
from harvest_notify import HarvestFailureNotifier  # noqa: E402
from tests.loopback import Handler, serve  # noqa: E402
from tests.smtp_sink import smtp_sink  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SOURCE = {"id": "pcd-test", "source": {"kind": "http", "files": [{"url": "https://pcd.example.go.th/a.csv"}]},
          "metadata": {"title": "t", "notes": "n", "maintainer": "m", "maintainer_email": "m@pcd.example.go.th",
                       "data_source": "s", "data_category": "public", "license_id": "odc",
                       "data_language": ["th"], "objective": ["public_service"], "data_type": "statistical",
                       "update_frequency_unit": "day", "geo_coverage": "country", "tags": ["ทดสอบ"]}}
SECRET = "portal-token-never-mailed"


def write(tmp_path, agency: dict, source: dict = SOURCE):
    folder = tmp_path / "pcd"
    folder.mkdir(exist_ok=True)
    (folder / "_agency.yaml").write_text(yaml.safe_dump(agency, allow_unicode=True), encoding="utf-8")
    (folder / "test.yaml").write_text(yaml.safe_dump(source, allow_unicode=True), encoding="utf-8")
    return folder / "test.yaml"


def test_notify_block_comes_from_agency_defaults(tmp_path):
    path = write(tmp_path, {"notify": {"email": {"to": "ops@pcd.example.go.th", "connection": "pcd_smtp"},
                                       "webhook": {"connection": "pcd_chat", "endpoint": "/hooks/harvest"}}})
    cfg = load_source(path).config
    assert cfg.notify.email.to == ["ops@pcd.example.go.th"] and cfg.notify.email.connection == "pcd_smtp"
    assert cfg.notify.webhook.endpoint == "/hooks/harvest"
    notifier = HarvestFailureNotifier.for_config(cfg)
    assert notifier.email["to"] == ["ops@pcd.example.go.th"] and notifier.webhook["connection"] == "pcd_chat"


def test_no_notify_block_no_notifier(tmp_path):
    assert HarvestFailureNotifier.for_config(load_source(write(tmp_path, {})).config) is None


@pytest.mark.parametrize("notify, field", [
    ({"email": {"to": ["not-an-address"]}}, "notify.email.to"),
    ({"email": {"to": []}}, "notify.email.to"),
    ({"webhook": {"url": "https://hooks.example/x"}}, "notify.webhook"),
])
def test_bad_notify_block_is_a_config_error(tmp_path, notify, field):
    with pytest.raises(ConfigError) as exc:
        load_source(write(tmp_path, {"notify": notify}))
    assert any(f.startswith(field) for f, _ in exc.value.problems), exc.value.problems


def failed_run_report():
    refusal = RefusedFile("pii", "column 'เลขบัตร': 3 Thai national ID numbers", source="pcd-test",
                          file="https://pcd.example.go.th/people.csv")
    return build("pcd-test", "manual__2026-12-01", gathered=[
        RemoteFile(source="pcd-test", url="https://user:pw@pcd.example.go.th/people.csv", key="people", title="p"),
        RemoteFile(source="pcd-test", url="https://pcd.example.go.th/ok.csv", key="ok", title="o")],
        groups=[DatasetGroup(name="pcd-test", files=["people", "ok"])],
        errors=[FileError.of(refusal, file="people", stage="convert")])


class FailedTask(Exception):
    """What the report task raises: the run's report rides along for the notifier."""


def context_of(report):
    exc = FailedTask(f"pcd-test: 1 of 2 files failed ({SECRET} must not leak through the report path)")
    exc.harvest_report = report.dump()
    return {"exception": exc, "run_id": report.run_id}


def test_failure_mail_reaches_a_real_smtp_server(monkeypatch):
    report = failed_run_report()
    with smtp_sink() as sink:
        monkeypatch.setenv("AIRFLOW_CONN_PCD_SMTP", sink.connection_json())
        HarvestFailureNotifier("pcd-test", email={"to": ["ops@pcd.example.go.th"], "connection": "pcd_smtp",
                                                  "from_email": None}).notify(context_of(report))
    assert sink.logins == [True] and len(sink.messages) == 1
    mail = sink.messages[0]
    assert mail["X-Envelope-To"] == "ops@pcd.example.go.th" and mail["From"] == "harvest@localhost"
    assert mail["Subject"] == "[harvest] pcd-test: 1 file failed (run manual__2026-12-01)"
    body = mail.get_body(("html",)).get_content()
    assert "Source: pcd-test" in body and "people (pii): pcd-test: https://pcd.example.go.th/people.csv: pii" in body
    raw = mail.as_string()
    for secret in (sink.password, SECRET, "user:pw"):
        assert secret not in raw and secret not in body


def test_failure_webhook_posts_json_through_an_http_connection(monkeypatch):
    got = []

    class Hook(Handler):
        def do_POST(self):
            got.append((self.path, self.headers.get("Authorization"),
                        json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.reply(200, b"{}")

    report = failed_run_report()
    with serve(Hook) as url:
        monkeypatch.setenv("AIRFLOW_CONN_PCD_CHAT", json.dumps(
            {"conn_type": "http", "host": url, "login": "bot", "password": "chat-secret"}))
        HarvestFailureNotifier("pcd-test", webhook={"connection": "pcd_chat", "endpoint": "/hooks/harvest"}).notify(
            context_of(report))
    path, auth, payload = got[0]
    assert path == "/hooks/harvest" and auth.startswith("Basic ")  # the credential stays in the connection
    assert payload == failure_payload("pcd-test", "manual__2026-12-01", payload["error"], report)
    assert payload["failed_files"][0]["file"] == "people" and payload["failed_files"][0]["reason"] == "pii"
    assert payload["summary"] == failure_subject("pcd-test", report)


def test_a_channel_that_cannot_send_does_not_stop_the_other(monkeypatch):
    got = []

    class Hook(Handler):
        def do_POST(self):
            got.append(self.path)
            self.reply(200, b"{}")

    monkeypatch.setenv("AIRFLOW_CONN_DEAD_SMTP", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": 9, "extra": {"disable_ssl": True, "disable_tls": True,
                                                                        "timeout": 2, "retry_limit": 1}}))
    with serve(Hook) as url:
        monkeypatch.setenv("AIRFLOW_CONN_PCD_CHAT", json.dumps({"conn_type": "http", "host": url}))
        HarvestFailureNotifier("pcd-test", email={"to": ["a@b.go.th"], "connection": "dead_smtp", "from_email": "x@y.th"},
                               webhook={"connection": "pcd_chat", "endpoint": ""}).notify(context_of(failed_run_report()))
    assert got == ["/"]
