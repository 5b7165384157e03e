"""Source kind `ckan_catalog`: datasets from an agency's own CKAN catalog (a GD Catalog instance).

gather pages through the catalog's ``package_search`` (organization, query and
filter select the datasets; sorted by name so pages are stable) and turns each
remote dataset into ONE portal dataset (a ``DatasetTarget``): its name (with
``dataset_prefix``), its title, and its GD Catalog metadata copied as plain
values. The publishing side lays them over the config's ``metadata:`` and
checks the result per dataset. Each data resource (``formats``) becomes a file
the pipeline fetches and converts like any other; PDFs and other documents are
skipped, never downloaded. A dataset the agency has not flagged ``allow_harvest:
"True"`` is left alone.

Private datasets need ``connection:``, an Airflow Connection whose password is
a CKAN API token; it is sent only to the catalog's own host.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import string
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ..errors import FinalError
from ..gdc.model import DERIVED, DatasetMetadata
from ..results import DatasetTarget, RemoteFile
from .base import Download, HarvestContext, WebRequests, http_download
from .common import ascii_key, check_http_url, dataset_slug, file_name, short_hash, suffix_of, unique_titles

log = logging.getLogger(__name__)

DATA_FORMATS = ["csv", "tsv", "xls", "xlsx", "ods", "json", "xml", "html", "zip"]
FORMAT_ALIASES = {"htm": "html", "excel": "xls"}
CKAN_NAME_RE = re.compile(r"^[a-z0-9_-]{2,100}$")  # CKAN's own rule for dataset and organization names
PREFIX_RE = re.compile(r"^([a-z0-9][a-z0-9_-]{0,39})?$")
KEY_BASE_MAX = 50  # + "-" + 8 hex = 59: within common.KEY_RE's 60
SEARCH_ROWS_MAX = 1000  # CKAN's default ckan.search.rows_max
TITLE_PLACEHOLDERS = ("title", "organization", "catalog")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# Config metadata names a remote GD Catalog dataset may fill: not those the pipeline derives, and title
# and tags come their own way (the target's title; tag dicts → names).
METADATA_FIELDS = tuple(n for n in DatasetMetadata.model_fields if n not in DERIVED and n not in ("title", "tags"))


def _format_of(value: str) -> str:
    """A resource's format field as a bare lower-case extension (``XLS``, ``.xls``, a MIME type → ``xls``)."""
    fmt = value.strip().lower()
    if "/" in fmt:  # some catalogs store a MIME type
        mime = fmt.split(";")[0].strip()
        fmt = "xml" if mime == "application/xml" else (mimetypes.guess_extension(mime) or "")  # not .xsl
    fmt = fmt.lstrip(".")
    return FORMAT_ALIASES.get(fmt, fmt)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class CkanCatalogSource(WebRequests):
    """Datasets of an agency's CKAN catalog, each copied as its own portal dataset."""

    kind: Literal["ckan_catalog"]
    url: str = Field(description="The catalog's site root (http or https), e.g. https://catalog.example.go.th")
    organization: str | None = Field(None, description="Only this remote organization's datasets (its URL name)")
    query: str | None = Field(None, description="package_search `q` (free text or Solr syntax); unset = all")
    filter: str | None = Field(None, description="Extra package_search `fq` (Solr), ANDed with `organization`, "
                                                 "e.g. `tags:ฝุ่นละออง` or `res_format:CSV`")
    max_datasets: int = Field(100, ge=1, le=10_000, description="Read at most this many datasets from the search "
                                                               "(by name, before the allow_harvest and format "
                                                               "checks); a warning says when more matched")
    page_size: int = Field(100, ge=1, le=SEARCH_ROWS_MAX, description="Datasets asked per package_search call")
    formats: list[str] = Field(default_factory=lambda: list(DATA_FORMATS), min_length=1,
                               description="Resource formats to take (the resource's format, else its URL's "
                                           "extension; case-insensitive); others (PDF, DOC...) are skipped")
    only_allow_harvest: bool = Field(True, description="Skip datasets whose allow_harvest (the agency's own "
                                                       "\"may be harvested\" flag) is not \"True\"; datasets "
                                                       "without the field are taken")
    dataset_prefix: str = Field("", description="Put before each remote dataset's name to make the portal name "
                                                "(e.g. `pcd-`); names over 70 characters are cut and hashed")
    connection: str | None = Field(None, description="Airflow Connection id whose password is a CKAN API token "
                                                     "(for private datasets)")
    title_template: str = Field("{title}", description="The central copy's title: {title} is the remote dataset's "
                                                       "title, {organization} its organization's title, {catalog} "
                                                       "the catalog's host. The portal refuses a title another live "
                                                       "dataset uses, so when the originals (or another copy) live on "
                                                       "the same portal, name the origin: "
                                                       "\"{title} (จาก {organization})\"")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value).rstrip("/")

    @field_validator("organization")
    @classmethod
    def _organization(cls, value: str | None) -> str | None:
        if value is not None and not CKAN_NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a CKAN organization name (its URL name: lower-case ASCII letters, "
                             "digits, '-' or '_')")
        return value

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: list[str]) -> list[str]:
        return [_format_of(v) for v in value]

    @field_validator("dataset_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not PREFIX_RE.match(value):
            raise ValueError("dataset_prefix must be at most 40 lower-case ASCII letters, digits, '-' or '_', "
                             "starting with a letter or digit")
        return value

    @field_validator("title_template")
    @classmethod
    def _title_template(cls, value: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"not a title template ({exc}); write placeholders as {{title}}") from None
        unknown = names - set(TITLE_PLACEHOLDERS)
        if unknown or "title" not in names:
            allowed = ", ".join("{" + p + "}" for p in TITLE_PLACEHOLDERS)
            raise ValueError(f"title_template must hold {{title}} and may hold only {allowed}; "
                             f"found: {sorted(names) or 'none'}")
        return value

    def hosts(self) -> set[str]:
        return {urlsplit(self.url).netloc}

    def several_datasets(self) -> bool:
        return True

    # ------------------------------------------------------------------ gather

    def _auth(self, ctx: HarvestContext) -> dict[str, str]:
        if not self.connection:
            return {}
        conn = ctx.connection(self.connection)
        if not conn.password:
            raise FinalError(f"connection {self.connection!r} has no password (the CKAN API token)")
        return {"Authorization": conn.password}  # CKAN takes the bare token

    def _fq(self) -> str | None:
        parts = [f"organization:{self.organization}"] if self.organization else []
        if self.filter:
            parts.append(f"({self.filter})" if parts else self.filter)
        return " AND ".join(parts) or None

    def _search(self, ctx: HarvestContext, headers: dict[str, str], start: int, rows: int) -> dict:
        endpoint = f"{self.url}/api/3/action/package_search"
        params: dict[str, Any] = {"q": self.query or "*:*", "rows": rows, "start": start, "sort": "name asc",
                                  "include_private": "true" if self.connection else "false"}
        if fq := self._fq():
            params["fq"] = fq
        # No robots.txt here: CKAN's stock robots.txt disallows /api/ to keep crawlers off the search pages,
        # but the action API is the machine interface a harvester is meant to use (resource downloads
        # still obey robots.txt, in fetch).
        from .. import net  # lazily: DAG parsing imports the kinds, not requests
        response = net.get(endpoint, http=ctx.http, timeout=self.timeout, params=params, headers=headers)
        try:
            body = response.json()
        except ValueError:
            raise FinalError(f"not JSON ({response.headers.get('Content-Type', 'no content type')}) from "
                             f"{response.url}: is {self.url} a CKAN site?") from None
        if not isinstance(body, dict) or body.get("success") is not True:
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):  # CKAN's {"__type": "Validation Error", "message": ...}
                error = error.get("message") or error.get("__type") or error
            raise FinalError(f"package_search refused at {response.url}: {error or 'success is not true'}")
        result = body.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("results"), list):
            raise FinalError(f"package_search answer from {response.url} has no result.results list")
        return result

    def datasets(self, ctx: HarvestContext) -> list[dict]:
        """The remote datasets the search selects, at most ``max_datasets``, by name."""
        headers = {**self.headers, **self._auth(ctx)}
        found: dict[str, dict] = {}
        start, count = 0, 0
        while len(found) < self.max_datasets:
            result = self._search(ctx, headers, start, min(self.page_size, self.max_datasets - len(found)))
            batch, count = result["results"], _int(result.get("count")) or 0
            before = len(found)
            for pkg in batch:
                # A dataset added while paging shifts the pages: never take one twice.
                found.setdefault(str(pkg.get("id") or pkg.get("name")), pkg)
            start += len(batch)
            if len(found) == before or start >= count:  # the end, or a server that ignores `start`
                break
        if count > len(found) and len(found) >= self.max_datasets:
            log.warning("%s: %d datasets match at %s, took the first max_datasets=%d by name", ctx.source_id,
                        count, self.url, self.max_datasets)
        return list(found.values())

    def _harvestable(self, pkg: dict) -> bool:
        # GD Catalog's own flag: the agency lets its dataset be harvested. Plain CKAN has no such field.
        return not self.only_allow_harvest or "allow_harvest" not in pkg or str(pkg["allow_harvest"]) == "True"

    def target(self, pkg: dict) -> DatasetTarget:
        """The portal dataset a remote dataset becomes (metadata as plain values; publishing validates)."""
        metadata = {n: pkg[n] for n in METADATA_FIELDS if pkg.get(n) not in (None, "", [])}
        tags = [t["name"] for t in pkg.get("tags") or [] if isinstance(t, dict) and t.get("name")]
        if tags:
            metadata["tags"] = tags
        name = pkg["name"]
        org = pkg.get("organization") if isinstance(pkg.get("organization"), dict) else {}
        title = self.title_template.format(title=" ".join(str(pkg.get("title") or name).split()),
                                           organization=org.get("title") or org.get("name") or urlsplit(self.url).netloc,
                                           catalog=urlsplit(self.url).netloc)
        return DatasetTarget(name=dataset_slug(self.dataset_prefix + name), title=title,
                             metadata=metadata, origin=f"{self.url}/dataset/{name}")

    def _suffix(self, res: dict) -> str | None:
        """The resource's extension when its format is one to take, else None."""
        fmt = _format_of(res.get("format") or "") or suffix_of(file_name(res["url"])).lstrip(".")
        return f".{fmt}" if fmt in self.formats else None

    def gather(self, ctx: HarvestContext) -> list[RemoteFile]:
        picked: list[tuple[dict, DatasetTarget, list[tuple[dict, str]]]] = []
        for pkg in self.datasets(ctx):
            name = pkg.get("name") or pkg.get("id")
            if not self._harvestable(pkg):
                log.info("%s: skip dataset %s: allow_harvest is %r, not \"True\"", ctx.source_id, name,
                         pkg.get("allow_harvest"))
                continue
            taken = []
            for res in pkg.get("resources") or []:
                if not res.get("url"):
                    log.info("%s: skip resource %r of %s: no URL", ctx.source_id, res.get("name"), name)
                elif (suffix := self._suffix(res)) is None:
                    log.info("%s: skip resource %r of %s: format %r is not one of %s", ctx.source_id,
                             res.get("name"), name, res.get("format") or suffix_of(file_name(res["url"])),
                             ", ".join(self.formats))
                else:
                    taken.append((res, suffix))
            if not taken:
                log.info("%s: skip dataset %s: no resource in a format to take", ctx.source_id, name)
                continue
            picked.append((pkg, self.target(pkg), taken))

        keys = iter(_resource_keys([(pkg["name"], res) for pkg, _, taken in picked for res, _ in taken]))
        files: list[RemoteFile] = []
        for pkg, target, taken in picked:
            names = [file_name(res["url"]) for res, _ in taken]
            titles = unique_titles([res.get("name") or n or str(res.get("id")) for (res, _), n in zip(taken, names)],
                                   names)
            for (res, suffix), title in zip(taken, titles):
                changed = res.get("last_modified") or res.get("metadata_modified")
                files.append(RemoteFile(
                    source=ctx.source_id, url=res["url"], key=next(keys), title=title, suffix=suffix,
                    size=_int(res.get("size")), etag=_version(res),
                    modified=changed or pkg.get("metadata_modified"),
                    locator={"catalog": self.url, "dataset": pkg["name"], "dataset_id": pkg.get("id"),
                             "resource_id": res.get("id")},
                    dataset=target))
        return files

    # ------------------------------------------------------------------ fetch

    def fetch(self, remote: RemoteFile, dest: Path, ctx: HarvestContext) -> Download:
        headers = dict(self.headers)
        own = urlsplit(self.url)
        where = urlsplit(remote.url)
        if (where.scheme, where.netloc) == (own.scheme, own.netloc):
            # The token opens private resources on the catalog itself; never send it to other hosts.
            headers.update(self._auth(ctx))
        return http_download(remote.url, dest, ctx, timeout=self.timeout, known=remote.known, headers=headers,
                             robots=self.respect_robots, credentials_for=self.url)


def _version(res: dict) -> str | None:
    """The remote resource's version marker: its file's last change and hash as the catalog records them.

    Equal to the one stored with the published copy → unchanged, without a download. None when
    the catalog records neither (then the download's checksum decides): an id alone never changes.
    """
    stamp, digest = res.get("last_modified"), res.get("hash")
    if not stamp and not digest:
        return None
    return f"{stamp or ''}|{digest or ''}|{res.get('url', '')}"


def _resource_keys(items: list[tuple[str, dict]]) -> list[str]:
    """Stable ASCII keys, unique over the gather: remote dataset name + the resource's name or file name.

    A resource whose name and file name give no ASCII key (Thai only), or whose
    key another resource shares (or was cut short), gets a short hash of its id.
    """
    bases = []
    for dataset, res in items:
        label = _slug(res.get("name") or "")
        if not re.search(r"[a-z]", label):  # a Thai name with a year in it says little: use the file name
            label = ascii_key(file_name(res["url"])) or label
        base = _slug(f"{dataset}-{label}")
        bases.append((base[:KEY_BASE_MAX].rstrip("-"), bool(label) and len(base) <= KEY_BASE_MAX))
    counts: dict[str, int] = {}
    for base, _ in bases:
        counts[base] = counts.get(base, 0) + 1
    keys = []
    for (base, whole), (dataset, res) in zip(bases, items):
        ident = str(res.get("id") or res["url"])
        keys.append(base if whole and counts[base] == 1 else f"{base or 'file'}-{short_hash(ident)}")
    return keys
