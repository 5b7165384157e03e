"""Per-file choices a source passes to the converter.

Kinds set them on the file they gather (``RemoteFile.convert``): an html_table
source says which table of the page it means, a json_api source where its
records are. The source config adds what only it may decide (allowed ID columns).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TableChoice(BaseModel):
    """Which table(s) of a page or workbook; unset fields do not filter."""

    model_config = ConfigDict(extra="forbid")

    index: int | None = Field(None, ge=0, description="0-based position among the data tables found")
    caption: str | None = Field(None, description="A text the table's caption (or heading above it) contains")
    css: str | None = Field(None, description="CSS selector of the <table> element (HTML only)")
    sheet: str | None = Field(None, description="Sheet name (spreadsheets only)")


class Limits(BaseModel):
    """What one conversion may consume; over a limit the file is refused with
    the reason word ``size`` and the limit's name, before anything is written.
    The defaults keep a conversion of any hostile file under 1 GB of memory."""

    model_config = ConfigDict(extra="forbid")

    max_rows: int = Field(25_000_000, ge=1, description="Rows per sheet or text file (rows cost memory: about 25 bytes each)")
    max_columns: int = Field(16_384, ge=1, description="Columns per row (Excel's own limit)")
    max_cells: int = Field(500_000_000, ge=1, description="Rows x columns per sheet")
    max_line_bytes: int = Field(16 * 2**20, ge=1024, description="Bytes in one line (one record) of a text file")
    max_merged_ranges: int = Field(1_000_000, ge=0, description="Merged cell ranges per sheet")
    max_members: int = Field(10_000, ge=1, description="Members of a ZIP archive or workbook container")
    max_member_bytes: int = Field(2 * 2**30, ge=1, description="Declared expanded size of all members together")
    max_ratio: int = Field(100, ge=1, description="Expansion ratio of a ZIP archive and of each sizeable member")
    max_container_ratio: int = Field(1000, ge=1, description="Expansion ratio inside XLSX/ODS (sheet XML is repetitive)")
    max_strings_bytes: int = Field(256 * 2**20, ge=1, description="Expanded size of an XLSX shared strings table")
    max_memory_mb: int = Field(600, ge=64, description="Growth of the converting process's resident memory (checked between blocks)")


class ConvertOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tables: TableChoice | None = None
    records_path: str | None = Field(None, description="Dotted path to the list of records in a JSON document")
    allow_pii: list[str] = Field(default_factory=list,
                                 description="Columns allowed to hold personal data (national IDs, phones, e-mail)")
    limits: Limits = Field(default_factory=Limits)
