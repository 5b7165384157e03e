"""Source kind `html_table`: the agency page itself holds the data table(s).

gather offers the page as one file (suffix ``.html``) and tells the converter
which table it means (``RemoteFile.convert = {"tables": {...}}``); fetch is the
polite HTTP download, robots.txt included.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..results import RemoteFile
from .base import Download, HarvestContext, WebPageKind, http_download
from .common import ascii_key, check_css, check_key, file_name


class HtmlTableChoice(BaseModel):
    """Which table of the page; give one way to pick it (the converter skips layout tables)."""

    model_config = ConfigDict(extra="forbid")

    index: int | None = Field(None, ge=0, description="0-based position among the page's data tables")
    caption: str | None = Field(None, description="A text the table's <caption> (or the heading above it) "
                                                  "contains, e.g. `จำนวนจุดความร้อน`")
    css: str | None = Field(None, description="CSS selector of the <table>, e.g. `table#hotspots`")

    @field_validator("css")
    @classmethod
    def _css(cls, value: str | None) -> str | None:
        return check_css(value)

    @model_validator(mode="after")
    def _one(self) -> "HtmlTableChoice":
        if sum(v is not None for v in (self.index, self.caption, self.css)) != 1:
            raise ValueError("pick the table one way: `index`, `caption` or `css`")
        return self


class HtmlTableSource(WebPageKind):
    """A data table published as an HTML page."""

    kind: Literal["html_table"]
    url: str = Field(description="The page holding the table (http or https)")
    table: HtmlTableChoice | None = Field(None, description="Which table; unset = every data table of the page "
                                                            "(one resource each)")
    title: str | None = Field(None, description="Resource name on the portal; defaults to the table caption given "
                                                "or the page's file name")
    key: str | None = Field(None, description="Stable ASCII key; defaults to one made from the page's file name")

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return check_key(value)

    def fetch(self, remote: RemoteFile, dest, ctx: HarvestContext) -> Download:
        # A page is parsed whole in memory: it gets the page limit, not the (larger) file limit.
        return http_download(remote.url, dest, ctx, timeout=self.timeout, known=remote.known, headers=self.headers,
                             robots=self.respect_robots, credentials_for=self.url, limit="max_page_bytes")

    def gather(self, ctx: HarvestContext) -> list[RemoteFile]:
        if self.respect_robots:  # refuse at once, not after the fan-out
            from .. import net  # lazily: DAG parsing imports the kinds, not requests
            net.check_robots(self.url, http=ctx.http, timeout=self.timeout)
        name = file_name(self.url) or urlsplit(self.url).netloc
        choice = self.table.model_dump(exclude_none=True) if self.table else None
        return [RemoteFile(
            source=ctx.source_id, url=self.url,
            key=self.key or ascii_key(name) or "table",
            title=self.title or (self.table.caption if self.table and self.table.caption else name),
            suffix=".html",
            locator={"page": self.url},
            convert={"tables": choice} if choice else {},
        )]
