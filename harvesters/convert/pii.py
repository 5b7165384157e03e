"""Personal data in a column: Thai national ID numbers, mobile phone numbers, e-mail addresses.

Counted per cell, wherever the value sits in the cell (free text included),
in the shapes people really type:

- national ID: 13 digits, alone or grouped by spaces or dashes (card spacing
  ``1 2345 67890 12 3``, ``1-2345-67890-12-3``), after Excel's leading
  apostrophe or inside a sentence, with a valid check digit (sum of
  d[i]·(13−i) for i = 0..11; check = (11 − sum mod 11) mod 10). A first digit
  ``0`` is a juristic person's registration number (public by law): never counted.
- mobile phone: ``0`` then 6, 8 or 9, then eight digits (``08x-xxx-xxxx``,
  ``08xxxxxxxx``, ``08x xxx xxxx``), or the same after ``+66`` without the ``0``.
- e-mail address: ``name@domain.tld``.

A column holds personal data when any cell holds a phone number or an e-mail
address, or when cells with a valid ID are at least half of the cells holding
13 digits (a random 13-digit number passes the check one time in ten, so a
column of product codes does not trip it; a real ID column always does).
The counts never carry the values: error messages name the column only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import count_per_value, string_buffers, translate_thai_digits

_SEP = r"[ \-\x{a0}]"
_ID = rf"[0-9](?:{_SEP}?[0-9]){{12}}"
_MOBILE = rf"(?:\+66{_SEP}?|0)[689][0-9]{_SEP}?[0-9]{{3}}{_SEP}?[0-9]{{4}}"
_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
# One pass of RE2 over a batch finds the cells worth a closer look.
_PREFILTER = f"{_ID}|{_MOBILE}|@"

# Digits next to a decimal point belong to a decimal number (0.0812345678), never to an ID or a phone.
_DIGIT_RUN = re.compile(r"(?<![0-9.])[0-9](?:[ \-\u00a0]?[0-9])*(?![0-9]|\.[0-9])")
_MOBILE_PY = re.compile(
    r"(?<![0-9+.])(?:\+66[ \-\u00a0]?|0)[689][0-9][ \-\u00a0]?[0-9]{3}[ \-\u00a0]?[0-9]{4}(?![0-9]|\.[0-9])")
_EMAIL_PY = re.compile(_EMAIL)
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


def is_valid_thai_id(digits: str) -> bool:
    """13 digits (separators removed) whose last digit is the checksum of the first twelve."""
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        return False
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - total % 11) % 10 == int(digits[12])


def scan_text(text: str) -> tuple[int, int, int, int]:
    """(13-digit numbers, valid person IDs, mobile numbers, e-mail addresses) in one cell."""
    text = text.translate(_THAI_DIGITS)
    shaped = valid = 0
    for run in _DIGIT_RUN.findall(text):
        digits = re.sub(r"[^0-9]", "", run)
        if len(digits) != 13:
            continue
        shaped += 1
        valid += digits[0] != "0" and is_valid_thai_id(digits)
    mobiles = len(_MOBILE_PY.findall(text))
    emails = len(_EMAIL_PY.findall(text)) if "@" in text else 0
    return shaped, valid, mobiles, emails


def _candidates(col: pa.Array) -> np.ndarray:
    """Indexes of cells holding ten digits or more (ASCII or Thai), or an "@"."""
    data, offsets = string_buffers(col)
    base = offsets[0]
    data = data[base : offsets[-1]]
    if not len(data):
        return np.zeros(0, np.int64)
    # Digits (a Thai digit E0 B9 90..99 counted at its last byte) counted per cell
    # through a running count; "@" by position.
    digit = (data - np.uint8(0x30)) < 10
    thai = (data[1:] - np.uint8(0x90)) < 10
    thai &= data[:-1] == 0xB9
    digit[1:] |= thai
    bounds = offsets - base
    found = np.zeros(len(bounds) - 1, bool)
    at = np.flatnonzero(data == 0x40)
    if len(at):
        found[np.searchsorted(bounds, at, side="right") - 1] = True
    if np.count_nonzero(digit) >= 10:
        found |= count_per_value(digit, bounds[:-1], bounds[1:]) >= 10
    return np.flatnonzero(found)


@dataclass
class PiiCounts:
    """Cells of one column holding each kind of personal data."""

    shaped: int = 0  # cells holding a 13-digit number
    ids: int = 0  # cells holding a valid person ID
    phones: int = 0
    emails: int = 0

    def add(self, col: pa.Array) -> None:
        if col.null_count == len(col):
            return
        # Cheap first look at the bytes: cells with ten digits or more, or an "@".
        candidates = _candidates(col)
        if not len(candidates):
            return
        subset = translate_thai_digits(col.take(pa.array(candidates)))
        hits = pc.match_substring_regex(subset, _PREFILTER)
        if not pc.any(hits).as_py():
            return
        for text in subset.filter(hits).to_pylist():
            shaped, valid, mobiles, emails = scan_text(text)
            self.shaped += shaped > 0
            self.ids += valid > 0
            self.phones += mobiles > 0
            self.emails += emails > 0

    def merge(self, other: "PiiCounts") -> None:
        self.shaped += other.shaped
        self.ids += other.ids
        self.phones += other.phones
        self.emails += other.emails

    def is_personal(self) -> bool:
        return bool(self.phones or self.emails or (self.ids and 2 * self.ids >= self.shaped))

    def describe(self) -> str:
        """Counts only, never a value (this text reaches logs and the UI)."""
        parts = []
        if self.ids and 2 * self.ids >= self.shaped:
            parts.append(f"{self.ids} Thai national ID numbers")
        if self.phones:
            parts.append(f"{self.phones} mobile phone numbers")
        if self.emails:
            parts.append(f"{self.emails} e-mail addresses")
        return ", ".join(parts)
