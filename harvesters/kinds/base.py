"""What every source kind is: a typed settings model with gather, fetch and acknowledge.

A kind module defines one subclass of ``SourceKind`` with a ``kind`` literal (the
discriminator in the source config) and registers it in ``kinds/__init__.py``.

- ``gather(ctx)``: what the source offers now (small ``RemoteFile`` records).
- ``fetch(remote, dest, ctx)``: download one file to ``dest`` (write it whole or not
  at all) and return a ``Download`` (content type, the server's validators, or
  ``not_modified``); the default is an HTTP GET of ``remote.url`` with the polite
  client, made conditional on what the portal holds (``remote.known``).
- ``fingerprint(path)``: what change detection compares with the portal's
  ``harvest_fingerprint``; the raw file's SHA-256 unless the kind knows better.
- ``acknowledge(fetched, ctx)``: called only after a successful publish, e.g. a
  drop marks its objects processed; the default does nothing.
- ``hosts()``: the servers this source talks to, for per-host concurrency limits.

Kinds never import Airflow: credentials come through ``ctx.connection(conn_id)``,
which the DAG answers from Airflow Connections and the CLI from the same
``AIRFLOW_CONN_<ID>`` environment variables.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ConnectionUndefined, FinalError, RetryableError
from ..results import FetchedFile, KnownFile, RemoteFile
from ..settings import Settings

if TYPE_CHECKING:  # requests costs ~0.1 s to import: not when a DAG file is parsed
    import requests


@dataclass(frozen=True)
class Download:
    """What a kind's fetch found: the file's content type and the server's validators, or "not modified"."""

    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False  # HTTP 304: nothing written; the portal's copy is current


def conditional_headers(known: KnownFile | None) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from the validators the portal keeps (RFC 9110 s.13).

    Only for a file whose published content is known (its fingerprint), so a 304 can be trusted.
    """
    if known is None or not (known.fingerprint or known.sha256):
        return {}
    headers = {}
    if known.etag:
        headers["If-None-Match"] = known.etag
    if known.last_modified:
        headers["If-Modified-Since"] = known.last_modified
    return headers


def http_download(url: str, dest: Path, ctx: "HarvestContext", *, timeout: float, known: KnownFile | None,
                  headers: dict[str, str] | None = None, robots: bool = False,
                  credentials_for: str | None = None, limit: str = "max_download_bytes") -> Download:
    """The polite, conditional HTTP download every web-facing kind uses (credentials: see ``net.download``)."""
    from .. import net

    response = net.download(url, dest, http=ctx.http, timeout=timeout, robots=robots,
                            headers={**(headers or {}), **conditional_headers(known)},
                            credentials_for=credentials_for, limit=limit)
    if response.status_code == 304:
        return Download(not_modified=True)
    return Download(response.headers.get("Content-Type"), response.headers.get("ETag"),
                    _usable_last_modified(response.headers))


def _usable_last_modified(headers) -> str | None:
    """Last-Modified, when it can tell a later change: not when it lies within a second of the answer's
    Date (RFC 9110 8.8.2.2: the file may change again within that second, and a conditional request
    would then be answered 304). Without it, the next run downloads and compares checksums."""
    from email.utils import parsedate_to_datetime

    stamp, date = headers.get("Last-Modified"), headers.get("Date")
    try:
        if stamp and date and (parsedate_to_datetime(date) - parsedate_to_datetime(stamp)).total_seconds() >= 1:
            return stamp
    except (TypeError, ValueError):  # unparseable dates: no validator
        pass
    return None


@dataclass(frozen=True)
class ConnectionInfo:
    """The parts of an Airflow Connection a kind needs, without Airflow."""

    conn_id: str
    conn_type: str = ""
    host: str = ""
    port: int | None = None
    login: str = ""
    password: str = ""
    schema: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def connection_from_env(conn_id: str) -> ConnectionInfo:
    """Read ``AIRFLOW_CONN_<ID>`` (JSON or URI form), as Airflow itself does."""
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not raw:
        raise ConnectionUndefined(f"connection {conn_id!r} is not defined (Airflow connection or "
                                  f"AIRFLOW_CONN_{conn_id.upper()})")
    if raw.lstrip().startswith("{"):
        try:
            data = json.loads(raw)
            extra = data.get("extra") or {}
            return ConnectionInfo(conn_id, data.get("conn_type", ""), data.get("host", ""), data.get("port"),
                                  data.get("login", ""), data.get("password", ""), data.get("schema", ""),
                                  json.loads(extra) if isinstance(extra, str) else extra)
        except (ValueError, AttributeError, TypeError):  # the message must not quote the value: it holds secrets
            raise FinalError(f"connection {conn_id!r} (AIRFLOW_CONN_{conn_id.upper()}) is not valid JSON "
                             f"of a connection") from None
    parts = urlsplit(raw)
    return ConnectionInfo(conn_id, parts.scheme, parts.hostname or "", parts.port, unquote(parts.username or ""),
                          unquote(parts.password or ""), parts.path.lstrip("/"), dict(parse_qsl(parts.query)))


def airflow_connection(conn_id: str) -> ConnectionInfo:
    """An Airflow Connection as a ConnectionInfo, inside a task (the DAG passes this as ``connection``).

    Only Airflow's "not found" means "not defined" (``ConnectionUndefined``, which lets the portal fall
    back to its environment settings); any other failure to read it (secrets backend or API server
    unavailable) is retryable, never a silent fallback to other settings.
    """
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        c = Connection.get(conn_id)
    except AirflowNotFoundException:
        raise ConnectionUndefined(f"Airflow connection {conn_id!r} is not defined") from None
    except Exception as exc:  # noqa: BLE001 - backend errors of every kind; the message must not quote values
        raise RetryableError(f"cannot read Airflow connection {conn_id!r} ({type(exc).__name__} from the "
                             f"secrets backend or API server); the task retries") from None
    return ConnectionInfo(conn_id, c.conn_type or "", c.host or "", c.port, c.login or "", c.password or "",
                          c.schema or "", c.extra_dejson or {})


@dataclass
class HarvestContext:
    """What a kind may use at run time."""

    source_id: str
    settings: Settings
    http: requests.Session
    connection: Callable[[str], ConnectionInfo] = connection_from_env


class SourceKind(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for the server")

    def gather(self, ctx: HarvestContext) -> list[RemoteFile]:
        raise NotImplementedError

    def fetch(self, remote: RemoteFile, dest: Path, ctx: HarvestContext) -> Download:
        # Configured headers belong to the source's own page or endpoint (or, for fixed file URLs, to each
        # file's): a link found on that page to another origin does not get them.
        return http_download(remote.url, dest, ctx, timeout=self.timeout, known=remote.known,
                             headers=getattr(self, "headers", None), robots=getattr(self, "respect_robots", False),
                             credentials_for=getattr(self, "url", None) or remote.url)

    def fingerprint(self, path: Path) -> str:
        from ..staging import sha256_file

        return sha256_file(path)

    def tracks_withdrawal(self) -> bool:
        """Does a file this source stops offering count as missing (and get withdrawn after the grace period)?"""
        return True

    def acknowledge(self, fetched: list[FetchedFile], ctx: HarvestContext) -> None:
        return None

    def hosts(self) -> set[str]:
        return set()

    def several_datasets(self) -> bool:
        """Does gather give files datasets of their own (``RemoteFile.dataset``)? For docs and UI text."""
        return False

    def pool_key(self) -> str | None:
        """What per-host concurrency limits group this source by: its one host, else None.

        Kinds whose server is named by an Airflow Connection (drops) answer ``conn_<id>``.
        """
        hosts = self.hosts()
        return f"host_{next(iter(hosts))}" if len(hosts) == 1 else None


class WebRequests(SourceKind):
    """Settings of kinds that ask web servers: extra request headers, and robots.txt."""

    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers")
    respect_robots: bool = Field(True, description="Obey the site's robots.txt (turn off only with the site "
                                                   "owner's permission)")


class WebPageKind(WebRequests):
    """Kinds that start from one page or endpoint URL."""

    url: str = Field(description="The page or endpoint (http or https)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        from .common import check_http_url

        return check_http_url(value)

    def hosts(self) -> set[str]:
        return {urlsplit(self.url).netloc}
