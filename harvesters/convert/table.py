"""Find the table inside a raw grid.

Agency files wrap the data in titles, notes and blank lines, and spread the
header over merged or stacked rows. The steps, each a small function below:

1. trim cells and measure each row's width (non-empty cells; merged ranges count once);
2. the header starts at the first row at least half as wide as a typical row;
3. more header rows follow while they look like labels and the rows above
   span them (merged cells, a label followed by blanks, repeated labels);
4. the data ends at the last wide row; blank, note/source (ที่มา, หมายเหตุ) and
   lone-cell rows after it are dropped, as are blank rows anywhere;
5. merged ranges are filled, empty columns dropped, header levels joined with
   " - ", and names cleaned and made unique.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .normalize import clean_header, is_null, parse_date, parse_number, trim
from .readers.base import Merge, RawGrid

MAX_HEADER_ROWS = 5
MAX_LISTED_ROWS = 1000  # title/footer rows listed in the report
HEADER_PROBE_ROWS = 20  # rows below a header candidate checked for alignment
DATA_LOOKAHEAD = 10
HEADER_JOIN = " - "
NOTE_PREFIXES = (
    "ที่มา", "แหล่งที่มา", "หมายเหตุ", "source", "sources", "note", "notes",
    "*", "(c)", "©", "_",
)

# Reasons reported for rows that are not data.
TITLE, BLANK, FOOTER = "title", "blank", "footer"


@dataclass
class Layout:
    """Where the table is: decided from the head of a sheet (its first rows, as
    cells) and facts about every row (width, note), so a sheet of any length
    is laid out in bounded memory."""

    header_rows: list[int]  # 0-based row indexes in the sheet
    body: np.ndarray  # bool per row: a data row
    columns: list[int]  # columns holding something from the header on
    dropped: Counter
    rows_read: int
    head: list[list[Any]]  # the first rows, merged ranges filled (header labels come from here)
    head_raw: list[list[Any]]  # the same rows as read (titles above the header, for choosing by caption)
    structured: bool = False
    title_rows: list[int] = field(default_factory=list)
    note_rows: list[int] = field(default_factory=list)
    footer_rows: list[int] = field(default_factory=list)

    def names(self, columns: list[int]) -> list[str]:
        if self.structured:
            header = self.head[0]
            names = [clean_header(header[c]) if header[c] is not None else "" for c in columns]
            return make_unique([n or f"column_{c + 1}" for n, c in zip(names, columns)])
        return _header_names(self.head, self.header_rows, columns)

    def kept_columns(self, present: dict[int, int]) -> list[int]:
        """Columns with a value in the body, or a header label of their own: a
        column that only receives a copy of a merged label (the blank spacer
        under a label spanning "value | footnote") is not a column."""
        if self.structured:
            return list(self.columns)
        return [
            c for c in self.columns
            if present.get(c, 0) or any(not is_null(self.head_raw[r][c]) for r in self.header_rows)
        ]

    @property
    def rows_written(self) -> int:
        return int(self.body.sum())


@dataclass
class FoundTable:
    """A table of an in-memory grid (tests and small callers): the layout's rows as cells."""

    names: list[str]
    header_rows: list[int]
    rows: list[list[Any]]
    rows_read: int
    dropped: Counter = field(default_factory=Counter)


def find_table(grid: RawGrid) -> FoundTable | None:
    """The table in an in-memory ``grid``, or None when there is nothing tabular."""
    cells = [[clean_cell(v) for v in row] for row in grid.rows]
    if grid.structured:
        width = np.array([len(r) for r in cells], np.int32)
    else:
        width = np.array([sum(v is not None for v in row) for row in cells], np.int32)
    facts = [row_facts(row) for row in cells]
    is_note = np.array([f[1] for f in facts], bool)
    lone_native = np.array([f[2] for f in facts], bool)
    layout = find_layout(cells, width, is_note, grid.merges, grid.header_rows, grid.structured,
                         lone_native=lone_native)
    if layout is None:
        return None
    filled = _fill_merges(_padded(cells, max((len(r) for r in cells), default=0)), grid.merges)
    body = np.flatnonzero(layout.body)
    present = {c: sum(not is_null(filled[r][c]) for r in body) for c in layout.columns}
    columns = layout.kept_columns(present)
    if not columns or (len(columns) == 1 and not len(body)):
        return None
    return FoundTable(
        names=layout.names(columns), header_rows=layout.header_rows,
        rows=[[filled[r][c] for c in columns] for r in body], rows_read=layout.rows_read, dropped=layout.dropped,
    )


def find_layout(
    head: list[list[Any]], width: np.ndarray, is_note: np.ndarray, merges: list[Merge] = (),
    declared: list[int] | None = None, structured: bool = False, last_value_row: np.ndarray | None = None,
    lone_native: np.ndarray | None = None,
) -> Layout | None:
    """The layout of a sheet of ``len(width)`` rows whose first rows are ``head``
    (cells cleaned by :func:`clean_cell`). ``last_value_row``: per column, the
    last row holding a value (computed from ``head`` when the head is the sheet)."""
    n = len(width)
    ncols = max((len(r) for r in head), default=0)
    if last_value_row is not None:
        ncols = max(ncols, len(last_value_row))
    cells = _padded(head, ncols)
    if last_value_row is None:
        last_value_row = np.array(
            [max((r for r, row in enumerate(cells) if row[c] is not None), default=-1) for c in range(ncols)], np.int64
        )
    if structured:
        if not cells or not ncols:
            return None
        body = np.ones(n, bool)
        body[0] = False
        return Layout([0], body, list(range(len(head[0]))), Counter(), n, cells, cells, structured=True)
    if not n or not width.any():
        return None
    declared = [r for r in declared or () if r < len(cells) and width[r]]
    if declared:  # the markup says which rows are the header (HTML <th> rows)
        header, headerless = declared[0], False
        columns = _table_columns(last_value_row, header)
        header_rows = declared
    else:
        first = _header_start(cells, width, merges)
        if first is None:
            return None
        header = _upper_levels(cells, width, first, merges)
        columns = _table_columns(last_value_row, header)
        headerless = header == first and _first_row_is_data(cells, header, columns)
        header_rows = [] if headerless else [*range(header, first), *_header_block(cells, width, first, columns, merges)]
    body_start = header if headerless else header_rows[-1] + 1
    dropped: Counter = Counter()
    if lone_native is None:
        lone_native = np.zeros(n, bool)
    body = _body_rows(width, is_note, lone_native, body_start, len(columns), dropped)
    dropped[TITLE] += int(np.count_nonzero(width[:header]))
    dropped[BLANK] += int(header - np.count_nonzero(width[:header]))
    footer = np.flatnonzero(~body[body_start:] & (width[body_start:] > 0))[:MAX_LISTED_ROWS] + body_start
    return Layout(
        header_rows=header_rows, body=body, columns=columns,
        dropped=Counter({k: v for k, v in dropped.items() if v}), rows_read=n,
        head=_fill_merges(cells, merges), head_raw=cells,
        title_rows=[int(r) for r in np.flatnonzero(width[:header])[:MAX_LISTED_ROWS]],
        footer_rows=[int(r) for r in footer], note_rows=[int(r) for r in footer if is_note[r]],
    )


def _padded(rows: list[list[Any]], ncols: int) -> list[list[Any]]:
    return [row + [None] * (ncols - len(row)) if len(row) < ncols else row for row in rows]


# --- step 1: cells ----------------------------------------------------------------------


def clean_cell(value: Any) -> Any:
    """Trimmed strings, blanks as None; native values as they are."""
    if isinstance(value, str):
        value = trim(value)
        return value or None
    return value


# --- step 2: where the header starts -------------------------------------------------------


def _typical_width(width: np.ndarray) -> int:
    """The most common width of two or more cells (ties: the first seen); 1 when none."""
    # bincount works on an int64 copy of its input: a million rows at a time keeps that copy
    # at 8 MB for a sheet of any length.
    step = 1 << 20
    counts = np.zeros(int(width.max()) + 1 if len(width) else 0, np.int64)
    for i in range(0, len(width), step):
        counts += np.bincount(width[i : i + step], minlength=len(counts))
    counts[:2] = 0
    if not counts.any():
        return 1
    tied = np.flatnonzero(counts == counts.max())
    if len(tied) == 1:
        return int(tied[0])
    first_seen = [int(np.argmax(width == w)) for w in tied]
    return int(tied[int(np.argmin(first_seen))])


def _header_start(cells: list[list[Any]], width: np.ndarray, merges: list[Merge]) -> int | None:
    """First row wide enough to be a header that also labels most of the
    columns holding data below it; a two-cell title ("Report 2296", "mudData")
    is wide enough but does not line up with the data."""
    typical = _typical_width(width)
    needed = max(2, math.ceil(typical / 2)) if typical >= 2 else 1
    wide = [int(i) for i in np.flatnonzero(width[: len(cells)] >= needed)]  # within the head
    if not wide:
        return None
    for row in wide:
        if _labels_data_columns(cells, width, row, merges) and not _title_lines(cells, width, row):
            return row
    return wide[0]


def _title_lines(cells: list[list[Any]], width: np.ndarray, row: int) -> bool:
    """``row`` opens lines of text only ("Title", "unit: persons", "as of ...")
    that a blank row separates from a row at least as wide, which numbers or
    dates follow: those lines are titles, and the header is below them."""
    end = row
    while end < len(cells) and width[end]:
        end += 1
    if any(_has_values(cells[r]) for r in range(row, end)):
        return False
    nxt = next((r for r in range(end, len(cells)) if width[r]), None)
    if nxt is None or width[nxt] < max(2, width[row]) or not _label_row(cells[nxt], range(len(cells[nxt]))):
        return False
    return any(_has_values(cells[r]) for r in range(nxt + 1, min(nxt + 1 + DATA_LOOKAHEAD, len(cells))))


def _has_values(row: list[Any]) -> bool:
    """A number or a date that is not a year label."""
    return any(v is not None and not _is_year_label(v) and (parse_number(v) is not None or parse_date(v) is not None)
               for v in row)


def _labels_data_columns(cells: list[list[Any]], width: list[int], row: int, merges: list[Merge]) -> bool:
    below = [r for r in range(row + 1, len(cells)) if width[r]][:HEADER_PROBE_ROWS]
    if not below:
        return True
    data_columns = {c for r in below for c, v in enumerate(cells[r]) if v is not None}
    labelled = {c for c, v in enumerate(cells[row]) if v is not None}
    for m in merges:  # a merged label covers every column of its range
        if m.first_row <= row <= m.last_row and cells[m.first_row][m.first_col] is not None:
            labelled.update(range(m.first_col, m.last_col + 1))
    return len(labelled & data_columns) >= 0.5 * len(data_columns)


def _upper_levels(cells: list[list[Any]], width: np.ndarray, first: int, merges: list[Merge]) -> int:
    """The header's first row, looking above ``first``: a sparse row directly
    above (a few labels, no blank row between) is a header level, not a title,
    when it groups the columns below it: a label merged across columns the
    lower row labels, or (unmerged, as CSV exports merged cells) a stub label
    over an empty lower cell together with a label followed by empty cells
    that the lower row labels. A single label across the table is a title."""
    top = first
    while top > 0 and first - top < MAX_HEADER_ROWS - 1:
        r, below = top - 1, cells[top]
        row = cells[r]
        labels = [c for c, v in enumerate(row) if v is not None]
        if len(labels) < 2 or not _label_row(row, range(len(row))):
            break
        merged = [m for m in merges if m.first_row == r and m.horizontal and row[m.first_col] is not None
                  and any(below[c] is not None for c in range(m.first_col, min(m.last_col + 1, len(below))))]
        stub = any(below[c] is None for c in labels)
        spread = [c for c in labels
                  if c + 1 < len(row) and row[c + 1] is None and below[c] is not None and below[c + 1] is not None]
        if not (merged or (stub and spread)):
            break
        top = r
    return top


def _table_columns(last_value_row: np.ndarray, start: int) -> list[int]:
    return [int(c) for c in np.flatnonzero(last_value_row >= start)]


def _first_row_is_data(cells: list[list[Any]], header: int, columns: list[int]) -> bool:
    """A file without a header (``1,null,0,0``): the first row holds numbers
    that are not year labels, and its text cells also occur in the data below."""
    row = cells[header]
    below = cells[header + 1 : header + 51]
    if not below:
        return False
    saw_number = False
    for c in columns:
        value = row[c]
        if value is None:
            continue
        if parse_number(value) is not None or parse_date(value) is not None:
            saw_number = saw_number or not _is_year_label(value)
            continue
        if not any(r[c] == value for r in below):
            return False
    return saw_number


def _is_year_label(value: Any) -> bool:
    number = parse_number(value)
    return isinstance(number, int) and (1800 <= number <= 2200 or 2400 <= number <= 2750)


# --- step 3: multi-row headers ----------------------------------------------------------


def _header_block(
    cells: list[list[Any]], width: list[int], start: int, columns: list[int], merges: list[Merge]
) -> list[int]:
    block = [start]
    while len(block) < MAX_HEADER_ROWS:
        nxt = block[-1] + 1
        if nxt >= len(cells) or not width[nxt] or not _label_row(cells[nxt], columns):
            break
        if not _data_follows(cells, nxt + 1):
            break
        spans = _spans_below(cells, block[-1], nxt, columns, merges)
        if not (spans or _completes_labels(cells, block, nxt, columns)):
            break
        block.append(nxt)
    return block


def _label_row(row: list[Any], columns: list[int]) -> bool:
    """Every cell is text that is not a number or date, or a year label (2565)."""
    for c in columns:
        value = row[c]
        if value is None:
            continue
        if _is_year_label(value):
            continue
        if not isinstance(value, str) or parse_number(value) is not None or parse_date(value) is not None:
            return False
    return True


def _data_follows(cells: list[list[Any]], start: int) -> bool:
    """Some row soon after holds a number: without data evidence, an all-text
    table's first rows would be mistaken for header levels."""
    for row in cells[start : start + DATA_LOOKAHEAD]:
        if any(v is not None and parse_number(v) is not None for v in row):
            return True
    return False


def _spans_below(
    cells: list[list[Any]], upper: int, lower: int, columns: list[int], merges: list[Merge]
) -> bool:
    """The upper row groups the columns of the lower one: a merged range, a
    label followed by blanks that the lower row fills, or repeated labels."""
    if any(m.horizontal and m.first_row == upper for m in merges):
        return True
    top, bottom = cells[upper], cells[lower]
    previous = None
    for c in columns:
        value = top[c]
        if value is None and previous is not None and bottom[c] is not None:
            return True
        if value is not None and value == previous:
            return True
        previous = value if value is not None else previous
    return False


def _completes_labels(cells: list[list[Any]], block: list[int], nxt: int, columns: list[int]) -> bool:
    """The header so far leaves columns unlabelled and the next row names some.

    Once a header has two levels, label rows continue it until every column is named. A one-row header
    only continues with a row that also labels already-named columns: a lone
    section label under a header of years ("Chirurgie ...") is data, not a level.
    """
    unlabelled = [c for c in columns if all(cells[r][c] is None for r in block)]
    if not unlabelled:
        return False
    if len(block) >= 2:
        return True
    if not any(cells[nxt][c] is not None for c in unlabelled):
        return False
    labelled = [c for c in columns if c not in unlabelled]
    return sum(cells[nxt][c] is not None for c in labelled) >= max(1, len(labelled) // 2)


# --- step 4: data rows and what follows them -------------------------------------------------


def _body_rows(
    width: np.ndarray, is_note: np.ndarray, lone_native: np.ndarray, start: int, ncolumns: int, dropped: Counter
) -> np.ndarray:
    """Data rows after the header (a mask over all rows). The data ends at the
    first sparse notes row (ที่มา, หมายเหตุ, Source ...) or at the last wide row;
    after that, blank rows, notes, lone cells and anything below a blank row are footer."""
    n = len(width)
    typical = _typical_width(width[start:])
    dense = max(2, math.ceil(typical * 0.3)) if ncolumns >= 2 else 1
    sparse = max(2, typical // 3)
    notes = (width[start:] > 0) & (width[start:] <= sparse) & is_note[start:]
    end = start + int(notes.argmax()) if notes.any() else n
    data = (width[start:end] >= dense) & ~is_note[start:end]
    last = start + len(data) - 1 - int(data[::-1].argmax()) if data.any() else start - 1
    blank = width == 0
    body = np.zeros(n, bool)
    body[start : last + 1] = ~blank[start : last + 1]
    tail = np.arange(max(last + 1, start), n)
    if len(tail):
        tail_blank = blank[tail]
        seen_blank = np.cumsum(tail_blank) > 0  # a blank row at or before this one
        # A lone text cell under a wider table ("Updated 2024"); a lone native
        # number or date from a spreadsheet is data with blanks around it.
        lone = (width[tail] == 1) & (1 < ncolumns) & ~lone_native[tail]
        footer = ~tail_blank & ((tail >= end) | seen_blank | is_note[tail] | lone)
        body[tail[~tail_blank & ~footer]] = True
        dropped[FOOTER] += int(footer.sum())
    dropped[BLANK] += int(blank[start:].sum())
    return body


def row_facts(row: list[Any]) -> tuple[int, bool, bool]:
    """(width, is a note, is a lone native value) of one row of cleaned cells."""
    present = [v for v in row if v is not None]
    return len(present), _is_note(row), len(present) == 1 and not isinstance(present[0], str)


def _is_note(row: list[Any]) -> bool:
    first = next((v for v in row if v is not None), None)
    return isinstance(first, str) and first.lower().startswith(NOTE_PREFIXES)


# --- step 5: merges, columns, names ------------------------------------------------------------


def _fill_merges(cells: list[list[Any]], merges: list[Merge]) -> list[list[Any]]:
    """Every cell of a merged range gets the anchor's value."""
    if not merges:
        return cells
    filled = [list(row) for row in cells]
    for m in merges:
        if m.first_row >= len(filled):
            continue
        anchor = filled[m.first_row][m.first_col]
        for r in range(m.first_row, min(m.last_row, len(filled) - 1) + 1):
            for c in range(m.first_col, min(m.last_col, len(filled[r]) - 1) + 1):
                filled[r][c] = anchor
    return filled


def _header_names(cells: list[list[Any]], header_rows: list[int], columns: list[int]) -> list[str]:
    if not header_rows:
        return [f"column_{i + 1}" for i in range(len(columns))]
    levels = [_spread_labels(cells, r, header_rows, columns) for r in header_rows]
    names = []
    for i, c in enumerate(columns):
        parts: list[str] = []
        for level in levels:
            label = level[i]
            if label and (not parts or parts[-1] != label):  # vertical merges appear once
                parts.append(label)
        names.append(HEADER_JOIN.join(parts) or f"column_{c + 1}")
    return make_unique(names)


def _spread_labels(cells: list[list[Any]], r: int, header_rows: list[int], columns: list[int]) -> list[str]:
    """Labels of one header level. In any level but the last, a label carries
    over blank cells to its right that have a sub-label below (an unmerged span)."""
    labels = [clean_header(cells[r][c]) if cells[r][c] is not None else "" for c in columns]
    if r == header_rows[-1]:
        return labels
    below = header_rows[header_rows.index(r) + 1 :]
    for i in range(1, len(columns)):
        has_sublabel = any(cells[b][columns[i]] is not None for b in below)
        if not labels[i] and labels[i - 1] and has_sublabel:
            labels[i] = labels[i - 1]
    return labels


def make_unique(names: list[str]) -> list[str]:
    """``a, a, a`` -> ``a, a_2, a_3``, never clashing with a name already there."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate)
        out.append(candidate)
    return out
