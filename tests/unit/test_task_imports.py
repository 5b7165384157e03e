"""The tasks of an unchanged source pay no heavy imports: gather, fetch (new and then unchanged), and
the modules of the datasets/missing/prepare/publish/report tasks leave pandas, pyarrow and Great
Expectations unimported (a worker process pays seconds for each; only convert and validate need them).

Checked in a fresh interpreter (a subprocess), since this test process has imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from harvesters.settings import REPO_ROOT

HEAVY = ("pandas", "pyarrow", "great_expectations", "duckdb", "polars", "openpyxl", "lxml", "boto3", "paramiko")

SCRIPT = textwrap.dedent("""
    import json, shutil, sys, tempfile
    from pathlib import Path

    sys.path.insert(0, sys.argv[1])  # the repo: tests.loopback
    work = Path(tempfile.mkdtemp())
    try:
        site = work / "site"
        site.mkdir()
        shutil.copy(Path(sys.argv[1]) / "include/demo/site/pcd/pm25_hourly.csv", site / "pm25.csv")
        from tests.loopback import serve_directory

        # The modules the tasks of an unchanged source import (dags/harvest_factory.py, dags/harvest_runlog.py).
        from harvesters import datasets, lifecycle, publishing, report, runner, stages  # noqa: F401
        from harvesters.config import load_source
        from harvesters.results import KnownFile
        from harvesters.settings import Settings
        from harvesters.staging import RunStaging

        with serve_directory(site) as base:
            import yaml

            demo = Path(sys.argv[1]) / "include/sources/pcd"
            (work / "sources/pcd").mkdir(parents=True)
            shutil.copy(demo / "_agency.yaml", work / "sources/pcd/_agency.yaml")
            raw = yaml.safe_load((demo / "pm25-hourly.yaml").read_text(encoding="utf-8"))
            raw["source"] = {"kind": "http", "files": [f"{base}/pm25.csv"]}
            (work / "sources/pcd/check.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
            cfg = load_source(work / "sources/pcd/check.yaml").config
            settings = Settings.from_env()
            ctx = stages.context(cfg, settings)
            staging = RunStaging(settings.staging_dir, cfg.id, "run1")
            remote = stages.gather(cfg, ctx)[0]
            first = stages.fetch(cfg, remote, staging, ctx)
            known = KnownFile(sha256=first.sha256, fingerprint=first.fingerprint, etag=first.etag,
                              last_modified=first.last_modified, formats=["csv", "parquet"])
            again = stages.fetch(cfg, remote.model_copy(update={"known": known}), staging, ctx)
        print(json.dumps({"statuses": [first.status, again.status],
                          "heavy": sorted(m for m in sys.argv[2].split(",") if m in sys.modules)}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
""")


def test_gather_fetch_and_the_publish_side_import_no_heavy_library(tmp_path):
    env = {**os.environ, "HARVEST_STAGING_DIR": str(tmp_path / "staging"), "HARVEST_ALLOW_HOSTS": "127.0.0.1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO_ROOT), ",".join(HEAVY)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["statuses"] == ["new", "unchanged"]  # the second fetch took the unchanged path
    assert out["heavy"] == []


def test_the_check_sees_a_heavy_import():
    """The subprocess check is not blind: importing the converter does pull pyarrow in."""
    code = "import sys; import harvesters.convert; print('pyarrow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == "True", proc.stderr[-2000:]


def test_the_convert_and_validate_tasks_of_an_unchanged_file_import_no_http_client():
    """Their task only reads the fetch record and skips: harvesters.stages alone must not pull in
    requests/urllib3 (only the tasks that talk to a server build the HTTP session)."""
    code = ("import sys; import harvesters.stages; "
            "print([m for m in ('requests', 'urllib3', 'pyarrow', 'pandas', 'great_expectations') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
