"""ZIP archives: every member with a table extension becomes table(s).

The size check reads only the archive directory, before anything is
extracted: the declared expanded size of all members, and the compression
ratio of the archive and of each sizeable member. Declared sizes also bound
the extraction itself (``zipfile`` never inflates past a member's declared
size), so a lying directory cannot make us write more than it declared.

Members are sniffed by their bytes and read by the reader of their kind, one
level deep: a ZIP inside the ZIP is not opened (a warning says so). Members
that are not tables (README.txt, images) are ignored; a member that is
refused for a hostile reason (``pii`` is decided later, ``xxe``, ``size``)
refuses the whole archive, other refusals (corrupt, no table, encrypted)
skip that member with a warning, unless no member is left.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from ...errors import RefusedFile
from ..sniff import STARS, TABLE_EXTENSIONS, Sniffed, refuse_unusable, sniff
from ..options import Limits
from .base import RawGrid, ReadResult

RATIO_FLOOR = 64 * 1024  # small members compress well for honest reasons and cannot hurt
# The limits themselves (members, expanded bytes, ratios) are options.Limits; workbooks
# (XLSX, ODS) are ZIP containers too, but sheet XML is very repetitive, so only a far
# higher ratio is suspicious there (max_container_ratio).

_HOSTILE = {"xxe", "size", "pii"}
_MEMBER_EXTENSIONS = TABLE_EXTENSIONS - {"zip", "txt"}  # README.txt is prose, not a table


def check_container(zf: zipfile.ZipFile, path: Path, *, limits: Limits | None = None, archive: bool = False) -> None:
    """Refuse as "size" from the directory alone: too many members, too large
    declared total, or a compression ratio over the limit (``max_ratio`` for a
    ZIP archive, ``max_container_ratio`` inside a workbook)."""
    limits = limits or Limits()
    max_ratio, ratio_name = ((limits.max_ratio, "max_ratio") if archive
                             else (limits.max_container_ratio, "max_container_ratio"))
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise RefusedFile("size", f"limit max_members: archive lists {len(infos)} members (limit {limits.max_members})")
    total = sum(i.file_size for i in infos)
    if total > limits.max_member_bytes:
        raise RefusedFile("size", f"limit max_member_bytes: archive declares {total} bytes expanded "
                                  f"(limit {limits.max_member_bytes})")
    archive_size = max(path.stat().st_size, 1)
    if total >= RATIO_FLOOR and total / archive_size > max_ratio:
        raise RefusedFile("size", f"limit {ratio_name}: archive expands {total / archive_size:.0f} times (limit {max_ratio})")
    for info in infos:
        if info.file_size >= RATIO_FLOOR and info.file_size / max(info.compress_size, 1) > max_ratio:
            raise RefusedFile(
                "size",
                f"limit {ratio_name}: member {info.filename!r} expands "
                f"{info.file_size / max(info.compress_size, 1):.0f} times (limit {max_ratio})",
            )


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    from . import READERS  # the registry imports this module

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise RefusedFile("corrupt", f"unreadable ZIP archive ({exc})") from None
    grids: list[RawGrid] = []
    warnings: list[str] = []
    formats: list[str] = []
    encodings: list[str] = []
    skipped: list[RefusedFile] = []
    # Members stay on disk until the conversion ends (their rows stream from there).
    tmp = tempfile.mkdtemp(prefix="convert-zip-")
    cleanup = [lambda: shutil.rmtree(tmp, ignore_errors=True)]
    try:
        _read_members(zf, path, tmp, options, READERS, grids, warnings, formats, encodings, skipped, cleanup)
    except BaseException:
        for step in cleanup:
            step()
        raise
    if not grids:
        for step in cleanup:
            step()
        if skipped:
            first = skipped[0]
            raise RefusedFile(first.reason, first.message)
        raise RefusedFile("no table", "no member of the archive has a table extension")
    warnings.extend(f"skipped {e.message} ({e.reason})" for e in skipped)
    return ReadResult(
        format="zip",
        grids=grids,
        encoding=encodings[0] if encodings and len(set(encodings)) == 1 else None,
        warnings=warnings,
        stars_in=min((STARS.get(f, 3) for f in formats), default=None),
        cleanup=cleanup,
    )


def _read_members(zf, path, tmp, options, READERS, grids, warnings, formats, encodings, skipped, cleanup) -> None:
    with zf:
        check_container(zf, path, limits=options.limits if options is not None else None, archive=True)
        members = [i for i in zf.infolist() if not i.is_dir() and not _hidden(i.filename)]
        for n, info in enumerate(members):
            name = _member_name(info)
            pure = PurePosixPath(name)
            ext = pure.suffix.lower().lstrip(".")
            if ext == "zip":
                warnings.append(f"{name}: nested archive not opened (only one level is read)")
                continue
            if ext not in _MEMBER_EXTENSIONS:
                continue
            if info.flag_bits & 0x1:
                skipped.append(RefusedFile("encrypted", f"member {name!r} is password-protected"))
                continue
            target = Path(tmp) / f"m{n}{pure.suffix.lower()}"  # never a path taken from the archive
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
                skipped.append(RefusedFile("corrupt", f"member {name!r} unreadable ({exc})"))
                continue
            try:
                result = _read_member(target, READERS, options)
            except RefusedFile as exc:
                if exc.reason in _HOSTILE:
                    raise RefusedFile(exc.reason, f"member {name!r}: {exc.message}") from None
                skipped.append(RefusedFile(exc.reason, f"member {name!r}: {exc.message}"))
                continue
            cleanup.extend(result.cleanup)
            formats.append(result.format)
            if result.encoding:
                encodings.append(result.encoding)
            warnings.extend(f"{name}: {w}" for w in result.warnings)
            member_grids = list(result.grids)
            for grid in member_grids:
                grid.name = f"{pure.stem}__{grid.name}" if grid.name and len(member_grids) > 1 else pure.stem
                grids.append(grid)
def _read_member(target: Path, readers, options) -> ReadResult:
    kind = sniff(target)
    refuse_unusable(kind)
    if kind.kind == "zip":
        raise RefusedFile("no table", "nested archive not opened")
    reader = readers.get(kind.kind)
    if reader is None:
        raise RefusedFile("type mismatch", f"the bytes are {kind.kind}, not {target.suffix}")
    result = reader(target, kind, options=options)
    result.grids = list(result.grids)
    return result


def _hidden(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _member_name(info: zipfile.ZipInfo) -> str:
    """Member names without the UTF-8 flag were decoded as cp437 by zipfile;
    Thai Windows tools write cp874 (or UTF-8 without saying so)."""
    name = info.filename
    if info.flag_bits & 0x800:
        return name
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:
        return name
    for codec in ("utf-8", "cp874"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return name
