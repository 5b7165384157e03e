"""The staging store: where one run of one source keeps its files.

Layout: ``<staging>/<source id>/<run key>/{raw,converted,validation}/``. Every
run has its own folder, so a retry or an overlapping run never overwrites
another run's files. In production the staging root is a volume shared by all
Celery workers (see docker-compose.yaml).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path


def run_key(run_id: str | None = None) -> str:
    """A file-system-safe key for a run (Airflow run ids hold ':' and '+')."""
    run_id = run_id or "cli__" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("-")


def sha256_file(path: Path) -> str:
    """Checksum of a file, read in 1 MiB chunks (provenance, and change checks on drops)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class RunStaging:
    root: Path
    source: str
    run: str

    @property
    def base(self) -> Path:
        return self.root / self.source / self.run

    def dir(self, stage: str, *parts: str) -> Path:
        path = self.base.joinpath(stage, *parts)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a volume not mounted, read-only or full: retry later, publish nothing now
            from .errors import StagingUnavailable

            raise StagingUnavailable(f"staging store unavailable: cannot create {path} ({exc.strerror or exc}); "
                                 "nothing was published", source=self.source) from None
        return path
