"""Write typed columns as CSV (comma, one header row, UTF-8) and Parquet.

Both writers take the same typed :class:`~.normalize.Column` list, so the two
files always hold the same columns and rows.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from .normalize import BOOLEAN, DATE, DECIMAL, INTEGER, TEXT, Column, format_number

ARROW_TYPES = {
    INTEGER: pa.int64(),
    DECIMAL: pa.float64(),
    DATE: pa.date32(),
    BOOLEAN: pa.bool_(),
    TEXT: pa.string(),
}


def write_csv(path: Path, columns: Sequence[Column], *, bom: bool = False) -> None:
    # "\n" line ends: what pandas, DuckDB and the portal previews all expect.
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([c.name for c in columns])
        for row in zip(*(c.values for c in columns)):
            writer.writerow([csv_cell(v) for v in row])


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return format_number(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def arrow_table(columns: Sequence[Column]) -> pa.Table:
    schema = pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in columns])
    arrays = [pa.array(c.values, type=ARROW_TYPES[c.type]) for c in columns]
    return pa.Table.from_arrays(arrays, schema=schema)


def write_parquet(path: Path, columns: Sequence[Column]) -> None:
    pq.write_table(arrow_table(columns), path, compression="zstd")
