"""Data shapes shared by the readers and the table finder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable


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

    rows: list[list[Any]]
    name: str | None = None  # the table's label: sheet name, "<sheet> tN", member stem; None for single-table formats
    merges: list[Merge] = field(default_factory=list)
    sheet: str | None = None  # the spreadsheet sheet it came from (for choosing by sheet)
    caption: str | None = None  # HTML <caption> or the heading above the table (for choosing by caption)
    element: Any = None  # the lxml <table> element of an HTML table (for choosing by CSS selector)
    header_rows: list[int] | None = None
    structured: bool = False


@dataclass
class ReadResult:
    format: str  # csv|tsv|psv|ssv|xlsx|xlsm|xls|ods|html|json|xml|zip
    grids: Iterable[RawGrid]
    encoding: str | None = None
    delimiter: str | None = None
    warnings: list[str] = field(default_factory=list)
    stars_in: int | None = None  # openness of the input when the format alone does not say (ZIP: its members)
