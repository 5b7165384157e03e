"""Drop kinds (folder_drop, s3_drop, sftp_drop): only new or changed files, recorded after publish.

The contract (``drop_cycle``) runs here against a folder and moto's S3 server,
and in tests/integration/test_kind_drops.py against real SeaweedFS and OpenSSH.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from pydantic import ValidationError

from harvesters.errors import FinalError, RetryableError, SkipItem
from harvesters.kinds import pool_name, pools
from harvesters.kinds.base import ConnectionInfo, HarvestContext
from harvesters.kinds.folder_drop import FolderDropSource
from harvesters.kinds.s3_drop import S3DropSource
from harvesters.kinds.sftp_drop import SftpDropSource
from harvesters.results import FetchedFile
from harvesters.settings import Settings

A1, A2 = "สถานี,pm25\nกรุงเทพฯ,41.5\n".encode(), "สถานี,pm25\nกรุงเทพฯ,41.5\nเชียงใหม่,88.0\n".encode()
C1, C2 = b"x,y\n3,4\n", b"x,y\n3,4\n7,8\n"


def context(source_id="drop-test", connections=None) -> HarvestContext:
    return HarvestContext(source_id, Settings.from_env(), requests.Session(),
                          connection=(connections or {}).__getitem__)


def fetch_one(source, remote, ctx, tmp_path: Path) -> FetchedFile:
    dest = tmp_path / f"{remote.key}{remote.suffix}"
    source.fetch(remote, dest, ctx)
    data = dest.read_bytes()
    return FetchedFile(remote=remote, path=str(dest), sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                       fetched_at=datetime.now(timezone.utc).isoformat())


def paths(files) -> set[str]:
    """The files gather offers to fetch (processed ones are listed too, as unchanged)."""
    return {f.locator["path"] for f in files if f.status == "offered"}


def drop_cycle(source, ctx, put, listing, tmp_path: Path) -> set[str]:
    """New files gathered, processed ones skipped, changed ones gathered again; returns the final listing."""
    put("a.csv", A1)
    put("sub/c.csv", C1)
    put("notes.txt", b"not data")  # not matched by include: never taken, never touched
    files = {f.locator["path"]: f for f in source.gather(ctx)}
    assert set(files) == {"a.csv", "sub/c.csv"}
    assert files["a.csv"].title == "a.csv" and files["a.csv"].suffix == ".csv" and files["a.csv"].etag
    fetched = {rel: fetch_one(source, f, ctx, tmp_path) for rel, f in files.items()}
    assert Path(fetched["a.csv"].path).read_bytes() == A1

    source.acknowledge([fetched["a.csv"]], ctx)  # only a.csv was published
    assert paths(source.gather(ctx)) == {"sub/c.csv"}  # processed a.csv is not fetched again
    if source.mode == "marker":  # ...but still listed: it is there, unchanged (not missing)
        assert {f.locator["path"]: f.status for f in source.gather(ctx)}["a.csv"] == "unchanged"
    assert {"sub/c.csv", "notes.txt"} <= listing()  # nothing unprocessed is deleted

    put("a.csv", A2)  # the agency replaces a.csv: a new version
    again = {f.locator["path"]: f for f in source.gather(ctx)}
    assert set(again) == {"a.csv", "sub/c.csv"}
    assert again["a.csv"].etag != files["a.csv"].etag

    put("sub/c.csv", C2)  # changed between gather and fetch: the fetch is retried later
    with pytest.raises(RetryableError, match="changed since it was listed"):
        source.fetch(again["sub/c.csv"], tmp_path / "c.csv", ctx)

    latest = [fetch_one(source, f, ctx, tmp_path) for f in source.gather(ctx) if f.status == "offered"]
    assert {Path(f.path).read_bytes() for f in latest} == {A2, C2}
    source.acknowledge(latest, ctx)
    if source.mode == "move":
        with pytest.raises(SkipItem, match=r"nothing new in \S+"):
            source.gather(ctx)
    else:
        assert {f.status for f in source.gather(ctx)} == {"unchanged"}
    return listing()


MARKED = {"a.csv", "sub/c.csv", "notes.txt", "_processed/a.csv.json", "_processed/sub/c.csv.json"}
MOVED = {"notes.txt", "_processed/a.csv", "_processed/sub/c.csv"}


# --------------------------------------------------------------------------- folder_drop

def folder_ops(root: Path):
    def put(rel, data):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        st = path.stat()  # make every write a new version even within one clock tick
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))

    def listing():
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    return put, listing


@pytest.mark.parametrize("mode, expected", [("marker", MARKED), ("move", MOVED)])
def test_folder_drop_contract(tmp_path, mode, expected):
    root = tmp_path / "drop"
    root.mkdir()
    src = FolderDropSource(kind="folder_drop", path=str(root), include=["*.csv"], mode=mode)
    assert drop_cycle(src, context(), *folder_ops(root), tmp_path) == expected
    if mode == "move":
        assert (root / "_processed" / "a.csv").read_bytes() == A2


def test_folder_move_leaves_a_file_changed_after_fetch(tmp_path):
    root = tmp_path / "drop"
    root.mkdir()
    put, listing = folder_ops(root)
    put("a.csv", A1)
    src = FolderDropSource(kind="folder_drop", path=str(root), mode="move")
    ctx = context()
    fetched = fetch_one(src, src.gather(ctx)[0], ctx, tmp_path)
    put("a.csv", A2)
    src.acknowledge([fetched], ctx)
    assert listing() == {"a.csv"} and (root / "a.csv").read_bytes() == A2  # not moved: the new version waits


def test_folder_drop_missing_folder_is_retryable(tmp_path):
    src = FolderDropSource(kind="folder_drop", path=str(tmp_path / "not-mounted"))
    with pytest.raises(RetryableError, match="cannot reach drop folder .*not-mounted"):
        src.gather(context())


def test_max_files_takes_the_oldest_first(tmp_path):
    put, _ = folder_ops(tmp_path)
    for i, name in enumerate(["c.csv", "a.csv", "b.csv"]):
        put(name, b"x\n1\n")
        os.utime(tmp_path / name, (1_700_000_000 + i, 1_700_000_000 + i))
    src = FolderDropSource(kind="folder_drop", path=str(tmp_path), max_files=2)
    files = src.gather(context())
    assert [f.locator["path"] for f in files if f.status == "offered"] == ["c.csv", "a.csv"]
    assert [(f.locator["path"], f.status) for f in files if f.status != "offered"] == [("b.csv", "deferred")]


def test_an_emptied_marker_drop_fails_rather_than_count_its_files_missing(tmp_path):
    root = tmp_path / "drop"
    root.mkdir()
    put, _ = folder_ops(root)
    src = FolderDropSource(kind="folder_drop", path=str(root))
    with pytest.raises(SkipItem, match="nothing new"):  # a new drop with nothing yet: nothing to do
        src.gather(context())
    put("a.csv", A1)
    ctx = context()
    src.acknowledge([fetch_one(src, src.gather(ctx)[0], ctx, tmp_path)], ctx)
    (root / "a.csv").unlink()
    with pytest.raises(FinalError, match=r"is empty, but 1 file\(s\) were processed from it before"):
        src.gather(ctx)


# --------------------------------------------------------------------------- s3_drop (moto)

@pytest.fixture(scope="module")
def moto_s3():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_ops(endpoint: str, bucket: str, prefix: str):
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    client.create_bucket(Bucket=bucket)

    def put(rel, data):
        client.put_object(Bucket=bucket, Key=prefix + rel, Body=data)

    def listing():
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        return {k[len(prefix):] for k in keys if k.startswith(prefix)}

    return put, listing


def s3_conn(endpoint: str, secret: str = "testing") -> dict:
    return {"drops": ConnectionInfo("drops", "aws", login="testing", password=secret,
                                    extra={"endpoint_url": endpoint, "region_name": "us-east-1"})}


@pytest.mark.parametrize("mode, expected", [("marker", MARKED), ("move", MOVED)])
def test_s3_drop_contract_on_moto(moto_s3, tmp_path, mode, expected):
    bucket = f"drops-{mode}"
    src = S3DropSource(kind="s3_drop", bucket=bucket, prefix="pcd", connection="drops", include=["*.csv"], mode=mode)
    assert src.prefix == "pcd/"
    put, listing = s3_ops(moto_s3, bucket, "pcd/")
    put_other, everything = s3_ops(moto_s3, bucket, "")
    put_other("gistda/other.csv", b"x\n")  # another agency's prefix: not ours
    assert drop_cycle(src, context(connections=s3_conn(moto_s3)), put, listing, tmp_path) == expected
    assert "gistda/other.csv" in everything()


def test_s3_gather_names_objects_by_url(moto_s3):
    put, _ = s3_ops(moto_s3, "drops-names", "pcd/")
    put("2568/ค่าฝุ่น มกราคม.csv", A1)
    src = S3DropSource(kind="s3_drop", bucket="drops-names", prefix="pcd/", connection="drops")
    (remote,) = src.gather(context(connections=s3_conn(moto_s3)))
    assert remote.url == "s3://drops-names/pcd/2568/ค่าฝุ่น มกราคม.csv"
    assert remote.title == "ค่าฝุ่น มกราคม.csv" and remote.key.startswith("file-") and remote.key.isascii()
    assert remote.size == len(A1) and remote.modified


def test_s3_wrong_secret_is_final_and_unreachable_is_retryable(moto_s3):
    src = S3DropSource(kind="s3_drop", bucket="drops-names", prefix="pcd/", connection="drops")
    with pytest.raises(RetryableError, match=r"cannot reach s3 endpoint http://127.0.0.1:9: "):
        src.gather(context(connections=s3_conn("http://127.0.0.1:9")))
    with pytest.raises(FinalError, match="NoSuchBucket"):
        S3DropSource(kind="s3_drop", bucket="no-such-bucket", connection="drops").gather(
            context(connections=s3_conn(moto_s3)))


@pytest.mark.parametrize("kw, message", [
    ({"bucket": "Agency_Drops"}, "is not an S3 bucket name"),
    ({"bucket": "b1x", "mode": "delete"}, "Input should be 'marker' or 'move'"),
    ({"bucket": "b1x", "processed": "../elsewhere"}, "processed must be a folder below the drop"),
    ({"bucket": "b1x", "include": [""]}, "empty glob pattern"),
    ({"bucket": "b1x", "endpoint": "http://x"}, "Extra inputs are not permitted"),
])
def test_s3_settings_are_checked(kw, message):
    with pytest.raises(ValidationError, match=message):
        S3DropSource(kind="s3_drop", **kw)


# --------------------------------------------------------------------------- sftp_drop (settings; the server is in integration)

def test_sftp_settings_are_checked():
    with pytest.raises(ValidationError, match="required"):
        SftpDropSource(kind="sftp_drop")
    with pytest.raises(ValidationError, match="not an OpenSSH public key line"):
        SftpDropSource(kind="sftp_drop", connection="c", host_key="ssh-ed25519 not-a-key")
    with pytest.raises(ValidationError, match="SHA256"):
        SftpDropSource(kind="sftp_drop", connection="c", host_key_fingerprint="MD5:aa:bb")
    assert SftpDropSource(kind="sftp_drop", connection="c",
                          host_key="[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKmG8RXXVKkb7PugCXRw4o1Xg0k3itJWrpNTGy8RmroC")


def test_sftp_refuses_to_run_without_a_host_key_or_with_checking_off():
    src = SftpDropSource(kind="sftp_drop", connection="c")
    conn = ConnectionInfo("c", "sftp", host="127.0.0.1", port=9, login="u", extra={"private_key": "x"})
    with pytest.raises(FinalError, match="no host key for 127.0.0.1:9: .* always checked"):
        src.gather(context(connections={"c": conn}))
    off = ConnectionInfo("c", "sftp", host="127.0.0.1", port=9, login="u", extra={"no_host_key_check": "true"})
    with pytest.raises(FinalError, match="host key checking is never turned off"):
        src.gather(context(connections={"c": off}))


# --------------------------------------------------------------------------- pools

def test_pools_per_host_and_per_connection():
    from harvesters.kinds.http import HttpSource
    from harvesters.kinds.web_page import WebPageSource

    web = WebPageSource(kind="web_page", url="https://www.pcd.go.th/reports", links={"selector": "a"})
    two_hosts = HttpSource(kind="http", files=["https://a.example/x.csv", "https://b.example/y.csv"])
    s3 = S3DropSource(kind="s3_drop", bucket="b1x", connection="demo_s3")
    sftp = SftpDropSource(kind="sftp_drop", connection="ddc-sftp")
    folder = FolderDropSource(kind="folder_drop", path="/srv/drops")
    assert pool_name(web) == "host_www_pcd_go_th"
    assert pool_name(two_hosts) is None and pool_name(folder) is None
    assert (pool_name(s3), pool_name(sftp)) == ("conn_demo_s3", "conn_ddc_sftp")
    local = HttpSource(kind="http", files=["http://127.0.0.1:8765/a.csv"])
    assert pools([web, two_hosts, s3, sftp, folder, local]) == {
        "host_www_pcd_go_th": 2, "conn_demo_s3": 2, "conn_ddc_sftp": 2, "host_127_0_0_1_8765": 2}


def test_pools_of_the_committed_sources():
    from harvesters.config import load_all
    from harvesters.settings import REPO_ROOT

    loaded, errors = load_all(REPO_ROOT / "include" / "sources")
    assert not errors
    names = pools(loaded)
    assert "conn_demo_s3" in names and "conn_demo_sftp" in names and all(v == 2 for v in names.values())
