"""Vectorised (pyarrow.compute) versions of the cell rules in ``normalize.py``.

Used by the streaming path (``stream.py``). Every function here must give the
same answer as its per-value twin in ``normalize.py``; where a vectorised
regular expression could differ from Python's ``re`` (Unicode digits outside
ASCII and Thai, integers near the int64 limit, float text in exponent form),
the value is marked "exotic" and computed by the Python function instead.
``tests/unit/convert/test_convert_stream.py`` checks the twins agree.

Arrays are ``pa.StringArray`` of trimmed cells, null for blank cells.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .normalize import (
    BUDDHIST_ERA_FROM,
    BUDDHIST_ERA_OFFSET,
    SHORT_BE_CENTURY,
    format_number,
    is_valid_thai_id,
    parse_date,
    parse_number,
    _THAI_ID,
    _THAI_MONTHS,
)

# Python's ``\s`` on str (what normalize.trim strips; a test checks the list), plus
# the zero-width characters.
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
TRIM_CHARS = PY_WHITESPACE + "\u200b\u200c\u200d\u2060\ufeff"
_WS_CLASS = "".join(f"\\x{{{ord(c):04x}}}" for c in PY_WHITESPACE)

_THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
_HAS_THAI_DIGIT = "[\\x{0e50}-\\x{0e59}]"
# A decimal digit (Python's \d) that is neither ASCII nor Thai: RE2's [0-9] would miss it.
_EXOTIC_DIGIT = "[^\\P{Nd}0-9\\x{0e50}-\\x{0e59}]"
# normalize._NUMBER without a superfluous leading zero (normalize._LEADING_ZERO), ASCII digits.
_NUMBER = (
    r"^[+-]?(?:(?:[1-9][0-9]{0,2}|0)(?:,[0-9]{3})+|[1-9][0-9]*|0)(?:\.[0-9]+)?$"
    r"|^[+-]?\.[0-9]+$"
)
_INT_SAFE_LENGTH = 18  # "-" or digits and commas: at most 18 characters always fit int64
_DMY = r"^(?P<d>[0-9]{1,2})/(?P<m>[0-9]{1,2})/(?P<y>[0-9]{4})$"
_YMD = r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})$"
_THAI_DATE = (
    rf"^(?P<d>[0-9]{{1,2}})[{_WS_CLASS}]*(?P<mon>[\x{{0e00}}-\x{{0e7f}}][\x{{0e00}}-\x{{0e7f}}.{_WS_CLASS}]*?)"
    rf"[{_WS_CLASS}]*(?P<y>[0-9]{{4}}|[0-9]{{2}})$"
)
_MONTH_KEYS = list(_THAI_MONTHS)
_MONTH_NUMBERS = np.array([_THAI_MONTHS[k] for k in _MONTH_KEYS], dtype=np.int64)
_THAI_ID_RE2 = r"^[0-9]{13}$|^[0-9]-[0-9]{4}-[0-9]{5}-[0-9]{2}-[0-9]$"



# --- cells ------------------------------------------------------------------------


def nullish_to_null(values: pa.Array) -> pa.Array:
    """Trimmed cells -> null where normalize.is_null holds (blank or exactly "-")."""
    return pc.if_else(pc.equal(values, "-"), pa.scalar(None, pa.string()), values)


def _value_bytes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    data, offsets = string_buffers(values)
    return data[offsets[0] : offsets[-1]], offsets


def _values_at(offsets: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Indexes of the values holding the given byte positions (relative to offsets[0])."""
    return np.unique(np.searchsorted(offsets, positions + offsets[0], side="right") - 1)


def _thai_digit_positions(data: np.ndarray) -> np.ndarray:
    """Byte positions of Thai digits (UTF-8 E0 B9 90-99), at their second byte."""
    if len(data) < 3:
        return np.zeros(0, np.int64)
    return np.flatnonzero((data[:-1] == 0xB9) & ((data[1:] - np.uint8(0x90)) < 10))


def translate_thai_digits(values: pa.Array) -> pa.Array:
    """Thai digits ๐-๙ to 0-9 (only the values that hold one are rewritten)."""
    data, offsets = _value_bytes(values)
    positions = _thai_digit_positions(data)
    if not len(positions):
        return values
    where = _values_at(offsets, positions)
    subset = values.take(pa.array(where))
    for i, digit in enumerate(_THAI_DIGITS):
        subset = pc.replace_substring(subset, digit, str(i))
    mask = np.zeros(len(values), bool)
    mask[where] = True
    return pc.replace_with_mask(values, pa.array(mask), subset)


def exotic_mask(values: pa.Array) -> np.ndarray:
    """Values holding a decimal digit that is neither ASCII nor Thai (Python's \\d
    matches those, RE2's [0-9] does not): decided per value in Python."""
    data, _ = _value_bytes(values)
    leads = int(np.count_nonzero(data >= 0xC0))
    if leads:
        thai = int(np.count_nonzero((data[:-1] == 0xE0) & ((data[1:] & np.uint8(0xFE)) == 0xB8)))
        if leads != thai:  # some character outside ASCII and the Thai block
            return _np_bool(pc.match_substring_regex(values, _EXOTIC_DIGIT))
    return np.zeros(len(values), bool)


def string_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(data bytes, value offsets) of a string array, honouring a slice offset."""
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32)[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets


def _np_bool(mask: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


# --- numbers ----------------------------------------------------------------------------


def number_masks(translated: pa.Array, exotic: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(is a number, is an integer, needs Python) per value, ASCII values only;
    ``needs Python`` flags integers that may not fit int64."""
    is_num = _np_bool(pc.match_substring_regex(translated, _NUMBER)) & ~exotic
    dotted = _np_bool(pc.match_substring(translated, "."))
    is_int = is_num & ~dotted
    long = is_int & (_np_int(pc.utf8_length(translated)) > _INT_SAFE_LENGTH)
    return is_num & ~long, is_int & ~long, long


def _np_int(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _plain_number_text(translated: pa.Array) -> pa.Array:
    return pc.utf8_ltrim(pc.replace_substring(translated, ",", ""), characters="+")


def cast_integers(raw: pa.Array, translated: pa.Array, vector_ok: np.ndarray) -> pa.Array:
    """int64 values of an integer column; values not ``vector_ok`` go through
    parse_number. ``raw`` is the column with nullish values already null."""
    chosen = pc.if_else(pa.array(vector_ok), _plain_number_text(translated), pa.scalar(None, pa.string()))
    result = pc.cast(chosen, pa.int64())
    return _patch(result, raw, vector_ok, parse_number, pa.int64())


def cast_decimals(raw: pa.Array, translated: pa.Array, vector_ok: np.ndarray) -> pa.Array:
    chosen = pc.if_else(pa.array(vector_ok), _plain_number_text(translated), pa.scalar(None, pa.string()))
    result = pc.cast(chosen, pa.float64())
    return _patch(result, raw, vector_ok, lambda v: float(parse_number(v)), pa.float64())


def _patch(result: pa.Array, raw: pa.Array, vector_ok: np.ndarray, convert, type_: pa.DataType) -> pa.Array:
    """Fill values the vectorised cast skipped (present but not ``vector_ok``) in Python."""
    todo = np.flatnonzero(_np_bool(raw.is_valid()) & ~vector_ok)
    if not len(todo):
        return result
    values = result.to_pylist()
    for i in todo:
        values[i] = convert(raw[int(i)].as_py())
    return pa.array(values, type=type_)


def decimal_csv_text(floats: pa.Array) -> pa.Array:
    """normalize.format_number for floats: Arrow prints the same shortest digits
    as repr() but switches to exponent form at other thresholds; values it
    writes with an exponent are formatted in Python."""
    text = pc.cast(floats, pa.string())
    has_exp = _np_bool(pc.match_substring(text, "e"))
    if not has_exp.any():
        return text
    values = text.to_pylist()
    for i in np.flatnonzero(has_exp):
        values[i] = format_number(floats[int(i)].as_py())
    return pa.array(values, type=pa.string())


# --- dates -------------------------------------------------------------------------------


def parse_dates(translated: pa.Array, exotic: np.ndarray | None = None, distinct: bool = True) -> pa.Array:
    """date32 of every value normalize.parse_date accepts (vectorised part only:
    exotic values come out null; see ``cast_dates``). ``distinct``: try parsing
    each distinct text once (pass False when the values are distinct already)."""
    if distinct and len(translated) >= 1024:
        # Dates repeat: parse each distinct text once (a value's date depends on its text alone).
        encoded = pc.dictionary_encode(translated)
        if 2 * len(encoded.dictionary) <= len(translated):
            result = _parse_dates(encoded.dictionary).take(encoded.indices)
            if exotic is not None and exotic.any():
                result = pc.if_else(pa.array(exotic), pa.scalar(None, pa.date32()), result)
            return result
    return _parse_dates(translated, exotic)


def _parse_dates(translated: pa.Array, exotic: np.ndarray | None = None) -> pa.Array:
    n = len(translated)
    day = np.zeros(n, np.int64)
    month = np.zeros(n, np.int64)
    year = np.zeros(n, np.int64)
    found = np.zeros(n, bool)
    candidates = [(_DMY, "/"), (_YMD, "-"), (_THAI_DATE, None)]
    for pattern, marker in candidates:
        if marker is not None:
            where = np.flatnonzero(_np_bool(pc.match_substring(translated, marker)) & ~found)
        else:
            where = np.flatnonzero(~found & _np_bool(translated.is_valid()))
        if not len(where):
            continue
        subset = translated.take(pa.array(where))
        parts = pc.extract_regex(subset, pattern)
        matched = _np_bool(parts.is_valid())
        if not matched.any():
            continue
        where = where[matched]
        parts = parts.filter(pa.array(matched))  # child fields of unmatched rows are not null
        fields = {name: parts.field(name) for name in ("d", "m", "y", "mon") if parts.type.get_field_index(name) >= 0}
        d = _np_int(pc.cast(fields["d"], pa.int64()))
        y = _np_int(pc.cast(fields["y"], pa.int64()))
        ok = np.ones(len(where), bool)
        if "mon" in fields:
            m, known = _thai_month_numbers(fields["mon"])
            ok &= known
            short = _np_int(pc.utf8_length(fields["y"])) == 2  # "15 ม.ค. 67": short B.E. year
            y = np.where(short, y + SHORT_BE_CENTURY, y)
        else:
            m = _np_int(pc.cast(fields["m"], pa.int64()))
        rows = where[ok]
        day[rows], month[rows], year[rows] = d[ok], m[ok], y[ok]
        found[rows] = True
    if exotic is not None:
        found &= ~exotic
    year = np.where(year >= BUDDHIST_ERA_FROM, year - BUDDHIST_ERA_OFFSET, year)
    valid = found & (month >= 1) & (month <= 12) & (year >= 1) & (day >= 1)
    valid &= day <= _days_in_month(year, np.clip(month, 1, 12))
    days = _days_from_civil(np.where(valid, year, 1970), np.where(valid, month, 1), np.where(valid, day, 1))
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=~valid).cast(pa.date32())


def _thai_month_numbers(tokens: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """normalize._thai_month, vectorised: drop dots and spaces, then an era mark."""
    key = pc.replace_substring_regex(tokens, f"[.{_WS_CLASS}]", "")
    key = pc.replace_substring_regex(key, "^(.+)พศ$", "\\1")
    key = pc.replace_substring_regex(key, "^(.+)คศ$", "\\1")
    index = pc.index_in(key, value_set=pa.array(_MONTH_KEYS))
    known = _np_bool(index.is_valid())
    idx = _np_int(index)
    return np.where(known, _MONTH_NUMBERS[idx], 0), known


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


def cast_dates(raw: pa.Array, translated: pa.Array, exotic: np.ndarray) -> pa.Array:
    result = parse_dates(translated, exotic)
    vector_ok = ~exotic
    return _patch(result, raw, vector_ok, parse_date, pa.date32())


# --- Thai national IDs ------------------------------------------------------------------


def id_counts(translated: pa.Array, exotic: np.ndarray, weights: np.ndarray | None = None) -> tuple[int, int]:
    """(values shaped like a Thai ID, those with a valid check digit), ASCII values;
    each value counted ``weights[i]`` times when given (distinct values)."""
    shaped = _np_bool(pc.match_substring_regex(translated, _THAI_ID_RE2)) & ~exotic
    where = np.flatnonzero(shaped)
    if not len(where):
        return 0, 0
    digits = pc.replace_substring(translated.take(pa.array(where)), "-", "")
    data, offsets = string_buffers(digits)
    # Every value is 13 ASCII digits now: the bytes form a (k, 13) matrix.
    matrix = data[offsets[0] : offsets[-1]].reshape(-1, 13).astype(np.int64) - 48
    total = (matrix[:, :12] * np.arange(13, 1, -1)).sum(axis=1)
    valid = (11 - total % 11) % 10 == matrix[:, 12]
    if weights is None:
        return len(where), int(valid.sum())
    w = weights[where]
    return int(w.sum()), int(w[valid].sum())


def python_evidence(value: str) -> tuple[bool, bool, bool, bool, bool]:
    """(number, integer, date, id-shaped, valid id) of one value, by normalize itself."""
    number = parse_number(value)
    text = value.translate(str.maketrans(_THAI_DIGITS, "0123456789"))
    shaped = bool(_THAI_ID.match(text))
    return (
        number is not None,
        isinstance(number, int),
        parse_date(value) is not None,
        shaped,
        shaped and is_valid_thai_id(text),
    )


# --- CSV text ------------------------------------------------------------------------------


def _csv_special_chars() -> str:
    """Characters that make Python's csv.writer (QUOTE_MINIMAL, lineterminator
    "\\n") quote a field, probed from the running Python."""
    import csv
    import io

    special = ""
    for ch in ",\"\n\r":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(["a" + ch + "b", "x"])
        if buf.getvalue().startswith('"'):
            special += ch
    return special


_CSV_SPECIAL = _csv_special_chars()


def csv_quote(text: pa.Array) -> pa.Array:
    """Python csv.writer's QUOTE_MINIMAL on a string column (nulls stay null)."""
    data, offsets = _value_bytes(text)
    hits = np.zeros(len(data), bool)
    for ch in _CSV_SPECIAL:
        hits |= data == ord(ch)
    if not hits.any():
        return text
    needs = np.zeros(len(text), bool)
    needs[_values_at(offsets, np.flatnonzero(hits))] = True
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(pa.array(needs), quoted, text)
