"""The one conversion engine: a sheet's rows in, typed CSV and Parquet out, in bounded memory.

Every reader hands over a :class:`~.readers.base.RawGrid` whose rows arrive in
blocks (``RawGrid.iter_blocks``): lists of native cells, or Arrow string
columns from the delimited reader. For each grid:

1. ``scan``: merged ranges are filled, every cell becomes text
   (``columns.canonical``) and is spilled to a temporary Arrow IPC file; per
   row the width (non-empty cells before merge filling) and whether it is a
   note row are kept, and the first ``HEAD_ROWS`` rows as cells. The limits of
   :class:`~.options.Limits` are checked as the rows arrive.
2. ``table.find_layout`` decides title, header, body and footer from the head
   and the per-row facts.
3. ``type``: each column's evidence (``columns.Evidence``) and personal-data
   counts (``pii``) are gathered batch by batch on worker threads while the
   scan streams, before the layout is known; a batch that turns out to hold
   rows outside the body (title, header, notes, footer) is read back from the
   spill and gathered again over its body rows only.
4. ``write``: one read of the spill casts each batch and streams CSV and
   Parquet under temporary names; ``__init__`` renames them when every table is done.

A grid that is cheap to read again (delimited text) is read once instead
(``_OnePass``): the layout and types guessed from its head are checked against
every later block while it is cast and written, with no spill; when the whole
sheet does not bear the guess out, it is read again through the steps above.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import RefusedFile
from . import columns as C
from .memory import check_memory
from .options import Limits
from .pii import PiiCounts
from .readers.base import ArrowBlock, Merge, RawGrid, Reread
from .table import NOTE_PREFIXES, Layout, clean_cell, find_layout, row_facts

HEAD_ROWS = 2000  # rows kept as cells for the table finder
BLOCK_CELLS = 500_000  # native cells converted to Arrow at a time
ROW_GROUP_ROWS = 128 * 1024  # Parquet row group size
DICTIONARY_MAX_SHARE = 3  # Parquet dictionary encoding for columns with at most a third of their values distinct
WORKERS = 2

_NOTE_RE = "^(?:" + "|".join("".join(f"\\x{{{ord(ch):x}}}" for ch in p) for p in NOTE_PREFIXES) + ")"


@dataclass
class _Batch:
    row0: int
    row1: int
    segment: int
    index: int


@dataclass
class Scanned:
    """One grid after the scan: its layout and its cells in the spill."""

    grid: RawGrid
    layout: Layout
    batches: list[_Batch]
    segments: list[Path]
    ncols: int
    kept: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    nulls_read: list[list[str]] = field(default_factory=list)
    pii: list[PiiCounts] = field(default_factory=list)
    outputs: "Outputs | None" = None  # set when the scan wrote the table already (one pass)


@dataclass
class Outputs:
    """Where a table read once may be written during its scan (temporary names)."""

    csv: Path | None
    parquet: Path | None
    csv_bom: bool = False

    def discard(self) -> None:
        for path in (self.csv, self.parquet):
            if path is not None:
                path.unlink(missing_ok=True)


# --- pass 1: scan ---------------------------------------------------------------------------


class _Spill:
    """Cells of every batch in Arrow IPC files; a wider batch opens a new file."""

    def __init__(self, tmp: Path, label: str) -> None:
        self.tmp, self.label = tmp, label
        self.paths: list[Path] = []
        self.writer = None
        self.width = -1
        self.count = 0

    def write(self, cells: list[pa.Array], n: int) -> tuple[int, int]:
        if len(cells) > self.width or self.writer is None:
            self.close()
            self.width = len(cells)
            self.paths.append(self.tmp / f"{self.label}-{len(self.paths)}.arrow")
            schema = pa.schema([pa.field(str(i), pa.string()) for i in range(self.width)])
            self.writer = pa.ipc.new_file(str(self.paths[-1]), schema)
            self.count = 0
        arrays = cells + [pa.nulls(n, pa.string())] * (self.width - len(cells))
        if arrays:
            batch = pa.RecordBatch.from_arrays(arrays, names=[str(i) for i in range(self.width)])
        else:
            batch = pa.RecordBatch.from_pydict({}, schema=pa.schema([]))
        self.writer.write_batch(batch)
        self.count += 1
        return len(self.paths) - 1, self.count - 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class _RowFacts:
    """Per row of a sheet: its width (uint16: max_columns is at most 16,384 by default),
    whether it is a note, whether it is a lone native value. A few bytes a row, kept in
    slabs of a million rows: one small array per block, hundreds of them living among the
    converter's chunk-sized buffers, fragmented the heap (a 1 GB file grew by ~200 MB)."""

    SLAB = 1 << 20

    def __init__(self) -> None:
        self.slabs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.rows = 0

    def append(self, width: np.ndarray, is_note: np.ndarray, lone: np.ndarray) -> None:
        done = 0
        while done < len(width):
            at = self.rows % self.SLAB
            if at == 0:
                self.slabs.append((np.empty(self.SLAB, np.uint16), np.empty(self.SLAB, bool),
                                   np.empty(self.SLAB, bool)))
            take = min(len(width) - done, self.SLAB - at)
            for slab, values in zip(self.slabs[-1], (width, is_note, lone)):
                slab[at : at + take] = values[done : done + take]
            done += take
            self.rows += take

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(width, is_note, lone) of every row so far."""
        if not self.slabs:
            return np.zeros(0, np.uint16), np.zeros(0, bool), np.zeros(0, bool)
        return tuple(np.concatenate([slab[k] for slab in self.slabs])[: self.rows] for k in range(3))


class _MergeFiller:
    """Fills merged ranges row by row: every cell of a range gets the anchor's
    value. ``merges`` may grow while rows stream (ODS finds a range at its
    anchor row), never with a range starting above the rows already filled."""

    def __init__(self, merges: list[Merge]) -> None:
        self.source = merges
        self.taken = 0
        self.pending: list[Merge] = []  # by first row, descending: the next one is last
        self.active: list[tuple[Merge, Any]] = []

    def fill(self, r: int, row: list[Any]) -> list[Any]:
        if len(self.source) > self.taken:
            fresh = [m for m in self.source[self.taken :] if m.last_row > m.first_row or m.horizontal]
            self.taken = len(self.source)
            self.pending = sorted(self.pending + fresh, key=lambda m: m.first_row, reverse=True)
        while self.pending and self.pending[-1].first_row <= r:
            m = self.pending.pop()
            anchor = row[m.first_col] if m.first_row == r and m.first_col < len(row) else None
            self.active.append((m, anchor))
        if not self.active:
            return row
        self.active = [(m, v) for m, v in self.active if m.last_row >= r]
        for m, value in self.active:
            if len(row) <= m.last_col:
                row = row + [None] * (m.last_col + 1 - len(row))
            for c in range(m.first_col, m.last_col + 1):
                row[c] = value
        return row


def _gather(columns: list[pa.Array]) -> list[tuple[C.Evidence, PiiCounts]]:
    """Evidence and personal-data counts of one batch's columns (runs in a worker)."""
    found = []
    for col in columns:
        seen, counts = C.Evidence(), PiiCounts()
        seen.add(col)
        counts.add(col)
        found.append((seen, counts))
    return found


# The first byte a note row's first cell may start with, any case (the Thai prefixes also
# by their first letter's other two bytes): only the rare rows that do are matched in full.
_NOTE_FIRST = np.array(sorted({ord(ch) for p in NOTE_PREFIXES for ch in (p[0].lower(), p[0].upper()) if ch.isascii()}
                              | {p.encode()[0] for p in NOTE_PREFIXES}), np.uint8)
_NOTE_THAI = np.array(sorted({int.from_bytes(p.encode()[1:3], "big") for p in NOTE_PREFIXES if p.encode()[0] == 0xE0}))


def _note_rows(columns: list[pa.Array], n: int) -> np.ndarray:
    """Whether each row's first non-blank cell starts like a note (``table.is_note_row``)."""
    notes = np.zeros(n, bool)
    if not columns:
        return notes
    first = columns[0] if not columns[0].null_count else pc.coalesce(*columns)
    data, offsets = C.string_buffers(first)
    padded = np.concatenate((data, np.zeros(3, np.uint8)))  # a null or empty last value indexes past the text
    starts = offsets[:-1].astype(np.int64)
    where = np.flatnonzero(np.isin(padded[starts], _NOTE_FIRST) & (np.diff(offsets) > 0))
    thai = padded[starts[where]] == 0xE0
    if thai.any():
        at = starts[where[thai]]
        thai[thai] = np.isin((padded[at + 1].astype(np.int64) << 8) | padded[at + 2], _NOTE_THAI, invert=True)
        where = where[~thai]
    if len(where):
        subset = first.take(pa.array(where))
        notes[where] = C.np_bool(pc.match_substring_regex(pc.utf8_lower(subset), _NOTE_RE))
    return notes


class _Scanner:
    def __init__(self, grid: RawGrid, tmp: Path, label: str, limits: Limits, pool: ThreadPoolExecutor,
                 on_rows: Callable[[int], None] | None = None, outputs: Outputs | None = None) -> None:
        self.grid, self.limits = grid, limits
        self.one_pass = _OnePass(self, outputs, pool) if outputs is not None else None
        self.pool = pool
        self.gathered: list[Future] = []  # per batch: evidence of all its rows, per grid column
        self.inflight: deque[Future] = deque()
        self.on_rows = on_rows
        self.spill = _Spill(tmp, label)
        self.facts = _RowFacts()
        self.last_value_row = np.full(0, -1, np.int64)
        self.head: list[list[Any]] = []
        self.batches: list[_Batch] = []
        self.rows = 0
        self.filler = _MergeFiller(grid.merges)

    def run(self) -> Scanned | None:
        if len(self.grid.merges) > self.limits.max_merged_ranges:
            raise RefusedFile("size", f"limit max_merged_ranges: {len(self.grid.merges)} merged ranges "
                                      f"(limit {self.limits.max_merged_ranges})")
        try:
            for block in self.grid.iter_blocks(BLOCK_CELLS):
                if isinstance(block, ArrowBlock):
                    self._arrow_block(block.columns, block.num_rows)
                else:
                    self._rows_block(block)
                if self.on_rows is not None:
                    self.on_rows(self.rows)
        finally:
            self.spill.close()
        n = self.rows
        # Per-row facts are a few bytes a row (uint16 width: max_columns is at most 16,384 by default).
        width, is_note, lone = self.facts.arrays()
        self.facts = _RowFacts()
        if self.grid.structured:
            width = np.maximum(width, 1)  # every record counts, even an empty one
        layout = find_layout(self.head, width[:n], is_note, self.grid.merges, self.grid.header_rows,
                             self.grid.structured, self.last_value_row, lone)
        if layout is None:
            return None
        scanned = Scanned(self.grid, layout, self.batches, self.spill.paths, len(self.last_value_row))
        if self.one_pass is not None:
            self.one_pass.finish(scanned, width, is_note, lone)
        return scanned

    def discard(self) -> None:
        """Drop what this scan made: gathered work, spill files, outputs of a one pass."""
        for future in self.gathered:
            future.cancel()
        for path in self.spill.paths:
            path.unlink(missing_ok=True)
        if self.one_pass is not None:
            self.one_pass.discard()

    def _rows_block(self, rows: list[list[Any]]) -> None:
        n = len(rows)
        ncols = 0
        width = np.zeros(n, np.int32)
        notes = np.zeros(n, bool)
        lone = np.zeros(n, bool)
        filled_rows = []
        for i, row in enumerate(rows):
            cells = [clean_cell(v) for v in row]
            while cells and cells[-1] is None:
                cells.pop()
            width[i], notes[i], lone[i] = row_facts(cells)
            if len(self.head) < HEAD_ROWS:
                self.head.append(cells)
            filled = self.filler.fill(self.rows + i, cells)
            ncols = max(ncols, len(filled))
            filled_rows.append(filled)
        self._check(n, ncols)
        columns = [
            pa.array([C.canonical(row[c]) if c < len(row) else None for row in filled_rows], pa.string())
            for c in range(ncols)
        ]
        self._add(columns, n, width, notes, lone)

    def _arrow_block(self, columns: list[pa.Array], n: int) -> None:
        self._check(n, len(columns))
        width = np.zeros(n, np.int32)
        for col in columns:
            if not col.null_count:
                width += 1  # the usual column: no blank cell in this block
            elif col.null_count < n:
                width += C.np_bool(col.is_valid())
        notes = _note_rows(columns, n)
        if len(self.head) < HEAD_ROWS:
            take = min(n, HEAD_ROWS - len(self.head))
            values = [col.slice(0, take).to_pylist() for col in columns]
            for row in (zip(*values) if values else [() for _ in range(take)]):
                row = list(row)
                while row and row[-1] is None:
                    row.pop()
                self.head.append(row)
        self._add(columns, n, width, notes, np.zeros(n, bool))

    def _check(self, n: int, ncols: int) -> None:
        limits = self.limits
        if ncols > limits.max_columns:
            raise RefusedFile("size", f"limit max_columns: a row holds {ncols} columns (limit {limits.max_columns})")
        if self.rows + n > limits.max_rows:
            raise RefusedFile("size", f"limit max_rows: more than {limits.max_rows} rows")
        if (self.rows + n) * max(ncols, len(self.last_value_row)) > limits.max_cells:
            raise RefusedFile("size", f"limit max_cells: more than {limits.max_cells} cells in one sheet")

    def _add(self, columns, n, width, notes, lone) -> None:
        check_memory()
        if not n:
            return
        if len(columns) > len(self.last_value_row):
            grow = np.full(len(columns) - len(self.last_value_row), -1, np.int64)
            self.last_value_row = np.concatenate([self.last_value_row, grow])
        for c, col in enumerate(columns):
            if not col.null_count:
                self.last_value_row[c] = self.rows + n - 1
            elif col.null_count < n:
                valid = C.np_bool(col.is_valid())
                self.last_value_row[c] = self.rows + n - 1 - int(np.argmax(valid[::-1]))
        width = np.minimum(width, np.iinfo(np.uint16).max).astype(np.uint16)
        self.facts.append(width, notes, lone)
        if self.one_pass is not None:
            self.one_pass.add(list(columns), n, self.rows, width)
            self.rows += n
            return
        segment, index = self.spill.write(list(columns), n)
        self.batches.append(_Batch(self.rows, self.rows + n, segment, index))
        self.rows += n
        # Gathered now, while the columns are in memory; used if the whole batch is body.
        while len(self.inflight) > WORKERS:
            self.inflight.popleft().result()
        future = self.pool.submit(_gather, list(columns))
        self.inflight.append(future)
        self.gathered.append(future)


class _Abandon(Exception):
    """The sheet did not turn out as its head promised: read it again in two passes."""


class _OnePass:
    """Writes a table while it is scanned, for a grid that is cheap to read again.

    Spilling every cell and reading it back costs a second pass. When the head of
    the stream has been read (``HEAD_ROWS`` rows), the table finder guesses the
    layout from it and the columns' types from its body rows; each later block is
    then tested against those types, cast and written as it arrives. Its rows are
    taken to be data when non-blank. The last block waits, since its rows may be
    the footer. At the end the layout found over the whole sheet and the types over
    all its values must equal the guess; otherwise the outputs are dropped
    (``_Abandon``) and the grid is read again in two passes. The rules decide once
    either way: the guess only saves the second pass when it holds."""

    def __init__(self, scanner: "_Scanner", outputs: Outputs, pool: ThreadPoolExecutor) -> None:
        self.scanner, self.outputs, self.pool = scanner, outputs, pool
        self.waiting: list[tuple[list[pa.Array], int, int, np.ndarray]] = []  # blocks before the guess
        self.held: tuple[list[pa.Array], int, int, np.ndarray] | None = None
        self.guess: Layout | None = None
        self.body_start = 0
        self.final_body: np.ndarray | None = None  # the sheet's layout, when it ended before the guess
        self.kept: list[int] = []
        self.types: list[str] = []
        self.names: list[str] = []
        self.expected: list[C.Evidence] = []
        self.evidence: list[C.Evidence] = []
        self.pii: list[PiiCounts] = []
        self.writer: _TableWriter | None = None
        self.inflight: deque[Future] = deque()

    def add(self, columns: list[pa.Array], n: int, row0: int, width: np.ndarray) -> None:
        block = (columns, n, row0, width)
        if self.guess is None:
            self.waiting.append(block)
            # The head's rows, or as many blocks as the pass keeps in flight (a very wide file's
            # head would otherwise wait in memory; a guess from fewer rows is only more often wrong).
            waiting_cells = sum(n * len(columns) for columns, n, _, _ in self.waiting)
            if len(self.scanner.head) >= HEAD_ROWS or waiting_cells >= (WORKERS + 1) * BLOCK_CELLS:
                self._guess(*self.scanner.facts.arrays())
            return
        if self.held is not None:
            self._submit(self.held, self._guessed_body(self.held[2], self.held[3]))
        self.held = block

    def _guessed_body(self, row0: int, width: np.ndarray) -> np.ndarray:
        """The guess for rows ``row0``...: a non-blank row under the header is data."""
        if self.final_body is not None:
            return self.final_body[row0 : row0 + len(width)]
        mask = width > 0
        if row0 < self.body_start:
            mask[: self.body_start - row0] = False
        return mask

    def _guess(self, width: np.ndarray, is_note: np.ndarray, lone: np.ndarray) -> None:
        scanner = self.scanner
        layout = find_layout(scanner.head, width, is_note, scanner.grid.merges, scanner.grid.header_rows,
                             scanner.grid.structured, scanner.last_value_row.copy(), lone)
        if layout is None or layout.structured or not layout.body.any():
            raise _Abandon
        self.guess = layout
        self.body_start = layout.header_rows[-1] + 1 if layout.header_rows else int(np.argmax(layout.body))
        if not np.array_equal(layout.body, self._guessed_body(0, width)):
            raise _Abandon  # the head already holds a footer or notes: two passes decide those
        seen = {c: C.Evidence() for c in layout.columns}
        for columns, n, row0, block_width in self.waiting:
            mask = pa.array(self._guessed_body(row0, block_width))
            for c in layout.columns:
                if c < len(columns):
                    seen[c].add(columns[c].filter(mask))
        self.kept = layout.kept_columns({c: seen[c].present for c in layout.columns})
        if not self.kept:
            raise _Abandon
        self.names = layout.names(self.kept)
        self.types = [seen[c].kind() for c in self.kept]
        self.expected = [seen[c] for c in self.kept]
        self.evidence = [C.Evidence(possible=set(seen[c].possible)) for c in self.kept]
        self.pii = [PiiCounts() for _ in self.kept]
        self.writer = _TableWriter(self.names, self.types, self.outputs.csv, self.outputs.parquet,
                                   self.outputs.csv_bom)
        waiting, self.waiting = self.waiting, []
        for block in waiting[:-1]:
            self._submit(block, self._guessed_body(block[2], block[3]))
        self.held = waiting[-1]

    def _submit(self, block: tuple[list[pa.Array], int, int, np.ndarray], mask: np.ndarray) -> None:
        if not mask.any():
            return
        while len(self.inflight) > WORKERS:
            self._accept(self.inflight.popleft().result())
        check_memory()
        self.inflight.append(self.pool.submit(self._work, block[0], mask))

    def _work(self, columns: list[pa.Array], mask: np.ndarray):
        """Test one block's data rows against the guessed types and cast them (runs in a worker)."""
        if not mask.all():
            keep = pa.array(mask)
            columns = [col.filter(keep) for col in columns]
        rows = int(mask.sum())
        kept = set(self.kept)
        # A value in a column the guess left out would change the table's columns.
        contradicted = any(c not in kept and col.null_count < rows and C.nullish_to_null(col).null_count < rows
                           for c, col in enumerate(columns))
        found, cast = [], []
        for c, kind, expected in zip(self.kept, self.types, self.expected):
            col = columns[c] if c < len(columns) else pa.nulls(rows, pa.string())
            seen, counts = expected.expecting(kind), PiiCounts()
            counts.add(col)
            found.append((seen, counts))
            if not contradicted:  # nothing is cast that would be thrown away
                cast.append(C.fit_and_cast(col, kind, seen))
                contradicted = cast[-1] is None
        return found, None if contradicted else self.writer.assemble(cast)

    def _accept(self, result) -> None:
        found, prepared = result
        if prepared is None:
            raise _Abandon
        for total, counts, (seen, batch_counts) in zip(self.evidence, self.pii, found):
            total.merge(seen)
            counts.merge(batch_counts)
        self.writer.put(prepared)

    def finish(self, scanned: Scanned, width: np.ndarray, is_note: np.ndarray, lone: np.ndarray) -> None:
        """Check the guess against the whole sheet, write the last block, and fill ``scanned``."""
        if self.guess is None:
            if not self.waiting:
                raise _Abandon
            self.final_body = scanned.layout.body
            self._guess(width, is_note, lone)  # the whole sheet was its head
        layout, guess = scanned.layout, self.guess
        if layout.header_rows != guess.header_rows or layout.columns != guess.columns:
            raise _Abandon
        held_row0 = self.held[2] if self.held is not None else len(layout.body)
        if not np.array_equal(layout.body[:held_row0], self._guessed_body(0, width[:held_row0])):
            raise _Abandon
        if self.held is not None:
            _, n, row0, _ = self.held
            self._submit(self.held, layout.body[row0 : row0 + n])
            self.held = None
        while self.inflight:
            self._accept(self.inflight.popleft().result())
        if [seen.kind() for seen in self.evidence] != self.types:
            raise _Abandon
        present = {c: 0 for c in layout.columns}
        present.update({c: seen.present for c, seen in zip(self.kept, self.evidence)})
        if layout.kept_columns(present) != self.kept or layout.names(self.kept) != self.names:
            raise _Abandon
        self.writer.close()
        self.writer = None
        scanned.kept, scanned.names, scanned.types = self.kept, self.names, self.types
        scanned.nulls_read = [seen.nulls_read() for seen in self.evidence]
        scanned.pii = self.pii
        scanned.outputs = self.outputs

    def discard(self) -> None:
        for future in self.inflight:
            future.cancel()
        self.inflight.clear()
        if self.writer is not None:
            self.writer.abort()
            self.writer = None
        self.outputs.discard()


def in_order(pool: ThreadPoolExecutor, work, items, window: int = WORKERS + 1) -> Iterator:
    """``work(item)`` for each item on ``pool``, results in order, at most
    ``window`` items in flight (so memory stays bounded)."""
    inflight: deque = deque()
    try:
        for item in items:
            check_memory()
            inflight.append(pool.submit(work, item))
            if len(inflight) >= window:
                yield inflight.popleft().result()
        while inflight:
            yield inflight.popleft().result()
    finally:
        for future in inflight:
            future.cancel()


def scan(grid: RawGrid, tmp: Path, label: str, limits: Limits,
         on_rows: Callable[[int], None] | None = None, outputs: Outputs | None = None) -> Scanned | None:
    """Pass 1 over ``grid``: None when it holds nothing tabular. ``on_rows(n)``: rows read so far (progress).

    With ``outputs`` (a grid that is cheap to read again), the table is written there
    during the scan when the head's guess holds (``_OnePass``; ``Scanned.outputs`` says
    so); otherwise the grid is read again in two passes."""
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="convert-cast") as pool:
        if outputs is not None:
            try:
                return _scan(grid, tmp, label, limits, pool, on_rows, outputs)
            except _Abandon:
                pass
        return _scan(grid, tmp, label, limits, pool, on_rows, None)


def _scan(grid: RawGrid, tmp: Path, label: str, limits: Limits, pool: ThreadPoolExecutor,
          on_rows: Callable[[int], None] | None, outputs: Outputs | None) -> Scanned | None:
    for attempt in range(3):
        scanner = _Scanner(grid, tmp, f"{label}-{attempt}", limits, pool, on_rows, outputs)
        try:
            scanned = scanner.run()
            break
        except Reread:  # the stream found its encoding was not what its head said
            scanner.discard()
        except BaseException:
            scanner.discard()
            raise
    else:
        raise RefusedFile("corrupt", "the text could not be decoded consistently")
    if scanned is None:
        scanner.discard()
        return None
    if scanned.outputs is None:
        evidence, pii = _body_evidence(scanned, scanner.gathered, pool)
        layout = scanned.layout
        present = {c: evidence[c].present for c in layout.columns}
        scanned.kept = layout.kept_columns(present)
        scanned.names = layout.names(scanned.kept)
        scanned.types = [evidence[c].kind() for c in scanned.kept]
        scanned.nulls_read = [evidence[c].nulls_read() for c in scanned.kept]
        scanned.pii = [pii[c] for c in scanned.kept]
    if not scanned.kept or (len(scanned.kept) == 1 and not scanned.layout.rows_written):
        scanner.discard()
        return None  # a lone word is not a table
    return scanned


def _body_evidence(scanned: Scanned, gathered: list[Future], pool: ThreadPoolExecutor
                   ) -> tuple[dict[int, C.Evidence], dict[int, PiiCounts]]:
    """Each layout column's evidence and personal-data counts over the body rows: a batch
    that is body throughout brings what the scan gathered; any other is gathered again
    from the spill over its body rows (a few batches: the head and the tail)."""
    layout = scanned.layout
    evidence = {c: C.Evidence() for c in layout.columns}
    pii = {c: PiiCounts() for c in layout.columns}

    def merge(found: list[tuple[C.Evidence, PiiCounts]], cols) -> None:
        for c, (seen, counts) in zip(cols, found):
            if c in evidence:  # a column outside the layout was gathered in vain
                evidence[c].merge(seen)
                pii[c].merge(counts)

    partial = []
    for batch, future in zip(scanned.batches, gathered):
        mask = layout.body[batch.row0 : batch.row1]
        if mask.all():
            merge(future.result(), range(scanned.ncols))  # columns past the batch's width are null there
        else:
            future.cancel()
            if mask.any():
                partial.append(batch)
    for found in in_order(pool, _gather, _body_batches(scanned, layout.columns, partial)):
        merge(found, layout.columns)
    return evidence, pii


def _body_batches(scanned: Scanned, cols: list[int], batches: list[_Batch] | None = None) -> Iterator[list[pa.Array]]:
    """The body rows of each spilled batch, as the columns ``cols`` (nulls past a batch's width).

    One reader per spill file for the whole pass: opening one per batch re-reads the file's footer."""
    body = scanned.layout.body
    files: dict[int, tuple[pa.OSFile, pa.ipc.RecordBatchFileReader]] = {}
    try:
        for batch in scanned.batches if batches is None else batches:
            mask = body[batch.row0 : batch.row1]
            if not mask.any():
                continue
            if batch.segment not in files:
                fh = pa.OSFile(str(scanned.segments[batch.segment]))
                files[batch.segment] = fh, pa.ipc.open_file(fh)
            record = files[batch.segment][1].get_batch(batch.index)
            if not mask.all():
                record = record.filter(pa.array(mask))
            yield [record.column(c) if c < record.num_columns else pa.nulls(record.num_rows, pa.string())
                   for c in cols]
    finally:
        for fh, _ in files.values():
            fh.close()


def check_personal_data(scanned: Scanned, allowed: set[str]) -> None:
    """Refuse (``pii``) when a column not declared allowed holds personal data."""
    hits = [(name, found) for name, found in zip(scanned.names, scanned.pii)
            if name not in allowed and found.is_personal()]
    if hits:
        described = "; ".join(f"column {name!r} holds {found.describe()}" for name, found in hits)
        raise RefusedFile("pii", described)


# --- pass 2: write -------------------------------------------------------------------------


def arrow_schema(names: list[str], types: list[str]) -> pa.Schema:
    return pa.schema([
        pa.field(name, C.ARROW_TYPES[kind], metadata={"title": name}) for name, kind in zip(names, types)
    ])


class _TableWriter:
    """Streams a table's cast batches to CSV and Parquet files, in order.

    ``prepare`` casts one batch (on a worker); ``put`` hands its results over. One
    thread per output file writes it while the workers cast the next batches (Parquet
    encoding and file writes release the GIL); each file has at most one write
    waiting. CSV writing and Parquet encoding take about as long, so one thread doing
    both was the slowest step."""

    def __init__(self, names: list[str], types: list[str], csv_path: Path | None, parquet_path: Path | None,
                 csv_bom: bool) -> None:
        self.types = types
        self.schema = arrow_schema(names, types)
        self.paths = [p for p in (csv_path, parquet_path) if p is not None]
        self.csv_fh = self.parquet = None
        self.parquet_path = parquet_path
        self.threads: list[ThreadPoolExecutor] = []
        self.pending: dict[ThreadPoolExecutor, Future] = {}
        self.group: list[pa.RecordBatch] = []
        self.group_rows = 0
        try:
            if csv_path is not None:
                self.csv_fh = open(csv_path, "wb")
                self.csv_fh.write(C.csv_header(names, csv_bom))
                self.csv_out = ThreadPoolExecutor(max_workers=1, thread_name_prefix="convert-write-csv")
                self.threads.append(self.csv_out)
            if parquet_path is not None:
                # The writer itself opens with the first rows (_open_parquet).
                self.parquet_out = ThreadPoolExecutor(max_workers=1, thread_name_prefix="convert-write-parquet")
                self.threads.append(self.parquet_out)
        except BaseException:
            self.abort()
            raise

    def prepare(self, record: list[pa.Array]) -> tuple[pa.RecordBatch | None, memoryview | bytes]:
        """Typed values and CSV lines of one batch (runs in a worker)."""
        return self.assemble([C.cast(col, kind) for col, kind in zip(record, self.types)])

    def assemble(self, cast: list[tuple[pa.Array, pa.Array]]) -> tuple[pa.RecordBatch | None, memoryview | bytes]:
        """The batch and CSV lines of one batch's cast columns (typed values, CSV text)."""
        batch = (pa.RecordBatch.from_arrays([typed for typed, _ in cast], schema=self.schema)
                 if self.parquet_path is not None else None)
        return batch, C.csv_lines([text for _, text in cast]) if self.csv_fh is not None else b""

    def put(self, prepared: tuple[pa.RecordBatch | None, memoryview | bytes]) -> None:
        batch, lines = prepared
        if self.csv_fh is not None:
            self._submit(self.csv_out, self.csv_fh.write, lines)
        if batch is not None:
            self.group.append(batch)
            self.group_rows += batch.num_rows
            if self.group_rows >= ROW_GROUP_ROWS:
                self._flush()

    def _flush(self) -> None:
        group, self.group, self.group_rows = self.group, [], 0
        table = pa.Table.from_batches(group, schema=self.schema)
        if self.parquet is None:
            self._open_parquet(table.slice(0, ROW_GROUP_ROWS))
        self._submit(self.parquet_out, self.parquet.write_table, table, ROW_GROUP_ROWS)

    def _open_parquet(self, first: pa.Table | None) -> None:
        """Open the Parquet file, with dictionary encoding for the columns whose first row
        group repeats its values: a column of mostly distinct values (codes, counts) is
        smaller and about twice as fast to write without it (Arrow would build the
        dictionary, find it too big and fall back to plain encoding)."""
        repeated = True if first is None else [
            name for name, col in zip(first.column_names, first.columns)
            if pc.count_distinct(col).as_py() * DICTIONARY_MAX_SHARE <= max(len(col) - col.null_count, 1)]
        self.parquet = pq.ParquetWriter(str(self.parquet_path), self.schema, compression="zstd",
                                        use_dictionary=repeated)

    def _submit(self, thread: ThreadPoolExecutor, work, *args) -> None:
        if thread in self.pending:
            self.pending.pop(thread).result()
        self.pending[thread] = thread.submit(work, *args)

    def close(self) -> None:
        """Write what is left and close the files (complete now)."""
        try:
            if self.group:
                self._flush()
            elif self.parquet_path is not None and self.parquet is None:
                self._open_parquet(None)  # no rows: the file holds the schema
            for future in self.pending.values():
                future.result()
            self.pending = {}
        except BaseException:
            self.abort()
            raise
        self._shut()

    def abort(self) -> None:
        """Stop and delete the files."""
        self._shut()
        for path in self.paths:
            path.unlink(missing_ok=True)

    def _shut(self) -> None:
        for thread in self.threads:
            thread.shutdown(wait=True, cancel_futures=True)
        self.threads = []
        if self.parquet is not None:
            self.parquet.close()
            self.parquet = None
        if self.csv_fh is not None:
            self.csv_fh.close()
            self.csv_fh = None


def write(scanned: Scanned, csv_path: Path | None, parquet_path: Path | None, csv_bom: bool,
          on_rows: Callable[[int], None] | None = None) -> None:
    """Cast the body rows and stream them to ``csv_path`` and ``parquet_path`` (either may be None).

    ``on_rows(n)``: rows written so far (progress), called from this thread."""
    writer = _TableWriter(scanned.names, scanned.types, csv_path, parquet_path, csv_bom)
    written = 0
    try:
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="convert-cast") as pool:
            for record in in_order(pool, lambda r: (writer.prepare(r), len(r[0]) if r else 0),
                                   _body_batches(scanned, scanned.kept)):
                prepared, count = record
                writer.put(prepared)
                written += count
                if on_rows is not None:
                    on_rows(written)
    except BaseException:
        writer.abort()
        raise
    writer.close()


def release_memory() -> None:
    """Hand pyarrow's cached free memory back between passes."""
    pa.default_memory_pool().release_unused()


def temp_name(out_dir: Path, base: str, fmt: str) -> Path:
    return out_dir / f".{base}.{fmt}.tmp-{os.getpid()}"
