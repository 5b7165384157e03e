"""Pure functions over cell values and columns: nulls, trimming, numbers, dates,
and per-column type inference.

A column gets a type only when EVERY non-null value fits it; otherwise it stays
text and keeps each value as written (trimmed), so nothing is ever lost to a
guess. Types: integer, decimal, date, boolean, text.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Sequence

INTEGER, DECIMAL, DATE, BOOLEAN, TEXT = "integer", "decimal", "date", "boolean", "text"
TYPES = (INTEGER, DECIMAL, DATE, BOOLEAN, TEXT)

_INT64 = (-(2**63), 2**63 - 1)
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_EDGES = re.compile(rf"^[\s{_ZERO_WIDTH}]+|[\s{_ZERO_WIDTH}]+$")  # \s covers NBSP
_ZW = re.compile(f"[{_ZERO_WIDTH}]")
_RUNS = re.compile(r"\s+")
THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
BUDDHIST_ERA_FROM = 2400  # years at or above this are B.E.
BUDDHIST_ERA_OFFSET = 543

_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^[+-]?\.\d+$")
_LEADING_ZERO = re.compile(r"^[+-]?0\d")  # "03006": a code, not the number 3006
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_THAI_DATE = re.compile(r"^(\d{1,2})\s*([\u0e00-\u0e7f][\u0e00-\u0e7f.\s]*?)\s*(\d{4}|\d{2})$")
# After a Thai month name a two-digit year is the short B.E. form: "15 มกราคม 67" is B.E. 2567.
SHORT_BE_CENTURY = 2500

# Month names keyed without dots and spaces, so "ธ.ค.", "ธ.ค" and "ธค" all match.
_THAI_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("มค", "มกราคม"), ("กพ", "กุมภาพันธ์"), ("มีค", "มีนาคม"), ("เมย", "เมษายน"),
            ("พค", "พฤษภาคม"), ("มิย", "มิถุนายน"), ("กค", "กรกฎาคม"), ("สค", "สิงหาคม"),
            ("กย", "กันยายน"), ("ตค", "ตุลาคม"), ("พย", "พฤศจิกายน"), ("ธค", "ธันวาคม"),
        ],
        start=1,
    )
    for name in names
}
_ERA_MARKS = ("พศ", "คศ")  # "31 ธ.ค. พ.ศ. 2566": the era word sits between month and year


# --- single values ------------------------------------------------------------------


def trim(text: str) -> str:
    """Strip whitespace (NBSP included) and zero-width characters at both ends."""
    return _EDGES.sub("", text)


def is_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        stripped = trim(value)
        return stripped == "" or stripped == "-"
    return False


def clean_header(value: Any) -> str:
    """Header text: one line, NFC, no zero-width characters, single spaces."""
    text = value if isinstance(value, str) else render_text(value)
    text = _ZW.sub("", unicodedata.normalize("NFC", text))
    return _RUNS.sub(" ", text).strip()


def parse_number(value: Any) -> int | float | None:
    """A number from a native value or from text with Thai digits and ``,``
    thousands separators; None when it is not a plain number (or is a code
    with a leading zero, or an integer too large for int64)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if not isinstance(value, str):
        return None
    text = trim(value).translate(THAI_DIGITS)
    if not _NUMBER.match(text) or _LEADING_ZERO.match(text):
        return None
    plain = text.replace(",", "")
    if "." in plain:
        return float(plain)
    number = int(plain)
    return number if _INT64[0] <= number <= _INT64[1] else None


def be_to_ce(year: int) -> int:
    return year - BUDDHIST_ERA_OFFSET if year >= BUDDHIST_ERA_FROM else year


def parse_date(value: Any) -> dt.date | None:
    """A calendar date from a native value or from text (d/m/yyyy day first,
    yyyy-mm-dd, or ``d <Thai month> yyyy`` / ``d <Thai month> yy``), with B.E. years converted."""
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0, 0):
            return None  # a timestamp is not a date; the column stays text
        return _make_date(value.year, value.month, value.day)
    if isinstance(value, dt.date):
        return _make_date(value.year, value.month, value.day)
    if not isinstance(value, str):
        return None
    text = trim(value).translate(THAI_DIGITS)
    if match := _DMY.match(text):
        day, month, year = map(int, match.groups())
        return _make_date(year, month, day)
    if match := _YMD.match(text):
        year, month, day = map(int, match.groups())
        return _make_date(year, month, day)
    if match := _THAI_DATE.match(text):
        month = _thai_month(match.group(2))
        if month:
            year = int(match.group(3))
            return _make_date(year + SHORT_BE_CENTURY if len(match.group(3)) == 2 else year, month,
                              int(match.group(1)))
    return None


def _thai_month(token: str) -> int | None:
    key = re.sub(r"[.\s]", "", token)
    for era in _ERA_MARKS:
        if key.endswith(era) and key != era:
            key = key[: -len(era)]
    return _THAI_MONTHS.get(key)


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(be_to_ce(year), month, day)
    except ValueError:
        return None  # 31/02 or month 13: not a date, so the column stays text


def format_number(value: int | float) -> str:
    """Plain notation, never an exponent, no trailing ".0": 1234.5, 379, 1e20 ->
    100000000000000000000 (the source wrote "379", not "379.0")."""
    if isinstance(value, int):
        return str(value)
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def render_text(value: Any) -> str:
    """A native value as text, for text columns and headers."""
    if isinstance(value, str):
        return trim(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        number = parse_number(value)
        return format_number(number) if number is not None else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return trim(str(value))


# --- columns -----------------------------------------------------------------------------


@dataclass
class Column:
    name: str
    type: str
    values: list[Any]  # int | float | date | bool | str | None, by type


def infer_column(name: str, raw: Sequence[Any]) -> Column:
    """Type a column: the first type that EVERY non-null value fits, else text."""
    present = [v for v in raw if not is_null(v)]
    if present:
        for kind, convert in _CANDIDATES:
            converted = _convert_all(raw, convert)
            if converted is not None and _fits(kind, converted):
                return Column(name, kind, converted)
    return Column(name, TEXT, [None if is_null(v) else render_text(v) for v in raw])


def _convert_all(raw: Iterable[Any], convert) -> list[Any] | None:
    out: list[Any] = []
    for value in raw:
        if is_null(value):
            out.append(None)
            continue
        converted = convert(value)
        if converted is None:
            return None
        out.append(converted)
    return out


def _fits(kind: str, values: list[Any]) -> bool:
    if kind == INTEGER:
        return all(v is None or isinstance(v, int) for v in values)
    return True


def _as_bool(value: Any) -> bool | None:
    # Only native spreadsheet booleans: "yes"/"no" text is left as text.
    return value if isinstance(value, bool) else None


def _as_decimal(value: Any) -> float | None:
    number = parse_number(value)
    return None if number is None else float(number)


_CANDIDATES = (
    (BOOLEAN, _as_bool),
    (INTEGER, parse_number),
    (DECIMAL, _as_decimal),
    (DATE, parse_date),
)


# --- personal data ------------------------------------------------------------------------

_THAI_ID = re.compile(r"^\d{13}$|^\d-\d{4}-\d{5}-\d{2}-\d$")


def is_valid_thai_id(text: str) -> bool:
    """13 digits whose last digit is the checksum of the first twelve."""
    if not _THAI_ID.match(text):
        return False
    digits = [int(c) for c in text.replace("-", "")]
    total = sum(d * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - total % 11) % 10 == digits[12]


def looks_like_thai_ids(raw: Sequence[Any]) -> bool:
    """Every value is a 13-digit number and most carry a valid check digit.

    Random 13-digit numbers pass the checksum one time in ten, so a column of
    mostly valid ones is an ID column, typos included.
    """
    present = [render_text(v).translate(THAI_DIGITS) for v in raw if not is_null(v)]
    if not present or not all(_THAI_ID.match(v) for v in present):
        return False
    valid = sum(is_valid_thai_id(v) for v in present)
    return valid / len(present) >= 0.5
