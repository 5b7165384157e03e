"""The archive on a real S3 endpoint (SeaweedFS): raw versions with checksums, a report, quarantine.

The deployment settings are the ones production uses: HARVEST_ARCHIVE=s3://bucket/prefix,
HARVEST_ARCHIVE_S3_ENDPOINT, and credentials from boto3's default chain (AWS_* variables).
"""

from __future__ import annotations

import hashlib

import boto3
import pytest
from botocore.config import Config

from harvesters import archive
from harvesters.settings import Settings

pytestmark = pytest.mark.integration


def test_archive_on_seaweedfs(services, monkeypatch, tmp_path):
    s3 = services["s3"]
    admin = boto3.client("s3", endpoint_url=s3["endpoint"], region_name=s3["region"],
                         aws_access_key_id=s3["access_key"], aws_secret_access_key=s3["secret_key"],
                         config=Config(s3={"addressing_style": "path"}))
    admin.create_bucket(Bucket="harvest-archive")
    monkeypatch.setenv("HARVEST_STAGING_DIR", str(tmp_path / "staging"))
    monkeypatch.setenv("HARVEST_ARCHIVE", "s3://harvest-archive/prod")
    monkeypatch.setenv("HARVEST_ARCHIVE_S3_ENDPOINT", s3["endpoint"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3["access_key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3["secret_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3["region"])
    store = archive.backend(Settings.from_env())
    assert isinstance(store, archive.S3Backend)

    versions = {"run1": "วันที่,pm25\n1 ม.ค. 2567,41\n".encode("cp874"), "run2": b"date,pm25\n2024-01-02,38\n"}
    for run, data in versions.items():
        path = tmp_path / run / "pm25.csv"
        path.parent.mkdir()
        path.write_bytes(data)
        archive.archive_raw(store, "pcd-pm25", run, path, sha256=hashlib.sha256(data).hexdigest(),
                            run_id=f"manual__{run}", fetched_at="2026-12-01T10:00:00+00:00", file_key="pm25")
    for run, data in versions.items():
        obj = admin.get_object(Bucket="harvest-archive", Key=f"prod/pcd-pm25/{run}/raw/pm25.csv")
        body = obj["Body"].read()
        assert body == data
        assert obj["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
        assert obj["Metadata"]["run-id"] == f"manual__{run}"

    archive.store_report(store, "pcd-pm25", "run2", {"run_id": "manual__run2", "started_at": "2026-12-01"})
    assert archive.load_reports(store, "pcd-pm25") == [{"run_id": "manual__run2", "started_at": "2026-12-01"}]

    bad = tmp_path / "run2" / "people.csv"
    bad.write_bytes(b"id\n1101700203451\n")
    archive.archive_raw(store, "pcd-pm25", "run2", bad, sha256="0" * 64, run_id="r", fetched_at="t", file_key="p")
    key = archive.quarantine(store, "pcd-pm25", "run2", bad, sha256="0" * 64, run_id="r", reason="pii")
    assert not bad.exists()
    keys = {o["Key"] for o in admin.list_objects_v2(Bucket="harvest-archive")["Contents"]}
    assert f"prod/{key}" in keys and "prod/pcd-pm25/run2/raw/people.csv" not in keys
