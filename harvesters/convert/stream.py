"""Streaming conversion of large CSV/TSV/PSV/SSV files in bounded memory.

The in-memory path (``readers.delimited`` -> ``table.find_table`` ->
``normalize.infer_column`` -> ``writers``) holds the whole file as Python
objects, several times its size. Above :func:`stream_threshold` bytes,
``convert_file`` sends delimited text here instead. The outputs are the same,
byte for byte (CSV) and value for value (Parquet schema and data, report).

Two passes over the data, vectorised with pyarrow.compute over batches of
~16 MiB of source text:

1. read, decode (UTF-8 checked, or cp874 through a byte table in Arrow), split
   rows and fields, trim cells (all of it in worker threads, a chunk each,
   results taken in file order); per row record the width (non-empty cells) and whether
   it is a note row (ที่มา, หมายเหตุ, ...); per batch and column record type
   evidence (how many values are numbers, integers, dates, Thai IDs); keep the
   first rows as Python lists for header detection; spill the trimmed cells to
   a temporary Arrow IPC file.
2. decide the table (header rows, body rows, footer: the same rules as
   ``table.find_table``, fed with the whole-file widths and the head rows) and
   the column types (evidence of the batches wholly inside the body, plus the
   edge batches recomputed over their body rows only); then read the spill
   back, cast each batch and write CSV and Parquet under temporary names,
   renamed at the end.

Rows are split by Python's own ``csv`` module semantics: lines whose quoting is
simple (quoted fields hold no quote and no line break) are split vectorised;
a batch with any other line goes through ``csv.reader`` itself.

Files this path cannot treat exactly like the in-memory path raise
:class:`NotStreamable` before anything is written, and the caller falls back
to the in-memory path: UTF-16/32 text, UTF-8 holding C1 control characters,
legacy code pages other than cp874 (charset-normalizer needs the whole file),
and tables whose header is not within the first rows.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import decode as _decode
from . import table as _table
from . import vector as V
from ..errors import RefusedFile
from .normalize import DATE, DECIMAL, INTEGER, TEXT
from .readers.delimited import FORMAT_BY_DELIMITER, _HINT_BY_EXTENSION, _SAMPLE_CHARS, sniff_delimiter, sniff_quote
from .report import ColumnReport, ConversionReport, DroppedRows, TableReport, table_schema
from .writers import ARROW_TYPES

STREAM_THRESHOLD = 64 * 2**20  # bytes; delimited files at least this big stream
ENV_THRESHOLD = "HARVEST_STREAM_THRESHOLD"
CHUNK_BYTES = 4 * 2**20  # source bytes per batch (bounds the memory of a batch in flight)
FIRST_CHUNK_BYTES = 2**20  # titles and headers: its evidence is recomputed, so keep it small
WORKERS = 2  # batches in flight: pyarrow and numpy release the GIL
HEAD_ROWS = 2000  # rows kept as Python lists for header detection
_HEAD_MARGIN = 60  # rows the header rules look below a header candidate
_SENTINEL = "\x00end-of-batch\x00\n"  # NULs are removed from the text, so never data

# Type evidence per batch and column: counts over present (non-null) values.
_CATS = ("num", "int", "date", "id")


class NotStreamable(Exception):
    """This file must go through the in-memory path (the reason says why)."""


def stream_threshold() -> int:
    value = os.environ.get(ENV_THRESHOLD)
    return int(value) if value not in (None, "") else STREAM_THRESHOLD


def should_stream(path: Path, options=None) -> bool:
    """Big enough to stream, and no table choice to make (a text file holds one table)."""
    choice = getattr(options, "tables", None)
    if choice is not None and any(v is not None for v in choice.model_dump().values()):
        return False
    try:
        return Path(path).stat().st_size >= stream_threshold()
    except OSError:
        return False


# --- entry point ------------------------------------------------------------------------


def convert_streaming(
    path: Path, out_dir: Path, stem: str, formats: tuple[str, ...], csv_bom: bool, allow_pii: set[str]
) -> ConversionReport:
    from . import STARS_OUT, safe_name  # the package imports this module lazily
    from .sniff import STARS

    path, out_dir = Path(path), Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="harvest-stream-") as tmp:
        scan = _scan(path, Path(tmp))
        _release_memory()
        found = _find_structure(scan)
        if found is None:
            raise RefusedFile("no table", f"nothing tabular in this {scan.format} file")
        columns = _type_columns(scan, found, allow_pii)
        _release_memory()
        label = safe_name(stem)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = _write_outputs(scan, found, columns, out_dir, label, formats, csv_bom)
    column_reports = [ColumnReport(name=name, type=kind) for name, kind in zip(found.names, columns)]
    table_report = TableReport(
        name=label,
        csv=str(paths["csv"]) if paths.get("csv") else None,
        parquet=str(paths["parquet"]) if paths.get("parquet") else None,
        sheet=None,
        header_rows=found.header_rows,
        rows_read=scan.n_rows,
        rows_written=found.rows_written,
        rows_dropped=[DroppedRows(reason=r, count=n) for r, n in sorted(found.dropped.items())],
        columns=column_reports,
        schema=table_schema(column_reports),
    )
    return ConversionReport(
        input=str(path),
        format=scan.format,
        encoding=scan.encoding,
        delimiter=scan.delimiter,
        stars_in=STARS.get(scan.format, 3),
        stars_out=STARS_OUT,
        tables=[table_report],
        warnings=scan.warnings,
    )


def _release_memory() -> None:
    """Hand pyarrow's cached free memory back between the passes: each pass
    peaks on its own, not on top of what the one before kept."""
    pa.default_memory_pool().release_unused()


# --- pass 1: decode, split, trim, evidence, spill ------------------------------------------------


@dataclass
class _Batch:
    row0: int
    row1: int
    segment: int
    index: int  # record batch index within its spill segment
    evidence: list[dict[str, int | None]]  # per column of the batch


@dataclass
class _Scan:
    format: str
    encoding: str
    delimiter: str
    quote: str
    warnings: list[str]
    n_rows: int
    ncols: int
    width: np.ndarray
    is_note: np.ndarray
    last_value_row: np.ndarray  # per column: last row with a non-empty cell, -1 if none
    head: list[list[Any]]
    batches: list[_Batch]
    segments: list[Path]
    dead: dict[int, set[str]] = field(default_factory=dict)
    recomputed: dict[tuple, list] = field(default_factory=dict)  # (batch row0, full) -> body evidence


class _ThaiStats:
    """decode.looks_thai, accumulated over chunks that end on an ASCII byte (so
    no run of high bytes crosses a chunk boundary).

    Counted with numpy (which releases the GIL, so workers count their own
    chunks): high bytes and Thai letters (cp874 0xA1-0xDA and 0xDF-0xFB, the
    bytes that decode into U+0E00-U+0E7F). Counting bytes in runs of three or
    more exactly costs more; a bound usually settles it: bytes not in runs of
    three or more are at most two per run, so ``high - 2 * runs`` is a lower
    bound of ``in_runs``. :meth:`looks_thai` needs the exact count (``exact``,
    a second read) only when the bound does not decide. Partial counts of
    chunks are merged with :meth:`merge`.
    """

    def __init__(self, exact: bool = False) -> None:
        self.exact = exact
        self.high = self.in_runs = self.thai = 0

    @staticmethod
    def count(chunk: bytes, exact: bool = False) -> tuple[int, int, int]:
        """(high bytes, bytes in runs of >= 3 high bytes or a lower bound of it, Thai letters)."""
        a = np.frombuffer(chunk, np.uint8)
        hi = a >= 0x80
        high = int(np.count_nonzero(hi))
        if not high:
            return 0, 0, 0
        thai = int(np.count_nonzero((a - np.uint8(0xA1)) < 0x3A)) + int(np.count_nonzero((a - np.uint8(0xDF)) < 0x1D))
        if exact:
            edges = np.zeros(len(a) + 2, np.int8)
            edges[1:-1] = hi
            step = np.diff(edges)
            lengths = np.flatnonzero(step == -1) - np.flatnonzero(step == 1)
            in_runs = int(lengths[lengths >= 3].sum())
        else:
            runs = int(np.count_nonzero(hi[1:] > hi[:-1])) + int(hi[0])
            in_runs = max(0, high - 2 * runs)
        return high, in_runs, thai

    def merge(self, counts: tuple[int, int, int]) -> None:
        high, in_runs, thai = counts
        self.high += high
        self.in_runs += in_runs
        self.thai += thai

    def add(self, chunk: bytes) -> None:
        self.merge(self.count(chunk, self.exact))

    def decided(self) -> bool:
        """True when the answer of :meth:`looks_thai` is exact."""
        if self.exact or self.high == 0 or self.thai / self.high < 0.9:
            return True
        return self.in_runs / self.high >= 0.6

    def looks_thai(self) -> bool:
        # Decodability is checked chunk by chunk where the text is decoded.
        if self.high == 0:
            return False
        return self.in_runs / self.high >= 0.6 and self.thai / self.high >= 0.9


def _looks_thai_exact(path: Path) -> bool:
    stats = _ThaiStats(exact=True)
    for chunk, _ in _raw_chunks(path, 0):
        try:
            chunk.decode("cp874")
        except UnicodeDecodeError:
            return False
        stats.add(chunk)
    return stats.looks_thai()


def _choose_encoding(path: Path) -> tuple[str, int]:
    """(encoding, bytes to skip) as decode.detect_encoding would decide for the
    whole file, judged on the head and verified over the whole file in pass 1."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
        more = bool(fh.read(1))
    for bom, name in _decode._BOMS:
        if head.startswith(bom):
            if name == "utf-8-sig":
                skip = 3 + (3 if head[3:6] == bom else 0)  # _scrub drops a second BOM
                return "utf-8-sig", skip
            raise NotStreamable(f"{name} text")
    if _decode._bomless_utf16(head):
        raise NotStreamable("UTF-16 text without BOM")
    cut = head[: head.rfind(b"\n") + 1] if more else head
    try:
        cut.decode("utf-8")
        return "utf-8", 0
    except UnicodeDecodeError:
        pass
    if _decode.looks_thai(cut):
        return "cp874", 0
    raise NotStreamable("legacy code page other than cp874")


def _raw_chunks(path: Path, skip: int) -> Iterator[tuple[bytes, bool]]:
    """(bytes, is the last chunk): chunks end after a line break, so CR, LF and
    CRLF are never split; the last one ends where the file does."""
    size = min(CHUNK_BYTES, FIRST_CHUNK_BYTES)  # the first batch is re-read: keep it small
    with open(path, "rb") as fh:
        fh.seek(skip)
        carry = b""
        while True:
            block = fh.read(size)
            data = carry + block
            if len(block) < size:  # a regular file reads short only at its end
                yield data, True
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                cut = data.rfind(b"\r", 0, len(data) - 1)
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1 :]
            yield data[: cut + 1], False
            size = CHUNK_BYTES


def _sniff_sample(path: Path, encoding: str, skip: int) -> str:
    """The text readers.delimited sniffs the dialect from: its first 64 Ki characters."""
    with open(path, "rb") as fh:
        fh.seek(skip)
        head = fh.read(1 << 20)
        more = bool(fh.read(1))
    if encoding == "cp874":
        text = head.decode("cp874", "ignore")
    else:
        text = head.replace(_FFFD, b"").decode("utf-8", "ignore")
    text = text.replace("\x00", "")
    if len(text) <= _SAMPLE_CHARS and more:
        raise NotStreamable("too little text in the first MiB to sniff the dialect")
    return text[:_SAMPLE_CHARS]


_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")
_FFFD = "\ufffd".encode()


def _scan(path: Path, tmp: Path) -> _Scan:
    encoding, skip = _choose_encoding(path)
    try:
        return _pass1(path, tmp, encoding, skip)
    except _NotUtf8:
        if encoding != "utf-8":
            raise NotStreamable(f"invalid {encoding}") from None
        if not _looks_thai_exact(path):
            raise NotStreamable("neither UTF-8 nor Thai cp874") from None
        for leftover in tmp.iterdir():
            leftover.unlink()
        return _pass1(path, tmp, "cp874", 0)


class _NotUtf8(Exception):
    pass


def _decode_chunk(chunk: bytes, encoding: str) -> tuple[bytes, tuple[int, int, int] | None, int]:
    """(UTF-8 text without NULs, looks_thai counts of a cp874 chunk, U+FFFD removed):
    the per-chunk work of decoding, safe to run in a worker."""
    fffd = 0
    if encoding == "cp874":
        thai = _ThaiStats.count(chunk)
        data = _cp874_to_utf8(chunk)
    else:
        thai = None
        data = chunk
        if _C1_UTF8.search(data):
            raise NotStreamable("C1 control characters need the whole text to repair")
        if _FFFD in data:
            fffd = data.count(_FFFD)
            data = data.replace(_FFFD, b"")
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    if encoding != "cp874":
        try:
            _string_array(pa.py_buffer(data), np.array([0, len(data)])).validate(full=True)
        except pa.ArrowInvalid:
            raise _NotUtf8() from None
    return data, thai, fffd


def _cp874_table() -> pa.StringArray:
    """The UTF-8 text of every cp874 byte (null where cp874 has no character)."""
    chars = []
    for b in range(256):
        try:
            chars.append(bytes([b]).decode("cp874"))
        except UnicodeDecodeError:
            chars.append(None)
    return pa.array(chars, pa.string())


_CP874 = _cp874_table()
_CP874_VECTOR_MAX = 256 * 2**20  # 3 UTF-8 bytes per source byte at most: int32 offsets hold this


def _cp874_to_utf8(chunk: bytes) -> bytes:
    """``chunk.decode("cp874").encode("utf-8")``: cp874 is a single-byte code page, so
    the text is the table entries of the bytes, one after the other; Arrow's take
    builds it without holding the GIL (the Python codec holds it, which kept the
    workers waiting on each other)."""
    if len(chunk) > _CP874_VECTOR_MAX:
        try:
            return chunk.decode("cp874").encode("utf-8")
        except UnicodeDecodeError:
            raise NotStreamable("not decodable as cp874") from None
    codes = pa.Array.from_buffers(pa.uint8(), len(chunk), [None, pa.py_buffer(chunk)])
    text = _CP874.take(codes)
    if text.null_count:
        raise NotStreamable("not decodable as cp874")
    _, offsets, data = text.buffers()
    size = int(np.frombuffer(offsets, np.int32, count=1, offset=4 * len(chunk))[0])
    return memoryview(data)[:size].tobytes() if size else b""


def _analyse(rows: pa.ListArray, first: bool, dead: dict[int, set[str]]):
    """The per-batch work of pass 1 that needs no other batch (runs in a worker)."""
    cells, nfields = _row_cells(rows)
    n = len(nfields)
    width, is_note = _row_flags(cells, n)
    last_value = [
        int(present[-1]) if len(present := np.flatnonzero(V._np_bool(col.is_valid()))) else -1 for col in cells
    ]
    # The first batch holds titles and headers: its evidence is always
    # recomputed over its body rows, so none is gathered here.
    evidence = [] if first else [_evidence(col, skip=dead.get(c, set())) for c, col in enumerate(cells)]
    return cells, n, width, is_note, last_value, evidence


def _chunk_work(chunk: bytes, last: bool, encoding: str, splitter: "_Splitter", first: bool, dead):
    """Decode, split and analyse one chunk (runs in a worker). The split assumes
    no record is carried from the chunk before; when one is, the caller splits
    this chunk again (``data`` is returned for that)."""
    data, thai, fffd = _decode_chunk(chunk, encoding)
    rows, carried = splitter.split_from(data, last, b"")
    # Only the first chunk may hold the first rows (`first`): no record is ever carried into it.
    analysis = _analyse(rows, first, dead) if rows is not None and len(rows) else None
    return data, last, thai, fffd, carried, analysis


def _pass1(path: Path, tmp: Path, encoding: str, skip: int) -> _Scan:
    stats = _ThaiStats() if encoding == "cp874" else None
    counts: Counter = Counter()
    splitter = _Splitter.sniffed(_sniff_sample(path, encoding, skip), path)
    spill = _Spill(tmp)
    widths, notes, batches = [], [], []
    last_value_row = np.full(0, -1, np.int64)
    head: list[list[Any]] = []
    dead: dict[int, set[str]] = {}
    row0 = 0

    def collect(result) -> None:
        nonlocal row0, last_value_row
        cells, n, width, is_note, last_value, evidence = result
        if n == 0:
            return
        widths.append(width)
        notes.append(is_note)
        if len(cells) > len(last_value_row):
            last_value_row = np.concatenate([last_value_row, np.full(len(cells) - len(last_value_row), -1)])
        for c, last in enumerate(last_value):
            if last >= 0:
                last_value_row[c] = row0 + last
        if len(head) < HEAD_ROWS:
            take = min(n, HEAD_ROWS - len(head))
            columns = [col.slice(0, take).to_pylist() for col in cells]
            head.extend([list(r) for r in zip(*columns)] if columns else [[] for _ in range(take)])
        segment, index = spill.write(cells, n)
        if batches:  # the first batch holds titles and headers: never proof against a type
            for c, ev in enumerate(evidence):
                for cat in _CATS:
                    if ev.get(cat) is not None and ev[cat] < ev["present"]:
                        dead.setdefault(c, set()).add(cat)
        batches.append(_Batch(row0, row0 + n, segment, index, evidence))
        row0 += n

    pending = b""

    def handle(result) -> None:
        # In file order: the same state the sequential loop would have.
        nonlocal pending
        data, last, thai, fffd, carried, analysis = result
        if thai is not None:
            stats.merge(thai)
        if fffd:
            counts["fffd"] += fffd
        if pending:  # the worker split without the record carried from before: split again
            rows, pending = splitter.split_from(data, last, pending)
            skip_now = {c: set(cats) for c, cats in dead.items()}
            analysis = _analyse(rows, not batches, skip_now) if rows is not None and len(rows) else None
        else:
            pending = carried
        if analysis is not None:
            collect(analysis)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        inflight: deque = deque()
        try:
            for index, (chunk, last) in enumerate(_raw_chunks(path, skip)):
                skip_now = {c: set(cats) for c, cats in dead.items()}
                inflight.append(pool.submit(_chunk_work, chunk, last, encoding, splitter, index == 0, skip_now))
                while len(inflight) >= WORKERS:
                    handle(inflight.popleft().result())
            while inflight:
                handle(inflight.popleft().result())
        except BaseException:
            for future in inflight:
                future.cancel()
            raise
    spill.close()
    if stats is not None and not (stats.looks_thai() if stats.decided() else _looks_thai_exact(path)):
        raise NotStreamable("the whole file does not read as Thai cp874")
    if not batches:
        raise NotStreamable("no rows")
    warnings = []
    if counts["fffd"]:
        warnings.append(f"{counts['fffd']} U+FFFD replacement characters already in the source were removed")
    return _Scan(
        format=FORMAT_BY_DELIMITER[splitter.delimiter], encoding=encoding, delimiter=splitter.delimiter,
        quote=splitter.quote, warnings=warnings, n_rows=row0, ncols=len(last_value_row),
        width=np.concatenate(widths), is_note=np.concatenate(notes), last_value_row=last_value_row,
        head=head, batches=batches, segments=spill.paths, dead=dead,
    )


class _Splitter:
    """Rows out of UTF-8 text chunks, exactly as ``csv.reader(..., skipinitialspace=True)``
    splits the whole text in ``readers.delimited.parse``."""

    def __init__(self, delimiter: str, quote: str) -> None:
        self.delimiter, self.quote = delimiter, quote
        d, q = (f"\\x{{{ord(ch):02x}}}" for ch in (delimiter, quote))
        fld = f"(?: *{q}[^{q}]*{q}|[^{q}{d}\\r\\n]*)"
        self.simple = f"^{fld}(?:{d}{fld})*(?:\\r\\n|\\r|\\n)$"
        self.pending = b""

    @classmethod
    def sniffed(cls, sample: str, path: Path) -> "_Splitter":
        hint = _HINT_BY_EXTENSION.get(path.suffix.lower().lstrip("."))
        quote = sniff_quote(sample)
        return cls(sniff_delimiter(sample, quote, hint), quote)

    def split(self, data: bytes, last: bool) -> pa.ListArray | None:
        rows, self.pending = self.split_from(data, last, self.pending)
        return rows

    def split_from(self, data: bytes, last: bool, pending: bytes) -> tuple[pa.ListArray | None, bytes]:
        """(rows, the text of a record the chunk ends inside, carried to the next
        chunk) of ``pending + data``. Keeps no state: workers call it."""
        if pending:
            data = pending + data
        original = data
        if last and data and not data.endswith((b"\n", b"\r")):
            data += b"\n"  # the last line has no line break: give it one
        if not data:
            return None, b""
        a = np.frombuffer(data, np.uint8)
        buffer = pa.py_buffer(data)
        q, d = ord(self.quote), ord(self.delimiter)
        quoted = bytes([q]) in data
        has_cr = b"\r" in data
        # One scan for every byte that matters: LF, CR, delimiters, quotes.
        mask = (a == 10) | (a == d)
        if has_cr:
            mask |= a == 13
        if quoted:
            mask |= a == q
        pos = np.flatnonzero(mask)
        del mask
        kind = a[pos]
        # Line breaks: LF, CR not followed by LF, (CRLF: the LF; its CR is trimmed as whitespace).
        is_break = kind == 10
        if has_cr:
            cr = np.flatnonzero(kind == 13)
            is_break[cr[a[np.minimum(pos[cr] + 1, len(a) - 1)] != 10]] = True
        is_sep = is_break | (kind == d)
        if quoted:
            is_quote = kind == q
            quotes = pos[is_quote]
            if not self._surely_simple(a, pos[is_break], quotes, d):
                lines = _string_array(buffer, np.concatenate(([0], pos[is_break] + 1)))
                if not pc.all(pc.match_substring_regex(lines, self.simple)).as_py():
                    return self._slow(original, last)
            # Delimiters inside quotes (an odd number of quotes before them) separate nothing.
            inside = (np.cumsum(is_quote, dtype=np.int64) & 1).astype(bool)
            is_sep &= is_break | ~inside
        seps = pos[is_sep]
        row_ends = np.flatnonzero(is_break[is_sep])
        # Each field is the text up to and including its separator; the separator
        # becomes a space, which trimming removes with the rest of the whitespace.
        blanked = a.copy()
        blanked[seps] = 32
        values = _string_array(pa.py_buffer(blanked), np.concatenate(([0], seps + 1)))
        # Trimmed like table._clean_cell; in a batch of simple lines a quote only
        # opens or closes a whole field, so trimming quotes with the whitespace
        # leaves exactly the field's trimmed content.
        values = pc.utf8_trim(values, characters=V.TRIM_CHARS + (self.quote if quoted else ""))
        return pa.ListArray.from_arrays(pa.array(np.concatenate(([0], row_ends + 1)), pa.int32()), values), b""

    @staticmethod
    def _surely_simple(a: np.ndarray, breaks: np.ndarray, quotes: np.ndarray, d: int) -> bool:
        """A sufficient condition (numpy only) for every line up to the last break
        matching ``self.simple``: quotes come in pairs within one line, each pair
        opening right after a delimiter or a line start and closing right before
        a delimiter or a line break. False means "ask the regular expression"."""
        if not len(breaks):
            return False
        quotes = quotes[quotes < breaks[-1]]  # only lines up to the last break are checked
        if len(quotes) % 2:
            return False
        if not len(quotes):
            return True
        opens, closes = quotes[0::2], quotes[1::2]
        line = np.searchsorted(breaks, quotes)
        if not np.array_equal(line[0::2], line[1::2]):
            return False
        before = a[np.maximum(opens - 1, 0)]
        ok_open = (opens == 0) | (before == d) | (before == 10) | (before == 13)
        after = a[closes + 1]  # a break follows every close: closes + 1 is in range
        ok_close = (after == d) | (after == 10) | (after == 13)
        return bool(ok_open.all() and ok_close.all())

    def _slow(self, data: bytes, last: bool) -> tuple[pa.ListArray | None, bytes]:
        lines = io.StringIO(data.decode("utf-8"), newline="").readlines()
        feed = iter(lines + ([] if last else [_SENTINEL]))
        reader = csv.reader(feed, delimiter=self.delimiter, quotechar=self.quote, skipinitialspace=True)
        rows: list[list[str]] = []
        consumed = 0
        pending = b""
        for row in reader:
            if not last and reader.line_num > len(lines):
                if consumed < len(lines):  # the batch ends inside a quoted field
                    pending = "".join(lines[consumed:]).encode("utf-8")
                break
            rows.append(row)
            consumed = reader.line_num
        if not rows:
            return None, pending
        rows = pa.array(rows, type=pa.list_(pa.string()))
        return pa.ListArray.from_arrays(rows.offsets, pc.utf8_trim(rows.values, characters=V.TRIM_CHARS)), pending


def _inside_pairs(positions: np.ndarray, quotes: np.ndarray, end: int) -> np.ndarray:
    """Per position (sorted, never a quote's): an odd number of quotes before it,
    i.e. inside a pair (quotes[0], quotes[1]), (quotes[2], quotes[3]), ..., an
    unpaired last quote opening a pair that runs to ``end``."""
    if not len(quotes) or not len(positions):
        return np.zeros(len(positions), bool)
    opens, closes = quotes[0::2], quotes[1::2]
    if len(closes) < len(opens):
        closes = np.append(closes, end)
    lo = np.searchsorted(positions, opens)
    hi = np.searchsorted(positions, closes)
    step = np.bincount(lo, minlength=len(positions) + 1) - np.bincount(hi, minlength=len(positions) + 1)
    return np.cumsum(step[:-1]) > 0


def _string_array(buffer: pa.Buffer, offsets: np.ndarray) -> pa.StringArray:
    offsets = pa.py_buffer(np.ascontiguousarray(offsets, dtype=np.int32))
    return pa.StringArray.from_buffers(len(offsets) // 4 - 1, offsets, buffer)


def _row_cells(rows: pa.ListArray) -> tuple[list[pa.Array], np.ndarray]:
    """Trimmed cells per column (null = blank or missing), and fields per row."""
    offsets = rows.offsets.to_numpy().astype(np.int64)
    nfields = np.diff(offsets)
    values = rows.values  # trimmed by the splitter
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    ncols = int(nfields.max()) if len(nfields) else 0
    cells = []
    for i in range(ncols):
        has = nfields > i
        index = pa.array(np.where(has, offsets[:-1] + i, 0), mask=~has)
        cells.append(values.take(index))
    return cells, nfields


_NOTE_RE = "^(?:" + "|".join("".join(f"\\x{{{ord(ch):x}}}" for ch in p) for p in _table.NOTE_PREFIXES) + ")"


def _row_flags(cells: list[pa.Array], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: non-empty cells (table._row_widths) and table._is_note."""
    width = np.zeros(n, np.int32)
    for col in cells:
        width += V._np_bool(col.is_valid())
    if not cells:
        return width, np.zeros(n, bool)
    first = pc.coalesce(*cells)
    is_note = V._np_bool(pc.match_substring_regex(pc.utf8_lower(first), _NOTE_RE))
    return width, is_note


class _Spill:
    """Trimmed cells of every batch in Arrow IPC files; a wider batch opens a new file."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.paths: list[Path] = []
        self.writer = None
        self.width = -1
        self.count = 0

    def write(self, cells: list[pa.Array], n: int) -> tuple[int, int]:
        if len(cells) > self.width or self.writer is None:
            self.close()
            self.width = len(cells)
            self.paths.append(self.tmp / f"spill-{len(self.paths)}.arrow")
            schema = pa.schema([pa.field(str(i), pa.string()) for i in range(self.width)])
            self.writer = pa.ipc.new_file(str(self.paths[-1]), schema)
            self.count = 0
        arrays = cells + [pa.nulls(n, pa.string())] * (self.width - len(cells))
        names = [str(i) for i in range(self.width)]
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, names=names) if arrays
                                else pa.RecordBatch.from_pydict({}, schema=pa.schema([])).slice(0, 0))
        self.count += 1
        return len(self.paths) - 1, self.count - 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _read_batch(scan: _Scan, batch: _Batch) -> pa.RecordBatch:
    with pa.OSFile(str(scan.segments[batch.segment])) as fh:
        return pa.ipc.open_file(fh).get_batch(batch.index)


# --- type evidence -------------------------------------------------------------------------


def _repeats(values: pa.Array, sample: int = 2048) -> bool:
    """Worth counting over distinct values: a guess from the first values (only
    the speed depends on it; dictionary encoding of nearly unique values is waste)."""
    if len(values) < 256:
        return False
    head = values.slice(0, sample)
    return pc.count_distinct(head).as_py() <= 0.95 * len(head)


def _evidence(col: pa.Array, skip: set[str] = frozenset()) -> dict[str, int | None]:
    """Counts over the present values of one column of one batch; categories in
    ``skip`` are not computed (None): a column that already failed them."""
    raw = V.nullish_to_null(col)
    present = len(raw) - raw.null_count
    ev: dict[str, int | None] = {"present": present}
    todo = [c for c in _CATS if c not in skip]
    for cat in _CATS:
        ev[cat] = None if cat in skip else 0
    ev["id_valid"] = None if "id" in skip else 0
    if not present or not todo:
        return ev
    values = raw.filter(raw.is_valid()) if raw.null_count else raw
    # Every count is a sum over values of a function of the value alone: count
    # over the distinct values, each weighted by how often it occurs.
    weights = None
    if _repeats(values):
        encoded = pc.dictionary_encode(values)
        if 2 * len(encoded.dictionary) <= len(values):
            weights = np.bincount(encoded.indices.to_numpy(), minlength=len(encoded.dictionary))
            values = encoded.dictionary

    def total(mask: np.ndarray) -> int:
        return int(mask.sum()) if weights is None else int(weights[mask].sum())

    translated = V.translate_thai_digits(values)
    exotic = V.exotic_mask(translated)
    if "num" in todo or "int" in todo:
        is_num, is_int, long = V.number_masks(translated, exotic)
        ev["num"], ev["int"] = total(is_num), total(is_int)
        exotic = exotic | long
    if "date" in todo:
        ev["date"] = total(V._np_bool(V.parse_dates(translated, exotic, distinct=False).is_valid()))
    if "id" in todo:
        ev["id"], ev["id_valid"] = V.id_counts(translated, exotic, weights)
    for i in np.flatnonzero(exotic):
        times = 1 if weights is None else int(weights[i])
        number, integer, date, shaped, valid = V.python_evidence(values[int(i)].as_py())
        for cat, hit in (("num", number), ("int", integer), ("date", date), ("id", shaped), ("id_valid", valid)):
            if ev[cat] is not None:
                ev[cat] += hit * times
    for cat in ("num", "int"):
        if cat in skip:
            ev[cat] = None
    return ev


# --- the table: header, body, footer (table.find_table over whole-file facts) --------------------


@dataclass
class _Found:
    header_rows: list[int]
    body: np.ndarray  # bool per row
    columns: list[int]
    names: list[str]
    dropped: Counter
    rows_written: int


def _typical_width(width: np.ndarray) -> int:
    """table._typical_width: the most common width >= 2, ties to the first seen."""
    counts = np.bincount(width) if len(width) else np.zeros(0, np.int64)
    counts[:2] = 0
    if not counts.any():
        return 1
    tied = np.flatnonzero(counts == counts.max())
    if len(tied) == 1:
        return int(tied[0])
    first_seen = [int(np.argmax(width == w)) for w in tied]
    return int(tied[int(np.argmin(first_seen))])


def _find_structure(scan: _Scan) -> _Found | None:
    n, width, is_note = scan.n_rows, scan.width, scan.is_note
    if n == 0 or scan.ncols == 0 or not width.any():
        return None
    head_n = len(scan.head)
    cells = [row + [None] * (scan.ncols - len(row)) for row in scan.head]
    head_width = [int(w) for w in width[:head_n]]

    def need(row: int) -> None:
        if head_n < n and row + _HEAD_MARGIN >= head_n:
            raise NotStreamable("the table's header is not within the first rows")

    typical = _typical_width(width)
    needed = max(2, math.ceil(typical / 2)) if typical >= 2 else 1
    # Candidates in the head only (an index array over all rows costs 8 bytes a
    # row); need() refuses when the rules would have to look beyond it.
    wide = np.flatnonzero(width[:head_n] >= needed)
    if not len(wide):
        raise NotStreamable("no header candidate within the first rows")
    header = int(wide[0])
    for row in wide:
        row = int(row)
        need(row)
        if head_n < n and sum(1 for w in head_width[row + 1 :] if w) < _table.HEADER_PROBE_ROWS:
            raise NotStreamable("too few rows below the header candidate in the head")
        if _table._labels_data_columns(cells, head_width, row, []):
            header = row
            break
    need(header)
    columns = [c for c in range(scan.ncols) if scan.last_value_row[c] >= header]
    headerless = _table._first_row_is_data(cells, header, columns)
    header_rows = [] if headerless else _table._header_block(cells, head_width, header, columns, [])
    start = header if headerless else header_rows[-1] + 1

    dropped: Counter = Counter()
    body = _body_rows(width, is_note, start, n, len(columns), dropped)
    dropped[_table.TITLE] += int(np.count_nonzero(width[:header]))
    dropped[_table.BLANK] += int(header - np.count_nonzero(width[:header]))

    # table._nonempty_columns over header rows and body rows.
    present = _present_counts(scan, body)
    keep = []
    for c in range(scan.ncols):
        in_header = any(cells[r][c] is not None and cells[r][c] != "-" for r in header_rows)
        if in_header or present[c] > 0:
            keep.append(c)
    rows_written = int(body.sum())
    if not keep or (len(keep) == 1 and not rows_written):
        return None
    names = _table._header_names(cells, header_rows, keep)
    return _Found(
        header_rows=header_rows, body=body, columns=keep, names=names,
        dropped=Counter({k: v for k, v in dropped.items() if v}), rows_written=rows_written,
    )


def _body_rows(width: np.ndarray, is_note: np.ndarray, start: int, n: int, ncolumns: int, dropped: Counter) -> np.ndarray:
    """table._body_rows with whole-file arrays."""
    typical = _typical_width(width[start:])
    dense = max(2, math.ceil(typical * 0.3)) if ncolumns >= 2 else 1
    sparse = max(2, typical // 3)
    # Boolean masks only: an index array per row would cost 8 bytes a row.
    notes = (width[start:] > 0) & (width[start:] <= sparse) & is_note[start:]
    end = start + int(notes.argmax()) if notes.any() else n
    del notes
    data = (width[start:end] >= dense) & ~is_note[start:end]
    last = start + len(data) - 1 - int(data[::-1].argmax()) if data.any() else start - 1
    del data

    blank = width == 0
    body = np.zeros(n, bool)
    body[start : last + 1] = ~blank[start : last + 1]
    tail = np.arange(max(last + 1, start), n)
    if len(tail):
        tail_blank = blank[tail]
        seen_blank = np.cumsum(tail_blank) > 0  # a blank row at or before this one
        lone = (width[tail] == 1) & (1 < ncolumns)
        footer = ~tail_blank & ((tail >= end) | seen_blank | is_note[tail] | lone)
        body[tail[~tail_blank & ~footer]] = True
        dropped[_table.FOOTER] += int(footer.sum())
    dropped[_table.BLANK] += int(blank[start:].sum())
    return body


# --- column types ----------------------------------------------------------------------------


def _batch_is_clean(scan: _Scan, body: np.ndarray, batch: _Batch) -> bool:
    """Every non-blank row of the batch is a body row: its evidence holds as computed."""
    b = slice(batch.row0, batch.row1)
    return bool(np.array_equal(body[b], scan.width[b] > 0)) and batch.row0 > 0


def _body_evidence(scan: _Scan, body: np.ndarray, batch: _Batch, full: bool) -> list[dict[str, int | None]]:
    if _batch_is_clean(scan, body, batch) and not full:
        return batch.evidence
    key = (batch.row0, full)
    if key not in scan.recomputed:
        record = _read_batch(scan, batch)
        mask = pa.array(body[batch.row0 : batch.row1])
        scan.recomputed[key] = [
            _evidence(record.column(c).filter(mask), skip=set() if full else scan.dead.get(c, set()))
            for c in range(record.num_columns)
        ]
    return scan.recomputed[key]


def _present_counts(scan: _Scan, body: np.ndarray) -> np.ndarray:
    present = np.zeros(scan.ncols, np.int64)
    for batch in scan.batches:
        for c, ev in enumerate(_body_evidence(scan, body, batch, full=False)):
            present[c] += ev["present"]
    return present


def _type_columns(scan: _Scan, found: _Found, allow_pii: set[str]) -> list[str]:
    """normalize.infer_column and the PII check per output column, from evidence."""
    totals = {c: Counter() for c in found.columns}
    unknown = {c: Counter() for c in found.columns}
    failed = {c: set() for c in found.columns}
    per_batch = []
    for batch in scan.batches:
        evidence = _body_evidence(scan, found.body, batch, full=False)
        per_batch.append(evidence)
        for c in found.columns:
            if c >= len(evidence):
                continue
            ev = evidence[c]
            totals[c]["present"] += ev["present"]
            for cat in (*_CATS, "id_valid"):
                if ev[cat] is None:
                    unknown[c][cat] += 1
                else:
                    totals[c][cat] += ev[cat]
                    if cat != "id_valid" and ev[cat] < ev["present"]:
                        failed[c].add(cat)
    # A category skipped in some batch is decided by a failure seen elsewhere;
    # when no failure is seen (it came from an edge batch), recompute those batches.
    for c in found.columns:
        if any(unknown[c][cat] for cat in _CATS if cat not in failed[c]):
            totals[c] = Counter()
            failed[c] = set()
            for batch in scan.batches:
                evidence = _body_evidence(scan, found.body, batch, full=True)
                if c < len(evidence):
                    for key, value in evidence[c].items():
                        totals[c][key] += value
                        if key in _CATS and value < evidence[c]["present"]:
                            failed[c].add(key)
    types = []
    for name, c in zip(found.names, found.columns):
        t = totals[c]
        present = t["present"]
        if present and "id" not in failed[c] and t["id"] == present and name not in allow_pii:
            if t["id_valid"] / present >= 0.5:
                raise RefusedFile("pii", f"column {name!r} holds Thai national ID numbers")
        if not present:
            types.append(TEXT)
        elif "int" not in failed[c] and t["int"] == present:
            types.append(INTEGER)
        elif "num" not in failed[c] and t["num"] == present:
            types.append(DECIMAL)
        elif "date" not in failed[c] and t["date"] == present:
            types.append(DATE)
        else:
            types.append(TEXT)
    return types


# --- pass 2: cast and write --------------------------------------------------------------------


def _cast(col: pa.Array, kind: str) -> tuple[pa.Array, pa.Array]:
    """(typed values for Parquet, CSV field text) of one column of one batch."""
    raw = V.nullish_to_null(col)
    if kind == TEXT:
        return raw, V.csv_quote(raw)
    translated = V.translate_thai_digits(raw)
    if kind in (INTEGER, DECIMAL):
        arrow_type = pa.int64() if kind == INTEGER else pa.float64()
        try:
            # Every present value is a number (the evidence says so); Arrow parses
            # ASCII ones exactly like parse_number and refuses the others.
            typed = pc.cast(V._plain_number_text(translated), arrow_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            exotic = V.exotic_mask(translated)
            is_num, is_int, long = V.number_masks(translated, exotic)
            if kind == INTEGER:
                typed = V.cast_integers(raw, translated, is_int)
            else:
                typed = V.cast_decimals(raw, translated, is_num)
        if kind == INTEGER:
            return typed, pc.cast(typed, pa.string())
        # parse_number reads "-0" as the integer 0: float(0) has no sign.
        zero = np.flatnonzero(V._np_bool(pc.equal(typed, 0.0)))
        if len(zero):  # only zeros can be "-0": look for a dot in those alone
            integer_zero = np.zeros(len(typed), bool)
            integer_zero[zero] = ~V._np_bool(pc.match_substring(translated.take(pa.array(zero)), "."))
            typed = pc.if_else(pa.array(integer_zero), pa.scalar(0.0), typed)
        return typed, V.decimal_csv_text(typed)
    typed = V.cast_dates(raw, translated, V.exotic_mask(translated))
    return typed, pc.cast(typed, pa.string())


def _csv_header(names: list[str], bom: bool) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(names)
    return ("\ufeff" if bom else "").encode() + buf.getvalue().encode("utf-8")


def _csv_lines(texts: list[pa.Array]) -> bytes:
    filled = [pc.fill_null(t, "") for t in texts]
    if len(filled) == 1:  # csv.writer quotes a lone empty field: ""
        line = pc.if_else(pc.equal(filled[0], ""), '""', filled[0])
        line = pc.binary_join_element_wise(line, "", "\n")
    else:
        # The line break joins the last field first: one copy of a column, not of every line.
        last = pc.binary_join_element_wise(filled[-1], "", "\n")
        line = pc.binary_join_element_wise(*filled[:-1], last, ",")
    data, offsets = V.string_buffers(line)
    return data[offsets[0] : offsets[-1]].tobytes()


def _write_outputs(scan, found, types, out_dir, label, formats, csv_bom) -> dict[str, Path]:
    schema = pa.schema([pa.field(name, ARROW_TYPES[kind]) for name, kind in zip(found.names, types)])
    finals = {fmt: out_dir / f"{label}.{fmt}" for fmt in formats}
    temps = {fmt: out_dir / f".{label}.{fmt}.tmp-{os.getpid()}" for fmt in formats}
    csv_fh = parquet = None
    try:
        if "csv" in formats:
            csv_fh = open(temps["csv"], "wb")
            csv_fh.write(_csv_header(found.names, csv_bom))
        if "parquet" in formats:
            parquet = pq.ParquetWriter(str(temps["parquet"]), schema, compression="zstd")
        def prepare(batch: _Batch):
            mask = found.body[batch.row0 : batch.row1]
            record = _read_batch(scan, batch)
            if not mask.all():  # most batches are body rows only: no copy
                record = record.filter(pa.array(mask))
            typed, texts = [], []
            for c, kind in zip(found.columns, types):
                col = record.column(c) if c < record.num_columns else pa.nulls(record.num_rows, pa.string())
                values, text = _cast(col, kind)
                typed.append(values)
                texts.append(text)
            return (
                pa.RecordBatch.from_arrays(typed, schema=schema) if parquet is not None else None,
                _csv_lines(texts) if csv_fh is not None else None,
            )

        def write(result) -> None:
            record, lines = result
            if parquet is not None:
                parquet.write_batch(record)
            if csv_fh is not None:
                csv_fh.write(lines)

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            inflight: deque = deque()
            for batch in scan.batches:
                if not found.body[batch.row0 : batch.row1].any():
                    continue
                inflight.append(pool.submit(prepare, batch))
                while len(inflight) > WORKERS:
                    write(inflight.popleft().result())
            while inflight:
                write(inflight.popleft().result())
        if parquet is not None:
            parquet.close()
            parquet = None
        if csv_fh is not None:
            csv_fh.close()
            csv_fh = None
        for fmt in formats:
            temps[fmt].replace(finals[fmt])
    except BaseException:
        if parquet is not None:
            parquet.close()
        if csv_fh is not None:
            csv_fh.close()
        for temp in temps.values():
            temp.unlink(missing_ok=True)
        raise
    return finals
