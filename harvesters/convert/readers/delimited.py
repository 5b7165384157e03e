"""CSV, TSV, PSV and semicolon files: decode, sniff the dialect, split rows, in blocks.

The dialect is sniffed from the content (the extension only breaks ties):
every candidate delimiter parses a sample, and the one giving the most rows
with the same number (> 1) of fields wins. Line ends CR, LF and CRLF all work.

The text streams in chunks of ``CHUNK_BYTES`` that end after a line break,
split in worker threads, vectorised with pyarrow: UTF-8 checked, then split; cp874
split as bytes, then its cells decoded column by column through iconv (see
``_Splitter`` and transcode.py). Lines whose quoting is simple are split by
byte positions; a chunk with any other line goes through ``csv.reader``.
The encoding is judged on the head and verified on every chunk: a later
chunk that is not UTF-8 starts the stream over as cp874 (or whole), and a
file that is not Thai after all is read whole. Files the chunks cannot
handle (UTF-16/32, UTF-8 holding C1 control characters, other code pages,
whose detection needs all the text) are decoded whole, then split.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import RefusedFile
from .. import columns as C
from .. import decode as D
from ..normalize import TRIM_CHARS
from ..options import Limits
from ..sniff import Sniffed
from ..transcode import cp874_strings_to_utf8
from .base import ArrowBlock, RawGrid, ReadResult, Reread

DELIMITERS = (",", "\t", ";", "|")
FORMAT_BY_DELIMITER = {",": "csv", "\t": "tsv", ";": "ssv", "|": "psv"}
_HINT_BY_EXTENSION = {"csv": ",", "tsv": "\t", "tab": "\t", "psv": "|", "ssv": ";"}
_SAMPLE_CHARS = 64 * 1024
CHUNK_BYTES = 4 * 2**20
FIRST_CHUNK_BYTES = 2**20
WORKERS = 2
_SENTINEL = "\x00end-of-batch\x00\n"  # NULs are removed from the text, so never data
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")
_FFFD = "\ufffd".encode()

csv.field_size_limit(2**31 - 1)  # agencies put whole paragraphs in one cell; max_line_bytes bounds it


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    limits = options.limits if options is not None else Limits()
    stream = _TextStream(Path(path), limits)
    return stream.result


class _Whole(Exception):
    """This text must be decoded whole (the reason says why)."""


class _TextStream:
    def __init__(self, path: Path, limits: Limits) -> None:
        self.path, self.limits = path, limits
        self.result = ReadResult(format="csv", grids=[RawGrid(blocks=self.blocks, reread_cheaply=True)])
        try:
            self.encoding, self.skip = _choose_encoding(path)
            self._dialect(_sniff_sample(path, self.encoding, self.skip))
        except _Whole:
            self.encoding = None
            self._text = self._whole_text()
            self._dialect(self._text[:_SAMPLE_CHARS])

    def _dialect(self, sample: str) -> None:
        hint = _HINT_BY_EXTENSION.get(self.path.suffix.lower().lstrip("."))
        self.quote = sniff_quote(sample)
        self.delimiter = sniff_delimiter(sample, self.quote, hint)
        self.result.format = FORMAT_BY_DELIMITER[self.delimiter]
        self.result.delimiter = self.delimiter
        self.result.encoding = self.encoding

    _text: str | None = None

    def _whole_text(self) -> str:
        decoded = D.decode_bytes(self.path.read_bytes())
        self.result.encoding = decoded.encoding
        self.result.warnings = list(decoded.warnings)
        return decoded.text.replace("\x00", "")

    # -- blocks ------------------------------------------------------------------------

    def blocks(self) -> Iterator[ArrowBlock | list[list[str]]]:
        if self.encoding is None:
            yield from self._whole_blocks()
            return
        try:
            yield from self._chunk_blocks()
        except _NotUtf8:
            if self.encoding == "utf-8" and D.looks_thai_file(self.path):
                self.encoding = self.result.encoding = "cp874"
            else:
                self.encoding = None
            raise Reread() from None
        except _Whole:
            self.encoding = None
            raise Reread() from None

    def _whole_blocks(self) -> Iterator[list[list[str]]]:
        text, self._text = self._text or self._whole_text(), None
        rows = parse(text, self.delimiter, self.quote)
        del text
        for start in range(0, len(rows), 50_000):
            yield rows[start : start + 50_000]

    def _chunk_blocks(self) -> Iterator[ArrowBlock]:
        encoding = self.encoding
        splitter = _Splitter(self.delimiter, self.quote, self.limits.max_line_bytes, encoding)
        thai = [0, 0, 0]
        fffd = 0
        pending = b""
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="convert-read") as pool:
            inflight: deque = deque()

            def handle(result):
                nonlocal pending, fffd
                data, last, counts, removed, carried, rows = result
                for i, v in enumerate(counts):
                    thai[i] += v
                fffd += removed
                if pending:  # the worker split without the record carried from before: split again
                    rows, pending = splitter.split_from(data, last, pending)
                    return _columns(rows, self.limits.max_columns) if rows is not None and len(rows) else None
                pending = carried
                return rows

            try:
                for chunk, last in _raw_chunks(self.path, self.skip, self.limits.max_line_bytes):
                    inflight.append(pool.submit(_chunk_work, chunk, last, encoding, splitter,
                                                self.limits.max_columns))
                    while len(inflight) >= WORKERS:
                        block = handle(inflight.popleft().result())
                        if block is not None:
                            yield block
                while inflight:
                    block = handle(inflight.popleft().result())
                    if block is not None:
                        yield block
            finally:
                for future in inflight:
                    future.cancel()
        if encoding == "cp874" and not D.thai_verdict(tuple(thai)):
            raise _Whole("the whole file does not read as Thai cp874")
        if fffd:
            self.result.warnings.append(f"{fffd} U+FFFD replacement characters already in the source were removed")


class _NotUtf8(Exception):
    pass


def _choose_encoding(path: Path) -> tuple[str, int]:
    """(encoding, bytes to skip) judged on the head; verified chunk by chunk later."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
        more = bool(fh.read(1))
    for bom, name in D._BOMS:
        if head.startswith(bom):
            if name == "utf-8-sig":
                return "utf-8-sig", 3 + (3 if head[3:6] == bom else 0)  # a second BOM goes too
            raise _Whole(f"{name} text")
    if D._bomless_utf16(head):
        raise _Whole("UTF-16 text without BOM")
    cut = head[: head.rfind(b"\n") + 1] if more else head
    try:
        cut.decode("utf-8")
        return "utf-8", 0
    except UnicodeDecodeError:
        pass
    if D.looks_thai(cut):
        return "cp874", 0
    raise _Whole("legacy code page other than cp874")


def _sniff_sample(path: Path, encoding: str, skip: int) -> str:
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
        raise _Whole("too little text in the first MiB to sniff the dialect")
    return text[:_SAMPLE_CHARS]


def _raw_chunks(path: Path, skip: int, max_line: int) -> Iterator[tuple[bytes, bool]]:
    """(bytes, is the last chunk): chunks end after a line break, so CR, LF and
    CRLF are never split; the last one ends where the file does."""
    size = FIRST_CHUNK_BYTES
    with open(path, "rb") as fh:
        fh.seek(skip)
        carry = b""
        while True:
            block = fh.read(size)
            data = carry + block
            if len(block) < size:
                yield data, True
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                cut = data.rfind(b"\r", 0, len(data) - 1)
            if cut < 0:
                if len(data) > max_line:
                    raise RefusedFile("size", f"limit max_line_bytes: a line is longer than {max_line} bytes")
                carry = data
                continue
            carry = data[cut + 1 :]
            yield data[: cut + 1], False
            size = CHUNK_BYTES


def _check_chunk(chunk: bytes, encoding: str) -> tuple[bytes, tuple[int, int, int], int]:
    """(the text without NULs, Thai byte counts of a cp874 chunk, U+FFFD removed): UTF-8
    checked, or cp874 as it is (the splitter decodes its cells)."""
    fffd = 0
    counts = (0, 0, 0)
    data = chunk
    if encoding == "cp874":
        counts = D.thai_byte_counts(chunk)
    else:
        if _C1_UTF8.search(data):
            raise _Whole("C1 control characters need the whole text to repair")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise _NotUtf8() from None
        if _FFFD in data:
            fffd = data.count(_FFFD)
            data = data.replace(_FFFD, b"")
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    return data, counts, fffd


def _chunk_work(chunk: bytes, last: bool, encoding: str, splitter: "_Splitter", max_columns: int):
    """Check and split one chunk (runs in a worker), assuming no record is
    carried from the chunk before; when one is, the caller splits ``data`` again."""
    data, counts, fffd = _check_chunk(chunk, encoding)
    rows, carried = splitter.split_from(data, last, b"")
    return data, last, counts, fffd, carried, _columns(rows, max_columns) if rows is not None and len(rows) else None


@dataclass
class _Rows:
    """A chunk's rows: row r's cells are ``values[stride * k]`` for k in ``offsets[r]:offsets[r + 1]``
    (trimmed, null when blank); ``cp874``: their bytes are still cp874."""

    values: pa.Array
    offsets: np.ndarray
    stride: int
    cp874: bool

    def __len__(self) -> int:
        return len(self.offsets) - 1


def _cells(data: bytes, a: np.ndarray, seps: np.ndarray, row_offsets: np.ndarray, quote: str, wide: bool,
           trim_table: np.ndarray | None = None) -> _Rows:
    """The cells of ``data`` ended by the separators at ``seps`` (delimiters and line breaks),
    trimmed, without copying the text: cell k is value 2k of a string array over ``data``
    whose odd values are what lies between cells (a separator, and the spaces and quotes
    trimmed off). Trimming moves a cell's bounds; ``quote``: quotes are trimmed too; ``wide``:
    the text may hold a trim character above ASCII (see _may_hold_wide_trim); ``trim_table``:
    the bytes to trim, when ``data`` is cp874 (its cells are then binary, decoded later)."""
    n = len(seps)
    starts = np.empty(n, np.int64)
    starts[0] = 0
    starts[1:] = seps[:-1] + 1
    ends = seps.astype(np.int64)
    trim = _TRIM_TABLE if trim_table is None else trim_table
    if quote:
        trim = trim | (np.arange(256) == ord(quote))
    step = np.flatnonzero(trim[a[starts]] & (starts < ends))
    while len(step):
        starts[step] += 1
        step = step[(starts[step] < ends[step]) & trim[a[np.minimum(starts[step], len(a) - 1)]]]
    step = np.flatnonzero(trim[a[ends - 1]] & (ends > starts))
    while len(step):
        ends[step] -= 1
        step = step[(ends[step] > starts[step]) & trim[a[ends[step] - 1]]]
    bounds = np.empty(2 * n + 1, np.int32)
    bounds[0 : 2 * n : 2] = starts
    bounds[1 : 2 * n : 2] = ends
    bounds[2 * n] = len(a)
    blank = starts == ends
    bitmap = None
    if blank.any():
        valid = np.ones(2 * n, bool)
        valid[0::2] = ~blank
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    values = pa.Array.from_buffers(pa.string() if trim_table is None else pa.binary(), 2 * n,
                                   [bitmap, pa.py_buffer(bounds), pa.py_buffer(data)])
    if wide:  # NBSP, ideographic spaces...: the Unicode trim, on a copy
        cells = _trim(values.take(_int_array(np.arange(0, 2 * n, 2))), quote)
        return _Rows(_blank_as_null(cells), row_offsets, 1, False)
    return _Rows(values, row_offsets, 2, trim_table is not None)


def _blank_as_null(values: pa.StringArray) -> pa.StringArray:
    empty = np.diff(C.string_buffers(values)[1]) == 0
    return C.with_nulls(values, empty) if empty.any() else values


def _columns(rows: _Rows, max_columns: int) -> ArrowBlock:
    """Trimmed cells per column (null = blank or missing)."""
    offsets = rows.offsets
    nfields = np.diff(offsets)
    if len(nfields) and int(nfields.max()) > max_columns:
        raise RefusedFile("size", f"limit max_columns: a row holds {int(nfields.max())} fields (limit {max_columns})")
    values, stride = rows.values, rows.stride
    ncols = int(nfields.max()) if len(nfields) else 0
    cells = []
    starts = offsets[:-1]
    if len(nfields) and int(nfields.min()) == ncols:  # every row has every field: no gaps to fill
        for i in range(ncols):
            cells.append(values.take(_int_array((starts + i) * stride)))
    else:
        for i in range(ncols):
            has = nfields > i
            cells.append(values.take(pa.array(np.where(has, (starts + i) * stride, 0), mask=~has)))
    if rows.cp874:
        try:
            cells = [cp874_strings_to_utf8(col) for col in cells]
        except UnicodeDecodeError:
            raise _Whole("not decodable as cp874") from None
    # Trailing columns that are blank everywhere in this block are not columns of it.
    while cells and cells[-1].null_count == len(nfields):
        cells.pop()
    return ArrowBlock(cells, len(nfields))


_ASCII_TRIM = "".join(ch for ch in TRIM_CHARS if ord(ch) < 0x80)


def _in_cp874(ch: str) -> bool:
    try:
        ch.encode("cp874")
        return True
    except UnicodeEncodeError:
        return False


_TRIM_TABLE = np.zeros(256, bool)  # by byte: an ASCII trim character
_TRIM_TABLE[[ord(ch) for ch in _ASCII_TRIM]] = True
_WIDE_TRIM = [ch.encode() for ch in TRIM_CHARS if ord(ch) >= 0x80]  # two or three UTF-8 bytes each
_WIDE_LEADS = sorted({e[0] for e in _WIDE_TRIM})
_CP874_WIDE_TRIM = [ch.encode("cp874") for ch in TRIM_CHARS if ord(ch) >= 0x80 and _in_cp874(ch)]
_CP874_TRIM_TABLE = _TRIM_TABLE.copy()  # one byte each in cp874
_CP874_TRIM_TABLE[[ch[0] for ch in _CP874_WIDE_TRIM]] = True
_WIDE_CODES = np.array(sorted({int.from_bytes(e, "big") for e in _WIDE_TRIM}), np.int64)


def _may_hold_wide_trim(text: bytes) -> bool:
    """Whether UTF-8 ``text`` may hold a non-ASCII trim character, so the usual chunk
    skips the per-value edge test: one memchr per lead byte (Thai letters lead with E0).
    E2 also leads the dashes and curly quotes Thai text is full of: there the two bytes
    after each E2 decide."""
    for lead in _WIDE_LEADS:
        if bytes([lead]) not in text:
            continue
        if lead != 0xE2:
            return True
        a = np.frombuffer(text, np.uint8)
        at = np.flatnonzero(a[:-2] == 0xE2)
        codes = (0xE2 << 16) | (a[at + 1].astype(np.int64) << 8) | a[at + 2]
        if np.isin(codes, _WIDE_CODES).any():
            return True
    return False


def _trim(values: pa.StringArray, extra: str, maybe_wide: bool = True) -> pa.StringArray:
    """``pc.utf8_trim(values, TRIM_CHARS + extra)``, faster: trimming the ASCII characters
    first is a byte operation; the Unicode trim runs only when a value still starts or
    ends with one of the other characters (NBSP, ideographic space, ...). ``maybe_wide``
    False: the caller knows the text holds none of them."""
    trimmed = pc.ascii_trim(values, characters=_ASCII_TRIM + extra)
    if maybe_wide and _wide_edge(trimmed):
        trimmed = pc.utf8_trim(trimmed, characters=TRIM_CHARS + extra)
    return trimmed


def _wide_edge(values: pa.StringArray) -> bool:
    """Whether a value starts or ends with a non-ASCII trim character."""
    data, offsets = C.string_buffers(values)
    if not len(data):
        return False
    starts, ends = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
    size = ends - starts
    padded = np.concatenate((np.zeros(2, np.uint8), data, np.zeros(2, np.uint8)))  # index -2..len+1 safely

    def code(first: np.ndarray, count: int) -> np.ndarray:
        out = np.zeros(len(first), np.int64)
        for k in range(count):
            out = (out << 8) | padded[first + 2 + k]
        return out

    first = padded[starts + 2]
    lead = np.flatnonzero((size >= 2) & np.isin(first, _WIDE_LEADS))
    if len(lead) and (np.isin(code(starts[lead], 2), _WIDE_CODES).any()
                      or np.isin(np.where(size[lead] >= 3, code(starts[lead], 3), -1), _WIDE_CODES).any()):
        return True
    tail = np.flatnonzero((size >= 2) & (padded[ends + 1] >= 0x80))
    if not len(tail):
        return False
    return bool(np.isin(code(ends[tail] - 2, 2), _WIDE_CODES).any()
                or np.isin(np.where(size[tail] >= 3, code(ends[tail] - 3, 3), -1), _WIDE_CODES).any())


def _int_array(values: np.ndarray) -> pa.Array:
    """int64 numpy values as Arrow, without pa.array (which imports pandas to ask whether it is a Series)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _string_array(buffer: pa.Buffer, offsets: np.ndarray) -> pa.StringArray:
    offsets = pa.py_buffer(np.ascontiguousarray(offsets, dtype=np.int32))
    return pa.StringArray.from_buffers(len(offsets) // 4 - 1, offsets, buffer)


class _Splitter:
    """Rows out of text chunks, as ``csv.reader(..., skipinitialspace=True)`` splits them.

    A UTF-8 chunk is split as it is. A cp874 chunk is split before it is decoded
    (``raw``): delimiters, quotes and line breaks are the same ASCII bytes in both, and
    cp874 has one byte per character, so there is about half as much text to split; the
    cells are decoded column by column afterwards (``transcode.cp874_strings_to_utf8``),
    and a column of numbers or codes, ASCII throughout, needs no decoding at all."""

    def __init__(self, delimiter: str, quote: str, max_line: int, encoding: str = "utf-8") -> None:
        self.delimiter, self.quote, self.max_line = delimiter, quote, max_line
        self.raw = encoding == "cp874"
        d, q = (f"\\x{{{ord(ch):02x}}}" for ch in (delimiter, quote))
        fld = f"(?: *{q}[^{q}]*{q}|[^{q}{d}\\r\\n]*)"
        self.simple = f"^{fld}(?:{d}{fld})*(?:\\r\\n|\\r|\\n)$"

    def split_from(self, data: bytes, last: bool, pending: bytes) -> tuple[_Rows | None, bytes]:
        """(rows, the text of a record the chunk ends inside) of ``pending + data``. Stateless."""
        if pending:
            data = pending + data
        original = data
        if last and data and not data.endswith((b"\n", b"\r")):
            data += b"\n"
        if not data:
            return None, b""
        a = np.frombuffer(data, np.uint8)
        q, d = ord(self.quote), ord(self.delimiter)
        quoted = bytes([q]) in data
        has_cr = b"\r" in data
        mask = (a == 10) | (a == d)
        if has_cr:
            mask |= a == 13
        if quoted:
            mask |= a == q
        pos = np.flatnonzero(mask)
        del mask
        kind = a[pos]
        is_break = kind == 10  # LF, or CR not followed by LF
        if has_cr:
            cr = np.flatnonzero(kind == 13)
            is_break[cr[a[np.minimum(pos[cr] + 1, len(a) - 1)] != 10]] = True
        is_sep = is_break | (kind == d)
        if quoted:
            is_quote = kind == q
            if not self._surely_simple(a, pos[is_break], pos[is_quote], d):
                # The regex reads UTF-8: cp874 text is shown to it with its high bytes as "x".
                text = pa.py_buffer(np.where(a >= 0x80, np.uint8(0x78), a) if self.raw else data)
                lines = _string_array(text, np.concatenate(([0], pos[is_break] + 1)))
                if not pc.all(pc.match_substring_regex(lines, self.simple)).as_py():
                    return self._slow(original, last)
            inside = (np.cumsum(is_quote, dtype=np.int64) & 1).astype(bool)
            is_sep &= is_break | ~inside
        breaks = pos[is_break]
        if len(breaks) and int(np.diff(breaks, prepend=-1).max()) > self.max_line:
            raise RefusedFile("size", f"limit max_line_bytes: a line is longer than {self.max_line} bytes")
        seps = pos[is_sep]
        row_ends = np.flatnonzero(is_break[is_sep])
        row_offsets = np.concatenate(([0], row_ends + 1))
        quote = self.quote if quoted else ""
        if self.raw:  # NBSP is one byte in cp874, the only trim character above ASCII it has
            return _cells(data, a, seps, row_offsets, quote, False, _CP874_TRIM_TABLE), b""
        return _cells(data, a, seps, row_offsets, quote, _may_hold_wide_trim(data)), b""

    @staticmethod
    def _surely_simple(a: np.ndarray, breaks: np.ndarray, quotes: np.ndarray, d: int) -> bool:
        """A sufficient condition (numpy only) for every line up to the last break
        having simple quoting: quotes pair within a line, opening after a
        delimiter or line start, closing before a delimiter or line break."""
        if not len(breaks):
            return False
        quotes = quotes[quotes < breaks[-1]]
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
        after = a[closes + 1]
        ok_close = (after == d) | (after == 10) | (after == 13)
        return bool(ok_open.all() and ok_close.all())

    def _slow(self, data: bytes, last: bool) -> tuple[_Rows | None, bytes]:
        encoding = "cp874" if self.raw else "utf-8"
        try:
            lines = io.StringIO(data.decode(encoding), newline="").readlines()
        except UnicodeDecodeError:
            raise _Whole(f"not decodable as {encoding}") from None
        feed = iter(lines + ([] if last else [_SENTINEL]))
        reader = csv.reader(feed, delimiter=self.delimiter, quotechar=self.quote, skipinitialspace=True)
        rows: list[list[str]] = []
        consumed = 0
        pending = b""
        for row in reader:
            if not last and reader.line_num > len(lines):
                if consumed < len(lines):  # the chunk ends inside a quoted field
                    pending = "".join(lines[consumed:]).encode(encoding)
                    if len(pending) > self.max_line:
                        raise RefusedFile("size", f"limit max_line_bytes: a record is longer than {self.max_line} bytes")
                break
            rows.append(row)
            consumed = reader.line_num
        if not rows:
            return None, pending
        rows = pa.array(rows, type=pa.list_(pa.string()))
        values = pc.utf8_trim(rows.values, characters=TRIM_CHARS)
        return _Rows(_blank_as_null(values), rows.offsets.to_numpy().astype(np.int64), 1, False), pending


# --- dialect -------------------------------------------------------------------------------


def parse(text: str, delimiter: str, quote: str = '"') -> list[list[str]]:
    # skipinitialspace: `a, "1,000"` must keep the quoted comma inside the field.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote, skipinitialspace=True)
    return [row for row in reader]


def sniff_delimiter(sample: str, quote: str = '"', hint: str | None = None) -> str:
    scores = {d: _consistency(sample, d, quote) for d in DELIMITERS}
    best = max(scores.values())
    if best == 0:
        return hint or ","
    tied = [d for d in DELIMITERS if scores[d] >= best - 1e-9]  # ties: the extension, then the usual order
    return hint if hint in tied else tied[0]


def _consistency(sample: str, delimiter: str, quote: str) -> float:
    """Share of non-blank sample rows that have the most common field count,
    or 0 when that count is 1 (the delimiter does not split anything)."""
    rows = parse(sample, delimiter, quote)
    if len(rows) > 1 and len(sample) >= _SAMPLE_CHARS:
        rows = rows[:-1]  # the sample may cut the last row in half
    counts = [len(r) for r in rows if any(c.strip() for c in r)]
    if not counts:
        return 0.0
    width, freq = Counter(counts).most_common(1)[0]
    if width < 2:
        wide = [c for c in counts if c >= 2]  # the most common row may be a one-cell note
        if not wide:
            return 0.0
        width, freq = Counter(wide).most_common(1)[0]
    return freq / len(counts)


def sniff_quote(sample: str) -> str:
    """Double quotes unless single quotes clearly delimit fields instead."""
    # A whole quoted field: the quote opens after a delimiter and closes before
    # one (a leading apostrophe, Excel's text marker, opens nothing).
    field = r"(?:^|[,;\t|])[ ]*{q}[^{q}\n]*{q}[ ]*(?=[,;\t|]|$)"
    doubles = len(re.findall(field.format(q='"'), sample, re.M))
    singles = len(re.findall(field.format(q="'"), sample, re.M))
    return "'" if singles > 2 * doubles and singles >= 2 else '"'
