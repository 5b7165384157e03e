"""Type and cast whole columns with pyarrow.compute, by the cell rules of ``normalize``.

Every cell reaches this module as text (``canonical``): native spreadsheet
numbers and dates as the text the rules read back to the same value, native
booleans as a marker no source text can hold. A column's type is the first of
boolean, integer, decimal, date that EVERY present value fits; otherwise it
stays text and keeps each value as written (trimmed). In a numeric column,
``NA``-like markers and Excel error values are nulls (``NULL_MARKERS``); any
other non-number keeps the column text.

Evidence is gathered batch by batch (:class:`Evidence`), so a column of any
length is typed in bounded memory; :func:`cast` then turns a batch into typed
values (Parquet) and CSV field text.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .normalize import (
    BOOLEAN, BUDDHIST_ERA_FROM, BUDDHIST_ERA_OFFSET, DATE, DECIMAL, DMY, INTEGER, NUMBER, SHORT_BE_CENTURY,
    TEXT, THAI_DATE, THAI_MONTHS, WS_CLASS, YMD, format_number, render_text, trim,
)

# Native spreadsheet booleans in the text stream: a NUL never survives ``canonical``.
BOOL_TRUE, BOOL_FALSE = "\x00true", "\x00false"
# Nulls in a column whose other values are all numbers (compared case-insensitively).
NULL_MARKERS = ("na", "n/a", "n.a.", "n.a", "#value!", "#div/0!", "#n/a", "#ref!", "#name?", "#num!", "#null!")
_INT_SAFE_LENGTH = 18  # sign, digits and commas: at most 18 characters always fit int64
_MONTH_KEYS = list(THAI_MONTHS)
_MONTH_NUMBERS = np.array([THAI_MONTHS[k] for k in _MONTH_KEYS], dtype=np.int64)
NUMERIC = (INTEGER, DECIMAL)
_PROBE_CELLS = 256  # cells tested first, before the whole batch


def canonical(value: Any) -> str | None:
    """One cell as the text the column rules read; None when blank."""
    if value is None:
        return None
    if isinstance(value, str):
        text = trim(value)
        if "\x00" in text:
            text = text.replace("\x00", "")
        return text or None
    if isinstance(value, bool):
        return BOOL_TRUE if value else BOOL_FALSE
    if isinstance(value, float) and math.isnan(value):
        return None
    return render_text(value) or None


def np_bool(mask: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _np_int(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def string_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(data bytes, value offsets) of a string array, honouring a slice offset."""
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32)[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets


def with_nulls(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """``values`` with the cells where ``mask`` is set made null, sharing the text buffers."""
    valid = ~mask
    if values.null_count:
        valid &= np_bool(values.is_valid())
    if values.offset:
        valid = np.concatenate((np.zeros(values.offset, bool), valid))
    _, offsets, data = values.buffers()
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(len(values), offsets, data, bitmap, offset=values.offset)


def _cells_where(values: pa.Array, lengths: np.ndarray, first_bytes: bytes) -> np.ndarray:
    """Indexes of cells whose byte length is in ``lengths`` (min, max) and whose first byte is one of ``first_bytes``."""
    data, offsets = string_buffers(values)
    size = np.diff(offsets)
    where = np.flatnonzero((size >= lengths[0]) & (size <= lengths[1]))
    if not len(where):
        return where
    first = data[offsets[where]]
    hit = np.zeros(len(where), bool)
    for byte in first_bytes:
        hit |= first == byte
    return where[hit]


def nullish_to_null(values: pa.Array) -> pa.Array:
    """A cell that is exactly ``-`` is null in every column (blank cells already are)."""
    dash = _cells_where(values, (1, 1), b"-")
    if not len(dash):
        return values
    mask = np.zeros(len(values), bool)
    mask[dash] = True
    return with_nulls(values, mask)


def _has_byte(values: pa.Array, byte: int) -> bool:
    data, offsets = string_buffers(values)
    return bool((data[offsets[0] : offsets[-1]] == byte).any())


def translate_thai_digits(values: pa.Array) -> pa.Array:
    """Thai digits ๐-๙ to 0-9, as a byte operation: U+0E50..U+0E59 is E0 B9 90..99 in UTF-8,
    so each becomes its last byte less 0x60 and its first two bytes go."""
    data, offsets = string_buffers(values)
    base = int(offsets[0])
    body = data[base : offsets[-1]]
    if len(body) < 3:
        return values
    hits = np.flatnonzero((body[2:] - np.uint8(0x90) < 10) & (body[1:-1] == 0xB9) & (body[:-2] == 0xE0))
    if not len(hits):
        return values
    text = body.copy()
    text[hits + 2] -= np.uint8(0x60)
    keep = np.ones(len(body), bool)
    keep[hits] = False
    keep[hits + 1] = False
    relative = offsets - base
    shifted = relative - 2 * np.searchsorted(hits, relative)  # a digit never straddles two values
    bitmap = pa.py_buffer(np.packbits(np_bool(values.is_valid()), bitorder="little")) if values.null_count else None
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(shifted.astype(np.int32)), pa.py_buffer(text[keep]),
                                       bitmap)


def _plain_number_text(translated: pa.Array) -> pa.Array:
    if _has_byte(translated, ord(",")):
        translated = pc.replace_substring(translated, ",", "")
    if len(_cells_where(translated, (1, 2**31), b"+")):
        translated = pc.utf8_ltrim(translated, characters="+")
    return translated


_MARKER_BYTES = (2, 16)  # byte lengths a NULL_MARKERS value may have (case folding aside, with room)


def _markers(values: pa.Array) -> np.ndarray:
    """NULL_MARKERS cells: only short cells starting with n, N or # are lowercased and looked up."""
    marker = np.zeros(len(values), bool)
    where = _cells_where(values, _MARKER_BYTES, b"nN#")
    if len(where):
        # The value set is built per call: an Arrow array made at import time would import pandas.
        found = pc.is_in(pc.utf8_lower(values.take(pa.array(where))), value_set=pa.array(NULL_MARKERS, pa.string()))
        marker[where[np_bool(found)]] = True
    return marker


def _plain_integers(values: pa.Array) -> bool:
    """Whether every value is ASCII digits without a leading zero (or is "0"): integers by
    the NUMBER rule, told by two byte tests instead of the regex (the usual integer column).
    False says nothing: the regex decides then. ``values`` holds no nulls."""
    data, offsets = string_buffers(values)
    sizes = np.diff(offsets)
    if not len(sizes) or not sizes.all():
        return False
    if not ((data[offsets[0] : offsets[-1]] - np.uint8(0x30)) < 10).all():
        return False
    return bool(((data[offsets[:-1]] != 0x30) | (sizes == 1)).all())


def _digits_with(values: pa.Array, byte: int):
    """(text, where ``byte`` is, value starts, value ends, sizes) of ``values`` when every value
    is non-empty and made of ASCII digits and ``byte`` only; None otherwise. ``values`` holds
    no nulls."""
    data, offsets = string_buffers(values)
    sizes = np.diff(offsets)
    if not len(sizes) or not sizes.all():
        return None
    body = data[offsets[0] : offsets[-1]]
    at = body == byte
    if not (((body - np.uint8(0x30)) < 10) | at).all():
        return None
    return body, at, offsets[:-1] - offsets[0], offsets[1:] - offsets[0], sizes


def count_per_value(at: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """How many of the bytes flagged in ``at`` each value (``starts[i]:ends[i]`` of the text) holds."""
    before = np.zeros(len(at) + 1, np.int32)
    np.cumsum(at, dtype=np.int32, out=before[1:])
    return before[ends] - before[starts]


def _grouped_integers(values: pa.Array) -> bool:
    """Whether every value is ASCII digits starting 1-9, either plain or in thousands
    groups (``1,542,185``): integers by the NUMBER rule, told by byte tests instead of
    the regex. False says nothing: the regex decides then. ``values`` holds no nulls."""
    found = _digits_with(values, 0x2C)
    if found is None:
        return False
    body, comma, starts, ends, sizes = found
    if not ((body[starts] - np.uint8(0x31)) < 9).all():
        return False
    count = count_per_value(comma, starts, ends)
    grouped = count > 0
    # k commas: 1-3 digits, then k groups of four bytes (",ddd").
    if not ((count[grouped] == sizes[grouped] // 4) & (sizes[grouped] % 4 != 0)).all():
        return False
    # As many commas as groups: each must sit 4, 8, ... bytes before the value's end.
    return all(comma[ends[count >= j] - 4 * j].all() for j in range(1, int(count.max(initial=0)) + 1))


def _plain_decimals(values: pa.Array) -> bool:
    """Whether every value is ASCII digits with at most one point, not last, and no leading
    zero before the point (``12.5``, ``0.25``, ``.5``, ``7``): numbers by the NUMBER rule, told
    by byte tests instead of the regex (the usual decimal column). False says nothing: the
    regex decides then. ``values`` holds no nulls."""
    found = _digits_with(values, 0x2E)
    if found is None:
        return False
    body, point, starts, ends, sizes = found
    if point[ends - 1].any():  # a point must have digits after it
        return False
    if (count_per_value(point, starts, ends) > 1).any():
        return False
    leading_zero = (body[starts] == 0x30) & (sizes > 1)
    return not leading_zero.any() or bool(point[starts[leading_zero] + 1].all())


# --- evidence ------------------------------------------------------------------------------


@dataclass
class Evidence:
    """What the values of one column seen so far fit."""

    present: int = 0  # non-null values
    markers: int = 0  # NULL_MARKERS among them
    possible: set[str] = field(default_factory=lambda: {BOOLEAN, INTEGER, DECIMAL, DATE})
    marker_values: set[str] = field(default_factory=set)

    def add(self, col: pa.Array) -> None:
        values = nullish_to_null(col)
        present = len(values) - values.null_count
        if not present:
            return
        self.present += present
        if not self.possible:
            return  # text already: only the count changes
        if len(values) > _PROBE_CELLS:
            # Every test is "all values fit": the first cells alone usually rule a text
            # column out, before the whole column is copied without its nulls.
            probe = values.slice(0, _PROBE_CELLS)
            if probe.null_count:
                probe = probe.filter(probe.is_valid())
            if len(probe):
                self._test(probe, probe=True)
            if not self.possible:
                return
        if values.null_count:
            values = values.filter(values.is_valid())
        self._test(values)

    def expecting(self, kind: str) -> "Evidence":
        """Empty evidence for further values of a column this evidence types as ``kind``,
        testing ``kind`` alone: the types before it are ruled out already, so merged
        with this evidence it keeps ``kind`` exactly when every further value fits it."""
        return Evidence(possible={kind} if kind != TEXT else set(self.possible))

    def _test(self, values: pa.Array, probe: bool = False) -> None:
        """Drop the types some value does not fit; count the null markers unless ``probe``."""
        if BOOLEAN in self.possible and not pc.all(pc.is_in(values, value_set=pa.array([BOOL_TRUE, BOOL_FALSE]))).as_py():
            self.possible.discard(BOOLEAN)
        if DATE in self.possible and parse_dates(translate_thai_digits(values)).null_count:
            self.possible.discard(DATE)
        if NUMERIC[0] in self.possible or NUMERIC[1] in self.possible:
            marker = _markers(values)
            if marker.any():
                if not probe:
                    self._count_markers(values.filter(pa.array(marker)))
                values = values.filter(pa.array(~marker))
            self._numbers(translate_thai_digits(values))

    def _count_markers(self, found: pa.Array) -> None:
        self.markers += len(found)
        self.marker_values.update(pc.unique(found).to_pylist()[:20])

    def _numbers(self, translated: pa.Array) -> None:
        if not len(translated):
            return
        plain = _plain_integers(translated) or _grouped_integers(translated)
        if not plain and not _plain_decimals(translated) \
                and not np_bool(pc.match_substring_regex(translated, NUMBER)).all():
            self.possible -= set(NUMERIC)
            return
        if INTEGER not in self.possible:
            return
        if not plain and pc.any(pc.match_substring(translated, ".")).as_py():
            self.possible.discard(INTEGER)
            return
        # Byte lengths are character lengths: a value the NUMBER rule reads is ASCII.
        long = np.flatnonzero(np.diff(string_buffers(translated)[1]) > _INT_SAFE_LENGTH)
        for i in long:  # might not fit int64: ask Python
            number = int(translated[int(i)].as_py().replace(",", ""))
            if not -(2**63) <= number < 2**63:
                self.possible -= set(NUMERIC)
                return

    def merge(self, other: "Evidence") -> None:
        """Add what another batch of the same column showed (every test is "all values fit")."""
        self.present += other.present
        self.markers += other.markers
        self.possible &= other.possible
        self.marker_values |= other.marker_values

    def kind(self) -> str:
        if not self.present:
            return TEXT
        numbers = self.present - self.markers
        for kind in (BOOLEAN, INTEGER, DECIMAL, DATE):
            if kind not in self.possible:
                continue
            if kind in NUMERIC and numbers == 0:
                continue
            if kind in (BOOLEAN, DATE) and self.markers:
                continue
            return kind
        return TEXT

    def nulls_read(self) -> list[str]:
        """The markers read as null in this column (empty unless it is numeric)."""
        return sorted(self.marker_values) if self.kind() in NUMERIC else []


# --- casting -------------------------------------------------------------------------------

ARROW_TYPES = {
    INTEGER: pa.int64(), DECIMAL: pa.float64(), DATE: pa.date32(), BOOLEAN: pa.bool_(), TEXT: pa.string(),
}


def cast(col: pa.Array, kind: str) -> tuple[pa.Array, pa.Array]:
    """(typed values for Parquet, CSV field text) of one column of one batch."""
    raw = nullish_to_null(col)
    if kind == TEXT:
        return _cast_text(raw)
    if kind == BOOLEAN:
        typed = pc.equal(raw, BOOL_TRUE)
        return typed, pc.if_else(typed, "true", "false")
    if kind in NUMERIC:
        marker = _markers(raw)
        if marker.any():
            raw = with_nulls(raw, marker)
    translated = translate_thai_digits(raw)
    if kind == DATE:
        return parse_dates(translated, with_text=True)
    return _cast_number(translated, kind)


def fit_and_cast(col: pa.Array, kind: str, seen: Evidence) -> tuple[pa.Array, pa.Array] | None:
    """:func:`cast` of a batch of a column typed ``kind`` by the batches before it, adding the
    batch to ``seen`` (evidence testing ``kind`` alone, :meth:`Evidence.expecting`); None
    when some value does not fit ``kind``. For dates and numbers the test and the cast share
    their work: markers, Thai digits and date parsing are done once, by the same rules."""
    if kind == TEXT and not seen.possible:  # text already: count the values, cast them
        raw = nullish_to_null(col)
        seen.present += len(raw) - raw.null_count
        return _cast_text(raw)
    if kind not in (DATE, *NUMERIC) or seen.possible != {kind}:
        seen.add(col)
        return cast(col, kind) if kind == TEXT or kind in seen.possible else None
    raw = nullish_to_null(col)
    seen.present += len(raw) - raw.null_count
    if kind in NUMERIC:
        marker = _markers(raw)
        if marker.any():
            seen._count_markers(raw.filter(pa.array(marker)))
            raw = with_nulls(raw, marker)
    translated = translate_thai_digits(raw)
    if kind == DATE:
        typed, text = parse_dates(translated, with_text=True)
        if typed.null_count != translated.null_count:  # a value that is not a date
            seen.possible.discard(DATE)
            return None
        return typed, text
    seen._numbers(translated.filter(translated.is_valid()) if translated.null_count else translated)
    return _cast_number(translated, kind) if kind in seen.possible else None


def _cast_text(raw: pa.Array) -> tuple[pa.Array, pa.Array]:
    if len(_cells_where(raw, (1, 2**31), b"\x00")):  # native booleans in a text column
        raw = pc.replace_substring(pc.replace_substring(raw, BOOL_TRUE, "true"), BOOL_FALSE, "false")
    return raw, csv_quote(raw)


def _cast_number(translated: pa.Array, kind: str) -> tuple[pa.Array, pa.Array]:
    plain = _plain_number_text(translated)
    typed = pc.cast(plain, ARROW_TYPES[kind])
    if kind == INTEGER:
        return typed, _number_text(plain, typed, lambda values: pc.cast(values, pa.string()), decimal=False)
    # The rules read "-0" as the integer 0: float(0) has no sign.
    zero = np.flatnonzero(np_bool(pc.equal(typed, 0.0)))
    if len(zero):
        integer_zero = np.zeros(len(typed), bool)
        integer_zero[zero] = ~np_bool(pc.match_substring(translated.take(pa.array(zero)), "."))
        typed = pc.if_else(pa.array(integer_zero), pa.scalar(0.0), typed)
    return typed, _number_text(plain, typed, decimal_csv_text, decimal=True)


def _number_text(plain: pa.Array, typed: pa.Array, render, decimal: bool) -> pa.Array:
    """``render(typed)`` (the CSV text of the numbers), printing only the values whose own
    text differs from it: most numbers are written as the rules print them already."""
    redo = _not_as_printed(plain, decimal)
    if redo is None:
        return render(typed)
    if not len(redo):
        return plain
    mask = np.zeros(len(plain), bool)
    mask[redo] = True
    return pc.replace_with_mask(plain, pa.array(mask), render(typed.take(pa.array(redo))))


_MAX_EXACT_DIGITS = 15  # a decimal text of at most 15 digits is the shortest repr of its float


def _not_as_printed(plain: pa.Array, decimal: bool) -> np.ndarray | None:
    """Indexes of the present values of ``plain`` (the text a number column's values were
    cast from) whose text is not what ``format_number`` prints for them; None when that is
    not cheap to tell. As printed: digits, no leading zero (``0`` and ``0.5`` are fine), an
    optional ``-`` before a digit 1-9, and for decimals at most 15 digits, no point first or
    last and no trailing zero after the point (``2.50`` prints ``2.5``). A text of at most
    15 significant digits is the shortest that reads back to its float (DBL_DIG), so repr
    prints it unchanged; format_number writes an exponent out again."""
    data, offsets = string_buffers(plain)
    base, end = int(offsets[0]), int(offsets[-1])
    body = data[base:end]
    starts, ends = offsets[:-1] - base, offsets[1:] - base
    sizes = ends - starts
    valid = np_bool(plain.is_valid()) if plain.null_count else np.ones(len(plain), bool)
    point = body == 0x2E
    other = ((body - np.uint8(0x30)) >= 10) & ~point if decimal else (body - np.uint8(0x30)) >= 10
    odd = np.flatnonzero(other)
    if len(odd):
        if len(odd) > len(plain) // 8 + 64:
            return None  # not the usual column: the per-value look would cost more than it saves
        owner = np.searchsorted(ends, odd, side="right")
        minus = (body[odd] == 0x2D) & (odd == starts[owner]) & (sizes[owner] > 1)
        minus[minus] = (body[np.minimum(odd[minus] + 1, len(body) - 1)] - np.uint8(0x31)) < 9  # not "-0"
        if (valid[owner] & ~minus).any():
            return None  # a sign or character only the full rules handle (nulls may hold any text)
    if not len(body):
        return np.zeros(0, np.int64)
    present = valid & (sizes > 0)
    top = len(body) - 1  # empty and null values index within the buffer too; their bytes do not count
    signed = present & (body[np.minimum(starts, top)] == 0x2D)
    lead = starts + signed
    lead_byte = body[np.minimum(lead, top)]
    digits = sizes - signed
    if not decimal:
        bad = present & (lead_byte == 0x30) & (digits > 1)
        return np.flatnonzero(bad)
    npoints = count_per_value(point, starts, ends)
    last = body[np.clip(ends - 1, 0, top)]
    bad = (npoints > 1) | (digits - npoints > _MAX_EXACT_DIGITS) | (lead_byte == 0x2E) | (last == 0x2E)
    bad |= (npoints == 1) & (last == 0x30)
    after_lead = body[np.minimum(lead + 1, top)]
    bad |= (lead_byte == 0x30) & (digits > 1) & (after_lead != 0x2E)
    return np.flatnonzero(present & bad)


def decimal_csv_text(floats: pa.Array) -> pa.Array:
    """format_number for floats: Arrow prints the same shortest digits as
    repr() but switches to exponent form elsewhere; those go through Python."""
    text = pc.cast(floats, pa.string())
    has_exp = np_bool(pc.match_substring(text, "e"))
    if not has_exp.any():
        return text
    values = text.to_pylist()
    for i in np.flatnonzero(has_exp):
        values[i] = format_number(floats[int(i)].as_py())
    return pa.array(values, type=pa.string())


# --- dates -------------------------------------------------------------------------------


def parse_dates(translated: pa.Array, with_text: bool = False):
    """date32 of every value the date rules accept, null elsewhere; ``with_text``: and
    their ISO text, (dates, text)."""
    if len(translated) >= 1024:
        # Dates repeat: parse (and print) each distinct text once.
        encoded = pc.dictionary_encode(translated)
        if 2 * len(encoded.dictionary) <= len(translated):
            dates = _parse_dates(encoded.dictionary)
            if not with_text:
                return dates.take(encoded.indices)
            return dates.take(encoded.indices), pc.cast(dates, pa.string()).take(encoded.indices)
    dates = _parse_dates(translated)
    return (dates, pc.cast(dates, pa.string())) if with_text else dates


def _parse_dates(translated: pa.Array) -> pa.Array:
    n = len(translated)
    day, month, year = (np.zeros(n, np.int64) for _ in range(3))
    found = np.zeros(n, bool)
    for pattern, marker in ((DMY, "/"), (YMD, "-"), (THAI_DATE, None)):
        if marker is not None:
            where = np.flatnonzero(np_bool(pc.match_substring(translated, marker)) & ~found)
        else:
            where = np.flatnonzero(~found & np_bool(translated.is_valid()))
        if not len(where):
            continue
        parts = pc.extract_regex(translated.take(pa.array(where)), pattern)
        matched = np_bool(parts.is_valid())
        if not matched.any():
            continue
        where = where[matched]
        parts = parts.filter(pa.array(matched))
        fields = {name: parts.field(name) for name in ("d", "m", "y", "mon") if parts.type.get_field_index(name) >= 0}
        d = _np_int(pc.cast(fields["d"], pa.int64()))
        y = _np_int(pc.cast(fields["y"], pa.int64()))
        ok = np.ones(len(where), bool)
        if "mon" in fields:
            m, known = _thai_month_numbers(fields["mon"])
            ok &= known
            y = np.where(_np_int(pc.utf8_length(fields["y"])) == 2, y + SHORT_BE_CENTURY, y)
        else:
            m = _np_int(pc.cast(fields["m"], pa.int64()))
        rows = where[ok]
        day[rows], month[rows], year[rows] = d[ok], m[ok], y[ok]
        found[rows] = True
    year = np.where(year >= BUDDHIST_ERA_FROM, year - BUDDHIST_ERA_OFFSET, year)
    valid = found & (month >= 1) & (month <= 12) & (year >= 1) & (day >= 1)
    valid &= day <= _days_in_month(year, np.clip(month, 1, 12))
    days = _days_from_civil(np.where(valid, year, 1970), np.where(valid, month, 1), np.where(valid, day, 1))
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=~valid).cast(pa.date32())


def _thai_month_numbers(tokens: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """normalize._thai_month over a column: drop dots and spaces, then an era mark."""
    key = pc.replace_substring_regex(tokens, f"[.{WS_CLASS}]", "")
    key = pc.replace_substring_regex(key, "^(.+)พศ$", "\\1")
    key = pc.replace_substring_regex(key, "^(.+)คศ$", "\\1")
    index = pc.index_in(key, value_set=pa.array(_MONTH_KEYS))
    known = np_bool(index.is_valid())
    return np.where(known, _MONTH_NUMBERS[_np_int(index)], 0), known


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    table = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
    return table[month] + ((month == 2) & leap)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


# --- CSV text ------------------------------------------------------------------------------


def _csv_special_chars() -> bytes:
    """Characters that make csv.writer (QUOTE_MINIMAL, "\\n" line ends) quote a field."""
    special = b""
    for ch in ",\"\n\r":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(["a" + ch + "b", "x"])
        if buf.getvalue().startswith('"'):
            special += ch.encode()
    return special


_CSV_SPECIAL = _csv_special_chars()


def csv_quote(text: pa.Array) -> pa.Array:
    """Python csv.writer's QUOTE_MINIMAL on a string column (nulls stay null)."""
    data, offsets = string_buffers(text)
    data = data[offsets[0] : offsets[-1]]
    hits = np.zeros(len(data), bool)
    for ch in _CSV_SPECIAL:
        hits |= data == ch
    if not hits.any():
        return text
    needs = np.zeros(len(text), bool)
    needs[np.unique(np.searchsorted(offsets, np.flatnonzero(hits) + offsets[0], side="right") - 1)] = True
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(pa.array(needs), quoted, text)


def csv_lines(texts: list[pa.Array]) -> memoryview:
    """CSV lines ("\\n" ends) of a batch's field texts."""
    filled = [pc.fill_null(t, "") for t in texts]
    if len(filled) == 1:  # csv.writer quotes a lone empty field: ""
        line = pc.if_else(pc.equal(filled[0], ""), '""', filled[0])
        line = pc.binary_join_element_wise(line, "", "\n")
    else:
        last = pc.binary_join_element_wise(filled[-1], "", "\n")
        line = pc.binary_join_element_wise(*filled[:-1], last, ",")
    data, offsets = string_buffers(line)
    return memoryview(data[offsets[0] : offsets[-1]])  # over Arrow's buffer, which it keeps alive: no copy


def csv_header(names: list[str], bom: bool) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(names)
    return ("\ufeff" if bom else "").encode() + buf.getvalue().encode("utf-8")


# --- one column at a time (small callers and tests) ----------------------------------------


@dataclass
class Column:
    name: str
    type: str
    values: list[Any]  # int | float | date | bool | str | None, by type


def infer_column(name: str, raw: list[Any]) -> Column:
    """Type a list of native cells by the same rules the engine applies to batches."""
    values = pa.array([canonical(v) for v in raw], pa.string())
    evidence = Evidence()
    evidence.add(values)
    kind = evidence.kind()
    return Column(name, kind, cast(values, kind)[0].to_pylist())
