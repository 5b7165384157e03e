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


class _Scanner:
    def __init__(self, grid: RawGrid, tmp: Path, label: str, limits: Limits, pool: ThreadPoolExecutor,
                 on_rows: Callable[[int], None] | None = None) -> None:
        self.grid, self.limits = grid, limits
        self.pool = pool
        self.gathered: list[Future] = []  # per batch: evidence of all its rows, per grid column
        self.inflight: deque[Future] = deque()
        self.on_rows = on_rows
        self.spill = _Spill(tmp, label)
        self.widths: list[np.ndarray] = []
        self.notes: list[np.ndarray] = []
        self.lone: list[np.ndarray] = []
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
        width = np.concatenate(self.widths) if self.widths else np.zeros(0, np.uint16)
        self.widths = []
        is_note = np.concatenate(self.notes) if self.notes else np.zeros(0, bool)
        self.notes = []
        lone = np.concatenate(self.lone) if self.lone else np.zeros(0, bool)
        self.lone = []
        if self.grid.structured:
            width = np.maximum(width, 1)  # every record counts, even an empty one
        layout = find_layout(self.head, width[:n], is_note, self.grid.merges, self.grid.header_rows,
                             self.grid.structured, self.last_value_row, lone)
        if layout is None:
            return None
        return Scanned(self.grid, layout, self.batches, self.spill.paths, len(self.last_value_row))

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
            width += C.np_bool(col.is_valid())
        if columns:
            first = pc.coalesce(*columns)
            notes = C.np_bool(pc.match_substring_regex(pc.utf8_lower(first), _NOTE_RE))
        else:
            notes = np.zeros(n, bool)
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
            if col.null_count < n:
                valid = C.np_bool(col.is_valid())
                self.last_value_row[c] = self.rows + n - 1 - int(np.argmax(valid[::-1]))
        self.widths.append(np.minimum(width, np.iinfo(np.uint16).max).astype(np.uint16))
        self.notes.append(notes)
        self.lone.append(lone)
        segment, index = self.spill.write(list(columns), n)
        self.batches.append(_Batch(self.rows, self.rows + n, segment, index))
        self.rows += n
        # Gathered now, while the columns are in memory; used if the whole batch is body.
        while len(self.inflight) > WORKERS:
            self.inflight.popleft().result()
        future = self.pool.submit(_gather, list(columns))
        self.inflight.append(future)
        self.gathered.append(future)


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
         on_rows: Callable[[int], None] | None = None) -> Scanned | None:
    """Pass 1 over ``grid``: None when it holds nothing tabular. ``on_rows(n)``: rows read so far (progress)."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for attempt in range(3):
            scanner = _Scanner(grid, tmp, f"{label}-{attempt}", limits, pool, on_rows)
            try:
                scanned = scanner.run()
                break
            except Reread:  # the stream found its encoding was not what its head said
                for future in scanner.gathered:
                    future.cancel()
                for path in scanner.spill.paths:
                    path.unlink(missing_ok=True)
        else:
            raise RefusedFile("corrupt", "the text could not be decoded consistently")
        if scanned is None:
            for future in scanner.gathered:
                future.cancel()
            return None
        evidence, pii = _body_evidence(scanned, scanner.gathered, pool)
    layout = scanned.layout
    present = {c: evidence[c].present for c in layout.columns}
    kept = layout.kept_columns(present)
    if not kept or (len(kept) == 1 and not layout.rows_written):
        return None  # a lone word is not a table
    scanned.kept = kept
    scanned.names = layout.names(kept)
    scanned.types = [evidence[c].kind() for c in kept]
    scanned.nulls_read = [evidence[c].nulls_read() for c in kept]
    scanned.pii = [pii[c] for c in kept]
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


def arrow_schema(scanned: Scanned) -> pa.Schema:
    return pa.schema([
        pa.field(name, C.ARROW_TYPES[kind], metadata={"title": name})
        for name, kind in zip(scanned.names, scanned.types)
    ])


def write(scanned: Scanned, csv_path: Path | None, parquet_path: Path | None, csv_bom: bool,
          on_rows: Callable[[int], None] | None = None) -> None:
    """Cast the body rows and stream them to ``csv_path`` and ``parquet_path`` (either may be None).

    ``on_rows(n)``: rows written so far (progress), called from this thread."""
    schema = arrow_schema(scanned)
    csv_fh = parquet = None
    group: list[pa.RecordBatch] = []
    written = 0
    try:
        if csv_path is not None:
            csv_fh = open(csv_path, "wb")
            csv_fh.write(C.csv_header(scanned.names, csv_bom))
        if parquet_path is not None:
            parquet = pq.ParquetWriter(str(parquet_path), schema, compression="zstd")

        def prepare(record: list[pa.Array]) -> tuple[pa.RecordBatch | None, memoryview | bytes, int]:
            """Typed values and CSV lines of one batch, and its row count (runs in a worker)."""
            cast = [C.cast(col, kind) for col, kind in zip(record, scanned.types)]
            batch = pa.RecordBatch.from_arrays([typed for typed, _ in cast], schema=schema) if parquet is not None else None
            rows = len(record[0]) if record else 0
            return batch, C.csv_lines([text for _, text in cast]) if csv_fh is not None else b"", rows

        def flush(batches: list[pa.RecordBatch]) -> None:
            parquet.write_table(pa.Table.from_batches(batches, schema=schema), row_group_size=ROW_GROUP_ROWS)

        # One thread per output file writes it, in order, while the workers cast the next
        # batches (Parquet encoding and file writes release the GIL). Each file has at most
        # one write waiting: CSV writing and Parquet encoding take about as long, so one
        # thread doing both was the slowest step.
        with ThreadPoolExecutor(max_workers=WORKERS) as pool, \
                ThreadPoolExecutor(max_workers=1) as csv_out, ThreadPoolExecutor(max_workers=1) as parquet_out:
            pending: dict[ThreadPoolExecutor, Future] = {}

            def submit(writer: ThreadPoolExecutor, work, *args) -> None:
                if writer in pending:
                    pending.pop(writer).result()
                pending[writer] = writer.submit(work, *args)

            rows = 0
            for batch, lines, count in in_order(pool, prepare, _body_batches(scanned, scanned.kept)):
                written += count
                if on_rows is not None:
                    on_rows(written)
                if csv_fh is not None:
                    submit(csv_out, csv_fh.write, lines)
                if batch is not None:
                    group.append(batch)
                    rows += batch.num_rows
                    if rows >= ROW_GROUP_ROWS:
                        submit(parquet_out, flush, group)
                        group, rows = [], 0
            if parquet is not None and group:
                submit(parquet_out, flush, group)
            for future in pending.values():
                future.result()
        if parquet is not None:
            parquet.close()
            parquet = None
        if csv_fh is not None:
            csv_fh.close()
            csv_fh = None
    finally:
        if parquet is not None:
            parquet.close()
        if csv_fh is not None:
            csv_fh.close()


def release_memory() -> None:
    """Hand pyarrow's cached free memory back between passes."""
    pa.default_memory_pool().release_unused()


def temp_name(out_dir: Path, base: str, fmt: str) -> Path:
    return out_dir / f".{base}.{fmt}.tmp-{os.getpid()}"
