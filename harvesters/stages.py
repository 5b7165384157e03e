"""The pipeline's stages, in order: gather → fetch → convert → validate → publish.

Each stage is a plain function over typed records (``results.py``), so the same
code runs inside an Airflow task, from ``harvest run`` and from a test.
Publishing, with its approval step, lives in ``publishing.py``.
"""

from __future__ import annotations

import logging
import mimetypes
from datetime import datetime, timezone
from pathlib import Path

from .config import SourceConfig
from .errors import FinalError, HarvestError, RefusedFile
from .gdc.mapping import dataset_fields, resource_plans
from .kinds.base import HarvestContext
from .results import ConvertedFile, ConvertedTable, Column, FetchedFile, RemoteFile, ValidationSummary
from .settings import Settings
from .staging import RunStaging, sha256_file
from . import archive, net
from . import validate as validation

log = logging.getLogger(__name__)


def context(cfg: SourceConfig, settings: Settings | None = None, connection=None) -> HarvestContext:
    """What the source's kind may use: settings, the polite HTTP client, connections."""
    settings = settings or Settings.from_env()
    ctx = HarvestContext(source_id=cfg.id, settings=settings, http=net.session(settings))
    if connection is not None:
        ctx.connection = connection
    return ctx


def gather(cfg: SourceConfig, ctx: HarvestContext) -> list[RemoteFile]:
    """What files does the source offer right now?"""
    try:
        files = cfg.source.gather(ctx)
    except HarvestError as exc:
        raise exc.with_context(source=cfg.id)
    if not files:
        raise FinalError("the source offers no files", source=cfg.id)
    return files


def fetch(cfg: SourceConfig, remote: RemoteFile, staging: RunStaging, ctx: HarvestContext) -> FetchedFile:
    """Download one file into the run's staging folder, under its ASCII key."""
    dest = staging.dir("raw") / f"{remote.key}{remote.suffix}"
    try:
        content_type = cfg.source.fetch(remote, dest, ctx)
    except HarvestError as exc:
        raise exc.with_context(source=cfg.id, file=remote.url)
    fetched = FetchedFile(
        remote=remote,
        path=str(dest),
        sha256=sha256_file(dest),
        size=dest.stat().st_size,
        fetched_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        content_type=content_type or mimetypes.guess_type(dest.name)[0],
    )
    archive.keep_fetched(fetched, staging, ctx.settings)  # nothing goes on whose source bytes are not kept
    return fetched


def convert(cfg: SourceConfig, fetched: FetchedFile, staging: RunStaging) -> ConvertedFile:
    """Turn one fetched file into clean CSV/Parquet tables (refusals name the source and file)."""
    from .convert import convert_file  # pandas/pyarrow: keep them out of DAG parsing
    from .convert.options import ConvertOptions

    out_dir = staging.dir("converted", fetched.remote.key)
    try:
        options = ConvertOptions(**{**fetched.remote.convert,
                                    "allow_pii": cfg.outputs.allow_national_id_columns})
        report = convert_file(Path(fetched.path), out_dir, name=fetched.remote.key,
                              formats=tuple(cfg.outputs.formats), csv_bom=cfg.outputs.csv_bom, options=options)
    except HarvestError as exc:
        if isinstance(exc, RefusedFile):  # its bytes may be personal data: out of staging and the archive
            archive.quarantine_refused(fetched, staging, exc.reason)
        # Name the file as people know it (its URL), not by its staging path.
        exc.file = None
        raise exc.with_context(source=cfg.id, file=fetched.remote.url)
    report_path = out_dir / "conversion.json"
    report_path.write_text(report.model_dump_json(indent=1), encoding="utf-8")
    single = len(report.tables) == 1
    tables = [
        ConvertedTable(
            key=fetched.remote.key if single else f"{fetched.remote.key}__{t.name}",
            title=fetched.remote.title if single else f"{fetched.remote.title} – {t.sheet or t.name}",
            csv=t.csv, parquet=t.parquet, rows=t.rows_written,
            columns=[Column(name=c.name, type=c.type) for c in t.columns],
            table_schema=t.schema_,
            date_range=_date_range(t.parquet, [c.name for c in t.columns if c.type == "date"]),
        )
        for t in report.tables
    ]
    converted = ConvertedFile(fetched=fetched, format=report.format, encoding=report.encoding,
                              stars_in=report.stars_in, stars_out=report.stars_out,
                              report=str(report_path), tables=tables)
    archive.keep_outputs(converted, staging)
    return converted


def _date_range(parquet: str | None, date_columns: list[str]) -> list[str] | None:
    """First and last date over the date columns (for the first/last year of data)."""
    if not parquet or not date_columns:
        return None
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(parquet, columns=date_columns)
    bounds = [pc.min_max(table[c]) for c in date_columns]
    lows = [b["min"].as_py() for b in bounds if b["min"].is_valid]
    highs = [b["max"].as_py() for b in bounds if b["max"].is_valid]
    return [min(lows).isoformat(), max(highs).isoformat()] if lows else None


def validate(cfg: SourceConfig, converted: ConvertedFile, staging: RunStaging,
             settings: Settings | None = None) -> list[ValidationSummary]:
    """Run the source's expectation suite on every table of one file (no gate applied here)."""
    if cfg.validation is None:
        return [ValidationSummary(table=t.key, suite=None, success=True, outcome="skipped") for t in converted.tables]
    settings = settings or Settings.from_env()
    suite = settings.expectations_dir / f"{cfg.validation.suite}.json"
    try:
        return [validation.run_suite(t, suite, staging.dir("validation") / f"{t.key}.json") for t in converted.tables]
    except HarvestError as exc:
        raise exc.with_context(source=cfg.id, file=converted.fetched.remote.url)


def check_gate(cfg: SourceConfig, summaries: list[ValidationSummary]) -> list[ValidationSummary]:
    """The source's failure policy over its validation results (block raises, warn marks)."""
    policy = cfg.validation.on_failure if cfg.validation else "warn"
    return validation.gate(summaries, on_failure=policy, source=cfg.id)


def plan(cfg: SourceConfig, converted: list[ConvertedFile], summaries: list[ValidationSummary] = ()) -> dict:
    """What publish would push, as JSON-friendly data (used by --dry-run)."""
    return {
        "dataset": dataset_fields(cfg, converted),
        "resources": [{"file": str(p.file), **p.fields} for p in resource_plans(cfg, converted, summaries)],
    }


def acknowledge(cfg: SourceConfig, fetched: list[FetchedFile], ctx: HarvestContext) -> None:
    """After a successful publish: let the source record what was taken (drops mark objects processed)."""
    try:
        cfg.source.acknowledge(fetched, ctx)
    except HarvestError as exc:
        raise exc.with_context(source=cfg.id)

