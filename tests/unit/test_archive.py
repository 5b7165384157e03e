"""The archive: raw files with checksum, run id and fetch time; reports; quarantine; retention.

Each contract runs on both backends: a local folder and S3 (moto's server, in-process
on loopback; the real SeaweedFS endpoint is exercised in tests/integration/test_archive_s3.py).
"""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harvesters import archive
from harvesters.errors import FinalError, RetryableError
from harvesters.settings import Settings

RUN_ID = "scheduled__2026-12-01T10:15:00+00:00"


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return archive.LocalBackend(tmp_path / "archive")
    endpoint = request.getfixturevalue("moto_endpoint")
    client = s3_client(endpoint)
    bucket = f"archive-{len(client.list_buckets().get('Buckets', []))}"
    client.create_bucket(Bucket=bucket)
    return archive.S3Backend(bucket, "harvest", client=client)


def raw_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "staging" / "src" / "run1" / "raw" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_raw_file_archived_with_checksum_run_and_fetch_time(store, tmp_path):
    data = "สถานี,pm25\nกรุงเทพฯ,41.5\n".encode("cp874")
    path = raw_file(tmp_path, "pm25.csv", data)
    digest = hashlib.sha256(data).hexdigest()
    key = archive.archive_raw(store, "src", "run1", path, sha256=digest, run_id=RUN_ID,
                              fetched_at="2026-12-01T10:15:03+00:00", file_key="pm25")
    assert key == "src/run1/raw/pm25.csv"
    stored = store.get_bytes(key)
    assert stored == data and hashlib.sha256(stored).hexdigest() == digest
    assert store.metadata(key) == {"sha256": digest, "run-id": RUN_ID, "fetched-at": "2026-12-01T10:15:03+00:00",
                                   "file-key": "pm25"}
    assert [o.key for o in store.list("src/")] == [key]


def test_each_raw_version_kept_per_run(store, tmp_path):
    for run, data in (("run1", b"a,b\n1,2\n"), ("run2", b"a,b\n1,3\n")):
        path = raw_file(tmp_path, "x.csv", data)
        archive.archive_raw(store, "src", run, path, sha256=hashlib.sha256(data).hexdigest(), run_id=run,
                            fetched_at="2026-12-01T00:00:00+00:00", file_key="x")
    assert store.get_bytes("src/run1/raw/x.csv") == b"a,b\n1,2\n"
    assert store.get_bytes("src/run2/raw/x.csv") == b"a,b\n1,3\n"
    assert store.metadata("src/run2/raw/x.csv")["sha256"] == hashlib.sha256(b"a,b\n1,3\n").hexdigest()


def test_reports_round_trip_newest_first(store):
    for i in range(3):
        archive.store_report(store, "src", f"run{i}", {"source": "src", "run_id": f"r{i}",
                                                        "started_at": f"2026-12-0{i + 1}T00:00:00+00:00"})
    archive.store_report(store, "other", "run9", {"source": "other", "started_at": "2026-12-31T00:00:00+00:00"})
    assert [r["run_id"] for r in archive.load_reports(store, "src")] == ["r2", "r1", "r0"]
    assert [r["run_id"] for r in archive.load_reports(store, "src", last=2)] == ["r2", "r1"]
    assert archive.load_reports(store, "nobody") == []


def test_quarantine_moves_raw_bytes_out_of_archive_and_staging(store, tmp_path):
    data = b"name,id\nsomchai,1101700203451\n"
    path = raw_file(tmp_path, "people.csv", data)
    digest = hashlib.sha256(data).hexdigest()
    archive.archive_raw(store, "src", "run1", path, sha256=digest, run_id=RUN_ID, fetched_at="t", file_key="people")
    key = archive.quarantine(store, "src", "run1", path, sha256=digest, run_id=RUN_ID, reason="pii")
    assert key == "_quarantine/src/run1/people.csv"
    assert not path.exists()  # not left in the ordinary staging folder
    assert store.get_bytes("src/run1/raw/people.csv") is None
    assert store.get_bytes(key) == data
    meta = store.metadata(key)
    assert meta["reason"] == "pii" and meta["sha256"] == digest and "1101700203451" not in str(meta)


def test_local_quarantine_is_owner_only(tmp_path):
    store = archive.LocalBackend(tmp_path / "archive")
    path = raw_file(tmp_path, "people.csv", b"id\n1101700203451\n")
    os.umask(0o022)
    key = archive.quarantine(store, "src", "run1", path, sha256="0" * 64, run_id=RUN_ID, reason="pii")
    stored = tmp_path / "archive" / key
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(stored) == 0o600
    assert mode(stored.with_name(stored.name + ".meta.json")) == 0o600
    for folder in (tmp_path / "archive" / "_quarantine", stored.parent.parent, stored.parent):
        assert mode(folder) == 0o700, folder


def test_local_archive_in_the_staging_folder_adds_metadata_without_copying(tmp_path):
    staging = tmp_path / "staging"
    store = archive.backend(Settings(sources_dir=tmp_path, expectations_dir=tmp_path, staging_dir=staging,
                                     contact="x", archive=str(staging)))
    path = raw_file(tmp_path, "a.csv", b"a\n1\n")
    key = archive.archive_raw(store, "src", "run1", path, sha256="f" * 64, run_id="r", fetched_at="t", file_key="a")
    assert (staging / key).samefile(path)
    assert store.metadata(key)["sha256"] == "f" * 64
    # Quarantine there removes the staged file itself.
    archive.quarantine(store, "src", "run1", path, sha256="f" * 64, run_id="r", reason="xxe")
    assert not path.exists() and (staging / "_quarantine" / "src" / "run1" / "a.csv").is_file()


def test_backend_from_settings(tmp_path):
    base = dict(sources_dir=tmp_path, expectations_dir=tmp_path, staging_dir=tmp_path / "st", contact="x")
    assert isinstance(archive.backend(Settings(**base)), archive.LocalBackend)
    s3 = archive.backend(Settings(**base, archive="s3://bucket/some/prefix"), client=object())
    assert isinstance(s3, archive.S3Backend) and s3.location == "s3://bucket/some/prefix/"
    with pytest.raises(FinalError):
        archive.backend(Settings(**base, archive="s3://"))


def test_settings_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEST_STAGING_DIR", str(tmp_path))
    monkeypatch.delenv("HARVEST_ARCHIVE", raising=False)
    monkeypatch.setenv("HARVEST_ARCHIVE_KEEP_RUNS", "5")
    monkeypatch.setenv("HARVEST_QUARANTINE_KEEP_DAYS", "7")
    s = Settings.from_env()
    assert (s.archive, s.archive_keep_runs, s.archive_keep_days, s.quarantine_keep_days) == (str(tmp_path), 5, 365, 7)
    monkeypatch.setenv("HARVEST_ARCHIVE_KEEP_DAYS", "a year")
    with pytest.raises(FinalError, match="HARVEST_ARCHIVE_KEEP_DAYS"):
        Settings.from_env()


def test_unreachable_s3_is_retryable_and_names_the_archive(tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from botocore.config import Config
    import boto3

    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="k", aws_secret_access_key="s",
                          config=Config(retries={"max_attempts": 1}, connect_timeout=2))
    store = archive.S3Backend("bucket", client=client)
    with pytest.raises(RetryableError, match=r"archive s3://bucket/: upload: unreachable"):
        store.put_bytes("src/run/report.json", b"{}", {})


def test_missing_bucket_is_final(moto_endpoint):
    store = archive.S3Backend("no-such-bucket", client=s3_client(moto_endpoint))
    with pytest.raises(FinalError, match="NoSuchBucket"):
        store.put_bytes("src/run/report.json", b"{}", {})


def _age(store, key: str, days: int) -> None:
    """Make an object look ``days`` old (local backend: its mtime)."""
    ts = (datetime.now(timezone.utc) - timedelta(days=days)).timestamp()
    os.utime(store.root / key, (ts, ts))


def test_retention_by_age_and_count_keeps_the_newest_raw_copy(tmp_path):
    store = archive.LocalBackend(tmp_path / "archive")
    # run0 and run1 old; run2, run3 recent. x.csv last changed in run0 (later runs found it unchanged).
    for i, age in enumerate([400, 390, 3, 1]):
        store.put_bytes(f"src/run{i}/report.json", b"{}", {})
        _age(store, f"src/run{i}/report.json", age)
        name = "x.csv" if i == 0 else "y.csv"
        store.put_bytes(f"src/run{i}/raw/{name}", b"data", {})
        _age(store, f"src/run{i}/raw/{name}", age)
    store.put_bytes("_quarantine/src/run0/bad.csv", b"pii", {})
    _age(store, "_quarantine/src/run0/bad.csv", 40)
    store.put_bytes("_quarantine/src/run3/bad.csv", b"pii", {})

    gone = archive.prune(store, "src", keep_days=365, keep_runs=2, quarantine_days=30)
    assert sorted(gone) == ["_quarantine/src/run0/bad.csv", "src/run0/report.json", "src/run1/raw/y.csv",
                            "src/run1/report.json"]
    assert store.get_bytes("src/run0/raw/x.csv") == b"data"  # newest copy of x.csv: kept
    assert not (store.root / "src" / "run1").exists()
    assert store.get_bytes("_quarantine/src/run3/bad.csv") == b"pii"
    # keep_runs protects old runs too: nothing more to prune with a higher count.
    assert archive.prune(store, "src", keep_days=0, keep_runs=10, quarantine_days=30) == []
