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

from .normalize import clean_header, is_null, parse_date, parse_number, trim
from .readers.base import Merge, RawGrid

MAX_HEADER_ROWS = 5
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
class FoundTable:
    names: list[str]
    header_rows: list[int]  # 0-based indexes in the source grid
    rows: list[list[Any]]  # body cells, trimmed, one list per kept row
    rows_read: int
    dropped: Counter = field(default_factory=Counter)


def find_table(grid: RawGrid) -> FoundTable | None:
    """The table in ``grid``, or None when there is nothing tabular."""
    if grid.structured:
        return _structured_table(grid)
    cells = _trimmed(grid.rows)
    if not cells:
        return None
    width = _row_widths(cells)
    if not any(width):
        return None
    declared = [r for r in grid.header_rows or () if r < len(cells) and width[r]]
    if declared:  # the markup says which rows are the header (HTML <th> rows)
        header, headerless = declared[0], False
        columns = _table_columns(cells, header)
        header_rows = declared
    else:
        header = _header_start(cells, width, grid.merges)
        columns = _table_columns(cells, header)
        headerless = _first_row_is_data(cells, header, columns)
        header_rows = [] if headerless else _header_block(cells, width, header, columns, grid.merges)
    body_start = header if headerless else header_rows[-1] + 1
    body, dropped = _body_rows(cells, width, body_start, columns)
    dropped[TITLE] += sum(1 for w in width[:header] if w)
    dropped[BLANK] += sum(1 for w in width[:header] if not w)

    filled = _fill_merges(cells, grid.merges)
    columns = _nonempty_columns(filled, body, cells, header_rows)
    if not columns or (len(columns) == 1 and not body):
        return None  # a lone word is not a table
    names = _header_names(filled, header_rows, columns)
    return FoundTable(
        names=names,
        header_rows=header_rows,
        rows=[[filled[r][c] for c in columns] for r in body],
        rows_read=len(cells),
        dropped=Counter({k: v for k, v in dropped.items() if v}),
    )


def _structured_table(grid: RawGrid) -> FoundTable | None:
    """Records of a JSON or XML document: row 0 holds the column names, every
    other row is a record, kept even when all its fields are null."""
    if not grid.rows or not grid.rows[0]:
        return None
    header = grid.rows[0]
    ncols = len(header)
    names = [clean_header(v) if v is not None else "" for v in header]
    names = [n or f"column_{i + 1}" for i, n in enumerate(names)]
    body = []
    for row in grid.rows[1:]:
        cells = [_clean_cell(v) for v in row[:ncols]]
        body.append(cells + [None] * (ncols - len(cells)))
    return FoundTable(names=make_unique(names), header_rows=[0], rows=body, rows_read=len(grid.rows))


# --- step 1: cells and widths -------------------------------------------------------


def _trimmed(rows: list[list[Any]]) -> list[list[Any]]:
    """Pad rows to one width; trimmed strings, blanks become None."""
    ncols = max((len(r) for r in rows), default=0)
    out = []
    for row in rows:
        clean = [_clean_cell(v) for v in row]
        out.append(clean + [None] * (ncols - len(clean)))
    return out


def _clean_cell(value: Any) -> Any:
    if isinstance(value, str):
        value = trim(value)
        return value or None
    return value


def _row_widths(cells: list[list[Any]]) -> list[int]:
    """Non-empty cells per row. A merged range only has its anchor filled at
    this point, so a title merged across the sheet still counts as one."""
    return [sum(v is not None for v in row) for row in cells]


# --- step 2: where the header starts -------------------------------------------------------


def _typical_width(width: list[int]) -> int:
    multi = [w for w in width if w >= 2]
    if not multi:
        return 1
    return Counter(multi).most_common(1)[0][0]


def _header_start(cells: list[list[Any]], width: list[int], merges: list[Merge]) -> int:
    """First row wide enough to be a header that also labels most of the
    columns holding data below it; a two-cell title ("Report 2296", "mudData")
    is wide enough but does not line up with the data."""
    typical = _typical_width(width)
    needed = max(2, math.ceil(typical / 2)) if typical >= 2 else 1
    wide = [i for i, w in enumerate(width) if w >= needed]
    for row in wide:
        if _labels_data_columns(cells, width, row, merges):
            return row
    return wide[0]


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


def _table_columns(cells: list[list[Any]], start: int) -> list[int]:
    ncols = len(cells[0])
    return [c for c in range(ncols) if any(row[c] is not None for row in cells[start:])]


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
    cells: list[list[Any]], width: list[int], start: int, columns: list[int]
) -> tuple[list[int], Counter]:
    """Data rows after the header. The data ends at the first sparse notes row
    (ที่มา, หมายเหตุ, Source ...) or at the last wide row; after that, blank
    rows, notes, lone cells and anything below a blank row are footer."""
    dropped: Counter = Counter()
    typical = _typical_width(width[start:])
    dense = max(2, math.ceil(typical * 0.3)) if len(columns) >= 2 else 1
    end = _notes_start(cells, width, start, max(2, typical // 3))
    last = _last_data_row(cells, width, start, end, dense)
    body: list[int] = []
    after_blank = False
    for r in range(start, len(cells)):
        if not width[r]:
            dropped[BLANK] += 1
            after_blank = r > last
        elif r >= end or (r > last and (after_blank or _is_note(cells[r]) or _lone_text(cells[r], width[r], columns))):
            dropped[FOOTER] += 1
        else:
            body.append(r)
    return body, dropped


def _lone_text(row: list[Any], width: int, columns: list[int]) -> bool:
    """A single text cell under a wider table ("Updated 2024"); a lone native
    number, date or time from a spreadsheet is data with blanks around it."""
    if not (width == 1 < len(columns)):
        return False
    value = next(v for v in row if v is not None)
    return isinstance(value, str)


def _notes_start(cells: list[list[Any]], width: list[int], start: int, sparse: int) -> int:
    for r in range(start, len(cells)):
        if width[r] and width[r] <= sparse and _is_note(cells[r]):
            return r
    return len(cells)


def _last_data_row(cells: list[list[Any]], width: list[int], start: int, end: int, dense: int) -> int:
    for r in range(end - 1, start - 1, -1):
        if width[r] >= dense and not _is_note(cells[r]):
            return r
    return start - 1


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


def _nonempty_columns(
    filled: list[list[Any]], body: list[int], cells: list[list[Any]], header_rows: list[int]
) -> list[int]:
    """Columns with a value in the body, or a header label of their own: a
    column that only receives a copy of a merged label (the blank spacer
    under a label spanning "value | footnote") is not a column."""
    rows = header_rows + body
    if not rows:
        return []
    ncols = len(filled[0])
    return [
        c for c in range(ncols)
        if any(not is_null(filled[r][c]) for r in body) or any(not is_null(cells[r][c]) for r in header_rows)
    ]


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
