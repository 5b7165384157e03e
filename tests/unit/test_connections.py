"""Connections without Airflow: the same AIRFLOW_CONN_<ID> variables Airflow reads."""

import json

import pytest

from harvesters.errors import ConnectionUndefined, FinalError
from harvesters.kinds.base import ConnectionInfo, connection_from_env
from harvesters.portal import portal_settings


def test_json_form(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AGENCY_S3", json.dumps(
        {"conn_type": "aws", "login": "AK", "password": "SK", "extra": {"endpoint_url": "http://127.0.0.1:9000"}}))
    conn = connection_from_env("agency_s3")
    assert (conn.conn_type, conn.login, conn.password) == ("aws", "AK", "SK")
    assert conn.extra["endpoint_url"] == "http://127.0.0.1:9000"


def test_uri_form(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AGENCY_SFTP", "sftp://harvester:p%40ss@127.0.0.1:2222/drop?key_file=%2Fk")
    conn = connection_from_env("agency_sftp")
    assert (conn.host, conn.port, conn.login, conn.password, conn.schema) == ("127.0.0.1", 2222, "harvester", "p@ss", "drop")
    assert conn.extra == {"key_file": "/k"}


def test_missing_connection_is_final(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)
    with pytest.raises(FinalError, match="connection 'nope' is not defined"):
        connection_from_env("nope")


def test_portal_prefers_the_connection_then_the_environment(monkeypatch):
    monkeypatch.setenv("HARVEST_PORTAL_URL", "http://env-portal")
    monkeypatch.setenv("HARVEST_PORTAL_TOKEN", "env-token")
    conn = ConnectionInfo("gdc_portal", "http", "http://127.0.0.1:5000/", None, "", "tok", "", {"create_organizations": "true"})
    settings = portal_settings(lambda conn_id: conn)
    assert (settings.url, settings.token, settings.create_organizations) == ("http://127.0.0.1:5000", "tok", True)

    def missing(conn_id):
        raise ConnectionUndefined("not defined")

    assert portal_settings(missing).url == "http://env-portal"
