"""Data shapes shared by the readers and the table finder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa


@dataclass(frozen=True)
class Merge:
    """A merged cell range, 0-based and inclusive, in grid coordinates."""

    first_row: int
    first_col: int
    last_row: int
    last_col: int

    @property
    def horizontal(self) -> bool:
        return self.last_col > self.first_col


@dataclass
class ArrowBlock:
    """Rows as Arrow string columns: cells trimmed, blank cells null (the delimited reader)."""

    columns: list[pa.Array]
    num_rows: int


class Reread(Exception):
    """Raised by a block stream that must start over (it found the text's
    encoding is not what its head said); the stream knows what to do next time."""


def row_blocks(rows: Iterable[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    """``rows`` handed over in lists of ``size`` rows (the last one shorter): how a
    streaming reader's ``RawGrid.blocks`` yields."""
    block: list[list[Any]] = []
    for row in rows:
        block.append(row)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


@dataclass
class RawGrid:
    """One sheet (or one table of a page, workbook or text file) exactly as read.

    ``rows`` hold native values: ``str`` for text formats; for spreadsheets also
    int, float, bool, datetime/date/time. Merged ranges carry their value only
    in the top-left cell; ``merges`` lists the ranges.

    Hints a reader may give the table finder:

    - ``header_rows``: rows the markup declares as the header (HTML ``<th>``
      rows); the finder then only looks for where the data ends.
    - ``structured``: the first row IS the header and every other row is a
      record (JSON, XML): no title, footer or blank-row guessing at all.
    """

    rows: list[list[Any]] = field(default_factory=list)
    name: str | None = None  # the table's label: sheet name, "<sheet> tN", member stem; None for single-table formats
    merges: list[Merge] = field(default_factory=list)
    sheet: str | None = None  # the spreadsheet sheet it came from (for choosing by sheet)
    caption: str | None = None  # HTML <caption> or the heading above the table (for choosing by caption)
    element: Any = None  # an HTML table's lxml element in a skeleton of the page (only when choosing by CSS selector)
    header_rows: list[int] | None = None
    structured: bool = False
    blocks: Callable[[], Iterator[ArrowBlock | list[list[Any]]]] | None = None  # streaming readers
    reread_cheaply: bool = False  # reading the rows again costs little (text): the engine may read them once

    def iter_blocks(self, cells: int) -> Iterator[ArrowBlock | list[list[Any]]]:
        """The rows in blocks of about ``cells`` cells (``blocks`` when the reader streams)."""
        if self.blocks is not None:
            yield from self.blocks()
            return
        start = 0
        while start < len(self.rows):
            end, count = start, 0
            while end < len(self.rows) and (count < cells or end == start):
                count += max(len(self.rows[end]), 1)
                end += 1
            yield self.rows[start:end]
            start = end


@dataclass
class ReadResult:
    format: str  # csv|tsv|psv|ssv|xlsx|xlsm|xls|ods|html|json|xml|zip
    grids: Iterable[RawGrid]
    encoding: str | None = None
    delimiter: str | None = None
    warnings: list[str] = field(default_factory=list)
    stars_in: int | None = None  # openness of the input when the format alone does not say (ZIP: its members)
    cleanup: list[Callable[[], None]] = field(default_factory=list)  # run when the conversion ends
