"""Run every stage of one source in-process: `harvest run`, the preview an agency gets without Airflow.

Without Airflow there is no approval task: a dataset that needs approval is
staged privately on the portal and the run stops there, unless the operator
records who approved it (``approved_by``, e.g. a signed approval on paper).

A source that feeds several datasets publishes each on its own: a refused
file or a blocked table holds back its dataset only, and the report says why.
A source with one dataset fails the run with the file's own error, as before.

Files found unchanged (``FetchedFile.status``) are neither converted nor
uploaded, and a dataset with nothing changed gets no portal call at all;
``force`` re-harvests everything. Files the source stopped offering are
counted and, after the grace period, withdrawn (``lifecycle``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from . import datasets, lifecycle, publishing, stages
from .config import LoadedSource
from .errors import FinalError
from .portal import Portal
from .portal import portal_settings as resolve_portal
from .report import FileError
from .results import ConvertedFile, FetchedFile, ValidationSummary
from .settings import PortalSettings, Settings
from .staging import RunStaging, run_key

log = logging.getLogger(__name__)


@dataclass
class DatasetReport:
    name: str
    plan: dict | None = None
    prepared: dict | None = None
    awaiting_approval: list[str] | None = None
    published: dict | None = None
    error: str | None = None  # why this dataset was held back


@dataclass
class RunReport:
    source: str
    staging: str
    gathered: list[dict] = field(default_factory=list)
    fetched: list[dict] = field(default_factory=list)  # FetchedFile per file: status new/changed/unchanged/deferred
    missing: list[dict] = field(default_factory=list)  # MissingFile per file no longer offered (lifecycle)
    files: list[dict] = field(default_factory=list)  # ConvertedFile per file converted in this run
    failed_files: dict[str, str] = field(default_factory=dict)  # file key -> one-line error
    validation: list[dict] = field(default_factory=list)
    datasets: list[DatasetReport] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # report.FileError per failed file (or the run)
    summary: dict | None = None  # the run report (harvesters.report.RunReport), as stored in the archive


def run_source(loaded: LoadedSource, *, dry_run: bool = False, settings: Settings | None = None,
               portal_settings: PortalSettings | None = None, run_id: str | None = None,
               approved_by: str | None = None, force: bool = False) -> RunReport:
    """Run every stage; the run report is stored in the archive whether the run succeeds or fails."""
    from . import report as runlog

    settings = settings or Settings.from_env()
    key = run_key(run_id)
    report = RunReport(source=loaded.config.id, staging=str(RunStaging(settings.staging_dir, loaded.config.id, key).base))
    started = runlog.now()
    try:
        _run(loaded, report, key, dry_run=dry_run, settings=settings, portal_settings=portal_settings,
             approved_by=approved_by, force=force)
    except Exception as exc:
        runlog.record_failure(report, exc)
        try:
            report.summary = runlog.finish(report, loaded.config, key, started, settings, dry_run=dry_run)
        except Exception as store_exc:  # noqa: BLE001 - the run's own error is the one to show
            log.error("%s: run report not stored: %s", loaded.config.id, store_exc)
        raise
    # An archive that cannot take the report fails the run: it is the record of what was done.
    report.summary = runlog.finish(report, loaded.config, key, started, settings, dry_run=dry_run)
    return report


def _run(loaded: LoadedSource, report: RunReport, key: str, *, dry_run: bool, settings: Settings,
         portal_settings: PortalSettings | None, approved_by: str | None, force: bool) -> RunReport:
    cfg = loaded.config
    # Resolve the portal before doing any work, so a missing setting fails fast.
    portal = None if dry_run else Portal(portal_settings or resolve_portal())
    staging = RunStaging(settings.staging_dir, cfg.id, key)

    ctx = stages.context(cfg, settings)
    gathered = stages.gather(cfg, ctx, portal)  # raises when the source cannot be read: nothing counted missing
    report.gathered = [r.dump() for r in gathered]
    report.missing = [m.dump() for m in lifecycle.track(cfg, gathered, settings.staging_dir, key, portal)]
    groups = datasets.group_files(cfg, gathered)
    fetched_all: list[FetchedFile] = []
    converted: list[ConvertedFile] = []
    summaries: list[ValidationSummary] = []
    for remote in gathered:
        stage = "fetch"
        try:
            fetched = stages.fetch(cfg, remote, staging, ctx, force=force)
            fetched_all.append(fetched)
            report.fetched.append(fetched.dump())
            if not fetched.to_convert:
                continue
            stage = "convert"
            file = stages.convert(cfg, fetched, staging)
            stage = "validate"
            checked = stages.check_gate(cfg, stages.validate(cfg, file, staging, settings))
        except FinalError as exc:
            report.errors.append(FileError.of(exc, file=remote.key, stage=stage).model_dump())
            if len(groups) == 1:
                raise  # one dataset: the file's own error is the run's
            report.failed_files[remote.key] = str(exc)
            continue
        converted.append(file)
        summaries += checked
        report.files.append(file.dump())
        report.validation += [s.dump() for s in checked]

    for group in groups:
        entry = DatasetReport(name=group.name)
        report.datasets.append(entry)
        try:
            dataset_cfg = datasets.config_for(cfg, group)
            unchanged = datasets.left_alone(group, fetched_all)
            files, checks = datasets.select(group, converted, summaries, unchanged)
            entry.plan = stages.plan(dataset_cfg, files, checks)
            if portal is None:
                continue
            prepared = publishing.prepare(dataset_cfg, files, checks, portal, unchanged)
            entry.prepared = prepared.dump()
            if prepared.needs_approval and not approved_by:
                entry.awaiting_approval = prepared.reasons
                continue
            entry.published = publishing.publish(dataset_cfg, files, checks, portal, prepared, approved_by).dump()
            stages.acknowledge(cfg, [c.fetched for c in files] + unchanged, ctx)
        except FinalError as exc:
            if len(groups) == 1:
                raise
            lost = [f"{k}: {report.failed_files[k]}" for k in group.files if k in report.failed_files]
            entry.error = str(exc.with_context(source=cfg.id)) + (f" ({'; '.join(lost)})" if lost else "")
    return report
