"""XLSX/XLSM via openpyxl: one raw grid per worksheet, with merged ranges.

openpyxl's read-only mode cannot report merged cells, which Thai statistics
workbooks use for both headers and data, so the full mode is used. Cached
formula results are read (``data_only``), never the formulas. A sheet holding
several tables is split (``blocks.split_sheet``); the ZIP directory is
checked for bomb-like sizes before openpyxl inflates anything.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from xml.etree.ElementTree import ParseError

from ..sniff import Sniffed
from .archive import check_container
from .base import Merge, RawGrid, ReadResult
from .blocks import split_sheet


class UnreadableWorkbook(Exception):
    """The container could not be opened; the dispatcher refuses it as corrupt."""


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    import openpyxl

    try:
        with zipfile.ZipFile(path) as zf:
            check_container(zf, path)
    except zipfile.BadZipFile as exc:
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc
    try:
        with warnings.catch_warnings():
            # openpyxl warns about every unsupported extension (data validation, ...)
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(path, data_only=True)
    except (zipfile.BadZipFile, KeyError, ParseError, OSError, ValueError, TypeError) as exc:
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # openpyxl/lxml raise their own assorted types
        raise UnreadableWorkbook(f"{type(exc).__name__}: {exc}") from exc
    kind = sniffed.kind if sniffed else "xlsx"
    grids = [grid for ws in book.worksheets for grid in split_sheet(_sheet_grid(ws))]
    return ReadResult(format=kind, grids=grids)


def _sheet_grid(ws) -> RawGrid:
    rows = [list(row) for row in ws.iter_rows(values_only=True)]
    merges = [
        Merge(r.min_row - 1, r.min_col - 1, r.max_row - 1, r.max_col - 1)
        for r in ws.merged_cells.ranges
    ]
    return RawGrid(rows=rows, name=ws.title, merges=merges, sheet=ws.title)
