"""Source kind `folder_drop`: files an agency drops into a mounted folder (NFS, SMB, a shared volume).

Only new or changed files (by size and modification time) are harvested; see
``drops.py``. ``mode: move`` renames files into the processed folder (atomic on
one file system; across file systems: copy, verify the checksum, then remove).

The folder must lie below one of the deployment's drop roots (``HARVEST_DROP_ROOTS``),
and nothing outside it is ever read: a symlink that leads out of the folder, a
broken symlink, or anything that is not a regular file (a FIFO would block the
copy) is skipped with a warning naming the reason; the other files go on.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Literal

from pydantic import Field, field_validator

from ..errors import FinalError, RetryableError
from ..staging import sha256_file
from .base import HarvestContext
from .drops import DropEntry, DropSource, DropStore, marker_record, marker_rel

log = logging.getLogger(__name__)


def _below(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _allowed_roots() -> tuple[str, ...]:
    from ..settings import Settings

    return Settings.from_env().drop_roots


class FolderDropSource(DropSource):
    """New or changed files in a folder this machine (every worker) can read."""

    kind: Literal["folder_drop"]
    path: str = Field(description="Absolute path of the drop folder, as mounted on the workers")

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not os.path.isabs(value):
            raise ValueError(f"{value!r} is not an absolute path (workers run from other folders)")
        value = os.path.normpath(value)  # '..' is resolved here, so it cannot step out of a root unseen
        roots = _allowed_roots()
        if not any(_below(value, root) for root in roots):
            raise ValueError(f"{value} is outside the drop roots this deployment allows "
                             f"(HARVEST_DROP_ROOTS: {', '.join(roots) or 'none'})")
        return value

    def pool_key(self) -> str | None:
        return None

    @contextmanager
    def store(self, ctx: HarvestContext) -> Iterator[DropStore]:
        yield FolderStore(Path(self.path), self.processed, _allowed_roots())


def _version(st: os.stat_result) -> str:
    return f"{st.st_size}-{st.st_mtime_ns}"


class FolderStore(DropStore):
    def __init__(self, root: Path, processed: str, allowed_roots: tuple[str, ...] | None = None):
        self.root, self.processed = root, processed
        self.where = str(root)
        if not root.is_dir():
            raise RetryableError(f"cannot reach drop folder {root}: not a folder (not mounted?)")
        self.real_root = os.path.realpath(root)
        if allowed_roots is not None and not any(_below(self.real_root, os.path.realpath(r)) for r in allowed_roots):
            raise FinalError(f"drop folder {root} leads to {self.real_root}, outside the drop roots this deployment "
                             f"allows (HARVEST_DROP_ROOTS)")

    def _inside(self, path: Path) -> tuple[str | None, str]:
        """(why ``path`` may not be read, or None; its real path). Symlinks are judged by where they lead."""
        real = os.path.realpath(path)
        if os.path.islink(path) and not os.path.exists(real):
            return "a broken symlink", real
        if not _below(real, self.real_root):
            return f"a symlink leading outside the drop folder (to {real})", real
        try:
            mode = os.stat(real).st_mode
        except OSError as exc:
            return f"unreadable ({exc.strerror})", real
        if not stat.S_ISREG(mode):
            return "not a regular file", real
        return None, real

    def url(self, rel: str) -> str:
        return (self.root / rel).as_uri()

    def list(self) -> list[DropEntry]:
        out = []
        try:
            for dirpath, dirnames, filenames in os.walk(self.root):
                base = Path(dirpath)
                rel_dir = base.relative_to(self.root).as_posix()
                if rel_dir == self.processed:
                    dirnames[:] = []
                    continue
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                dirnames.sort()
                for name in filenames:
                    if name.startswith(".") or name.endswith(".part"):
                        continue  # hidden files and uploads in progress
                    rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                    why, real = self._inside(base / name)
                    if why:
                        log.warning("drop folder %s: skipping %s: %s", self.root, rel, why)
                        continue
                    st = os.stat(real)
                    out.append(DropEntry(rel, _version(st), st.st_size,
                                         datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat()))
        except OSError as exc:
            raise RetryableError(f"cannot read drop folder {self.root}: {exc}") from None
        return out

    def markers(self) -> set[str]:
        base = self.root / self.processed
        return {p.relative_to(base).as_posix()[:-5] for p in base.rglob("*.json")} if base.is_dir() else set()

    def read_marker(self, rel: str) -> dict | None:
        path = self.root / marker_rel(self.processed, rel)
        return marker_record(path.read_bytes(), str(path))

    def write_marker(self, rel: str, record: dict) -> None:
        path = self.root / marker_rel(self.processed, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(path)

    def download(self, rel: str, version: str, dest: Path) -> None:
        why, real = self._inside(self.root / rel)  # again: it may have been swapped since the listing
        if why and "broken" not in why:
            raise FinalError(f"{self.root / rel} is {why}; not read")
        src = Path(real)
        try:
            if version and _version(src.stat()) != version:
                raise RetryableError(f"{src} changed since it was listed; the next try takes the new version")
            tmp = dest.with_name(dest.name + ".part")
            shutil.copyfile(src, tmp)
            if version and _version(src.stat()) != version:
                tmp.unlink(missing_ok=True)
                raise RetryableError(f"{src} changed while it was copied; the next try takes the new version")
        except FileNotFoundError:
            raise FinalError(f"{src} disappeared after it was listed") from None
        tmp.replace(dest)

    def move_processed(self, rel: str, version: str) -> bool:
        src, dst = self.root / rel, self.root / self.processed / rel
        try:
            if _version(src.stat()) != version:
                return False
        except FileNotFoundError:
            return False
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(src, dst)  # a rename: the data is never without a home
        except OSError as exc:
            if exc.errno != 18:  # EXDEV: the processed folder is on another file system
                raise FinalError(f"cannot move {src} to {dst}: {exc}") from None
            tmp = dst.with_name(dst.name + ".part")
            shutil.copy2(src, tmp)
            if sha256_file(tmp) != sha256_file(src):
                tmp.unlink(missing_ok=True)
                raise FinalError(f"copy of {src} to {dst} does not match the original; the original is kept")
            tmp.replace(dst)
            if _version(src.stat()) == version:
                src.unlink()
        return True
