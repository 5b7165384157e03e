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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import RefusedFile
from ..decode import decode_bytes
from ..sniff import Sniffed
from .base import RawGrid, ReadResult

SEPARATOR = "."


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    decoded = decode_bytes(path.read_bytes())
    try:
        document = json.loads(decoded.text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise RefusedFile("no table", f"not valid JSON ({exc})") from None
    records_path = getattr(options, "records_path", None) if options is not None else None
    records = _at_path(document, records_path) if records_path else document
    where = f"records_path {records_path!r}" if records_path else "the top level"
    if not isinstance(records, list):
        hint = "" if records_path else "; set records_path to the array of records"
        raise RefusedFile("no table", f"{where} of the JSON is not an array{hint}")
    warnings = list(decoded.warnings)
    if records and all(isinstance(r, list) for r in records):
        rows = [[_scalar(v) for v in r] for r in records]
        return ReadResult(format="json", grids=[RawGrid(rows=rows)], encoding=decoded.encoding, warnings=warnings)
    objects = [r for r in records if isinstance(r, dict)]
    if not objects:
        raise RefusedFile("no table", f"{where} of the JSON holds no objects")
    if len(objects) < len(records):
        warnings.append(f"{len(records) - len(objects)} array items that are not objects were skipped")
    flat = [flatten(r) for r in objects]
    columns: dict[str, None] = {}
    for record in flat:
        columns.update(dict.fromkeys(record))
    names = list(columns)
    rows: list[list[Any]] = [names] + [[record.get(n) for n in names] for record in flat]
    grid = RawGrid(rows=rows, structured=True)
    return ReadResult(format="json", grids=[grid], encoding=decoded.encoding, warnings=warnings)


def flatten(obj: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + SEPARATOR))
        else:
            out[name] = _scalar(value)
    return out


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value  # str, int, float, bool, None


def _at_path(document: Any, dotted: str) -> Any:
    node = document
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            raise RefusedFile("no table", f"records_path {dotted!r} not found in the JSON")
    return node
