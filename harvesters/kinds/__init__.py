"""Source kinds. Each is one module with its settings model and its gather (and fetch, acknowledge).

A kind's settings model has a ``kind`` literal (the discriminator in the source
config) and ``gather(ctx) -> list[RemoteFile]``. Kinds whose files are plain URLs
share the generic HTTP fetch; others add their own.

Per-host concurrency: ``pool_name(source)`` names the Airflow pool every task that talks to
the source's server runs in (gather with its page reads, fetch, and for drops the publish that
marks files processed: ``acknowledges_remotely``; one pool per host, or per Connection for drops), and
``pools(configs)`` lists every pool the configs need with its slots.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from .ckan_catalog import CkanCatalogSource
from .folder_drop import FolderDropSource
from .html_table import HtmlTableSource
from .http import HttpSource
from .json_api import JsonApiSource
from .s3_drop import S3DropSource
from .sftp_drop import SftpDropSource
from .web_page import WebPageSource

SOURCE_KINDS = (HttpSource, WebPageSource, HtmlTableSource, JsonApiSource, S3DropSource, SftpDropSource,
                FolderDropSource, CkanCatalogSource)

DEFAULT_POOL_SLOTS = 2  # concurrent requests per host: polite to agency servers


def _settings(obj: Any):
    """A kind's settings from a settings object, a SourceConfig or a LoadedSource."""
    obj = getattr(obj, "config", obj)
    return getattr(obj, "source", obj)


def pool_name(source_settings: Any) -> str | None:
    """The Airflow pool for a source (e.g. ``host_data_pcd_go_th``), or None for no per-host limit.

    A source that talks to one host gets that host's pool; drops get their
    Connection's (``conn_demo_s3``); a source spread over several hosts, or a
    folder, gets none.
    """
    key = _settings(source_settings).pool_key()
    if not key:
        return None
    return re.sub(r"[^a-z0-9_]+", "_", key.lower()).strip("_")[:250]


def acknowledges_remotely(source_settings: Any) -> bool:
    """Does marking files processed after a publish talk to the source's server (S3 and SFTP drops)?

    Then the publish task too must hold the server's pool.
    """
    from .base import SourceKind

    settings = _settings(source_settings)
    return pool_name(settings) is not None and type(settings).acknowledge is not SourceKind.acknowledge


def pools(configs: Iterable[Any], slots: int = DEFAULT_POOL_SLOTS) -> dict[str, int]:
    """Every pool the given sources need, each with ``slots`` slots."""
    return {name: slots for c in configs if (name := pool_name(c))}
