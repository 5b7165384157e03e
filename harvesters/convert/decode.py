"""Turn the bytes of a text file into ``str`` without mojibake.

Order of trust: a BOM, then valid UTF-8, then Thai detection (cp874), then
charset-normalizer. Thai files are always read as cp874, never TIS-620: the two
agree on letters, but TIS-620 has no mapping for bytes 0x80-0x9F that Windows
uses for “ ” – …, which would otherwise surface as C1 control characters.
Whatever the path, the result holds no U+FFFD and no C1 control character.
"""

from __future__ import annotations

import codecs
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from charset_normalizer import from_bytes

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_THAI_GUESSES = {"tis_620", "tis-620", "iso8859_11", "iso-8859-11", "cp874", "windows-874"}
_WESTERN = {
    "cp1250", "cp1252", "cp1257", "latin_1", "iso8859_1", "iso8859_2", "iso8859_10",
    "iso8859_15", "cp850", "cp852", "cp775", "hp_roman8", "mac_roman", "mac_latin2",
}
_C1 = re.compile("[\u0080-\u009f]")
_THAI_CHAR = re.compile("[\u0e00-\u0e7f]")
_HIGH_BYTES = re.compile(rb"[\x80-\xff]+")


@dataclass
class Decoded:
    text: str
    encoding: str  # the codec name reported to people: utf-8, utf-8-sig, utf-16, cp874, ...
    warnings: list[str] = field(default_factory=list)


def decode_bytes(data: bytes) -> Decoded:
    encoding = detect_encoding(data)
    text = data.decode(encoding)
    if encoding in ("utf-16", "utf-32"):
        text = text.lstrip("\ufeff")  # the codec eats one BOM; never let a second through
    return _scrub(text, encoding)


def detect_encoding(data: bytes) -> str:
    return _detect(data[:4096], lambda: iter((data,)), lambda: data)


def detect_file_encoding(path: Path) -> str:
    """:func:`detect_encoding` of a file's bytes, read in chunks (only the rare
    charset-normalizer guess reads the whole file)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return _detect(head, lambda: file_chunks(path), path.read_bytes)


def _detect(head: bytes, chunks: Callable[[], Iterator[bytes]], whole: Callable[[], bytes]) -> str:
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    bomless16 = _bomless_utf16(head)
    if bomless16:
        return bomless16
    if _decodes(chunks(), "utf-8"):
        return "utf-8"
    if _looks_thai(chunks()):
        return "cp874"
    return _guess_with_charset_normalizer(whole())


CHUNK_BYTES = 1 << 20


def file_chunks(path: Path, size: int | None = None) -> Iterator[bytes]:
    """The file's bytes in chunks of about ``size`` (``CHUNK_BYTES``) that end after
    an ASCII byte: never inside a UTF-8 sequence or a run of cp874 high bytes."""
    size = size or CHUNK_BYTES
    with open(path, "rb") as fh:
        carry = b""
        while block := fh.read(size):
            data = carry + block
            cut = len(data)
            while cut and data[cut - 1] >= 0x80:
                cut -= 1
            if not cut:  # no ASCII byte yet: keep reading
                carry = data
                continue
            carry = data[cut:]
            yield data[:cut]
        if carry:
            yield carry


def _decodes(chunks: Iterable[bytes], encoding: str) -> bool:
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
        for chunk in chunks:
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _bomless_utf16(data: bytes) -> str | None:
    sample = data[:4096]
    if len(sample) < 4 or sample.count(0) < len(sample) // 4:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) / 2
    if odd > 0.3 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.3 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


def looks_thai(data: bytes) -> bool:
    """True when the non-ASCII bytes read as Thai words in cp874.

    Latin-1 text also decodes "fine" as cp874 (é lands on a Thai tone mark), so
    decodability is not enough: Thai words are runs of high bytes, while accented
    Latin letters sit alone between ASCII letters.
    """
    return _looks_thai(iter((data,)))


def looks_thai_file(path: Path) -> bool:
    """:func:`looks_thai` of a file's bytes, read in chunks."""
    return _looks_thai(file_chunks(path))


def _looks_thai(chunks: Iterable[bytes]) -> bool:
    """:func:`looks_thai` over chunks that end on an ASCII byte."""
    counts = [0, 0, 0]
    for chunk in chunks:
        try:
            chunk.decode("cp874")
        except UnicodeDecodeError:
            return False
        for i, v in enumerate(thai_byte_counts(chunk)):
            counts[i] += v
    return thai_verdict((counts[0], counts[1], counts[2]))


def thai_byte_counts(chunk: bytes) -> tuple[int, int, int]:
    """(high bytes, high bytes in runs of three or more, bytes that decode to a
    Thai letter in cp874); add them up over the chunks of a file that end on an
    ASCII byte, then ask :func:`thai_verdict`."""
    import numpy as np

    a = np.frombuffer(chunk, np.uint8)
    hi = a >= 0x80
    high = int(np.count_nonzero(hi))
    if not high:
        return 0, 0, 0
    # cp874 0xA1-0xDA and 0xDF-0xFB decode into U+0E00-U+0E7F.
    thai = int(np.count_nonzero((a - np.uint8(0xA1)) < 0x3A)) + int(np.count_nonzero((a - np.uint8(0xDF)) < 0x1D))
    # A high byte is in a run of three or more when a run of three starts at it or at
    # one of the two bytes before it (boolean passes only, no run lengths).
    three = hi[:-2] & hi[1:-1]
    three &= hi[2:]
    in_runs = np.zeros(len(a), bool)
    in_runs[:-2] = three
    in_runs[1:-1] |= three
    in_runs[2:] |= three
    return high, int(np.count_nonzero(in_runs)), thai


def thai_verdict(counts: tuple[int, int, int]) -> bool:
    high, in_runs, thai = counts
    return high > 0 and in_runs / high >= 0.6 and thai / high >= 0.9


def _guess_with_charset_normalizer(data: bytes) -> str:
    results = from_bytes(data)
    candidates = [m.encoding for m in results]
    if candidates and candidates[0].lower() in _THAI_GUESSES:
        return "cp874"
    if candidates and candidates[0].lower() in _WESTERN and _decodes_clean(data, "cp1252"):
        # charset-normalizer cannot tell Latin code pages apart on short texts and
        # often says cp1250, which turns Spanish ñ into ń; cp1252 is far more common.
        return "cp1252"
    # Prefer a guess that decodes strictly without C1 controls; fall back to
    # cp1252, which covers most Western files charset-normalizer cannot place.
    for name in [*candidates, "cp1252"]:
        if name.lower() in _THAI_GUESSES:
            name = "cp874"
        if _decodes_clean(data, name):
            return _codec_name(name)
    # Nothing clean: latin-1 never fails; _scrub then repairs or drops the C1s.
    return "latin-1"


def _decodes_clean(data: bytes, name: str) -> bool:
    try:
        text = data.decode(name)
    except (UnicodeDecodeError, LookupError):
        return False
    return not _C1.search(text) and "\ufffd" not in text


def _codec_name(name: str) -> str:
    """Normalise Python codec aliases to the names people know (cp1252, utf-8)."""
    info = codecs.lookup(name)
    return {"utf_8": "utf-8", "tis_620": "cp874"}.get(info.name, info.name)


def _scrub(text: str, encoding: str) -> Decoded:
    """Enforce the contract: no C1 controls, no U+FFFD, no stray BOM."""
    warnings: list[str] = []
    if text.startswith("\ufeff"):
        text = text[1:]
    if _C1.search(text):
        text = repair_c1(text)
        warnings.append(_C1_REPAIRED)
    if "\ufffd" in text:
        count = text.count("\ufffd")
        text = text.replace("\ufffd", "")
        warnings.append(_fffd_removed(count))
    return Decoded(text, encoding, warnings)


_C1_REPAIRED = "C1 control characters repaired (text was decoded with the wrong code page upstream)"


def _fffd_removed(count: int) -> str:
    return f"{count} U+FFFD replacement characters already in the source were removed"


def repair_codepage(thai_chars: int, length: int) -> str:
    """The code page C1 controls are mapped back from: cp874 for Thai-majority text."""
    return "cp874" if thai_chars > length / 20 else "cp1252"


def repair_c1(text: str, codepage: str | None = None) -> str:
    """Map C1 controls back to the Windows code page characters they stand for.

    C1 characters in decoded text almost always mean a Windows code page was read
    as ISO-8859 (TIS-620 for cp874, latin-1 for cp1252). Thai-majority text gets
    the cp874 mapping, other text cp1252; undefined slots are dropped (they carry
    nothing printable).
    """
    codepage = codepage or repair_codepage(len(_THAI_CHAR.findall(text)), len(text))

    def fix(match: re.Match[str]) -> str:
        try:
            return bytes([ord(match.group())]).decode(codepage)
        except UnicodeDecodeError:
            return ""

    return _C1.sub(fix, text)


# --- HTML -------------------------------------------------------------------------------

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
# WHATWG encoding labels that browsers map to a superset we must use too.
_HTML_ALIASES = {
    "tis-620": "cp874", "tis620": "cp874", "iso-8859-11": "cp874", "iso8859-11": "cp874",
    "windows-874": "cp874", "x-windows-874": "cp874", "dos-874": "cp874",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252",
    "ascii": "cp1252", "iso8859-1": "cp1252",
}


def declared_html_charset(data: bytes) -> str | None:
    """The codec a ``<meta charset>`` or ``http-equiv`` tag in the first 4 KB
    declares, mapped the way browsers do (TIS-620 -> cp874, latin-1 -> cp1252);
    None when there is none or Python does not know it."""
    match = _META_CHARSET.search(data[:4096])
    if not match:
        return None
    label = match.group(1).decode("ascii", "replace").strip().lower()
    name = _HTML_ALIASES.get(label, label)
    try:
        return _codec_name(name)
    except LookupError:
        return None


@dataclass
class HtmlText:
    """An HTML file's text, read in chunks: the codec the rules chose (a BOM, then
    the declared ``<meta>`` charset when the bytes really decode with it, else the
    rules of :func:`decode_bytes`) and the same clean-up as :func:`_scrub` (a
    leading BOM, C1 controls repaired with the code page the whole text calls
    for, U+FFFD removed), decided in one pass so the text never sits whole in memory."""

    path: Path
    encoding: str
    warnings: list[str] = field(default_factory=list)
    strip_boms: bool = False  # decode_bytes strips every leading BOM of UTF-16/32 text
    c1_codepage: str | None = None  # set when C1 controls are to be repaired
    fffd: bool = False

    def chunks(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)()
        first = True
        for raw in itertools.chain(file_chunks(self.path), [None]):  # None: the decoder's last word
            text = decoder.decode(raw or b"", final=raw is None)
            if first and text:
                first = False
                if self.strip_boms:
                    text = text.lstrip("\ufeff")
                if text.startswith("\ufeff"):
                    text = text[1:]
            if self.c1_codepage:
                text = repair_c1(text, self.c1_codepage)
            if self.fffd:
                text = text.replace("\ufffd", "")
            if text:
                yield text

    def utf8_chunks(self) -> Iterator[bytes]:
        """The text as UTF-8 bytes (UTF-8 files that need no clean-up: the bytes themselves)."""
        if self.encoding == "utf-8" and not (self.c1_codepage or self.fffd):
            first = True
            for raw in file_chunks(self.path):
                if first and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[3:]
                first = False
                yield raw
            return
        for text in self.chunks():
            yield text.encode("utf-8")


def html_text(path: Path) -> HtmlText:
    """How to read an HTML file's text (see :class:`HtmlText`); the bytes are read
    in chunks, twice at most."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if any(head.startswith(bom) for bom, _name in _BOMS):
        return _cleaned(path, detect_file_encoding(path), by_rules=True)
    declared = declared_html_charset(head)
    if declared:
        if _decodes(file_chunks(path), declared):
            return _cleaned(path, declared, by_rules=False)
        text = _cleaned(path, detect_file_encoding(path), by_rules=True)
        text.warnings.append(f"declared charset {declared} does not fit the bytes; read as {text.encoding}")
        return text
    return _cleaned(path, detect_file_encoding(path), by_rules=True)


def _cleaned(path: Path, encoding: str, by_rules: bool) -> HtmlText:
    """The clean-up :func:`_scrub` would do on the whole text, found chunk by chunk."""
    text = HtmlText(path, encoding, strip_boms=by_rules and encoding in ("utf-16", "utf-32"))
    fffd = thai = length = 0
    c1 = False
    for chunk in text.chunks():
        c1 = c1 or _C1.search(chunk) is not None
        fffd += chunk.count("\ufffd")
    if c1:
        for chunk in text.chunks():
            thai += len(_THAI_CHAR.findall(chunk))
            length += len(chunk)
        text.c1_codepage = repair_codepage(thai, length)
        text.warnings.append(_C1_REPAIRED)
    if fffd:
        text.fffd = True
        text.warnings.append(_fffd_removed(fffd))
    return text
