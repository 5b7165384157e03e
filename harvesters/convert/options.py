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


class ConvertOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tables: TableChoice | None = None
    records_path: str | None = Field(None, description="Dotted path to the list of records in a JSON document")
    allow_pii: list[str] = Field(default_factory=list,
                                 description="Columns allowed to hold Thai national ID numbers")
