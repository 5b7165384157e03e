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


@dataclass(frozen=True)
class Settings:
    sources_dir: Path
    expectations_dir: Path
    staging_dir: Path
    contact: str

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            sources_dir=_path("HARVEST_SOURCES_DIR", REPO_ROOT / "include" / "sources"),
            expectations_dir=_path("HARVEST_EXPECTATIONS_DIR", REPO_ROOT / "expectations"),
            staging_dir=_path("HARVEST_STAGING_DIR", REPO_ROOT / ".local" / "staging"),
            contact=os.environ.get("HARVEST_CONTACT", "opendata@example.go.th"),
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
