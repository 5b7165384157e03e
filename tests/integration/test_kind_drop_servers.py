"""Drop kinds against the real servers of the local stack: SeaweedFS (S3) and OpenSSH (SFTP).

The same contract as the unit tests (tests/unit/test_kind_drops.py::drop_cycle):
new files gathered, processed ones skipped, changed ones gathered again,
acknowledge marks or moves, nothing unprocessed deleted.
"""

from __future__ import annotations

import posixpath
import subprocess
import uuid

import pytest

from harvesters import stages
from harvesters.config import load_source
from harvesters.errors import FinalError, RetryableError
from harvesters.kinds.base import ConnectionInfo
from harvesters.kinds.s3_drop import S3DropSource
from harvesters.kinds.sftp_drop import SftpDropSource, SftpStore
from harvesters.settings import REPO_ROOT
from tests.unit.test_kind_drops import MARKED, MOVED, context, drop_cycle

pytestmark = pytest.mark.integration
SOURCES = REPO_ROOT / "include" / "sources"


def s3_connections(s3: dict, endpoint: str | None = None) -> dict:
    return {"demo_s3": ConnectionInfo("demo_s3", "aws", login=s3["access_key"], password=s3["secret_key"],
                                      extra={"endpoint_url": endpoint or s3["endpoint"], "region_name": s3["region"]})}


def sftp_connections(sftp: dict, port: int | None = None) -> dict:
    return {"demo_sftp": ConnectionInfo("demo_sftp", "sftp", host=sftp["host"], port=port or sftp["port"],
                                        login=sftp["user"], extra={"key_file": sftp["key_file"]})}


# --------------------------------------------------------------------------- S3 (SeaweedFS)

def seaweed_ops(s3: dict, bucket: str, prefix: str):
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=s3["endpoint"], region_name=s3["region"],
                          aws_access_key_id=s3["access_key"], aws_secret_access_key=s3["secret_key"],
                          config=Config(s3={"addressing_style": "path"}))
    client.create_bucket(Bucket=bucket)

    def put(rel, data):
        client.put_object(Bucket=bucket, Key=prefix + rel, Body=data)

    def listing():
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in page.get("Contents", [])]
        return {k[len(prefix):] for k in keys if k.startswith(prefix)}

    return put, listing


@pytest.mark.parametrize("mode, expected", [("marker", MARKED), ("move", MOVED)])
def test_s3_drop_contract_on_seaweedfs(services, tmp_path, mode, expected):
    bucket = f"drops-{mode}-{uuid.uuid4().hex[:6]}"
    src = S3DropSource(kind="s3_drop", bucket=bucket, prefix="pcd/", connection="demo_s3", include=["*.csv"],
                       mode=mode)
    put, listing = seaweed_ops(services["s3"], bucket, "pcd/")
    assert drop_cycle(src, context("pcd-drop", s3_connections(services["s3"])), put, listing, tmp_path) == expected
    if mode == "marker":
        with src.store(context("pcd-drop", s3_connections(services["s3"]))) as store:
            marker = store.read_marker("a.csv")
        assert marker["source"] == "pcd-drop" and marker["version"] and marker["processed_at"]


def test_seeded_s3_drop_is_offered_by_the_demo_source(services, monkeypatch):
    import services as devstack  # include/devstack (on sys.path via tests/conftest.py)

    monkeypatch.setenv("AIRFLOW_CONN_DEMO_S3", devstack.demo_connections(services)["demo_s3"])
    cfg = load_source(SOURCES / "pcd" / "pm25-daily-s3-drop.yaml").config
    files = stages.gather(cfg, stages.context(cfg))  # the CLI's way: the connection from AIRFLOW_CONN_DEMO_S3
    assert [f.url for f in files] == ["s3://agency-drops/pcd/pm25_daily_2025-01.csv"]


def test_unreachable_s3_endpoint_names_source_and_url(services, monkeypatch):
    cfg = load_source(SOURCES / "pcd" / "pm25-daily-s3-drop.yaml").config
    ctx = stages.context(cfg, connection=s3_connections(services["s3"], "http://127.0.0.1:9").__getitem__)
    with pytest.raises(RetryableError, match=r"^pcd-pm25-daily-drop: cannot reach s3 endpoint http://127.0.0.1:9: "):
        stages.gather(cfg, ctx)


# --------------------------------------------------------------------------- SFTP (OpenSSH sshd)

def sftp_ops(store: SftpStore, folder: str):
    sftp = store.sftp
    sftp.mkdir(folder)

    def put(rel, data):
        path = posixpath.join(folder, rel)
        parent = posixpath.dirname(path)
        try:
            sftp.stat(parent)
        except FileNotFoundError:
            sftp.mkdir(parent)
        with sftp.open(path, "wb") as fh:
            fh.write(data)

    def walk(top, rel=""):
        import stat

        for attr in sftp.listdir_attr(top):
            if stat.S_ISDIR(attr.st_mode):
                yield from walk(posixpath.join(top, attr.filename), f"{rel}{attr.filename}/")
            else:
                yield rel + attr.filename

    return put, lambda: set(walk(folder))


@pytest.mark.parametrize("mode, expected", [("marker", MARKED), ("move", MOVED)])
def test_sftp_drop_contract_on_openssh(services, tmp_path, mode, expected):
    sftp = services["sftp"]
    folder = f"it-{mode}-{uuid.uuid4().hex[:6]}"
    src = SftpDropSource(kind="sftp_drop", connection="demo_sftp", directory=folder, include=["*.csv"], mode=mode,
                         host_key=sftp["host_key"])
    ctx = context("ddc-drop", sftp_connections(sftp))
    with SftpDropSource(kind="sftp_drop", connection="demo_sftp", host_key=sftp["host_key"]).store(ctx) as admin:
        put, listing = sftp_ops(admin, folder)
        assert drop_cycle(src, ctx, put, listing, tmp_path) == expected


def test_sftp_host_key_is_checked(services, tmp_path):
    sftp = services["sftp"]
    ok = SftpDropSource(kind="sftp_drop", connection="demo_sftp", directory="ddc",
                        host_key_fingerprint=sftp["host_key_fingerprint"])
    assert [f.title for f in ok.gather(context("ddc-drop", sftp_connections(sftp)))] == ["influenza_weekly_2025.csv"]
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    wrong = SftpDropSource(kind="sftp_drop", connection="demo_sftp", directory="ddc",
                           host_key=(tmp_path / "other.pub").read_text())
    with pytest.raises(FinalError, match=r"host key of 127.0.0.1:\d+ \(ssh-ed25519 SHA256:.*\) does not match"):
        wrong.gather(context("ddc-drop", sftp_connections(sftp)))


def test_unreachable_sftp_server_names_the_url(services):
    src = SftpDropSource(kind="sftp_drop", connection="demo_sftp", host_key=services["sftp"]["host_key"])
    with pytest.raises(RetryableError, match=r"cannot reach sftp server sftp://harvestdrop@127.0.0.1:9: "):
        src.gather(context("ddc-drop", sftp_connections(services["sftp"], port=9)))


def test_sftp_refuses_passwords_only(services):
    sftp = services["sftp"]
    conn = {"demo_sftp": ConnectionInfo("demo_sftp", "sftp", host=sftp["host"], port=sftp["port"],
                                        login=sftp["user"], password="guess")}
    src = SftpDropSource(kind="sftp_drop", connection="demo_sftp", host_key=sftp["host_key"])
    with pytest.raises(FinalError, match="has no private key"):
        src.gather(context("ddc-drop", conn))
