"""Source kind `http`: one or more direct file URLs on an agency's website."""

from __future__ import annotations

import posixpath
import re
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..results import RemoteFile
from .base import HarvestContext, SourceKind

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")


def key_from_url(url: str) -> str:
    """An ASCII key from the URL's file name (`PM25%20ราย.csv` → `pm25`)."""
    stem = posixpath.splitext(posixpath.basename(unquote(urlsplit(url).path)))[0]
    key = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:60]
    return key or "file"


class HttpFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Direct URL of the file (http or https)")
    title: str | None = Field(None, description="Resource name on the portal; defaults to the file name")
    key: str | None = Field(None, description="Stable ASCII key; defaults to one made from the file name")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not KEY_RE.match(value):
            raise ValueError("key must be lower-case ASCII letters, digits, '-' or '_' (at most 60)")
        return value


class HttpSource(SourceKind):
    """Files at fixed URLs."""

    kind: Literal["http"]
    files: list[HttpFile] = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers")
    respect_robots: bool = Field(True, description="Obey the site's robots.txt (turn off only with the site "
                                                   "owner's permission)")

    @field_validator("files", mode="before")
    @classmethod
    def _plain_urls(cls, value):
        # A bare URL string is the common case; accept it as {url: ...}.
        if isinstance(value, list):
            return [{"url": v} if isinstance(v, str) else v for v in value]
        return value

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
                title=f.title or posixpath.basename(unquote(urlsplit(f.url).path)),
                suffix=posixpath.splitext(unquote(urlsplit(f.url).path))[1].lower()[:10],
            )
            for f in self.files
        ]
