"""JSON documents: a top-level array of objects, or the array at the
configured ``records_path`` (dotted: ``result.records``; a number picks a list
item: ``data.0.rows``), is one table.

- Nested objects are flattened with ``.`` (``tourism.thai_visitors``).
- Lists (of scalars or of objects) are kept as JSON text, so nothing is lost.
- Missing keys and JSON null are null. Columns come in the order they are
  first seen across the records.
- An array of arrays is read as rows of cells (the first one usually the
  header), like a CSV. Anything else (a bare object without a records path,
  an array of scalars) holds no table.

The records stream (ijson, its C backend): a first pass learns the columns
(and applies the row and column limits), a second hands the rows to the
engine in blocks, so a large document never sits whole in memory. Two cases
are read whole instead: a records path through a list index (ijson names every
list item alike, so it cannot pick one) and text that is not UTF-8 (legacy
code pages need the decoding rules, which see the whole text).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Iterator

from ...errors import RefusedFile
from ..decode import decode_bytes
from ..memory import check_memory
from ..options import Limits
from ..sniff import Sniffed
from .base import RawGrid, ReadResult, row_blocks

SEPARATOR = "."
BLOCK_ROWS = 5_000
_UTF8_BOM = b"\xef\xbb\xbf"
_NEEDS_SCRUB = re.compile("[\x80-\x9f\ufffd\ufeff]")  # what the decoding rules repair or remove


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    limits = options.limits if options is not None else Limits()
    records_path = getattr(options, "records_path", None) if options is not None else None
    if not (records_path and any(_is_index(part) for part in records_path.split("."))):
        try:
            return _Stream(path, records_path).table(limits)
        except _NotStreamable:
            pass
    return _read_whole(path, records_path, limits)


def _table(records: Callable[[], Iterator[Any]], where: str, limits: Limits, text: Callable[[str], str],
           warnings: list[str]) -> RawGrid:
    """Pass 1 over ``records()``: their shape and columns, under the limits. The
    grid's blocks are pass 2: the header (for objects) and the rows."""
    lists = objects = others = 0
    columns: dict[str, None] = {}
    for n, record in enumerate(records(), start=1):
        if isinstance(record, dict):
            objects += 1
            columns.update(dict.fromkeys(flatten(record, text)))
            if len(columns) > limits.max_columns:
                raise RefusedFile("size", f"limit max_columns: the records hold more than {limits.max_columns} keys")
        elif isinstance(record, list):
            lists += 1
            if len(record) > limits.max_columns:
                raise RefusedFile("size", f"limit max_columns: a row holds {len(record)} columns "
                                          f"(limit {limits.max_columns})")
        else:
            others += 1
        if n > limits.max_rows:
            raise RefusedFile("size", f"limit max_rows: more than {limits.max_rows} rows")
        if n % BLOCK_ROWS == 0:
            check_memory()
    if lists and not objects and not others:
        return RawGrid(blocks=lambda: _blocks(records(), None, text))
    if not objects:
        raise RefusedFile("no table", f"{where} of the JSON holds no objects")
    if lists or others:
        warnings.append(f"{lists + others} array items that are not objects were skipped")
    names = list(columns)
    return RawGrid(structured=True, blocks=lambda: _blocks(records(), names, text))


def _blocks(records: Iterator[Any], names: list[str] | None, text: Callable[[str], str]) -> Iterator[list[list[Any]]]:
    def rows() -> Iterator[list[Any]]:
        if names is not None:
            yield list(names)
        for record in records:
            if names is None:
                yield [_scalar(v, text) for v in record]
            elif isinstance(record, dict):
                flat = flatten(record, text)
                yield [flat.get(n) for n in names]

    return row_blocks(rows(), BLOCK_ROWS)


def flatten(obj: dict, text: Callable[[str], str] = str, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{text(key)}"
        if isinstance(value, dict):
            out.update(flatten(value, text, name + SEPARATOR))
        else:
            out[name] = _scalar(value, text)
    return out


def _scalar(value: Any, text: Callable[[str], str]) -> Any:
    if isinstance(value, (list, dict)):
        return text(json.dumps(value, ensure_ascii=False))
    if isinstance(value, str):
        return text(value)
    return value  # int, float, bool, None


def _where(records_path: str | None) -> str:
    return f"records_path {records_path!r}" if records_path else "the top level"


def _not_an_array(records_path: str | None) -> RefusedFile:
    hint = "" if records_path else "; set records_path to the array of records"
    return RefusedFile("no table", f"{_where(records_path)} of the JSON is not an array{hint}")


# --- streaming ------------------------------------------------------------------------------


class _NotStreamable(Exception):
    """The bytes are not UTF-8: the whole-document reader decodes them by the rules."""


class _Stream:
    def __init__(self, path: Path, records_path: str | None) -> None:
        self.path, self.records_path = path, records_path
        self.prefix = records_path or ""
        self.warnings: list[str] = []
        with open(path, "rb") as fh:
            self.bom = fh.read(3) == _UTF8_BOM

    def _open(self):
        fh = open(self.path, "rb")
        if self.bom:
            fh.seek(3)
        return fh

    def _records(self) -> Iterator[Any]:
        import ijson

        with self._open() as fh:
            yield from ijson.items(fh, f"{self.prefix}.item" if self.prefix else "item", use_float=True)

    def _container(self) -> str | None:
        """The JSON type at the records path: "array", "object", "scalar", or None when absent."""
        import ijson

        with self._open() as fh:
            for prefix, event, _value in ijson.parse(fh, use_float=True):
                if prefix == self.prefix and event not in ("map_key", "end_map", "end_array"):
                    return {"start_array": "array", "start_map": "object"}.get(event, "scalar")
        return None

    def table(self, limits: Limits) -> ReadResult:
        import ijson

        try:
            kind = self._container()
            if kind is None:
                if not self.records_path:
                    raise _NotStreamable()  # an empty document: the whole reader says why
                raise RefusedFile("no table", f"records_path {self.records_path!r} not found in the JSON")
            if kind != "array":
                raise _not_an_array(self.records_path)
            grid = _table(self._records, _where(self.records_path), limits, self._text, self.warnings)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            if not self._is_utf8():
                raise _NotStreamable() from None
            raise RefusedFile("no table", f"not valid JSON ({exc})") from None
        except RecursionError:
            raise RefusedFile("no table", "not valid JSON (nested too deeply)") from None
        return ReadResult(format="json", grids=[grid], encoding="utf-8-sig" if self.bom else "utf-8",
                          warnings=self.warnings)

    def _is_utf8(self) -> bool:
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            with open(self.path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
        return True

    def _text(self, text: str) -> str:
        """Text as the decoding rules leave it (no C1 controls, U+FFFD or BOM)."""
        if not _NEEDS_SCRUB.search(text):
            return text
        decoded = decode_bytes(text.encode("utf-8", "surrogatepass"))
        for warning in decoded.warnings:
            if warning not in self.warnings:
                self.warnings.append(warning)
        return decoded.text.replace("\ufeff", "")


# --- the whole document ------------------------------------------------------------------------


def _read_whole(path: Path, records_path: str | None, limits: Limits) -> ReadResult:
    decoded = decode_bytes(path.read_bytes())
    try:
        document = json.loads(decoded.text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise RefusedFile("no table", f"not valid JSON ({exc})") from None
    records = _at_path(document, records_path) if records_path else document
    if not isinstance(records, list):
        raise _not_an_array(records_path)
    warnings = list(decoded.warnings)
    grid = _table(lambda: iter(records), _where(records_path), limits, str, warnings)
    return ReadResult(format="json", grids=[grid], encoding=decoded.encoding, warnings=warnings)


def _is_index(part: str) -> bool:
    return part.lstrip("-").isdigit()


def _at_path(document: Any, dotted: str) -> Any:
    node = document
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and _is_index(part) and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            raise RefusedFile("no table", f"records_path {dotted!r} not found in the JSON")
    return node
