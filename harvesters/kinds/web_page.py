"""Source kind `web_page`: an agency page that links to its data files.

gather fetches the page, keeps the links that match the filters (CSS selector,
link-text substring, URL regex, file types), resolves them against the page,
and follows "next page" links up to ``max_pages``. Every file found becomes a
resource of the source's one dataset; the link text (Thai welcome) is its title.

With ``each_file_dataset`` every file becomes its own portal dataset instead
(e.g. one per monthly report): named ``<source id>-<file key>``, titled by its
link text, with the rest of its metadata from the source's ``metadata`` block.
"""

from __future__ import annotations

import logging
import re
from typing import Literal
from urllib.parse import urldefrag, urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..results import DatasetTarget, RemoteFile
from .base import HarvestContext, WebPageKind
from .common import check_css, check_regex, dataset_slug, file_name, suffix_of, unique_keys, unique_titles

log = logging.getLogger(__name__)

MAX_LINK_LENGTH = 2048  # longer "links" on a page are not file links
DATA_TYPES = ["csv", "tsv", "xlsx", "xls", "ods", "json", "geojson", "xml", "zip", "parquet"]


def _text(el) -> str:
    return " ".join(el.get_text(" ").split())


class LinkFilter(BaseModel):
    """Which links of the page are data files. Set at least one of selector, text_contains, url_pattern."""

    model_config = ConfigDict(extra="forbid")

    selector: str | None = Field(None, description="CSS selector of the links (or of elements that contain them), "
                                                   "e.g. `table.downloads a` or `#files`")
    text_contains: str | None = Field(None, description="Keep links whose text contains this (e.g. `ดาวน์โหลด`, "
                                                        "`PM2.5`); case-insensitive")
    url_pattern: str | None = Field(None, description="Python regular expression searched in the link's absolute, "
                                                      "decoded URL (e.g. `/reports/.*2568`)")
    file_types: list[str] = Field(default_factory=lambda: list(DATA_TYPES),
                                  description="File extensions to keep (without the dot); [] keeps any link")

    @field_validator("selector")
    @classmethod
    def _css(cls, value: str | None) -> str | None:
        return check_css(value)

    @field_validator("url_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return check_regex(value)

    @field_validator("file_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        return [v.lower().lstrip(".") for v in value]

    @model_validator(mode="after")
    def _some_filter(self) -> "LinkFilter":
        if not (self.selector or self.text_contains or self.url_pattern):
            raise ValueError("say which links are the data files: set `selector`, `text_contains` or "
                             "`url_pattern` (a page links to far more than its data)")
        return self


class NextPage(BaseModel):
    """How to find the link to the next page of a paged list."""

    model_config = ConfigDict(extra="forbid")

    selector: str | None = Field(None, description="CSS selector of the next-page link, e.g. `a[rel=next]`")
    text: str | None = Field(None, description="Text of the next-page link, e.g. `หน้าถัดไป` (contained, "
                                               "case-insensitive)")

    @field_validator("selector")
    @classmethod
    def _css(cls, value: str | None) -> str | None:
        return check_css(value)

    @model_validator(mode="after")
    def _one(self) -> "NextPage":
        if not (self.selector or self.text):
            raise ValueError("set `selector` or `text` for the next-page link")
        return self


class WebPageSource(WebPageKind):
    """Data files linked from an agency web page (and the pages after it)."""

    kind: Literal["web_page"]
    url: str = Field(description="The page that links to the data files (http or https)")
    links: LinkFilter = Field(description="Which links are data files")
    next_page: NextPage | None = Field(None, description="Follow the next-page link of a paged list")
    max_pages: int = Field(10, ge=1, le=500, description="Read at most this many pages (the first included)")
    each_file_dataset: bool = Field(False, description="Make each file its own portal dataset (named "
                                                       "<id>-<file key>, titled by its link text) instead of "
                                                       "a resource of the source's one dataset")

    def several_datasets(self) -> bool:
        return self.each_file_dataset

    # ------------------------------------------------------------------ gather

    def _page(self, url: str, ctx: HarvestContext):
        from bs4 import BeautifulSoup

        from .. import net  # lazily: DAG parsing imports the kinds, not requests
        response = net.get(url, http=ctx.http, timeout=self.timeout, headers=self.headers,
                           robots=self.respect_robots, credentials_for=self.url)
        # Thai pages often omit the charset in the header: let the parser read <meta charset> from the bytes.
        return BeautifulSoup(response.content, "lxml"), response.url

    def _candidates(self, soup):
        if not self.links.selector:
            return soup.find_all("a", href=True)
        found = []
        for el in soup.select(self.links.selector):
            if el.name == "a" and el.get("href"):
                found.append(el)
            else:
                found.extend(el.find_all("a", href=True))
        return found

    def _matches(self, text: str, url: str) -> bool:
        f = self.links
        if f.text_contains and f.text_contains.casefold() not in text.casefold():
            return False
        if f.url_pattern and not (re.search(f.url_pattern, url) or re.search(f.url_pattern, _decoded(url))):
            return False
        if f.file_types and suffix_of(file_name(url)).lstrip(".") not in f.file_types:
            return False
        return True

    def _next(self, soup, base: str) -> str | None:
        nxt = self.next_page
        if nxt is None:
            return None
        if nxt.selector:
            links = [a for el in soup.select(nxt.selector)
                     for a in ([el] if el.name == "a" else el.find_all("a"))]
        else:
            links = [a for a in soup.find_all("a") if nxt.text.casefold() in _text(a).casefold()]
        for a in links:
            href = a.get("href")
            if href and not href.startswith(("javascript:", "#")):
                return urldefrag(urljoin(base, href))[0]
        return None

    def gather(self, ctx: HarvestContext) -> list[RemoteFile]:
        found: dict[str, str] = {}  # absolute URL -> link text, in page order
        url: str | None = self.url
        seen_pages: set[str] = set()
        while url and url not in seen_pages:
            if len(seen_pages) >= self.max_pages:
                log.warning("%s: stopped after max_pages=%d pages; %s not read", ctx.source_id, self.max_pages, url)
                break
            seen_pages.add(url)
            soup, base = self._page(url, ctx)
            for a in self._candidates(soup):
                href = a["href"].strip()
                if href.startswith(("javascript:", "mailto:", "#")):
                    continue
                absolute = urldefrag(urljoin(base, href))[0]
                if urlsplit(absolute).scheme not in ("http", "https") or len(absolute) > MAX_LINK_LENGTH:
                    continue  # (a monster link could make a config's url_pattern backtrack for hours)
                text = _text(a) or a.get("title", "")
                if absolute not in found and self._matches(text, absolute):
                    found[absolute] = text
            url = self._next(soup, base)
        urls = list(found)
        names = [file_name(u) for u in urls]
        keys = unique_keys(names, urls)
        titles = unique_titles([found[u] or n for u, n in zip(urls, names)], names)
        return [
            RemoteFile(source=ctx.source_id, url=u, key=k, title=t, suffix=suffix_of(n),
                       locator={"page": self.url, "link_text": found[u]},
                       dataset=DatasetTarget(name=dataset_slug(ctx.source_id, k), title=t, origin=u)
                       if self.each_file_dataset else None)
            for u, n, k, t in zip(urls, names, keys, titles)
        ]


def _decoded(url: str) -> str:
    from urllib.parse import unquote

    return unquote(url)
