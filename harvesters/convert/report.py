"""The conversion summary: small, JSON-serialisable, no data."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    # `schema` is a BaseModel attribute, so the field is `schema_` in Python and
    # `schema` in JSON; both spellings are accepted on input.
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True,
                              validate_by_alias=True)


class DroppedRows(_Model):
    reason: str  # title | blank | footer
    count: int


class ColumnReport(_Model):
    name: str
    type: str  # integer | decimal | date | boolean | text
    null_markers: list[str] = []  # markers read as null in this numeric column (NA, #DIV/0!, ...)


class TableReport(_Model):
    name: str  # the output stem for a single table; the sheet/tN label when a file holds several
    csv: str | None
    parquet: str | None
    sheet: str | None = None
    table_schema: str | None = None  # the Frictionless table schema file written next to the outputs
    header_rows: list[int]  # 0-based rows of the sheet (or text) read as header levels
    title_rows: list[int] = []  # rows above the header: titles, not data
    note_rows: list[int] = []  # rows below the data starting like notes or sources (ที่มา, หมายเหตุ)
    footer_rows: list[int] = []  # every non-blank row below the data (notes included); first 1,000
    rows_read: int
    rows_written: int
    rows_dropped: list[DroppedRows] = []
    columns: list[ColumnReport]
    schema_: dict[str, Any] = Field(alias="schema")  # Frictionless table schema


class ConversionReport(_Model):
    input: str
    format: str  # csv | tsv | psv | ssv | xlsx | xlsm | ...
    encoding: str | None = None
    delimiter: str | None = None
    stars_in: int
    stars_out: int
    tables: list[TableReport]
    warnings: list[str] = []


def table_schema(columns: list[ColumnReport]) -> dict[str, Any]:
    """Frictionless-style schema; the title keeps the original (often Thai) name.
    The outputs carry nulls as empty fields: that is the one missing value."""
    return {"fields": [{"name": c.name, "type": c.type, "title": c.name} for c in columns],
            "missingValues": [""]}
