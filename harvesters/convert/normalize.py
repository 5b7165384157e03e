"""The cell rules, written once: what trims, what is null, what is a number
or a date. The patterns below are plain RE2-compatible strings: ``columns.py``
applies them to whole Arrow columns (pyarrow.compute), the scalar functions
here to single cells (the table finder's look at the head of a sheet).

Digits are ASCII or Thai (mapped to ASCII first); other scripts' digits are text.
Types: integer, decimal, date, boolean, text.
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
# Python's ``\s`` on str (NBSP included) spelled out, so RE2 and Arrow's trim use the same set.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
TRIM_CHARS = WHITESPACE + _ZERO_WIDTH
WS_CLASS = "".join(f"\\x{{{ord(c):04x}}}" for c in WHITESPACE)  # for a [...] class, RE2 and re alike
_EDGES = re.compile(rf"^[{TRIM_CHARS}]+|[{TRIM_CHARS}]+$")
_ZW = re.compile(f"[{_ZERO_WIDTH}]")
_RUNS = re.compile(r"\s+")
THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
BUDDHIST_ERA_FROM = 2400  # years at or above this are B.E.
BUDDHIST_ERA_OFFSET = 543

# A number after Thai digits are mapped: thousands separators optional, no
# superfluous leading zero ("03006" is a code, not the number 3006).
NUMBER = (
    r"^[+-]?(?:(?:[1-9][0-9]{0,2}|0)(?:,[0-9]{3})+|[1-9][0-9]*|0)(?:\.[0-9]+)?$"
    r"|^[+-]?\.[0-9]+$"
)
DMY = r"^(?P<d>[0-9]{1,2})/(?P<m>[0-9]{1,2})/(?P<y>[0-9]{4})$"
YMD = r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})$"
THAI_DATE = (
    rf"^(?P<d>[0-9]{{1,2}})[{WS_CLASS}]*(?P<mon>[\x{{0e00}}-\x{{0e7f}}][\x{{0e00}}-\x{{0e7f}}.{WS_CLASS}]*?)"
    rf"[{WS_CLASS}]*(?P<y>[0-9]{{4}}|[0-9]{{2}})$"
)


def _py(pattern: str) -> re.Pattern:
    """An RE2 pattern for Python's re: \\x{hhhh} escapes become \\uhhhh."""
    return re.compile(re.sub(r"\\x\{([0-9a-fA-F]{4})\}", r"\\u\1", pattern))


_NUMBER, _DMY, _YMD, _THAI_DATE = _py(NUMBER), _py(DMY), _py(YMD), _py(THAI_DATE)
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
THAI_MONTHS = _THAI_MONTHS
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
    if not _NUMBER.match(text):
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
    if match := _DMY.match(text) or _YMD.match(text):
        return _make_date(int(match["y"]), int(match["m"]), int(match["d"]))
    if match := _THAI_DATE.match(text):
        month = _thai_month(match["mon"])
        if month:
            year = int(match["y"])
            return _make_date(year + SHORT_BE_CENTURY if len(match["y"]) == 2 else year, month, int(match["d"]))
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


