"""XLSX/XLSM: rows stream from the sheet XML.

openpyxl opens the workbook (sheet list, which styles are dates, the date
epoch); the shared strings and the rows of each sheet are read here with
expat state machines (see "XML events" below for why not lxml or calamine).
Cell values follow openpyxl's rules (:class:`_CellReader`): cached formula
results are read, never the formulas; merged ranges come from the
``<mergeCell>`` elements (:func:`merged_ranges`, a streamed scan, since they
follow the rows). The ZIP directory is checked for bomb-like sizes before
anything is inflated.

A sheet of at most ``SPLIT_ROWS`` rows is read whole and split into the
tables it holds (``blocks.split_sheet``: stacked or side by side); a longer
sheet is one table, and its rows stream.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from array import array
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
    """openpyxl's reader up to the worksheets: sheet list, date styles, epoch.
    Its shared strings (a list of Python strings) and its read-only worksheets
    are not made: :class:`SharedStrings` holds the table compactly, and each
    worksheet would scan its sheet for the dimension before a row is read."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet

    reader = ExcelReader(str(path), read_only=True, data_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about every unsupported extension
        reader.read_manifest()
        reader.read_workbook()
        apply_stylesheet(reader.archive, reader.wb)
    from openpyxl.xml.constants import SHARED_STRINGS

    part = reader.package.find(SHARED_STRINGS)
    reader.shared_strings = SharedStrings.read(reader.archive, part.PartName[1:]) if part is not None else SharedStrings()
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


# --- XML events -------------------------------------------------------------------------------
#
# The sheet and shared-strings XML is read with the standard library's expat
# (pyexpat) fed in chunks, handing each element to a small state machine here.
# lxml's iterparse builds an element tree for every cell and then wants a
# Python proxy for each node: on a 550 MB sheet that alone takes longer than
# expat with callbacks doing the whole job, and calamine (Rust, much faster)
# holds the whole sheet in memory. expat's own namespace processing costs a
# tenth of the parse: element names are matched as written instead, with the
# prefix the root binds to spreadsheetml (transitional or strict; usually none).
# Any DTD or entity declaration refuses the file (``xxe``): nothing is ever expanded.

_CHUNK = 1 << 20
_PIECE = 16 << 10
_SHEET_NAMESPACES = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                     "http://purl.oclc.org/ooxml/spreadsheetml/main")
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")  # OOXML escapes characters XML cannot hold as _xHHHH_


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _parser(handlers) -> Any:
    """An expat parser whose root element picks the handlers: ``handlers(prefix)``
    gives (start, end, chars) for names carrying ``prefix`` ("x:" or "")."""
    import xml.parsers.expat as expat

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.buffer_size = 1 << 16

    def root(name, attrs):
        parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = \
            handlers(_main_prefix(attrs))
        parser.StartElementHandler(name, attrs)

    parser.StartElementHandler = root

    def refuse(*_args):
        raise RefusedFile("xxe", "a DTD or entity declaration in a workbook part; not resolved")

    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = refuse
    return parser


def _feed(fh, parser, ready: list) -> Iterator[Any]:
    """Feed the part to ``parser``, yielding what the handlers put in ``ready``
    (an int there stands for that many blank rows). expat cannot pause inside
    a piece, so pieces are small: a piece of rows each padded to column XFD
    by one far cell must not become gigabytes of row lists at once."""
    import xml.parsers.expat as expat

    try:
        while chunk := fh.read(_CHUNK):
            view = memoryview(chunk)
            for start in range(0, len(chunk), _PIECE):
                parser.Parse(view[start : start + _PIECE], False)
                if ready:
                    yield from _expand(ready)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise UnreadableWorkbook(f"XML: {exc}") from None
    yield from _expand(ready)


def _expand(ready: list) -> Iterator[Any]:
    items = ready.copy()
    ready.clear()
    for item in items:
        if type(item) is int:
            for _ in range(item):
                yield []
        else:
            yield item


class SharedStrings:
    """The shared strings table, held compactly: UTF-8 bytes of every string in
    one buffer and their offsets in an array (a Python list of strings costs
    about 60 bytes per string more, several times the table's own size)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.offsets = array("q", [0])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> str:
        if index < 0:
            raise IndexError(index)
        return self.data[self.offsets[index] : self.offsets[index + 1]].decode("utf-8")

    def append(self, text: str) -> None:
        self.data += text.encode("utf-8", "surrogatepass")
        self.offsets.append(len(self.data))

    @classmethod
    def read(cls, zf: zipfile.ZipFile, member: str) -> "SharedStrings":
        """Every ``<si>``: its text (``<t>``, and the ``<t>`` of its rich-text runs; phonetic runs left out)."""
        table = cls()

        def handlers(prefix: str):
            T, SI, RPH = prefix + "t", prefix + "si", prefix + "rPh"
            text = ""
            collecting = False
            phonetic = 0

            def start(name, _attrs):
                nonlocal text, collecting, phonetic
                if name == T:
                    collecting = not phonetic
                elif name == SI:
                    text = ""
                elif name == RPH:
                    phonetic += 1

            def end(name):
                nonlocal collecting, phonetic
                if name == T:
                    collecting = False
                elif name == SI:
                    table.append(_unescape(text))
                elif name == RPH:
                    phonetic -= 1

            def chars(data):
                nonlocal text
                if collecting:
                    text += data

            return start, end, chars

        try:
            with zf.open(member) as fh:
                for _ in _feed(fh, _parser(handlers), []):
                    pass
        except KeyError:  # the manifest names a part the package lacks
            pass
        return table


class _CellReader:
    """A cell's value as openpyxl's reader gives it (data_only): cached formula
    results, never formulas; numbers in date styles as dates."""

    def __init__(self, shared_strings, date_formats, timedelta_formats, epoch) -> None:
        self.shared, self.dates, self.durations, self.epoch = shared_strings, date_formats, timedelta_formats, epoch

    def value(self, kind: str | None, style: str | None, text: str) -> Any:
        if kind is None or kind == "n":
            if not text:
                return None
            number = float(text) if ("." in text or "E" in text or "e" in text) else int(text)
            if style is not None and style != "0" and int(style) in self.dates:
                from openpyxl.utils.datetime import from_excel

                try:
                    return from_excel(number, self.epoch, timedelta=int(style) in self.durations)
                except (OverflowError, ValueError):
                    return "#VALUE!"
            return number
        if kind == "s":
            return self.shared[int(text)] if text else None
        if kind == "inlineStr":
            return _unescape(text)
        if not text:
            return None
        if kind == "b":
            return bool(int(text))
        if kind == "d":
            from openpyxl.utils.datetime import from_ISO8601

            return from_ISO8601(text)
        return text  # str (a formula's text result), e (an error value such as #DIV/0!)


def _rows(zf: zipfile.ZipFile, member: str, cells: _CellReader) -> Iterator[list[Any]]:
    """The sheet's rows in order, a blank row for every row number skipped."""
    ready: list[Any] = []
    parser = _parser(lambda prefix: _row_handlers(prefix, cells, ready))
    try:
        with zf.open(member) as fh:
            yield from _feed(fh, parser, ready)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, IndexError, ValueError) as exc:
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc


def _main_prefix(attrs: dict) -> str:
    """``"x:"`` when the root binds spreadsheetml to ``xmlns:x``, ``""`` for the default namespace."""
    for key, value in attrs.items():
        if value in _SHEET_NAMESPACES and key.startswith("xmlns:"):
            return key[6:] + ":"
    return ""


def _row_handlers(prefix: str, cells: _CellReader, ready: list):
    """expat handlers that append each finished row (a list) to ``ready``, or
    an int for a run of row numbers skipped (blank rows).

    Text is gathered from ``<v>`` (every cell type but inline strings) and from
    the ``<t>`` elements of ``<is>`` (plain or rich-text runs, not phonetic
    runs). These run once per element of a sheet of millions of cells, so the
    plain number, shared and inline string cases are handled inline, in closure
    variables (cheaper than attributes or a state list)."""
    C, V, T, ROW, IS, RPH = (prefix + n for n in ("c", "v", "t", "row", "is", "rPh"))
    shared, slow_value = cells.shared, cells.value
    date_styles = {str(i) for i in cells.dates}
    columns: dict[str, int] = {}  # a reference's letters ("AB") -> 0-based column
    row: list[Any] = []
    text = ""
    ref = kind = style = None
    collecting = in_inline = False
    phonetic = 0
    next_row = 1

    def start(name, attrs):
        nonlocal ref, kind, style, text, collecting, in_inline, phonetic, next_row, row
        if name == C:
            ref = attrs.get("r")
            kind = attrs.get("t")
            style = attrs.get("s")
            text = ""
        elif name == V:
            collecting = not in_inline
        elif name == T:
            collecting = in_inline and not phonetic
        elif name == ROW:
            number = attrs.get("r")
            number = int(number) if number else next_row
            if number > next_row:
                ready.append(number - next_row)  # blank rows, made as they are read
            next_row = number + 1
            row = []
        elif name == IS:
            in_inline = True
        elif name == RPH:
            phonetic += 1

    def end(name):
        nonlocal collecting, in_inline, phonetic
        if name == C:
            if kind is None and style not in date_styles:
                if not text:
                    value = None
                elif "." in text or "E" in text or "e" in text:
                    value = float(text)
                else:
                    value = int(text)
            elif kind == "s":
                value = shared[int(text)] if text else None
            elif kind == "inlineStr" and "_x" not in text:
                value = text
            else:
                value = slow_value(kind, style, text)
            if ref:
                letters = ref.rstrip("0123456789")
                col = columns.get(letters)
                if col is None:
                    col = columns[letters] = _column_of(letters)
            else:
                col = len(row)
            width = len(row)
            if col == width:
                row.append(value)
            elif col > width:
                row.extend([None] * (col - width))
                row.append(value)
            else:
                row[col] = value
        elif name == V or name == T:
            collecting = False
        elif name == ROW:
            ready.append(row)
        elif name == IS:
            in_inline = False
        elif name == RPH:
            phonetic -= 1

    def chars(data):
        nonlocal text
        if collecting:
            text += data

    return start, end, chars


def _column_of(letters: str) -> int:
    if not (1 <= len(letters) <= 3 and letters.isascii() and letters.isalpha()):
        raise ValueError(f"bad cell reference letters {letters!r}")
    return _column(letters.upper().encode())


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
            if b"mergeCell" not in data:  # the ranges follow the rows: most chunks hold none
                tail = data[-256:]
                continue
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
