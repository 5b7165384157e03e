"""Legacy Excel (BIFF .xls): one raw grid per table of every sheet.

python-calamine (Rust) reads the rows: about twenty times faster than xlrd,
and it gives everything the rules need: cell values, dates as ``date`` (or
``datetime`` when they carry a time of day) in the workbook's own date system,
and the merged ranges (``merged_cell_ranges``, BIFF8's MERGEDCELLS records).
Sheets are loaded one at a time, as the engine asks for them; a sheet of more
than ``SPLIT_ROWS`` rows streams its rows to the engine from calamine's
iterator (a BIFF8 sheet holds at most 65,536 rows of 256 cells, so what
calamine holds of one sheet is bounded by the format itself).

xlrd stays for what calamine does not read: BIFF2-BIFF5 workbooks (Excel 95
and older) and anything else calamine refuses, with ``formatting_info`` for
the merged ranges (BIFF8 only; older workbooks are read without merges).

Cells: error values (``#DIV/0!``) arrive as their text, as in XLSX; a
``datetime`` at midnight is a ``date`` and a time of day alone a ``time``.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any, Iterator

from ...errors import RefusedFile
from ..sniff import Sniffed
from .base import Merge, RawGrid, ReadResult, row_blocks
from .blocks import split_sheet

SPLIT_ROWS = 20_000  # sheets up to this many rows may hold several tables; longer ones stream as one
BLOCK_ROWS = 20_000


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError

    try:
        book = CalamineWorkbook.from_path(str(path))
    except PasswordError:
        raise RefusedFile("encrypted", "password-protected workbook") from None
    except (CalamineError, ValueError, OSError):  # BIFF5 and older, or damage calamine cannot read past
        return _read_with_xlrd(path)
    return ReadResult(format="xls", grids=_grids(book), cleanup=[book.close])


# --- python-calamine ---------------------------------------------------------------------------


def _grids(book) -> Iterator[RawGrid]:
    from python_calamine import CalamineError, SheetTypeEnum

    for meta in book.sheets_metadata:
        if meta.typ != SheetTypeEnum.WorkSheet:
            continue  # chart sheets, macro sheets, VBA
        try:
            sheet = book.get_sheet_by_name(meta.name)
            merges = [Merge(r0, c0, r1, c1) for (r0, c0), (r1, c1) in sheet.merged_cell_ranges or []
                      if r1 >= r0 and c1 >= c0]
        except CalamineError as exc:
            raise RefusedFile("corrupt", f"unreadable xls workbook ({type(exc).__name__}: {exc})") from None
        if sheet.total_height <= SPLIT_ROWS:
            rows = list(_rows(sheet))
            yield from split_sheet(RawGrid(rows=rows, name=meta.name, merges=merges, sheet=meta.name))
        else:
            yield RawGrid(name=meta.name, merges=merges, sheet=meta.name, blocks=lambda s=sheet: row_blocks(_rows(s), BLOCK_ROWS))


def _rows(sheet) -> Iterator[list[Any]]:
    """Rows from the sheet's first row and column: calamine's iterator starts at the used area."""
    start = sheet.start
    if start is None:
        return
    first_row, first_col = start
    for _ in range(first_row):
        yield []
    pad = [None] * first_col
    for row in sheet.iter_rows():
        yield pad + [v if type(v) is float or (type(v) is str and v) else _value(v) for v in row]


def _value(value: Any) -> Any:
    if value == "":
        return None
    if type(value) is dt.datetime and value.time() == dt.time(0, 0):
        return value.date()
    return value




# --- xlrd, for what calamine does not read --------------------------------------------------------


def _read_with_xlrd(path: Path) -> ReadResult:
    import xlrd

    book = _open(path.read_bytes())
    grids: list[RawGrid] = []
    try:
        for sheet in book.sheets():
            grids.extend(split_sheet(_sheet_grid(sheet, book.datemode)))
    except xlrd.XLRDError as exc:
        raise RefusedFile("corrupt", f"unreadable xls workbook ({exc})") from None
    finally:
        book.release_resources()
    return ReadResult(format="xls", grids=grids)


def _open(data: bytes):
    import xlrd

    log = io.StringIO()
    last: Exception | None = None
    for formatting in (True, False):
        try:
            return xlrd.open_workbook(file_contents=data, formatting_info=formatting, logfile=log,
                                      ragged_rows=True)
        except NotImplementedError as exc:  # formatting_info on BIFF < 8
            last = exc
            continue
        except xlrd.XLRDError as exc:
            if "encrypted" in str(exc).lower():
                raise RefusedFile("encrypted", "password-protected workbook") from None
            last = exc
            break
        except Exception as exc:  # truncated streams raise assorted struct/index errors
            last = exc
            break
    raise RefusedFile("corrupt", f"unreadable xls workbook ({type(last).__name__}: {last})")


def _sheet_grid(sheet, datemode: int) -> RawGrid:
    rows = []
    for r in range(sheet.nrows):
        rows.append([_xlrd_value(cell, datemode) for cell in sheet.row(r)])
    merges = [Merge(rlo, clo, rhi - 1, chi - 1) for rlo, rhi, clo, chi in sheet.merged_cells if rhi > rlo and chi > clo]
    return RawGrid(rows=rows, name=sheet.name, merges=merges, sheet=sheet.name)


def _xlrd_value(cell, datemode: int):
    import xlrd

    kind, value = cell.ctype, cell.value
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if kind == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(value)  # as calamine and XLSX give it: "#DIV/0!"
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(value)
    if kind == xlrd.XL_CELL_DATE:
        return _date(value, datemode)
    return value  # str, or float for numbers (parse_number makes 3.0 an int)


def _date(value: float, datemode: int):
    import xlrd

    try:
        if 0 <= value < 1:  # a time of day without a date
            moment = xlrd.xldate_as_datetime(value, datemode)
            return moment.time()
        moment = xlrd.xldate_as_datetime(value, datemode)
    except (xlrd.xldate.XLDateError, ValueError, OverflowError):
        return value
    if moment.time() == dt.time(0, 0):
        return moment.date()
    return moment
