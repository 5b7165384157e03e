"""XLSX/XLSM: rows stream from the sheet XML.

openpyxl's read-only mode opens the workbook (sheet list, shared strings,
which styles are dates, the date epoch), and the rows of each sheet are read
here with lxml ``iterparse``: openpyxl's own row parser goes through the
pure-Python ElementTree (defusedxml is installed), five times slower, and
cannot report merged cells, which Thai statistics workbooks use for both
headers and data. Cell values follow openpyxl's rules (``_cell_value``);
cached formula results are read, never the formulas; merged ranges come from
the ``<mergeCell>`` elements (:func:`merged_ranges`, a streamed scan). The
ZIP directory is checked for bomb-like sizes before anything is inflated.

A sheet of at most ``SPLIT_ROWS`` rows is read whole and split into the
tables it holds (``blocks.split_sheet``: stacked or side by side); a longer
sheet is one table, and its rows stream.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from itertools import chain
from pathlib import Path
from typing import Any, Iterator

from ...errors import RefusedFile
from ..options import Limits
from ..sniff import Sniffed
from .archive import check_container
from .base import Merge, RawGrid, ReadResult
from .blocks import split_sheet

SPLIT_ROWS = 20_000  # sheets up to this many rows (and SPLIT_CELLS cells) may hold several tables
SPLIT_CELLS = 1_000_000
BLOCK_CELLS = 500_000


class UnreadableWorkbook(Exception):
    """The container could not be opened; the dispatcher refuses it as corrupt."""


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    limits = options.limits if options is not None else Limits()
    try:
        with zipfile.ZipFile(path) as zf:
            check_container(zf, path, limits=limits)
            _check_shared_strings(zf, limits)
    except zipfile.BadZipFile as exc:
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc
    try:
        reader = _open_book(path)
    except Exception as exc:  # openpyxl/lxml/zipfile raise their own assorted types
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc
    kind = sniffed.kind if sniffed else "xlsx"
    grids: list[RawGrid] = []
    zf = reader.archive  # open until the conversion ends: long sheets stream from it
    try:
        for sheet, rel in reader.parser.find_sheets():
            if rel.target not in reader.valid_files or "chartsheet" in rel.Type:
                continue
            member = rel.target.lstrip("/")
            merges = merged_ranges(zf, member, limits.max_merged_ranges)
            grids.extend(_sheet_grids(zf, reader, sheet.name, member, merges))
    except (UnreadableWorkbook, RefusedFile):
        zf.close()
        raise
    except Exception as exc:
        zf.close()
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc
    return ReadResult(format=kind, grids=grids, cleanup=[zf.close])


def _check_shared_strings(zf: zipfile.ZipFile, limits: Limits) -> None:
    """openpyxl holds the shared strings table in memory: bound it by its declared
    size (zipfile never inflates a member past that)."""
    for info in zf.infolist():
        if info.filename.lower().endswith("sharedstrings.xml") and info.file_size > limits.max_strings_bytes:
            raise RefusedFile("size", f"limit max_strings_bytes: the shared strings table is {info.file_size} bytes "
                                      f"(limit {limits.max_strings_bytes})")


def _open_book(path: Path):
    """openpyxl's reader up to the worksheets: sheet list, shared strings, date
    styles, epoch. Its read-only worksheets are not made: each would scan its
    sheet for the dimension, in pure Python, before a single row is read."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet

    reader = ExcelReader(str(path), read_only=True, data_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about every unsupported extension
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        apply_stylesheet(reader.archive, reader.wb)
    return reader


def _sheet_grids(zf: zipfile.ZipFile, reader, title: str, member: str, merges: list[Merge]) -> list[RawGrid]:
    book = reader.wb
    cells = _CellReader(reader.shared_strings, book._date_formats, book._timedelta_formats, book.epoch)
    rows = _rows(zf, member, cells)
    head, ended = _head(rows)
    if ended:
        return split_sheet(RawGrid(rows=head, name=title, merges=merges, sheet=title))
    return [RawGrid(name=title, merges=merges, sheet=title, blocks=lambda: _blocks(chain(head, rows)))]


def _head(rows: Iterator[list[Any]]) -> tuple[list[list[Any]], bool]:
    """The first rows, up to SPLIT_ROWS rows or SPLIT_CELLS cells; whether the sheet ended there."""
    head: list[list[Any]] = []
    cells = 0
    for row in rows:
        head.append(row)
        cells += len(row)
        if len(head) > SPLIT_ROWS or cells > SPLIT_CELLS:
            return head, False
    return head, True


_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _C, _V, _IS, _T = (f"{_NS}{n}" for n in ("row", "c", "v", "is", "t"))
_REF = re.compile(r"([A-Z]{1,3})([0-9]+)")


class _CellReader:
    """A ``<c>`` element's value as openpyxl's reader gives it (data_only)."""

    def __init__(self, shared_strings, date_formats, timedelta_formats, epoch) -> None:
        self.shared, self.dates, self.durations, self.epoch = shared_strings, date_formats, timedelta_formats, epoch

    def value(self, c) -> Any:
        kind = c.get("t", "n")
        if kind == "inlineStr":
            node = c.find(_IS)
            return "".join(t.text or "" for t in node.iter(_T)) if node is not None else None
        text = c.findtext(_V)
        if text is None or text == "":
            return None
        if kind == "n":
            from openpyxl.utils.datetime import from_excel

            number = float(text) if ("." in text or "E" in text or "e" in text) else int(text)
            style = int(c.get("s", 0) or 0)
            if style in self.dates:
                try:
                    return from_excel(number, self.epoch, timedelta=style in self.durations)
                except (OverflowError, ValueError):
                    return "#VALUE!"
            return number
        if kind == "s":
            return self.shared[int(text)]
        if kind == "b":
            return bool(int(text))
        if kind == "d":
            from openpyxl.utils.datetime import from_ISO8601

            return from_ISO8601(text)
        return text  # str (a formula's text result), e (an error value such as #DIV/0!)


def _rows(zf: zipfile.ZipFile, member: str, cells: _CellReader) -> Iterator[list[Any]]:
    """The sheet's rows in order, a blank row for every row number skipped."""
    from lxml import etree

    try:
        with zf.open(member) as fh:
            events = etree.iterparse(fh, events=("end",), tag=_ROW, resolve_entities=False, no_network=True,
                                     huge_tree=True)
            expected = 1
            for _, row in events:
                number = int(row.get("r") or expected)
                for _ in range(expected, number):
                    yield []
                expected = number + 1
                values: list[Any] = []
                for c in row.iter(_C):
                    ref = c.get("r")
                    col = _column(_REF.match(ref).group(1).encode()) if ref else len(values)
                    if col >= len(values):
                        values.extend([None] * (col - len(values)))
                        values.append(cells.value(c))
                    else:
                        values[col] = cells.value(c)
                yield values
                row.clear()
                while row.getprevious() is not None:
                    del row.getparent()[0]
    except (etree.XMLSyntaxError, zipfile.BadZipFile, EOFError, OSError, KeyError, IndexError, ValueError) as exc:
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc


def _blocks(rows: Iterator[list[Any]]) -> Iterator[list[list[Any]]]:
    """Rows in blocks of about BLOCK_CELLS cells (a row padded to column XFD is 16,384 of them)."""
    block: list[list[Any]] = []
    cells = 0
    for row in rows:
        block.append(row)
        cells += len(row) + 1
        if cells >= BLOCK_CELLS:
            yield block
            block, cells = [], 0
    if block:
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
