"""Identify what a file really is from its bytes.

Agencies rename files freely (HTML saved as ``.xls``, PNGs named ``.csv``), so
the extension is only a hint. ``sniff`` looks at magic numbers and, for ZIP and
OLE2 containers, at the directory inside, and returns a :class:`Sniffed` that
the dispatcher in ``__init__`` routes on.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

# Extensions that promise a table; used to tell "type mismatch" from "no table".
TABLE_EXTENSIONS = frozenset(
    {"csv", "tsv", "psv", "ssv", "txt", "tab", "xls", "xlsx", "xlsm", "ods",
     "json", "xml", "html", "htm", "zip"}
)

# Openness stars of the input format (5-star open data scheme).
STARS = {
    "csv": 3, "tsv": 3, "psv": 3, "ssv": 3, "json": 3, "xml": 3, "ods": 3, "html": 3,
    "xls": 2, "xlsx": 2, "xlsm": 2,
    "pdf": 1, "png": 1, "jpeg": 1, "gif": 1,
}

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"%PDF-", "pdf"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!", "rar"),
)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_TEXT_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class Sniffed:
    """What the bytes are. ``kind`` is the routing key; ``encrypted`` is set for
    password-protected workbooks; ``problem`` explains a broken container."""

    kind: str  # empty|text|html|xml|json|xlsx|xlsm|ods|xls|ole2|zip|document|png|pdf|binary|...
    encrypted: bool = False
    problem: str | None = None


def sniff(path: Path, head_size: int = 8192) -> Sniffed:
    with open(path, "rb") as fh:
        head = fh.read(head_size)
    if not head:
        return Sniffed("empty")
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return Sniffed(kind)
    if head.startswith(_OLE2):
        return _sniff_ole2(path)
    if head.startswith(_ZIP):
        return _sniff_zip(path)
    return _sniff_text(head, path.suffix.lower().lstrip("."))


def refuse_unusable(sniffed: Sniffed) -> None:
    """The refusals every file and archive member shares: empty, encrypted, unreadable container."""
    from ..errors import RefusedFile

    if sniffed.kind == "empty":
        raise RefusedFile("no table", "empty file")
    if sniffed.encrypted:
        raise RefusedFile("encrypted", "password-protected workbook")
    if sniffed.problem:
        raise RefusedFile("corrupt", sniffed.problem)


def extension_promises_table(path: Path) -> bool:
    return path.suffix.lower().lstrip(".") in TABLE_EXTENSIONS


# --- containers -------------------------------------------------------------------


def _sniff_zip(path: Path) -> Sniffed:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "mimetype" in names:
                mimetype = zf.read("mimetype").decode("ascii", "replace").strip()
                if mimetype.startswith("application/vnd.oasis.opendocument.spreadsheet"):
                    return Sniffed("ods")
                if mimetype.startswith("application/vnd.oasis.opendocument."):
                    return Sniffed("document")  # a text document or a presentation
            if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
                types = zf.read("[Content_Types].xml")
                return Sniffed("xlsm" if b"macroEnabled" in types else "xlsx")
            if "[Content_Types].xml" in names and "xl/workbook.bin" in names:
                return Sniffed("xlsb")
            if "[Content_Types].xml" in names and any(n.startswith(("word/", "ppt/")) for n in names):
                return Sniffed("document")  # .docx / .pptx
    except (zipfile.BadZipFile, OSError, KeyError, EOFError) as exc:
        return Sniffed("zip", problem=f"unreadable ZIP container ({exc})")
    return Sniffed("zip")


def _sniff_ole2(path: Path) -> Sniffed:
    """OLE2 holds legacy XLS, but also password-protected OOXML workbooks (an
    ``EncryptedPackage`` stream) and Word documents."""
    # xlrd ships a small OLE2 reader; importing it here keeps sniff light otherwise.
    from xlrd import compdoc

    data = path.read_bytes()
    try:
        doc = compdoc.CompDoc(data, logfile=io.StringIO())
    except Exception as exc:  # xlrd raises assorted errors on broken directories
        return Sniffed("ole2", problem=f"unreadable OLE2 container ({exc})")
    names = {entry.name for entry in doc.dirlist}
    if "EncryptedPackage" in names or "EncryptionInfo" in names:
        return Sniffed("xlsx", encrypted=True)
    if "Workbook" in names or "Book" in names:
        return Sniffed("xls", encrypted=_xls_has_filepass(data))
    return Sniffed("ole2")


def _xls_has_filepass(data: bytes) -> bool:
    """A BIFF workbook is encrypted when its globals carry a FILEPASS record;
    xlrd spots it while opening, so ask it rather than walk records ourselves."""
    import xlrd

    try:
        xlrd.open_workbook(file_contents=data, on_demand=True, logfile=io.StringIO())
    except xlrd.XLRDError as exc:
        return "encrypted" in str(exc).lower()
    except Exception:
        return False
    return False


# --- text ----------------------------------------------------------------------------


def _sniff_text(head: bytes, ext: str) -> Sniffed:
    if not _looks_like_text(head):
        return Sniffed("binary")
    start = _text_start(head)
    lowered = _ascii_view(head).lower()
    if start.startswith(b"<") and (
        b"<!entity" in lowered or (start.startswith(b"<!doctype") and not start.startswith(b"<!doctype html"))
    ):
        return Sniffed("xml")  # a DTD: the XML reader refuses it ("xxe"), never an HTML parser
    if start.startswith(b"<") and (
        _HTML_START.search(lowered[:2048]) or (b"<table" in lowered and not start.startswith(b"<?xml"))
        or (start.startswith(b"<?xml") and b"<table" in lowered and b"<html" in lowered)
    ):
        return Sniffed("html")
    if start.startswith((b"<?xml", b"<!--")) or (start.startswith(b"<") and ext == "xml"):
        return Sniffed("xml")
    if _XML_ROOT.match(start) and ext not in ("csv", "tsv", "psv", "ssv", "tab"):
        return Sniffed("xml")  # an XML document without a declaration
    if start[:1] in (b"[", b"{") and (ext in ("json", "geojson", "") or _JSON_START.match(start)):
        return Sniffed("json")
    return Sniffed("text")


_HTML_START = re.compile(rb"<!doctype\s+html|<html[\s>]|<body[\s>]|<head[\s>]|<meta\s")
_XML_ROOT = re.compile(rb"<[a-z_][\w.:-]*(\s[^>]*)?/?>")
# An object or an array of objects/arrays/strings: not a CSV row like "[id],[name]".
_JSON_START = re.compile(rb'\{\s*("|\})|\[\s*(\{|\[|"|\]|-?\d|true|false|null)')


def _ascii_view(head: bytes) -> bytes:
    """The head without a BOM and, for UTF-16, without its zero bytes."""
    for bom in _TEXT_BOMS:
        if head.startswith(bom):
            head = head[len(bom):]
            break
    if head[:2].count(0) == 1:
        head = head.replace(b"\x00", b"")
    return head


def _text_start(head: bytes) -> bytes:
    """First bytes of text, lowercased, with BOM and leading blanks removed;
    UTF-16 text is narrowed to ASCII so the same prefix checks work."""
    for bom in _TEXT_BOMS:
        if head.startswith(bom):
            head = head[len(bom):]
            break
    if head[:2].count(0) == 1:  # UTF-16 without BOM: drop the zero bytes
        head = head.replace(b"\x00", b"")
    return head.lstrip().lower()[:256]


def _looks_like_text(head: bytes) -> bool:
    if head.startswith(_TEXT_BOMS):
        return True
    zeros = head.count(0)
    if zeros == 0:
        return True
    # UTF-16 without BOM: ASCII-range text leaves a zero in every other byte.
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) / 2
    return max(even, odd) > 0.3 * half and min(even, odd) < 0.05 * half
