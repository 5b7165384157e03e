"""Split one spreadsheet sheet into the tables it holds.

Statistics sheets often stack two tables (or put them side by side) with blank
rows or columns between them. Blank rows are also common INSIDE one table
(a blank line between regions, a blank line before the source note), so a
blank gap only separates tables when what follows clearly starts a new one:

- below a run of blank rows: a row of text labels (no number, no ``-``) that
  labels every column holding data under it, followed by rows with numbers or
  dates, while the part above already holds a header and data;
- beside a run of empty columns: both sides have at least two columns and two
  rows, and they start or end on different rows (two tables of exactly the
  same height are indistinguishable from one table with a spacer column, and
  are left as one; its empty column is dropped later).

Rows of at most one cell just above a new table (its title) go with it; notes
(ที่มา, หมายเหตุ ...) stay with the table above. Every spreadsheet reader calls
:func:`split_sheet` on each sheet it reads.
"""

from __future__ import annotations

from typing import Any

from ..normalize import is_null, parse_date, parse_number
from .base import Merge, RawGrid

MIN_SIDE_COLUMNS = 2  # a side-by-side table has at least this many columns
MIN_SIDE_ROWS = 2

_NOTE_PREFIXES = ("ที่มา", "แหล่งที่มา", "หมายเหตุ", "source", "note", "*")


def split_sheet(grid: RawGrid) -> list[RawGrid]:
    """The tables of one sheet, each as its own grid; ``[grid]`` when there is
    only one. Split grids are named ``<sheet> t1``, ``<sheet> t2`` ..."""
    occupied = _occupancy(grid)
    boxes = []
    for r0, r1 in _row_segments(grid.rows, occupied, 0, len(grid.rows), None):
        for c0, c1 in _column_bands(occupied, r0, r1):
            if (c0, c1) == (None, None):
                boxes.append((r0, r1, None, None))
                continue
            for s0, s1 in _row_segments(grid.rows, occupied, r0, r1, (c0, c1)):
                boxes.append((s0, s1, c0, c1))
    if len(boxes) <= 1:
        return [grid]
    sheet = grid.sheet or grid.name
    return [
        _sub_grid(grid, box, name=f"{grid.name} t{i}" if grid.name else f"t{i}", sheet=sheet)
        for i, box in enumerate(boxes, start=1)
    ]


# --- occupancy --------------------------------------------------------------------------


def _occupancy(grid: RawGrid) -> list[set[int]]:
    """Per row, the columns holding a value or covered by a merged range."""
    occupied = [{c for c, v in enumerate(row) if not _blank(v)} for row in grid.rows]
    for m in grid.merges:
        for r in range(m.first_row, min(m.last_row, len(occupied) - 1) + 1):
            occupied[r].update(range(m.first_col, m.last_col + 1))
    return occupied


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cols_in(occupied: set[int], band: tuple[int, int] | None) -> set[int]:
    if band is None:
        return occupied
    return {c for c in occupied if band[0] <= c < band[1]}


# --- stacked tables ------------------------------------------------------------------------


def _row_segments(rows, occupied, start, stop, band) -> list[tuple[int, int]]:
    """Split rows [start, stop) at blank-row gaps where a new table starts."""
    chunks: list[tuple[int, int]] = []
    r = start
    while r < stop:
        if not _cols_in(occupied[r], band):
            r += 1
            continue
        end = r
        while end < stop and _cols_in(occupied[end], band):
            end += 1
        chunks.append((r, end))
        r = end
    if len(chunks) <= 1:
        return [(start, stop)]

    segments: list[list[tuple[int, int]]] = [[]]
    # Per segment: rows of two or more values, and whether one holds a number or
    # date. Only a segment with both holds a table: title lines above a blank
    # row (text only, however many cells) belong to the table below them.
    wide = [0]
    data = [False]
    pending_titles: list[tuple[int, int]] = []
    for chunk in chunks:
        current = segments[-1]
        holds_table = wide[-1] >= 2 and data[-1]
        if _is_sparse(rows, chunk, band):
            if holds_table and not _is_note_chunk(rows, chunk, band):
                pending_titles.append(chunk)  # maybe the title of a table below
            else:
                current.extend(pending_titles)
                pending_titles = []
                current.append(chunk)
            continue
        if holds_table and _starts_table(rows, occupied, chunk, band):
            segments.append(pending_titles + [chunk])
            wide.append(0)
            data.append(False)
        else:
            current.extend(pending_titles + [chunk])
        wide[-1] += _wide_rows(rows, chunk, band)
        data[-1] = data[-1] or _has_data(rows, chunk, band)
        pending_titles = []
    segments[-1].extend(pending_titles)
    bounds = [(seg[0][0], seg[-1][1]) for seg in segments if seg]
    # Each segment owns the blank rows up to the next one: row counts stay whole.
    out = []
    for i, (s0, _s1) in enumerate(bounds):
        first = start if i == 0 else s0
        last = bounds[i + 1][0] if i + 1 < len(bounds) else stop
        out.append((first, last))
    return out


def _values_in(rows, r, band) -> int:
    """Values in row ``r`` (a merged range counts once: only its anchor holds one)."""
    return sum(not _blank(v) for v in _values(rows[r], band))


def _is_sparse(rows, chunk, band) -> bool:
    return all(_values_in(rows, r, band) <= 1 for r in range(*chunk))


def _wide_rows(rows, chunk, band) -> int:
    return sum(1 for r in range(*chunk) if _values_in(rows, r, band) >= 2)


def _has_data(rows, chunk, band) -> bool:
    return any(not _blank(v) and not isinstance(v, str) or parse_number(v) is not None or parse_date(v) is not None
               for r in range(*chunk) for v in _values(rows[r], band) if not _blank(v))


def _is_note_chunk(rows, chunk, band) -> bool:
    first = next((v for v in _values(rows[chunk[0]], band) if not _blank(v)), None)
    return isinstance(first, str) and first.strip().lower().startswith(_NOTE_PREFIXES)


def _values(row, band):
    return row if band is None else row[band[0] : band[1]]


def _starts_table(rows, occupied, chunk, band) -> bool:
    """The chunk opens with a label row that names every data column under it,
    and rows with numbers or dates follow."""
    first = next((r for r in range(*chunk) if len(_cols_in(occupied[r], band)) >= 2), None)
    if first is None:
        return False
    labels = {c for c in _cols_in(occupied[first], band)}
    for c in labels:
        value = rows[first][c] if c < len(rows[first]) else None
        if value is None:
            continue  # covered by a merged label
        if not isinstance(value, str) or is_null(value) or parse_number(value) is not None or parse_date(value) is not None:
            return False
    data_columns: set[int] = set()
    evidence = False
    for r in range(first + 1, chunk[1]):
        for c in _cols_in(occupied[r], band):
            value = rows[r][c] if c < len(rows[r]) else None
            if _blank(value):
                continue
            data_columns.add(c)
            evidence = evidence or parse_number(value) is not None or parse_date(value) is not None
    nxt = first + 1
    if nxt < chunk[1]:  # a second header level may label what the first leaves open
        second = {c for c in _cols_in(occupied[nxt], band)}
        if all(isinstance(rows[nxt][c], str) and parse_number(rows[nxt][c]) is None
               for c in second if c < len(rows[nxt]) and rows[nxt][c] is not None):
            labels |= second
    return evidence and bool(data_columns) and data_columns <= labels


# --- side-by-side tables ----------------------------------------------------------------------


def _column_bands(occupied, r0, r1) -> list[tuple[int | None, int | None]]:
    used = set().union(*occupied[r0:r1]) if r1 > r0 else set()
    if not used:
        return [(None, None)]
    bands: list[list[int]] = []
    for c in sorted(used):
        if bands and c == bands[-1][1]:
            bands[-1][1] = c + 1
        else:
            bands.append([c, c + 1])
    if len(bands) <= 1:
        return [(None, None)]
    # Glue neighbours that do not qualify as tables of their own.
    merged: list[list[int]] = [bands[0]]
    for band in bands[1:]:
        if _separate(occupied, r0, r1, merged[-1], band):
            merged.append(band)
        else:
            merged[-1] = [merged[-1][0], band[1]]
    if len(merged) <= 1:
        return [(None, None)]
    # The first band also owns the columns left of it, the others start at their own column.
    out = []
    for i, (c0, _c1) in enumerate(merged):
        first = 0 if i == 0 else c0
        last = merged[i + 1][0] if i + 1 < len(merged) else None
        out.append((first, last if last is not None else 1 << 30))
    return out


def _separate(occupied, r0, r1, left, right) -> bool:
    def extent(band):
        rows_used = [r for r in range(r0, r1) if any(band[0] <= c < band[1] for c in occupied[r])]
        return rows_used

    lrows, rrows = extent(left), extent(right)
    if left[1] - left[0] < MIN_SIDE_COLUMNS or right[1] - right[0] < MIN_SIDE_COLUMNS:
        return False
    if len(lrows) < MIN_SIDE_ROWS or len(rrows) < MIN_SIDE_ROWS:
        return False
    return (lrows[0], lrows[-1]) != (rrows[0], rrows[-1])


# --- sub-grids ------------------------------------------------------------------------------------


def _sub_grid(grid: RawGrid, box, *, name: str, sheet: str | None) -> RawGrid:
    r0, r1, c0, c1 = box
    c0 = 0 if c0 is None else c0
    rows = [row[c0:c1] for row in grid.rows[r0:r1]]
    merges = []
    for m in grid.merges:
        if r0 <= m.first_row < r1 and (c0 <= m.first_col < (c1 if c1 is not None else 1 << 30)):
            last_col = m.last_col if c1 is None else min(m.last_col, c1 - 1)
            merges.append(Merge(m.first_row - r0, m.first_col - c0, min(m.last_row, r1 - 1) - r0, last_col - c0))
    return RawGrid(rows=rows, name=name, merges=merges, sheet=sheet)
