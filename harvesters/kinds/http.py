"""Source kind `http`: one or more direct file URLs on an agency's website."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..results import RemoteFile
from .base import HarvestContext, WebRequests
from .common import ascii_key, check_http_url, check_key, file_name, strings_as, suffix_of


def key_from_url(url: str) -> str:
    """An ASCII key from the URL's file name (`PM25%20ราย.csv` → `pm25`)."""
    return ascii_key(file_name(url)) or "file"


class HttpFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Direct URL of the file (http or https)")
    title: str | None = Field(None, description="Resource name on the portal; defaults to the file name")
    key: str | None = Field(None, description="Stable ASCII key; defaults to one made from the file name")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return check_key(value)


class HttpSource(WebRequests):
    """Files at fixed URLs."""

    kind: Literal["http"]
    files: list[HttpFile] = Field(min_length=1)

    @field_validator("files", mode="before")
    @classmethod
    def _plain_urls(cls, value):
        return strings_as("url", value)  # a bare URL is the common case

    @model_validator(mode="after")
    def _unique_keys(self) -> "HttpSource":
        keys = [f.key or key_from_url(f.url) for f in self.files]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"two files share the key {dupes}: give them distinct `key:` values")
        return self

    def hosts(self) -> set[str]:
        return {urlsplit(f.url).netloc for f in self.files}

    def gather(self, ctx: HarvestContext) -> list[RemoteFile]:
        return [
            RemoteFile(
                source=ctx.source_id,
                url=f.url,
                key=f.key or key_from_url(f.url),
                title=f.title or file_name(f.url),
                suffix=suffix_of(file_name(f.url)),
            )
            for f in self.files
        ]
