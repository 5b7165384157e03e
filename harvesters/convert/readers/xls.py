"""Legacy Excel (BIFF .xls) via xlrd: one raw grid per table of every sheet.

``formatting_info=True`` is what makes xlrd report merged ranges; it only
exists for BIFF8 (Excel 97 and later), so older workbooks are read again
without it (and without merges). Date cells become ``date``/``datetime`` using
the workbook's own date system (1900 or 1904); times of day become ``time``.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from ...errors import RefusedFile
from ..sniff import Sniffed
from .base import Merge, RawGrid, ReadResult
from .blocks import split_sheet


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    import xlrd

    data = path.read_bytes()
    book = _open(data)
    grids: list[RawGrid] = []
    try:
        for sheet in book.sheets():
            grid = _sheet_grid(sheet, book.datemode)
            grids.extend(split_sheet(grid))
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
        rows.append([_value(cell, datemode) for cell in sheet.row(r)])
    merges = [Merge(rlo, clo, rhi - 1, chi - 1) for rlo, rhi, clo, chi in sheet.merged_cells if rhi > rlo and chi > clo]
    return RawGrid(rows=rows, name=sheet.name, merges=merges, sheet=sheet.name)


def _value(cell, datemode: int):
    import xlrd

    kind, value = cell.ctype, cell.value
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return None
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
