"""XLSX/XLSM via openpyxl's read-only mode: rows stream from the sheet XML.

Read-only mode cannot report merged cells, which Thai statistics workbooks use
for both headers and data, so :func:`merged_ranges` reads the ``<mergeCell>``
elements of each sheet's XML itself (a streamed scan of the decompressed XML;
no library exposes them without loading the whole sheet). Cached formula
results are read (``data_only``), never the formulas. The ZIP directory is
checked for bomb-like sizes before anything is inflated.

A sheet of at most ``SPLIT_ROWS`` rows is read whole and split into the
tables it holds (``blocks.split_sheet``: stacked or side by side); a longer
sheet is one table, and its rows stream.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from itertools import chain, islice
from pathlib import Path
from typing import Any, Iterator

from ...errors import RefusedFile
from ..options import Limits
from ..sniff import Sniffed
from .archive import check_container
from .base import Merge, RawGrid, ReadResult
from .blocks import split_sheet

SPLIT_ROWS = 20_000  # sheets up to this many rows may hold several tables


class UnreadableWorkbook(Exception):
    """The container could not be opened; the dispatcher refuses it as corrupt."""


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    import openpyxl

    limits = options.limits if options is not None else Limits()
    try:
        with zipfile.ZipFile(path) as zf:
            check_container(zf, path, limits=limits)
    except zipfile.BadZipFile as exc:
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about every unsupported extension
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl/lxml/zipfile raise their own assorted types
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc
    kind = sniffed.kind if sniffed else "xlsx"
    grids: list[RawGrid] = []
    try:
        with zipfile.ZipFile(path) as zf:
            for ws in book.worksheets:
                if not hasattr(ws, "_worksheet_path"):
                    continue  # a chartsheet
                merges = merged_ranges(zf, ws._worksheet_path, limits.max_merged_ranges)
                grids.extend(_sheet_grids(ws, merges))
    except (UnreadableWorkbook, RefusedFile):
        book.close()
        raise
    except Exception as exc:
        book.close()
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc
    return ReadResult(format=kind, grids=grids, cleanup=[book.close])


def _sheet_grids(ws, merges: list[Merge]) -> list[RawGrid]:
    ws.reset_dimensions()  # never trust the declared dimension (A1:XFD1048576 pads every row)
    rows = _rows(ws)
    head = list(islice(rows, SPLIT_ROWS + 1))
    if len(head) <= SPLIT_ROWS:
        return split_sheet(RawGrid(rows=head, name=ws.title, merges=merges, sheet=ws.title))
    return [RawGrid(name=ws.title, merges=merges, sheet=ws.title, blocks=lambda: _blocks(chain(head, rows)))]


def _rows(ws) -> Iterator[list[Any]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unsupported extensions, met while the sheet streams
            for row in ws.iter_rows(values_only=True):
                yield list(row)
    except Exception as exc:  # a broken sheet XML half-way
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc


def _blocks(rows: Iterator[list[Any]], size: int = 20_000) -> Iterator[list[list[Any]]]:
    while block := list(islice(rows, size)):
        yield block


_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?ref="([A-Z]{1,3})([0-9]{1,7}):([A-Z]{1,3})([0-9]{1,7})"')


def merged_ranges(zf: zipfile.ZipFile, member: str, limit: int) -> list[Merge]:
    """The merged ranges a sheet's XML lists, read in a streamed scan."""
    name = member.lstrip("/")
    merges: list[Merge] = []
    tail = b""
    with zf.open(name) as fh:
        while chunk := fh.read(1 << 20):
            data = tail + chunk
            last_end = 0
            for m in _MERGE.finditer(data):
                c0, r0, c1, r1 = m.groups()
                merges.append(Merge(int(r0) - 1, _column(c0), int(r1) - 1, _column(c1)))
                last_end = m.end()
            if len(merges) > limit:
                raise RefusedFile("size", f"limit max_merged_ranges: more than {limit} merged ranges in one sheet")
            tail = data[max(last_end, len(data) - 256):]
    return [m for m in merges if m.last_row >= m.first_row and m.last_col >= m.first_col]


def _column(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1
