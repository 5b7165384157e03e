"""What every source kind is: a typed settings model with gather, fetch and acknowledge.

A kind module defines one subclass of ``SourceKind`` with a ``kind`` literal (the
discriminator in the source config) and registers it in ``kinds/__init__.py``.

- ``gather(ctx)``: what the source offers now (small ``RemoteFile`` records).
- ``fetch(remote, dest, ctx)``: download one file to ``dest`` (write it whole or not
  at all) and return its content type if known; the default is an HTTP GET of
  ``remote.url`` with the polite client.
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

from ..errors import FinalError
from ..results import FetchedFile, RemoteFile
from ..settings import Settings

if TYPE_CHECKING:  # requests costs ~0.1 s to import: not when a DAG file is parsed
    import requests


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
        raise FinalError(f"connection {conn_id!r} is not defined (Airflow connection or AIRFLOW_CONN_{conn_id.upper()})")
    if raw.lstrip().startswith("{"):
        data = json.loads(raw)
        extra = data.get("extra") or {}
        return ConnectionInfo(conn_id, data.get("conn_type", ""), data.get("host", ""), data.get("port"),
                              data.get("login", ""), data.get("password", ""), data.get("schema", ""),
                              json.loads(extra) if isinstance(extra, str) else extra)
    parts = urlsplit(raw)
    return ConnectionInfo(conn_id, parts.scheme, parts.hostname or "", parts.port, unquote(parts.username or ""),
                          unquote(parts.password or ""), parts.path.lstrip("/"), dict(parse_qsl(parts.query)))


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

    def fetch(self, remote: RemoteFile, dest: Path, ctx: HarvestContext) -> str | None:
        from .. import net

        response = net.download(remote.url, dest, http=ctx.http, timeout=self.timeout,
                                headers=getattr(self, "headers", None),
                                robots=getattr(self, "respect_robots", False))
        return response.headers.get("Content-Type")

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
