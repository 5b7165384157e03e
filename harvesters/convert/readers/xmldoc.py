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
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ...errors import RefusedFile
from ..decode import decode_bytes
from ..sniff import Sniffed
from .base import RawGrid, ReadResult

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_THAI_LABELS = re.compile(rb"tis-?620|iso-?8859-11|windows-874|cp874|x-windows-874", re.IGNORECASE)


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    data = path.read_bytes()
    root, encoding, warnings = _parse(data)
    records = _records(root)
    if not records:
        raise RefusedFile("no table", "the XML root has no repeated child elements")
    flat = [_record(el) for el in records]
    columns: dict[str, None] = {}
    for record in flat:
        columns.update(dict.fromkeys(record))
    names = list(columns)
    if not names:
        raise RefusedFile("no table", "the XML records hold no values")
    rows: list[list[Any]] = [names] + [[record.get(n) for n in names] for record in flat]
    return ReadResult(format="xml", grids=[RawGrid(rows=rows, structured=True)], encoding=encoding, warnings=warnings)


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
