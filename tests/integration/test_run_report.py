"""`harvest run` stores its run report and raw files in the archive; `harvest report` reads them back.

Against the real local CKAN and the demo agency site: a first run publishes (added), a
second finds the file unchanged (nothing uploaded, nothing archived again).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from harvesters import cli
from test_publish import source_copy

pytestmark = pytest.mark.integration
SOURCE = "pcd-pm25-report-test"


def test_run_report_stored_printed_and_listed(demo_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARVEST_PORTAL_URL", demo_env["ckan"]["url"])
    monkeypatch.setenv("HARVEST_PORTAL_TOKEN", demo_env["ckan"]["token"])
    sources = str(source_copy(tmp_path, SOURCE).parent.parent)
    staging = Path(os.environ["HARVEST_STAGING_DIR"])

    assert cli.main(["run", SOURCE, "--sources-dir", sources, "--approved-by", "pcd-approver"]) == 0
    err = capsys.readouterr().err
    assert f"Run report: {SOURCE}  run cli__" in err and "SUCCESS" in err
    assert "added 1  updated 0  unchanged 0  withdrawn 0  failed 0" in err

    assert cli.main(["run", SOURCE, "--sources-dir", sources]) == 0
    assert "added 0  updated 0  unchanged 1" in capsys.readouterr().err

    assert cli.main(["report", SOURCE, "--json"]) == 0
    second, first = json.loads(capsys.readouterr().out)
    assert first["counts"]["added"] == 1 and first["rows"] == 480 and first["bytes_uploaded"] > 0
    assert second["counts"]["unchanged"] == 1 and second["bytes_uploaded"] == 0
    assert second["datasets"][0]["status"] == "unchanged"

    # Each raw version in the archive with a correct checksum: the first run's; the unchanged run kept none.
    raw = staging / SOURCE / first["run_id"] / "raw" / "pm25-hourly.csv"
    meta = json.loads(raw.with_name(raw.name + ".meta.json").read_text())
    assert meta["sha256"] == hashlib.sha256(raw.read_bytes()).hexdigest() == first["files"][0]["sha256"]
    assert first["files"][0]["archived"] == f"{SOURCE}/{first['run_id']}/raw/pm25-hourly.csv"
    assert not list((staging / SOURCE / second["run_id"]).glob("raw/*.meta.json"))

    assert cli.main(["report", SOURCE, "--last", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Run report: {SOURCE}  run {second['run_id']}  SUCCESS") and first["run_id"] not in out
