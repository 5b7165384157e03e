"""XML documents via defusedxml: the repeated children of the root are the
records, their child elements the columns.

Any DTD or entity declaration refuses the file as ``xxe``: nothing in it is
ever resolved or fetched (defusedxml forbids DTDs, entities and external
references outright, and a document that cannot be parsed is still scanned
for a declaration before it is called anything else).

Records: the root's children with the most frequent tag (a lone wrapper
element such as ``<data>`` around them is descended into). Columns, in order
of first appearance:

- a child element with text: its tag (namespaces dropped);
- a child element with children of its own: flattened with ``.``
  (``address.city``), like JSON;
- a tag repeated inside one record: a JSON list of its texts;
- attributes of the record: their name (``@name`` when a child has the same
  tag); attributes of a field element: ``field.name``.

A record with no children and no attributes is one value in a column named
after its tag. Missing elements and empty elements are null.

The document streams (lxml ``iterparse``, every element cleared once read):
a first pass finds where the records are, a second learns their columns
(applying the row and column limits), a third hands the rows to the engine
in blocks, so a large document never sits whole in memory. UTF-8 and
undeclared text is parsed as it is; UTF-16 and declared code pages are
decoded on the fly (TIS-620 as cp874). Bytes that are not what the
declaration says are decoded whole by the decoding rules, as before.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

from ...errors import RefusedFile
from ..decode import decode_bytes
from ..memory import check_memory
from ..options import Limits
from ..sniff import Sniffed
from .base import RawGrid, ReadResult, row_blocks

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_THAI_LABELS = re.compile(rb"tis-?620|iso-?8859-11|windows-874|cp874|x-windows-874", re.IGNORECASE)


BLOCK_ROWS = 5_000
_CHUNK = 1 << 20


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    limits = options.limits if options is not None else Limits()
    with open(path, "rb") as fh:
        head = fh.read(4096)
    declared = _declared_encoding(head)
    codec = None if declared in (None, "utf-8", "utf8", "us-ascii", "ascii") else _codec(declared)
    stream = _Stream(path, codec)
    try:
        shape = stream.shape()
    except _NotStreamable:
        return _read_whole(path, limits)
    if shape is None:
        raise RefusedFile("no table", "the XML root has no repeated child elements")
    grid = _grid(lambda: stream.records(*shape), limits)
    return ReadResult(format="xml", grids=[grid], encoding=codec or declared or "utf-8", warnings=[])


def _grid(records: Callable[[], Iterator[dict[str, Any]]], limits: Limits) -> RawGrid:
    """Pass over ``records()`` for the columns, under the limits; the grid's
    blocks are the header and the rows, from one more pass."""
    columns: dict[str, None] = {}
    for n, record in enumerate(records(), start=1):
        columns.update(dict.fromkeys(record))
        if len(columns) > limits.max_columns:
            raise RefusedFile("size", f"limit max_columns: the records hold more than {limits.max_columns} fields")
        if n > limits.max_rows:
            raise RefusedFile("size", f"limit max_rows: more than {limits.max_rows} rows")
        if n % BLOCK_ROWS == 0:
            check_memory()
    names = list(columns)
    if not names:
        raise RefusedFile("no table", "the XML records hold no values")

    def rows() -> Iterator[list[Any]]:
        yield names
        for record in records():
            yield [record.get(n) for n in names]

    return RawGrid(structured=True, blocks=lambda: row_blocks(rows(), BLOCK_ROWS))


# --- streaming ------------------------------------------------------------------------------


class _NotStreamable(Exception):
    """The bytes are not what the declaration says: the whole-document reader decodes them."""


class _Stream:
    """The document as lxml iterparse events, over the bytes (UTF-8) or over
    text decoded on the fly and encoded as UTF-8 without its declaration."""

    def __init__(self, path: Path, codec: str | None) -> None:
        self.path, self.codec = path, codec

    def _events(self, events=("start", "end")):
        from lxml import etree

        fh = _Utf8Reader(self.path, self.codec)
        try:
            parsed = etree.iterparse(fh, events=events, resolve_entities=False, no_network=True, load_dtd=False,
                                     remove_comments=True, remove_pis=True, huge_tree=True)
            for first in parsed:
                docinfo = first[1].getroottree().docinfo
                if docinfo.doctype or docinfo.internalDTD is not None:  # bytes the scan could not read (UTF-16)
                    raise RefusedFile("xxe", "XML with a DTD or entity declaration; not resolved")
                yield first
                break
            yield from parsed
        except etree.XMLSyntaxError as exc:
            if fh.declaration:
                raise RefusedFile("xxe", "XML with a DTD or entity declaration; not resolved") from None
            if fh.decode_failed or (self.codec is None and not _is_utf8(self.path)):
                raise _NotStreamable() from None
            if _declaration_anywhere(self.path, self.codec):  # a declaration behind a syntax error is still one
                raise RefusedFile("xxe", "XML with a DTD or entity declaration; not resolved") from None
            raise RefusedFile("no table", f"not well-formed XML ({exc})") from None
        finally:
            fh.close()
        if fh.declaration:
            raise RefusedFile("xxe", "XML with a DTD or entity declaration; not resolved")

    def shape(self) -> tuple[int, str] | None:
        """Pass 1: (depth, tag) of the records (see :func:`_records`), None when there are none."""
        counts: list[Counter] = []
        parents: list[bool] = []  # per depth: does some element there have element children
        depth = -1
        for event, el in self._events():
            if event == "start":
                depth += 1
                if depth >= len(counts):
                    counts.append(Counter())
                    parents.append(False)
                counts[depth][_local(el.tag)] += 1
                if depth:
                    parents[depth - 1] = True
            else:
                _release(el)
                depth -= 1
        level = 0
        while level + 1 < len(counts) and sum(counts[level + 1].values()) == 1 and parents[level + 1]:
            level += 1  # a lone wrapper: <root><data><row/>...</data></root>
        if level + 1 >= len(counts):
            return None
        children = counts[level + 1]
        tag, count = children.most_common(1)[0]
        if count < 2 and sum(children.values()) > 1:
            return None
        return level + 1, tag

    def records(self, level: int, tag: str) -> Iterator[dict[str, Any]]:
        depth = -1
        for event, el in self._events():
            if event == "start":
                depth += 1
                continue
            if depth == level:  # a record (or another child of the records' parent), read whole
                if _local(el.tag) == tag:
                    yield _record(el)
                _release(el)
            depth -= 1


def _release(el) -> None:
    """Free what is read: the element's content and the siblings before it."""
    el.clear(keep_tail=True)
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


class _Utf8Reader:
    """A file object lxml reads: the bytes themselves (``codec`` None) or the
    text decoded with ``codec`` and encoded as UTF-8, its XML declaration
    removed. It notes a DTD or entity declaration as the bytes pass."""

    def __init__(self, path: Path, codec: str | None) -> None:
        import codecs

        self.fh = open(path, "rb")
        self.decoder = codecs.getincrementaldecoder(codec)() if codec else None
        self.first = True
        self.tail = b""
        self.declaration = False
        self.decode_failed = False

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(_CHUNK)
        if self.decoder is not None:
            try:
                text = self.decoder.decode(data, final=not data)
            except UnicodeDecodeError:
                self.decode_failed = True
                raise
            if self.first:
                text = _XML_DECL.sub("", text.lstrip("\ufeff"), count=1)
            data = text.encode("utf-8")
        self.first = False
        if _DECLARATION.search(self.tail + data):
            self.declaration = True
            raise RefusedFile("xxe", "XML with a DTD or entity declaration; not resolved")
        self.tail = data[-16:]
        return data

    def close(self) -> None:
        self.fh.close()


def _is_utf8(path: Path) -> bool:
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _declaration_anywhere(path: Path, codec: str | None) -> bool:
    reader = _Utf8Reader(path, codec)
    try:
        while reader.read():
            pass
    except RefusedFile:
        return True
    except UnicodeDecodeError:
        return False
    finally:
        reader.close()
    return False


# --- the whole document ------------------------------------------------------------------------


def _read_whole(path: Path, limits: Limits) -> ReadResult:
    root, encoding, warnings = _parse(path.read_bytes())
    records = _records(root)
    if not records:
        raise RefusedFile("no table", "the XML root has no repeated child elements")
    grid = _grid(lambda: (_record(el) for el in records), limits)
    return ReadResult(format="xml", grids=[grid], encoding=encoding, warnings=warnings)


def _parse(data: bytes):
    """(root element, encoding, warnings). Expat reads UTF-8 and UTF-16 itself;
    any other declared encoding (or undeclared non-UTF-8 bytes) is decoded
    here, TIS-620 as cp874, and parsed as UTF-8 text without its declaration."""
    declared = _declared_encoding(data)
    if declared in ("utf-8", "utf8", "utf-16", "utf-16le", "utf-16be", "us-ascii", "ascii") or declared is None:
        try:
            return _defused(data), declared or "utf-8", []
        except _NotWellFormed:
            if declared not in (None, "utf-8", "utf8"):
                raise RefusedFile("no table", "not well-formed XML") from None
    warnings: list[str] = []
    codec = _codec(declared)
    try:
        text, encoding = data.decode(codec), codec
    except (UnicodeDecodeError, LookupError, TypeError):
        decoded = decode_bytes(data)
        text, encoding, warnings = decoded.text, decoded.encoding, decoded.warnings
    text = _XML_DECL.sub("", text.lstrip("\ufeff"), count=1)
    if _DECLARATION.search(text.encode("utf-8")):
        raise RefusedFile("xxe", "XML with a DTD or entity declaration; not resolved")
    try:
        return _defused(text.encode("utf-8")), encoding, warnings
    except _NotWellFormed as exc:
        raise RefusedFile("no table", f"not well-formed XML ({exc})") from None


class _NotWellFormed(Exception):
    pass


def _defused(payload: bytes):
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        return fromstring(payload, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise RefusedFile("xxe", f"XML with a DTD or entity declaration ({type(exc).__name__}); not resolved") from None
    except (ParseError, ValueError, LookupError) as exc:
        # A declaration behind a syntax error is still a declaration.
        if _DECLARATION.search(payload.replace(b"\x00", b"")):
            raise RefusedFile("xxe", "XML with a DTD or entity declaration; not resolved") from None
        raise _NotWellFormed(str(exc)) from None


def _codec(declared: str | None) -> str:
    if declared is None:
        return "utf-8"
    if _THAI_LABELS.fullmatch(declared.encode()) or declared in ("tis-620", "tis620", "iso-8859-11", "windows-874"):
        return "cp874"
    return {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252"}.get(declared, declared)


def _declared_encoding(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    match = re.match(rb"""\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", data)
    return match.group(1).decode("ascii").lower() if match else None


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _elements(el) -> list:
    return [c for c in el if isinstance(c.tag, str)]


def _records(root) -> list:
    node = root
    while True:
        children = _elements(node)
        if len(children) == 1 and _elements(children[0]):
            node = children[0]  # a wrapper: <root><data><row/>...</data></root>
            continue
        break
    children = _elements(node)
    if not children:
        return []
    tag, count = Counter(_local(c.tag) for c in children).most_common(1)[0]
    if count < 2 and len(children) > 1:
        return []
    return [c for c in children if _local(c.tag) == tag]


def _text(el) -> str | None:
    text = "".join(el.itertext()).strip()
    return text or None


def _record(el) -> dict[str, Any]:
    out: dict[str, Any] = {}
    children = _elements(el)
    child_tags = {_local(c.tag) for c in children}
    for name, value in el.attrib.items():
        key = _local(name)
        out[f"@{key}" if key in child_tags else key] = value.strip() or None
    if not children:
        if not el.attrib:
            out[_local(el.tag)] = _text(el)
        elif _text(el) is not None:
            out[_local(el.tag)] = _text(el)
        return out
    counts = Counter(_local(c.tag) for c in children)
    repeated: dict[str, list] = {}
    for child in children:
        tag = _local(child.tag)
        if counts[tag] > 1:
            repeated.setdefault(tag, []).append(_field_value(child))
            continue
        _add_field(out, tag, child)
    for tag, values in repeated.items():
        out[tag] = json.dumps(values, ensure_ascii=False)
    return out


def _field_value(el) -> Any:
    if _elements(el) or el.attrib:
        return _record(el)
    return _text(el)


def _add_field(out: dict[str, Any], name: str, el) -> None:
    children = _elements(el)
    for attr, value in el.attrib.items():
        out[f"{name}.{_local(attr)}"] = value.strip() or None
    if not children:
        out[name] = _text(el)
        return
    nested = _record(el)
    for key, value in nested.items():
        out[f"{name}.{key.lstrip('@')}"] = value
