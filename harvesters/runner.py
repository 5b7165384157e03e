"""Run every stage of one source in-process: `harvest run`, the preview an agency gets without Airflow.

Without Airflow there is no approval task: a dataset that needs approval is
staged privately on the portal and the run stops there, unless the operator
records who approved it (``approved_by``, e.g. a signed approval on paper).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import publishing, stages
from .config import LoadedSource
from .portal import Portal
from .portal import portal_settings as resolve_portal
from .settings import PortalSettings, Settings
from .staging import RunStaging, run_key


@dataclass
class RunReport:
    source: str
    staging: str
    gathered: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    validation: list[dict] = field(default_factory=list)
    plan: dict | None = None
    prepared: dict | None = None
    awaiting_approval: list[str] | None = None
    published: dict | None = None


def run_source(loaded: LoadedSource, *, dry_run: bool = False, settings: Settings | None = None,
               portal_settings: PortalSettings | None = None, run_id: str | None = None,
               approved_by: str | None = None) -> RunReport:
    cfg = loaded.config
    settings = settings or Settings.from_env()
    # Resolve the portal before doing any work, so a missing setting fails fast.
    portal = None if dry_run else Portal(portal_settings or resolve_portal())
    staging = RunStaging(settings.staging_dir, cfg.id, run_key(run_id))
    report = RunReport(source=cfg.id, staging=str(staging.base))

    ctx = stages.context(cfg, settings)
    gathered = stages.gather(cfg, ctx)
    report.gathered = [r.dump() for r in gathered]
    converted = []
    for remote in gathered:
        fetched = stages.fetch(cfg, remote, staging, ctx)
        converted.append(stages.convert(cfg, fetched, staging))
    report.files = [c.dump() for c in converted]
    summaries = [s for c in converted for s in stages.validate(cfg, c, staging, settings)]
    report.validation = [s.dump() for s in summaries]
    summaries = stages.check_gate(cfg, summaries)
    report.plan = stages.plan(cfg, converted, summaries)
    if portal is None:
        return report
    prepared = publishing.prepare(cfg, converted, summaries, portal)
    report.prepared = prepared.dump()
    if prepared.needs_approval and not approved_by:
        report.awaiting_approval = prepared.reasons
        return report
    report.published = publishing.publish(cfg, converted, summaries, portal, prepared, approved_by).dump()
    stages.acknowledge(cfg, [c.fetched for c in converted], ctx)
    return report
