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


class TableReport(_Model):
    name: str  # the output stem for a single table; the sheet/tN label when a file holds several
    csv: str | None
    parquet: str | None
    sheet: str | None = None
    header_rows: list[int]
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
    """Frictionless-style schema; the title keeps the original (often Thai) name."""
    return {"fields": [{"name": c.name, "type": c.type, "title": c.name} for c in columns]}
