"""OpenDocument spreadsheets (.ods): one raw grid per table of every sheet.

``content.xml`` is streamed with lxml ``iterparse`` (a 2 MB .ods can hold a
100 MB content.xml): a sheet of more than ``SPLIT_ROWS`` rows is handed to the
engine in blocks as it is read, so memory stays bounded. python-calamine is
faster but holds whole sheets and does not report merged ranges: it reads
small workbooks without merges or comments only.

- Native values: float, percentage and currency cells give their number
  (a percentage is the fraction: 200 % is 2.0), date cells a ``date`` or
  ``datetime``, time cells a ``time`` (durations of a day or more the text
  ``27:17:54``), boolean cells a ``bool``; other cells their text, paragraphs
  (``text:p``) joined with a line break. Annotations (comments) are not text.
- ``number-columns-repeated``/``number-rows-repeated`` are expanded, but
  trailing empties (LibreOffice writes a row of 16384 empty cells and a
  million empty rows at the end of each sheet) are counted, never stored, and
  runs of blank rows between data are capped at ``MAX_BLANK_RUN``.
- Merged ranges come from ``number-columns-spanned``/``number-rows-spanned``;
  the covered cells (``covered-table-cell``) keep their column slot, empty.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any, Iterator

from ...errors import RefusedFile
from ..sniff import Sniffed
from .archive import check_container
from ..options import Limits
from .base import Merge, RawGrid, ReadResult
from .blocks import split_sheet

MAX_COLUMNS = 16384  # what LibreOffice and Excel allow; further cells are ignored
CALAMINE_CELLS = 2_000_000  # python-calamine holds a whole sheet: only small workbooks go that way
SPLIT_ROWS = 20_000  # sheets up to this many rows may hold several tables; longer ones stream as one
BLOCK_ROWS = 20_000
BLOCK_CELLS = 500_000  # a block (and half the head) also ends at this many cells
MAX_BLANK_RUN = 1000  # blank rows kept between two data rows

_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
T_TABLE, T_ROW, T_CELL, T_COVERED = (f"{{{_TABLE}}}{n}" for n in ("table", "table-row", "table-cell", "covered-table-cell"))
A_NAME = f"{{{_TABLE}}}name"
A_ROWS_REP, A_COLS_REP = f"{{{_TABLE}}}number-rows-repeated", f"{{{_TABLE}}}number-columns-repeated"
A_ROWS_SPAN, A_COLS_SPAN = f"{{{_TABLE}}}number-rows-spanned", f"{{{_TABLE}}}number-columns-spanned"
A_TYPE = f"{{{_OFFICE}}}value-type"
A_VALUE, A_DATE, A_TIME, A_BOOL = (f"{{{_OFFICE}}}{n}" for n in ("value", "date-value", "time-value", "boolean-value"))
X_P, X_H, X_S, X_TAB, X_BR = (f"{{{_TEXT}}}{n}" for n in ("p", "h", "s", "tab", "line-break"))
X_ANNOTATION = f"{{{_OFFICE}}}annotation"
_DURATION = re.compile(r"^-?P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    limits = options.limits if options is not None else Limits()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise RefusedFile("corrupt", f"unreadable ods workbook ({type(exc).__name__}: {exc})") from None
    try:
        check_container(zf, path, limits=limits)
        if not _needs_full_parse(zf):
            fast = _read_with_calamine(path)
            if fast is not None:
                zf.close()
                return ReadResult(format="ods", grids=[g for grid in fast for g in split_sheet(grid)])
        stream = _ContentStream(zf, limits)
    except RefusedFile:
        zf.close()
        raise
    except (zipfile.BadZipFile, KeyError, EOFError, OSError, ValueError) as exc:
        zf.close()
        raise RefusedFile("corrupt", f"unreadable ods workbook ({type(exc).__name__}: {exc})") from None
    return ReadResult(format="ods", grids=stream.grids(), cleanup=[stream.close])


# --- fast path: python-calamine, when nothing needs lxml ------------------------------------

_FULL_PARSE_MARKERS = (b"number-columns-spanned", b"number-rows-spanned", b"<office:annotation")


def _needs_full_parse(zf: zipfile.ZipFile) -> bool:
    """Merged ranges and comments are only seen by the lxml reader; without
    them python-calamine reads the same values ten times faster."""
    keep = max(len(m) for m in _FULL_PARSE_MARKERS)
    tail = b""
    with zf.open("content.xml") as fh:
        while chunk := fh.read(1 << 20):
            window = tail + chunk
            if any(m in window for m in _FULL_PARSE_MARKERS):
                return True
            tail = window[-keep:]
    return False


def _read_with_calamine(path: Path) -> list[RawGrid] | None:
    """Every sheet as a grid, or None to fall back to the lxml reader."""
    try:
        import python_calamine
    except ImportError:
        return None
    try:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        grids = []
        budget = 0
        for name in book.sheet_names:
            sheet = book.get_sheet_by_name(name)
            budget += (sheet.height or 0) * (sheet.width or 0)
            if budget > CALAMINE_CELLS:
                return None  # far-apart cells: the lxml reader stores only the filled rows
            rows = [[_calamine_value(v) for v in row] for row in sheet.to_python(skip_empty_area=False)]
            grids.append(RawGrid(rows=rows, name=name, sheet=name))
        return grids
    except Exception:  # anything calamine dislikes: the lxml reader decides
        return None


def _calamine_value(value: Any) -> Any:
    if isinstance(value, str):
        if value == "":
            return None
        if value.startswith("PT") and _DURATION.match(value):
            return _time(value)  # calamine leaves durations (27:17:54) as ISO text
    return value


# --- full reader: lxml over content.xml -------------------------------------------------------


class _Sheet:
    def __init__(self, name: str | None, limits: Limits):
        self.name = name
        self.limits = limits
        self.rows: list[list[Any]] = []  # rows not handed over yet
        self.merges: list[Merge] = []  # grows as rows are read: anchors come before covered cells
        self.blank_run = 0  # blank rows seen since the last stored row
        self.row_index = 0  # row index in the grid being built
        self.cells = 0  # cells of the rows not handed over yet
        self.ended = False

    def add_row(self, cells: list[Any], spans: list[tuple[int, int, int]], repeat: int) -> None:
        if not cells and not spans:
            self.blank_run += repeat
            return
        if self.blank_run:
            kept = min(self.blank_run, MAX_BLANK_RUN)
            self.rows.extend([] for _ in range(kept))
            self.row_index += kept
            self.blank_run = 0
        repeat = min(repeat, MAX_BLANK_RUN) if not any(v is not None for v in cells) else repeat
        if self.row_index + repeat > self.limits.max_rows:
            raise RefusedFile("size", f"limit max_rows: more than {self.limits.max_rows} rows in sheet {self.name!r}")
        for _ in range(repeat):
            for col, ncols, nrows in spans:
                self.merges.append(Merge(self.row_index, col, self.row_index + nrows - 1, col + ncols - 1))
            self.rows.append(list(cells))
            self.row_index += 1
            self.cells += len(cells) + 1
        if len(self.merges) > self.limits.max_merged_ranges:
            raise RefusedFile("size", f"limit max_merged_ranges: more than {self.limits.max_merged_ranges} "
                                      f"merged ranges in sheet {self.name!r}")


class _ContentStream:
    """The sheets of ``content.xml``, read once in document order with lxml
    ``iterparse``. A sheet that ends within ``SPLIT_ROWS`` rows is one grid
    per table it holds; a longer one is a grid whose rows stream on as the
    engine asks for them. Asking for the next sheet first reads the rest of
    a sheet not consumed yet (into memory: only an archive member does that)."""

    def __init__(self, zf: zipfile.ZipFile, limits: Limits) -> None:
        from lxml import etree

        self.zf, self.limits = zf, limits
        self.fh = zf.open("content.xml")
        self.events = etree.iterparse(self.fh, events=("start", "end"), tag=(T_TABLE, T_ROW), huge_tree=True,
                                      resolve_entities=False, no_network=True)
        self.depth = 0
        self.current: _Sheet | None = None

    def close(self) -> None:
        self.fh.close()
        self.zf.close()

    def _next_sheet(self) -> _Sheet | None:
        """Advance to the start of the next top-level sheet."""
        for event, el in self._events():
            if el.tag == T_TABLE and event == "start":
                self.depth += 1
                if self.depth == 1:
                    return _Sheet(el.get(A_NAME), self.limits)
            elif el.tag == T_TABLE:
                self.depth -= 1
        return None

    def _fill(self, sheet: _Sheet, until_rows: int | None) -> None:
        """Read rows of ``sheet`` until it ends or holds ``until_rows`` rows not handed over."""
        for event, el in self._events():
            tag = el.tag
            if tag == T_TABLE:
                self.depth += 1 if event == "start" else -1
                if event == "end" and self.depth == 0:
                    el.clear()
                    sheet.ended = True
                    return
            elif tag == T_ROW and event == "end" and self.depth == 1:
                cells, spans = _row_cells(el)
                sheet.add_row(cells, spans, _int(el.get(A_ROWS_REP), 1))
                el.clear()
                parent = el.getparent()
                while el.getprevious() is not None and parent is not None:
                    del parent[0]
                if until_rows is not None and (len(sheet.rows) >= until_rows or sheet.cells >= BLOCK_CELLS * 2):
                    return
        sheet.ended = True

    def _events(self):
        from lxml import etree

        try:
            yield from self.events
        except (etree.XMLSyntaxError, zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise RefusedFile("corrupt", f"unreadable ods workbook ({type(exc).__name__}: {exc})") from None

    def grids(self) -> Iterator[RawGrid]:
        while True:
            if self.current is not None and not self.current.ended:
                self._fill(self.current, None)  # the engine did not read it all: keep the rest in memory
            sheet = self._next_sheet()
            if sheet is None:
                return
            self._fill(sheet, SPLIT_ROWS + 1)
            if sheet.ended:
                yield from split_sheet(RawGrid(rows=sheet.rows, name=sheet.name, merges=sheet.merges, sheet=sheet.name))
                continue
            self.current = sheet
            yield RawGrid(name=sheet.name, merges=sheet.merges, sheet=sheet.name,
                          blocks=lambda sheet=sheet: self._blocks(sheet))

    def _blocks(self, sheet: _Sheet) -> Iterator[list[list[Any]]]:
        while True:
            if sheet.rows:
                rows, sheet.rows, sheet.cells = sheet.rows, [], 0
                yield rows
            if sheet.ended:
                return
            self._fill(sheet, BLOCK_ROWS)


def _row_cells(row) -> tuple[list[Any], list[tuple[int, int, int]]]:
    """The row's values up to its last non-empty cell, and its merged spans
    as (column, columns spanned, rows spanned). The hot loop of the reader:
    attributes are read once per cell, empty cells cost one dict lookup."""
    cells: list[Any] = []
    spans: list[tuple[int, int, int]] = []
    pending = 0  # empty cells not stored yet: only stored if a value follows
    col = 0
    for cell in row:
        tag = cell.tag
        if tag != T_CELL and tag != T_COVERED:
            continue
        attrib = cell.attrib
        rep = attrib.get(A_COLS_REP)
        repeat = _int(rep, 1) if rep is not None else 1
        ncols = nrows = 1
        value = None
        if tag == T_CELL:
            kind = attrib.get(A_TYPE)
            if kind is not None or len(cell):
                value = _cell_value(cell, kind)
            if A_COLS_SPAN in attrib or A_ROWS_SPAN in attrib:
                ncols = _int(attrib.get(A_COLS_SPAN), 1)
                nrows = _int(attrib.get(A_ROWS_SPAN), 1)
        if value is None and ncols == 1 and nrows == 1:
            pending += repeat
            col += repeat
            if col >= MAX_COLUMNS:
                break
            continue
        repeat = min(repeat, MAX_COLUMNS - col)
        if pending:
            cells.extend([None] * pending)
            pending = 0
        for _ in range(repeat):
            if ncols > 1 or nrows > 1:
                spans.append((len(cells), min(ncols, MAX_COLUMNS - len(cells)), nrows))
            cells.append(value)
        col += repeat
        if col >= MAX_COLUMNS:
            break
    return cells, spans


def _int(text: str | None, default: int) -> int:
    try:
        value = int(text) if text is not None else default
    except ValueError:
        return default
    return max(1, value)


def _cell_value(cell, kind: str | None) -> Any:
    if kind == "float" or kind == "percentage" or kind == "currency":
        number = _float(cell.get(A_VALUE))
        if number is not None:
            return number
    elif kind == "date":
        moment = _date(cell.get(A_DATE))
        if moment is not None:
            return moment
    elif kind == "time":
        moment = _time(cell.get(A_TIME))
        if moment is not None:
            return moment
    elif kind == "boolean":
        flag = (cell.get(A_BOOL) or "").strip().lower()
        if flag in ("true", "false"):
            return flag == "true"
    text = _cell_text(cell)
    return text if text.strip() else None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _date(text: str | None):
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if len(text.strip()) <= 10 or moment.time() == dt.time(0, 0):
        return moment.date()
    return moment.replace(tzinfo=None)


def _time(text: str | None):
    match = _DURATION.match((text or "").strip())
    if not match or (text or "").startswith("-"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    h, rest = divmod(int(round(total)), 3600)
    m, s = divmod(rest, 60)
    if h < 24:
        return dt.time(h, m, s)
    return f"{h}:{m:02d}:{s:02d}"  # a duration: no time of day fits


def _cell_text(cell) -> str:
    if len(cell) == 1:
        p = cell[0]
        if not len(p) and p.tag == X_P:
            return p.text or ""  # the usual cell: one plain paragraph
    paragraphs = [_paragraph_text(p) for p in cell if p.tag in (X_P, X_H)]
    return "\n".join(paragraphs)


def _paragraph_text(el) -> str:
    parts: list[str] = [el.text or ""]
    for child in el:
        tag = child.tag
        if tag == X_S:
            parts.append(" " * _int(child.get(f"{{{_TEXT}}}c"), 1))
        elif tag == X_TAB:
            parts.append("\t")
        elif tag == X_BR:
            parts.append("\n")
        elif tag != X_ANNOTATION:
            parts.append(_paragraph_text(child))
        parts.append(child.tail or "")
    return "".join(parts)
