"""The archive: every fetched raw file, the converted outputs and the run report, kept per run.

Keys: ``<source>/<run>/raw/<file>``, ``<source>/<run>/converted/...``, ``<source>/<run>/report.json``,
the same layout as the staging store (``staging.py``). Each object carries its SHA-256,
the run id and the fetch time as metadata, so every published version can be traced
back to its source bytes and re-derived.

Two backends, chosen by the deployment setting ``HARVEST_ARCHIVE`` (``settings.py``):
a local folder (the default is the staging folder itself, so a raw file already lies
where it is archived and only its metadata is added) or ``s3://bucket/prefix``
through boto3.

Refused files (a converter refusal: personal data, hostile content...) are not kept
with the rest: their raw bytes move to the quarantine area ``_quarantine/<source>/<run>/``
(folders 0700, files 0600 on a local archive; a prefix of its own on S3, for a bucket
policy to lock down) and leave both the ordinary archive and the staging folder.
Retention (``prune``) removes old runs and old quarantined files.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Protocol

from .errors import FinalError, RetryableError
from .settings import Settings

QUARANTINE = "_quarantine"  # source ids start with a letter or digit, so this never names a source
REPORT = "report.json"
_META = ".meta.json"  # local backend: the metadata of <file> lives in <file>.meta.json


@dataclass(frozen=True)
class ArchivedObject:
    key: str
    size: int
    modified: datetime
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def run(self) -> str:
        return self.key.split("/")[1] if self.key.count("/") >= 2 else ""


class Backend(Protocol):
    location: str  # for messages: a folder or s3://bucket/prefix

    def put_file(self, key: str, path: Path, metadata: dict[str, str], *, private: bool = False) -> None: ...
    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> None: ...
    def get_bytes(self, key: str) -> bytes | None: ...
    def metadata(self, key: str) -> dict[str, str]: ...
    def list(self, prefix: str) -> list[ArchivedObject]: ...
    def delete(self, keys: list[str]) -> None: ...


def _check_key(key: str) -> str:
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise FinalError(f"archive: refusing key {key!r}")  # keys are built from slugs; this is a bug guard
    return key


# --------------------------------------------------------------------------- local folder

class LocalBackend:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.location = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def _mkdirs(self, path: Path, private: bool) -> None:
        if not private:
            path.mkdir(parents=True, exist_ok=True)
            return
        # Every folder from the quarantine root down is 0700 (mkdir's mode is filtered by the umask).
        top = self.root / QUARANTINE
        self.root.mkdir(parents=True, exist_ok=True)
        for part in [top, *[top.joinpath(*path.relative_to(top).parts[:i + 1])
                            for i in range(len(path.relative_to(top).parts))]]:
            part.mkdir(exist_ok=True)
            os.chmod(part, 0o700)

    def _write_meta(self, path: Path, metadata: dict[str, str], private: bool) -> None:
        meta = path.with_name(path.name + _META)
        fd = os.open(meta, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(metadata, fh, ensure_ascii=False)

    def put_file(self, key: str, path: Path, metadata: dict[str, str], *, private: bool = False) -> None:
        dest = self._path(key)
        self._mkdirs(dest.parent, private)
        if Path(path).resolve() != dest.resolve():
            # Created 0600 before a byte is written, so private bytes are never readable by others.
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        if private:
            os.chmod(dest, 0o600)
        self._write_meta(dest, metadata, private)

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(dest)  # a reader never sees half a report
        self._write_meta(dest, metadata, False)

    def get_bytes(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def metadata(self, key: str) -> dict[str, str]:
        meta = self._path(key)
        meta = meta.with_name(meta.name + _META)
        return json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}

    def list(self, prefix: str) -> list[ArchivedObject]:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        out = []
        for path in sorted(base.rglob("*")):
            if path.name.endswith((_META, ".part")) or not path.is_file():
                continue
            meta = path.with_name(path.name + _META)
            try:
                metadata = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
            except (OSError, ValueError):
                metadata = {}
            st = path.stat()
            out.append(ArchivedObject(key=path.relative_to(self.root).as_posix(), size=st.st_size,
                                      modified=datetime.fromtimestamp(st.st_mtime, timezone.utc), metadata=metadata))
        return out

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            path = self._path(key)
            for p in (path, path.with_name(path.name + _META)):
                p.unlink(missing_ok=True)
            # Drop folders the deletion emptied, up to the source's folder.
            parent = path.parent
            while (parent != self.root and parent.parent != self.root and parent.is_dir()
                   and not any(parent.iterdir())):
                parent.rmdir()
                parent = parent.parent


# --------------------------------------------------------------------------- S3

class S3Backend:
    def __init__(self, bucket: str, prefix: str = "", *, client=None, endpoint_url: str | None = None):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"s3://{bucket}/{self.prefix}"
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(s3={"addressing_style": "path"} if endpoint_url else {},
                            retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60)
            client = boto3.client("s3", endpoint_url=endpoint_url, config=config)
        self.client = client

    def _call(self, what: str, fn, *, missing_ok: bool = False, **kwargs):
        """boto3 errors as ours, by the one rule of ``harvesters.s3errors``."""
        from botocore.exceptions import BotoCoreError, ClientError

        from .s3errors import answer, no_answer

        try:
            return fn(**kwargs)
        except ClientError as exc:
            cls, detail, status = answer(exc)
            if missing_ok and (status == 404 or detail.split(" ", 1)[0] in ("NoSuchKey", "404")):
                return None
            raise cls(f"archive {self.location}: {what}: {detail}") from None
        except BotoCoreError as exc:
            cls = no_answer(exc)
            why = "unreachable" if cls is RetryableError else "no credentials"
            raise cls(f"archive {self.location}: {what}: {why} ({type(exc).__name__})") from None

    def put_file(self, key: str, path: Path, metadata: dict[str, str], *, private: bool = False) -> None:
        extra = {"Metadata": metadata}
        if private:
            extra["ACL"] = "private"
        self._call("upload", self.client.upload_file, Filename=str(path), Bucket=self.bucket,
                   Key=self.prefix + _check_key(key), ExtraArgs=extra)

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> None:
        self._call("upload", self.client.put_object, Bucket=self.bucket, Key=self.prefix + _check_key(key),
                   Body=data, Metadata=metadata)

    def get_bytes(self, key: str) -> bytes | None:
        resp = self._call("read", self.client.get_object, missing_ok=True, Bucket=self.bucket,
                          Key=self.prefix + _check_key(key))
        return None if resp is None else resp["Body"].read()

    def list(self, prefix: str) -> list[ArchivedObject]:
        out = []
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call("list", lambda **kw: list(paginator.paginate(**kw)), Bucket=self.bucket,
                           Prefix=self.prefix + prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                out.append(ArchivedObject(key=obj["Key"][len(self.prefix):], size=obj["Size"],
                                          modified=obj["LastModified"]))
        return out

    def metadata(self, key: str) -> dict[str, str]:
        return self._call("head", self.client.head_object, Bucket=self.bucket,
                          Key=self.prefix + _check_key(key)).get("Metadata", {})

    def delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            batch = [{"Key": self.prefix + _check_key(k)} for k in keys[i:i + 1000]]
            self._call("delete", self.client.delete_objects, Bucket=self.bucket, Delete={"Objects": batch})


def backend(settings: Settings | None = None, *, client=None) -> Backend:
    """The deployment's archive (``HARVEST_ARCHIVE``): a folder, or s3://bucket/prefix."""
    settings = settings or Settings.from_env()
    where = settings.archive or str(settings.staging_dir)
    if where.startswith("s3://"):
        bucket, _, prefix = where[len("s3://"):].partition("/")
        if not bucket:
            raise FinalError(f"setting HARVEST_ARCHIVE: {where!r} names no bucket")
        return S3Backend(bucket, prefix, client=client, endpoint_url=settings.archive_s3_endpoint)
    return LocalBackend(Path(where.removeprefix("file://")).expanduser())


# --------------------------------------------------------------------------- what the pipeline archives

def raw_key(source: str, run: str, name: str) -> str:
    return f"{source}/{run}/raw/{name}"


def quarantine_key(source: str, run: str, name: str) -> str:
    return f"{QUARANTINE}/{source}/{run}/{name}"


def locations(source: str, run: str, fetched, errors) -> dict[str, str]:
    """Where each file fetched in a run keeps its raw bytes, by file key: the archive, or quarantine when
    the converter refused it (``results.FetchedFile``s, ``report.FileError``s)."""
    refused = {e.file for e in errors if e.stage == "convert" and e.reason}
    return {f.remote.key: (quarantine_key if f.remote.key in refused else raw_key)(source, run, Path(f.path).name)
            for f in fetched if f.path and f.to_convert}


def archive_raw(store: Backend, source: str, run: str, path: Path, *, sha256: str, run_id: str,
                fetched_at: str, file_key: str) -> str:
    """Archive one fetched raw file under ``<source>/<run>/raw/<name>``; returns its key."""
    key = raw_key(source, run, Path(path).name)
    store.put_file(key, Path(path), {"sha256": sha256, "run-id": _ascii(run_id), "fetched-at": fetched_at,
                                     "file-key": _ascii(file_key)})
    return key


def archive_outputs(store: Backend, source: str, run: str, folder: Path, *, run_id: str) -> list[str]:
    """Archive a run's converted outputs (CSV, Parquet, conversion report) under ``<source>/<run>/converted/``."""
    keys = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.endswith(_META)):
        key = f"{source}/{run}/converted/{path.relative_to(folder).as_posix()}"
        from .staging import sha256_file

        store.put_file(key, path, {"sha256": sha256_file(path), "run-id": _ascii(run_id)})
        keys.append(key)
    return keys


def quarantine(store: Backend, source: str, run: str, path: Path, *, sha256: str, run_id: str,
               reason: str) -> str:
    """Move a refused file's raw bytes out of the archive and staging into the quarantine area.

    ``reason`` is the refusal's reason word (``pii``...), never the refusal message: that
    may quote the file's content. Returns the quarantine key.
    """
    name = Path(path).name
    key = quarantine_key(source, run, name)
    store.put_file(key, Path(path), {"sha256": sha256, "run-id": _ascii(run_id), "reason": _ascii(reason),
                                     "quarantined-at": _now().isoformat(timespec="seconds")}, private=True)
    store.delete([raw_key(source, run, name)])  # on a local archive in the staging folder: the staged file itself
    Path(path).unlink(missing_ok=True)
    return key


def store_report(store: Backend, source: str, run: str, report: dict) -> str:
    key = f"{source}/{run}/{REPORT}"
    store.put_bytes(key, json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"),
                    {"run-id": _ascii(str(report.get("run_id", run)))})
    return key


def load_reports(store: Backend, source: str, last: int | None = None) -> list[dict]:
    """The source's stored run reports, newest first."""
    reports = []
    for obj in store.list(f"{source}/"):
        if obj.key.count("/") == 2 and obj.key.endswith("/" + REPORT):
            data = store.get_bytes(obj.key)
            try:
                reports.append(json.loads(data or b""))
            except ValueError:
                continue  # a damaged report does not hide the others
    # started_at is to the second: two runs in one second are told apart by their run ids (timestamped).
    reports.sort(key=lambda r: (str(r.get("started_at") or ""), str(r.get("run_id") or "")), reverse=True)
    return reports[:last] if last else reports


def prune(store: Backend, source: str, *, keep_days: int, keep_runs: int, quarantine_days: int,
          now: datetime | None = None) -> list[str]:
    """Apply retention to one source; returns the keys removed.

    A run goes once it is older than ``keep_days`` and not among the newest ``keep_runs``;
    the newest archived copy of each raw file stays whatever its age (later runs may have
    found the file unchanged, so that copy is what the portal's version came from).
    Quarantined files go after ``quarantine_days``.
    """
    now = now or _now()
    objects = store.list(f"{source}/")
    runs: dict[str, datetime] = {}
    for obj in objects:
        runs[obj.run] = max(runs.get(obj.run, obj.modified), obj.modified)
    newest = sorted(runs, key=runs.get, reverse=True)
    doomed = {r for i, r in enumerate(newest) if i >= keep_runs and now - runs[r] > timedelta(days=keep_days)}
    latest_raw: dict[str, ArchivedObject] = {}
    for obj in objects:
        parts = obj.key.split("/")
        if len(parts) == 4 and parts[2] == "raw":
            seen = latest_raw.get(parts[3])
            if seen is None or obj.modified > seen.modified:
                latest_raw[parts[3]] = obj
    protected = {o.key for o in latest_raw.values()}
    gone = [o.key for o in objects if o.run in doomed and o.key not in protected]
    gone += [o.key for o in store.list(f"{QUARANTINE}/{source}/")
             if now - o.modified > timedelta(days=quarantine_days)]
    if gone:
        store.delete(gone)
    return gone


def is_private(path: Path) -> bool:
    """True when only the owner may read the file or folder (for checks and tests)."""
    return stat.S_IMODE(Path(path).stat().st_mode) & 0o077 == 0


def _ascii(value: str) -> str:
    # S3 user metadata is ASCII; run ids and keys are, but never let one break an upload.
    return value.encode("ascii", "backslashreplace").decode("ascii")


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- the stages' calls

def keep_fetched(fetched, staging, settings: Settings | None = None) -> str:
    """Archive a fetched file (``results.FetchedFile``) of a run (``staging.RunStaging``); returns its key.

    An archive that cannot take it fails the fetch, naming the source and file: nothing is
    published whose source bytes are not kept.
    """
    from .errors import HarvestError

    try:
        return archive_raw(backend(settings), staging.source, staging.run, Path(fetched.path), sha256=fetched.sha256,
                           run_id=staging.run, fetched_at=fetched.fetched_at, file_key=fetched.remote.key)
    except HarvestError as exc:
        raise exc.with_context(source=staging.source, file=fetched.remote.key)
    except OSError as exc:
        raise RetryableError(f"archive unavailable: {exc.strerror or exc}", source=staging.source,
                             file=fetched.remote.key) from None


def keep_outputs(converted, staging, settings: Settings | None = None) -> list[str]:
    """Archive one converted file's outputs (``results.ConvertedFile``): CSV, Parquet, conversion report."""
    from .errors import HarvestError

    folder = Path(converted.report).parent
    try:
        return archive_outputs(backend(settings), staging.source, staging.run, folder, run_id=staging.run)
    except HarvestError as exc:
        raise exc.with_context(source=staging.source, file=converted.fetched.remote.key)
    except OSError as exc:
        raise RetryableError(f"archive unavailable: {exc.strerror or exc}", source=staging.source,
                             file=converted.fetched.remote.key) from None


def quarantine_refused(fetched, staging, reason: str, settings: Settings | None = None) -> str | None:
    """Move a refused file's raw bytes to quarantine; returns the quarantine key (None if already gone).

    Best effort by design: the refusal is the error people must see, so a quarantine that
    fails is logged and the staged copy is removed all the same.
    """
    import logging

    path = Path(fetched.path)
    if not path.exists():
        return None
    try:
        return quarantine(backend(settings), staging.source, staging.run, path, sha256=fetched.sha256,
                          run_id=staging.run, reason=reason)
    except Exception as exc:  # noqa: BLE001 - see above
        logging.getLogger(__name__).error("%s: %s: quarantine failed (%s); removing the staged copy",
                                          staging.source, fetched.remote.key, type(exc).__name__)
        path.unlink(missing_ok=True)
        return None


def keep_report(report: dict, settings: Settings | None = None) -> str:
    """Store a run report (``report.RunReport.dump()``) and apply the source's retention."""
    settings = settings or Settings.from_env()
    from .staging import run_key

    store = backend(settings)
    key = store_report(store, report["source"], run_key(report["run_id"]), report)
    prune(store, report["source"], keep_days=settings.archive_keep_days, keep_runs=settings.archive_keep_runs,
          quarantine_days=settings.quarantine_keep_days)
    return key
