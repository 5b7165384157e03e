"""What the drop kinds (s3_drop, sftp_drop, folder_drop) share: only new or changed files, recorded after publish.

An agency drops files into a place (a bucket prefix, an SFTP folder, a mounted
folder). Each run harvests the files that are NEW or CHANGED since they were
last processed; after a successful publish ``acknowledge`` records them:

- ``mode: marker`` (default): write ``<processed>/<path>.json`` holding the
  file's version (ETag, or size + mtime) and the time. A file whose marker holds
  its current version is skipped; a changed file is harvested again.
- ``mode: move``: move the file into ``<processed>/<path>``. On S3 that is a
  copy, verified, then a delete of the original, and only while the original
  still is the version that was published; on SFTP and folders an atomic rename.

Nothing unprocessed is ever deleted. A file that changes between gather and
fetch fails the fetch (retryable); one that changes between fetch and
acknowledge is left where it is (the next run takes the new version).

Each backend is a ``DropStore``; ``DropSource`` holds the logic once.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import mimetypes
import posixpath
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Literal

from pydantic import Field, field_validator

from .. import progress
from ..errors import FinalError, SkipItem
from ..results import FetchedFile, RemoteFile
from .base import Download, HarvestContext, SourceKind
from .common import file_name, suffix_of, unique_keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DropEntry:
    rel: str  # path below the drop's prefix/folder, '/'-separated
    version: str  # ETag, or "<size>-<mtime>"
    size: int
    modified: str | None  # ISO 8601


class DropStore:
    """One backend's operations; paths are relative to the drop (``rel``)."""

    where: str = ""  # for messages: s3://bucket/prefix, sftp://host/dir, /mnt/folder

    def url(self, rel: str) -> str:
        raise NotImplementedError

    def list(self) -> list[DropEntry]:
        """Every file of the drop, the processed area excluded."""
        raise NotImplementedError

    def markers(self) -> set[str]:
        """``rel`` of every file that has a marker."""
        raise NotImplementedError

    def read_marker(self, rel: str) -> dict | None:
        raise NotImplementedError

    def write_marker(self, rel: str, record: dict) -> None:
        raise NotImplementedError

    def download(self, rel: str, version: str, dest: Path) -> None:
        """Write the file to dest (whole or not at all); RetryableError if it is no longer ``version``."""
        raise NotImplementedError

    def move_processed(self, rel: str, version: str) -> bool:
        """Move the file into the processed area if it still is ``version``; False when it changed (left alone)."""
        raise NotImplementedError


def within(rel: str, area: str) -> bool:
    area = area.strip("/")
    return bool(area) and (rel == area or rel.startswith(area + "/"))


class DropSource(SourceKind):
    """Settings shared by the drop kinds."""

    include: list[str] = Field(default_factory=lambda: ["*"],
                               description="Glob patterns of the files to take, matched against the path below "
                                           "the drop (e.g. `*.csv`, `2568/*.xlsx`); `*` matches across folders")
    exclude: list[str] = Field(default_factory=list, description="Glob patterns of files to leave alone")
    mode: Literal["marker", "move"] = Field(
        "marker", description="How processed files are recorded after publish: marker = write "
                              "<processed>/<path>.json with the version; move = move the file into <processed>/")
    processed: str = Field("_processed", description="Where processed files are recorded, relative to the drop "
                                                     "(it is never harvested)")
    max_files: int = Field(50, ge=1, le=10_000, description="Harvest at most this many files per run (oldest "
                                                            "first); the rest wait for the next run")

    @field_validator("processed")
    @classmethod
    def _processed(cls, value: str) -> str:
        value = value.strip().strip("/")
        if not value or ".." in value.split("/"):
            raise ValueError("processed must be a folder below the drop, e.g. `_processed` (no '..')")
        return value

    @field_validator("include", "exclude")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern.strip():
                raise ValueError("an empty glob pattern matches nothing; remove it")
        return value

    # Each kind opens its backend for the duration of one stage.
    @contextmanager
    def store(self, ctx: HarvestContext) -> Iterator[DropStore]:
        raise NotImplementedError
        yield  # pragma: no cover

    def _wanted(self, rel: str) -> bool:
        name = posixpath.basename(rel)
        def hit(patterns):
            return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(name, p) for p in patterns)
        return hit(self.include) and not hit(self.exclude)

    def listing(self, store: DropStore) -> tuple[list[DropEntry], set[str], int]:
        """The drop's wanted files, oldest first; the ``rel`` of those processed in their current version;
        and how many markers there are (files processed from this drop before)."""
        entries = [e for e in store.list() if not within(e.rel, self.processed) and self._wanted(e.rel)]
        done: set[str] = set()
        marked: set[str] = set()
        if self.mode == "marker":
            marked = store.markers()
            for e in entries:
                record = store.read_marker(e.rel) if e.rel in marked else None
                if record and record.get("version") == e.version:
                    done.add(e.rel)
        entries.sort(key=lambda e: (e.modified or "", e.rel))
        return entries, done, len(marked)

    def gather(self, ctx: HarvestContext) -> list[RemoteFile]:
        """Every wanted file in the drop: processed ones (their marker holds this version) as "unchanged",
        new or changed ones beyond ``max_files`` as "deferred", the rest to fetch.

        Unchanged files are listed too, so a file the agency removes can be told from one already taken
        (see ``harvesters.lifecycle``). An empty drop is nothing to do, unless files were taken from it
        before (marker mode): then it was emptied, and the run fails rather than count them all missing.
        """
        with self.store(ctx) as store:
            entries, done, marked = self.listing(store)
            if not entries:
                if marked:
                    raise FinalError(f"{store.where} is empty, but {marked} file(s) were processed from it before: "
                                     "not treating them as withdrawn (was the drop emptied or moved by mistake?)")
                raise SkipItem(f"nothing new in {store.where} (no file matches include/exclude)")
            fresh = [e for e in entries if e.rel not in done]
            if not fresh and self.mode == "move":
                raise SkipItem(f"nothing new in {store.where}")
            later = {e.rel for e in fresh[self.max_files:]}
            if later:
                log.warning("%s: %d new files in %s; taking the oldest %d (max_files), the rest next run",
                            ctx.source_id, len(fresh), store.where, self.max_files)
            names = [file_name(e.rel) for e in entries]
            keys = unique_keys(names, [e.rel for e in entries])
            files = []
            for e, n, k in zip(entries, names, keys):
                status, note = "offered", None
                if e.rel in done:
                    status, note = "unchanged", f"processed before in this version ({e.version})"
                elif e.rel in later:
                    status, note = "deferred", f"left for a later run (max_files={self.max_files})"
                files.append(RemoteFile(source=ctx.source_id, url=store.url(e.rel), key=k, title=n,
                                        suffix=suffix_of(n), size=e.size, etag=e.version, modified=e.modified,
                                        locator={"path": e.rel}, status=status, note=note))
            return files

    def tracks_withdrawal(self) -> bool:
        # In move mode files leave the drop by design once published: their absence says nothing.
        return self.mode == "marker"

    def fetch(self, remote: RemoteFile, dest: Path, ctx: HarvestContext) -> Download:
        with self.store(ctx) as store:
            store.download(remote.locator["path"], remote.etag or "", dest)
        size = dest.stat().st_size
        progress.tick("download", dest.name, size, size, finished=True)  # whole: the stores copy in one call
        return Download(mimetypes.guess_type(remote.locator["path"])[0])

    def acknowledge(self, fetched: list[FetchedFile], ctx: HarvestContext) -> None:
        if not fetched:
            return
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.store(ctx) as store:
            for f in fetched:
                rel, version = f.remote.locator["path"], f.remote.etag or ""
                if self.mode == "marker":
                    store.write_marker(rel, {"source": ctx.source_id, "path": rel, "version": version,
                                             "size": f.remote.size, "modified": f.remote.modified,
                                             "sha256": f.sha256, "processed_at": now})
                elif not store.move_processed(rel, version):
                    log.warning("%s: %s changed after it was fetched; left in place for the next run",
                                ctx.source_id, store.url(rel))


def marker_rel(processed: str, rel: str) -> str:
    return f"{processed}/{rel}.json"


def marker_record(raw: bytes, where: str) -> dict | None:
    try:
        data = json.loads(raw)
    except ValueError:
        log.warning("unreadable marker %s: treating its file as new", where)
        return None
    return data if isinstance(data, dict) else None
