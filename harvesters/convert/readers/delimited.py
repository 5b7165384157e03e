"""CSV, TSV, PSV and semicolon files: decode, sniff the dialect, split rows.

The dialect is sniffed from the content (the extension only breaks ties):
every candidate delimiter parses a sample, and the one giving the most rows
with the same number (> 1) of fields wins. Line ends CR, LF and CRLF all work
because the text is parsed with universal newlines kept inside quotes.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path

from ..decode import decode_bytes
from ..sniff import Sniffed
from .base import RawGrid, ReadResult

DELIMITERS = (",", "\t", ";", "|")
FORMAT_BY_DELIMITER = {",": "csv", "\t": "tsv", ";": "ssv", "|": "psv"}
_HINT_BY_EXTENSION = {"csv": ",", "tsv": "\t", "tab": "\t", "psv": "|", "ssv": ";"}
_SAMPLE_CHARS = 64 * 1024

csv.field_size_limit(2**31 - 1)  # agencies put whole paragraphs in one cell


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    decoded = decode_bytes(path.read_bytes())
    text = decoded.text.replace("\x00", "")
    hint = _HINT_BY_EXTENSION.get(path.suffix.lower().lstrip("."))
    quote = sniff_quote(text[:_SAMPLE_CHARS])
    delimiter = sniff_delimiter(text[:_SAMPLE_CHARS], quote, hint)
    rows = parse(text, delimiter, quote)
    return ReadResult(
        format=FORMAT_BY_DELIMITER[delimiter],
        grids=[RawGrid(rows=rows)],
        encoding=decoded.encoding,
        delimiter=delimiter,
        warnings=decoded.warnings,
    )


def parse(text: str, delimiter: str, quote: str = '"') -> list[list[str]]:
    # skipinitialspace: `a, "1,000"` must keep the quoted comma inside the field.
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote, skipinitialspace=True
    )
    return [row for row in reader]


def sniff_delimiter(sample: str, quote: str = '"', hint: str | None = None) -> str:
    scores = {d: _consistency(sample, d, quote) for d in DELIMITERS}
    best = max(scores.values())
    if best == 0:
        return hint or ","
    # Ties go to the extension's promise, then to the usual order.
    tied = [d for d in DELIMITERS if scores[d] >= best - 1e-9]
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
        # The most common row may be a one-cell note; look at wider rows too.
        wide = [c for c in counts if c >= 2]
        if not wide:
            return 0.0
        width, freq = Counter(wide).most_common(1)[0]
    return freq / len(counts)


def sniff_quote(sample: str) -> str:
    """Double quotes unless single quotes clearly delimit fields instead."""
    boundary = r"(?:^|[,;\t|])[ ]*{q}|{q}[ ]*(?:[,;\t|]|$)"
    doubles = len(re.findall(boundary.format(q='"'), sample, re.M))
    singles = len(re.findall(boundary.format(q="'"), sample, re.M))
    return "'" if singles > 2 * doubles and singles >= 4 else '"'
