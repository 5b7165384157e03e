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
    """One sheet (or the one table of a text file) exactly as read.

    ``rows`` hold native values: ``str`` for text formats; for spreadsheets also
    int, float, bool, datetime/date/time. Merged ranges carry their value only
    in the top-left cell; ``merges`` lists the ranges.
    """

    rows: list[list[Any]]
    name: str | None = None  # sheet name; None for single-table formats
    merges: list[Merge] = field(default_factory=list)


@dataclass
class ReadResult:
    format: str  # csv|tsv|psv|ssv|xlsx|xlsm|...
    grids: Iterable[RawGrid]
    encoding: str | None = None
    delimiter: str | None = None
    warnings: list[str] = field(default_factory=list)
