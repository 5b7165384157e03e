"""Deployment settings: where things live and which portal to push to.

These come from the environment (or, inside Airflow, from a Connection), never
from a source config, so the same source pushes to the local CKAN, an agency
catalog or data.go.th depending only on where it runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def _count(var: str, default: int) -> int:
    value = os.environ.get(var, "").strip()
    if not value:
        return default
    if not value.isdigit():
        from .errors import FinalError

        raise FinalError(f"setting {var}: {value!r} is not a whole number")
    return int(value)


@dataclass(frozen=True)
class Settings:
    sources_dir: Path
    expectations_dir: Path
    staging_dir: Path
    contact: str
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
            archive=os.environ.get("HARVEST_ARCHIVE", "").strip() or str(staging),
            archive_s3_endpoint=os.environ.get("HARVEST_ARCHIVE_S3_ENDPOINT") or None,
            archive_keep_days=_count("HARVEST_ARCHIVE_KEEP_DAYS", 365),
            archive_keep_runs=_count("HARVEST_ARCHIVE_KEEP_RUNS", 30),
            quarantine_keep_days=_count("HARVEST_QUARANTINE_KEEP_DAYS", 30),
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
