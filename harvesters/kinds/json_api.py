"""Source kind `json_api`: records from a paged JSON endpoint.

fetch walks every page (page number, offset/limit, or a next link from the body
or the ``Link`` header), takes the records at ``records_path`` on each, and
writes ONE JSON file: an array of all the records, which the converter reads as
a table. Credentials come from an Airflow Connection, never from the config.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterator, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import FinalError, RefusedFile
from ..results import RemoteFile
from ..settings import LIMIT_VARS
from .base import Download, HarvestContext, WebPageKind
from .common import ascii_key, check_key, dotted, file_name


class Pagination(BaseModel):
    """How the API splits its records into pages."""

    model_config = ConfigDict(extra="forbid")

    style: Literal["none", "page", "offset", "next_link"] = Field(
        "none", description="none: one answer; page: ?page=1,2,...; offset: ?offset=0&limit=N; "
                            "next_link: follow the next URL from the body (next_path) or the Link header")
    page_param: str = Field("page", description="page style: the page-number parameter")
    first_page: int = Field(1, ge=0, description="page style: number of the first page")
    size_param: str | None = Field(None, description="page style: the page-size parameter (e.g. per_page); "
                                                     "unset = the API's default size")
    offset_param: str = Field("offset", description="offset style: the offset parameter")
    limit_param: str = Field("limit", description="offset style: the limit parameter")
    size: int = Field(100, ge=1, le=100_000, description="Records asked per page (page size or limit)")
    next_path: str | None = Field(None, description="next_link style: dotted path of the next page's URL in the "
                                                    "body (e.g. `links.next`); unset = the Link: rel=next header")


class JsonApiSource(WebPageKind):
    """Records from a JSON API, all pages, written as one JSON array."""

    kind: Literal["json_api"]
    url: str = Field(description="The endpoint (http or https)")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict,
                                                        description="Query parameters of the first request")
    records_path: str | None = Field(None, description="Dotted path to the list of records in each answer "
                                                       "(e.g. `data` or `result.records`); unset = the answer "
                                                       "is the list")
    pagination: Pagination = Field(default_factory=Pagination)
    max_pages: int = Field(100, ge=1, le=100_000, description="Fail (rather than loop forever) when the API has "
                                                              "more pages than this")
    connection: str | None = Field(None, description="Airflow Connection id holding the credentials")
    auth: Literal["bearer", "basic", "api_key"] | None = Field(
        None, description="bearer: token = the connection's password; basic: its login/password; api_key: "
                          "password sent in the header named by extra.header_name (default X-API-Key)")
    title: str | None = Field(None, description="Resource name on the portal; defaults to the endpoint's name")
    key: str | None = Field(None, description="Stable ASCII key; defaults to one made from the endpoint's path")

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return check_key(value)

    @model_validator(mode="after")
    def _auth_needs_connection(self) -> "JsonApiSource":
        if self.auth and not self.connection:
            raise ValueError(f"auth {self.auth!r} needs `connection:` (the Airflow Connection id with the secret)")
        if self.connection and not self.auth:
            raise ValueError("`connection:` given without `auth:` (bearer, basic or api_key)")
        return self

    def gather(self, ctx: HarvestContext) -> list[RemoteFile]:
        if self.respect_robots:
            from .. import net  # lazily: DAG parsing imports the kinds, not requests
            net.check_robots(self.url, http=ctx.http, timeout=self.timeout)
        name = file_name(self.url) or urlsplit(self.url).netloc
        return [RemoteFile(source=ctx.source_id, url=self.url, key=self.key or ascii_key(name) or "records",
                           title=self.title or name, suffix=".json",
                           locator={"endpoint": self.url, "params": self.params},
                           # fetch writes a plain array of records: nothing for the converter to dig for.
                           convert={"records_path": None})]

    # ------------------------------------------------------------------ fetch

    def _credentials(self, ctx: HarvestContext) -> tuple[dict[str, str], Any]:
        headers = dict(self.headers)
        if not self.connection:
            return headers, None
        conn = ctx.connection(self.connection)
        if self.auth == "basic":
            return headers, (conn.login, conn.password)
        if not conn.password:
            raise FinalError(f"connection {self.connection!r} has no password (the {self.auth} secret)")
        if self.auth == "bearer":
            headers["Authorization"] = f"Bearer {conn.password}"
        else:
            headers[str(conn.extra.get("header_name") or "X-API-Key")] = conn.password
        return headers, None

    def _records(self, body: Any, url: str) -> list:
        try:
            records = dotted(body, self.records_path)
        except KeyError as exc:
            raise FinalError(f"records_path {self.records_path!r}: no {exc.args[0]} in the answer from {url}") from None
        if not isinstance(records, list):
            raise FinalError(f"records_path {self.records_path or '(the answer)'} is a {type(records).__name__}, "
                             f"not a list of records, in the answer from {url}")
        return records

    def _next_url(self, body: Any, response, page_url: str) -> str | None:
        p = self.pagination
        if p.next_path:
            try:
                value = dotted(body, p.next_path)
            except KeyError:
                return None
            return urljoin(page_url, value) if isinstance(value, str) and value else None
        link = response.links.get("next", {}).get("url")
        return urljoin(page_url, link) if link else None

    def pages(self, ctx: HarvestContext) -> Iterator[list]:
        """The records of each page in turn (one page in memory at a time)."""
        p = self.pagination
        headers, auth = self._credentials(ctx)
        url, params = self.url, dict(self.params)
        read = 0
        if p.style == "page":
            params[p.page_param] = p.first_page
            if p.size_param:
                params[p.size_param] = p.size
        elif p.style == "offset":
            params.update({p.offset_param: 0, p.limit_param: p.size})
        for page in range(1, self.max_pages + 2):
            if page > self.max_pages:
                raise FinalError(f"{self.url} has more than max_pages={self.max_pages} pages "
                                 f"({read} records read so far): raise max_pages or narrow the params")
            # The credentials are for the configured endpoint's origin: a next link elsewhere goes without.
            from .. import net  # lazily: DAG parsing imports the kinds, not requests
            response = net.get(url, http=ctx.http, timeout=self.timeout, params=params or None, headers=headers,
                               auth=auth, robots=self.respect_robots, credentials_for=self.url)
            try:
                body = response.json()
            except ValueError:
                raise FinalError(f"not JSON ({response.headers.get('Content-Type', 'no content type')}) "
                                 f"from {response.url}") from None
            batch = self._records(body, response.url)
            read += len(batch)
            yield batch
            if p.style == "none":
                break
            if p.style == "next_link":
                url, params = self._next_url(body, response, response.url), None
                if not url:
                    break
                continue
            full = len(batch) >= p.size if (p.style == "offset" or p.size_param) else bool(batch)
            if not batch or not full:
                break
            if p.style == "page":
                params[p.page_param] += 1
            else:
                params[p.offset_param] += len(batch)

    def walk(self, ctx: HarvestContext) -> list:
        """Every record of every page."""
        return [record for batch in self.pages(ctx) for record in batch]

    def fetch(self, remote: RemoteFile, dest: Path, ctx: HarvestContext) -> Download:
        """Write the records as one JSON array, page by page, at most max_download_bytes (no .part left)."""
        limit = ctx.settings.limits.max_download_bytes
        tmp = dest.with_name(dest.name + ".part")
        written, first = 0, True
        try:
            with tmp.open("w", encoding="utf-8") as out:
                out.write("[")
                for batch in self.pages(ctx):
                    for record in batch:
                        text = ("" if first else ",") + json.dumps(record, ensure_ascii=False)
                        first = False
                        written += len(text.encode("utf-8"))
                        if written > limit:
                            raise RefusedFile("size", f"the records of {self.url} are over max_download_bytes "
                                                      f"({LIMIT_VARS['max_download_bytes']}={limit})", file=self.url)
                        out.write(text)
                out.write("]")
            tmp.replace(dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Download("application/json")

    def fingerprint(self, path: Path) -> str:
        """SHA-256 of the assembled records as canonical JSON (keys sorted, no spaces).

        An API that reorders the keys of its answers has not changed its data; the raw file
        keeps the API's own key order, since the converter takes its columns from it.
        """
        records = json.loads(path.read_text(encoding="utf-8"))
        canonical = json.dumps(records, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
