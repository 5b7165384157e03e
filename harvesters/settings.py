"""Deployment settings: where things live, which portal to push to, what the harvester may reach.

These come from the environment (or, inside Airflow, from a Connection), never
from a source config, so the same source pushes to the local CKAN, an agency
catalog or data.go.th depending only on where it runs. The network allowlist,
the download limits and the drop-folder roots are here for the same reason: an
agency's config must not be able to widen what the harvester reaches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Which GD Catalog the deployment pushes to: gdc-2.1 (DGA v2.1.0), gdc-2024 (the fork) or project (our own
# schema, the local portal's). The local checks enforce what that portal enforces (harvesters/gdc/profiles.py).
PORTAL_PROFILE_ENV = "HARVEST_PORTAL_PROFILE"
PORTAL_PROFILE_DEFAULT = "project"


def portal_profile() -> str:
    """The target portal profile's name, from HARVEST_PORTAL_PROFILE (checked by gdc.profiles.get)."""
    return os.environ.get(PORTAL_PROFILE_ENV, "").strip() or PORTAL_PROFILE_DEFAULT


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def _list(var: str, default: str = "") -> tuple[str, ...]:
    """A comma- (or whitespace-) separated setting as a tuple of non-empty items."""
    raw = os.environ.get(var, default)
    return tuple(p for p in raw.replace(",", " ").split() if p)


def _number(var: str, default: float, kind=int):
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        from .errors import FinalError

        raise FinalError(f"deployment setting {var}={raw!r} is not a number") from None
    if value <= 0:
        from .errors import FinalError

        raise FinalError(f"deployment setting {var}={raw!r} must be positive")
    return value


@dataclass(frozen=True)
class Limits:
    """What one download may cost. Each limit's env var is named in refusals (``LIMIT_VARS``)."""

    max_download_bytes: int = 1 << 30  # a fetched file, after Content-Encoding decoding
    max_page_bytes: int = 32 << 20  # a page or API answer read into memory (HTML, JSON, robots.txt)
    max_decompression_ratio: float = 100.0  # decoded / wire bytes of a Content-Encoding body
    max_download_seconds: float = 900.0  # one request whole: connect, headers, redirects, body
    min_download_rate: int = 1024  # bytes per second, averaged over rate_window_seconds
    rate_window_seconds: float = 30.0
    max_redirects: int = 5

    @classmethod
    def from_env(cls) -> "Limits":
        d = cls()
        return cls(**{name: _number(var, getattr(d, name), type(getattr(d, name)))
                      for name, var in LIMIT_VARS.items()})


LIMIT_VARS = {
    "max_download_bytes": "HARVEST_MAX_DOWNLOAD_BYTES",
    "max_page_bytes": "HARVEST_MAX_PAGE_BYTES",
    "max_decompression_ratio": "HARVEST_MAX_DECOMPRESSION_RATIO",
    "max_download_seconds": "HARVEST_MAX_DOWNLOAD_SECONDS",
    "min_download_rate": "HARVEST_MIN_DOWNLOAD_RATE",
    "rate_window_seconds": "HARVEST_RATE_WINDOW_SECONDS",
    "max_redirects": "HARVEST_MAX_REDIRECTS",
}


@dataclass(frozen=True)
class Settings:
    sources_dir: Path
    expectations_dir: Path
    staging_dir: Path
    contact: str
    # Destinations a source may reach although they are not public addresses (loopback, private...):
    # host names or IP literals (HARVEST_ALLOW_HOSTS) and CIDR networks (HARVEST_ALLOW_NETWORKS).
    allow_hosts: tuple[str, ...] = ()
    allow_networks: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    # Folders folder_drop sources may read (each source's path must lie below one of them).
    drop_roots: tuple[str, ...] = ("/srv/drops",)
    # Environment variables `${VAR}` in a source config may read besides the HARVEST_CFG_ prefix.
    config_vars: tuple[str, ...] = ()
    # The archive (harvesters.archive): a folder, or s3://bucket/prefix (credentials from boto3's
    # default chain: AWS_* variables or the instance role; never from a source config).
    archive: str = ""  # empty: the staging folder itself
    archive_s3_endpoint: str | None = None  # MinIO/SeaweedFS; None: AWS
    # Retention: a run's archive is removed once it is older than keep_days AND not among the
    # source's newest keep_runs runs; the newest copy of each raw file is always kept.
    archive_keep_days: int = 365
    archive_keep_runs: int = 30
    quarantine_keep_days: int = 30  # refused files' raw bytes (may hold personal data: PDPA)

    @classmethod
    def from_env(cls) -> "Settings":
        staging = _path("HARVEST_STAGING_DIR", REPO_ROOT / ".local" / "staging")
        return cls(
            sources_dir=_path("HARVEST_SOURCES_DIR", REPO_ROOT / "include" / "sources"),
            expectations_dir=_path("HARVEST_EXPECTATIONS_DIR", REPO_ROOT / "expectations"),
            staging_dir=staging,
            contact=os.environ.get("HARVEST_CONTACT", "opendata@example.go.th"),
            allow_hosts=_list("HARVEST_ALLOW_HOSTS"),
            allow_networks=_list("HARVEST_ALLOW_NETWORKS"),
            limits=Limits.from_env(),
            drop_roots=tuple(os.path.normpath(p) for p in _list("HARVEST_DROP_ROOTS", "/srv/drops")),
            config_vars=_list("HARVEST_CFG_VARS"),
            archive=os.environ.get("HARVEST_ARCHIVE", "").strip() or str(staging),
            archive_s3_endpoint=os.environ.get("HARVEST_ARCHIVE_S3_ENDPOINT") or None,
            archive_keep_days=_number("HARVEST_ARCHIVE_KEEP_DAYS", 365),
            archive_keep_runs=_number("HARVEST_ARCHIVE_KEEP_RUNS", 30),
            quarantine_keep_days=_number("HARVEST_QUARANTINE_KEEP_DAYS", 30),
        )


@dataclass(frozen=True)
class PortalSettings:
    url: str
    token: str
    # Whether publishing may create a missing organization (demo/local portals only).
    create_organizations: bool = False

    @classmethod
    def from_env(cls) -> "PortalSettings":
        url = os.environ.get("HARVEST_PORTAL_URL", "").rstrip("/")
        token = os.environ.get("HARVEST_PORTAL_TOKEN", "")
        if not url or not token:
            from .errors import FinalError

            raise FinalError("no portal configured: set HARVEST_PORTAL_URL and HARVEST_PORTAL_TOKEN "
                             "(or the Airflow connection 'gdc_portal')")
        return cls(url=url, token=token,
                   create_organizations=os.environ.get("HARVEST_CREATE_ORGANIZATIONS", "") == "1")
