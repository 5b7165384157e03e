"""The pipeline's stages, in order: gather → fetch → convert → validate → publish.

Each stage is a plain function over typed records (``results.py``), so the same
code runs inside an Airflow task, from ``harvest run`` and from a test.
Publishing, with its approval step, lives in ``publishing.py``.

Change detection: gather asks the portal what it holds of each file (``recall``:
the ``harvest_*`` fields of its resources); fetch then decides, per file, by the
cheapest sure test first: the source's own version marker (a drop's marker or
ETag, a catalog's resource stamp), an HTTP conditional request (304 Not
Modified), and finally the downloaded file's fingerprint against the portal's.
An unchanged file goes no further (``FetchedFile.to_convert`` is False): no
conversion, no upload, no portal activity. ``force`` re-harvests everything.
"""

from __future__ import annotations

import logging
import mimetypes
from datetime import datetime, timezone
from pathlib import Path

from .config import SourceConfig
from .errors import FinalError, HarvestError, RefusedFile, SkipItem
from .gdc.mapping import dataset_fields, resource_plans
from .kinds.base import HarvestContext
from .results import ConvertedFile, ConvertedTable, Column, FetchedFile, KnownFile, RemoteFile, ValidationSummary
from .settings import Settings
from .staging import RunStaging, sha256_file
from . import archive
from . import validate as validation

log = logging.getLogger(__name__)


def context(cfg: SourceConfig, settings: Settings | None = None, connection=None) -> HarvestContext:
    """What the source's kind may use: settings, the polite HTTP client, connections."""
    from . import net  # requests and urllib3: a second a task, paid only by the tasks that talk to a server

    settings = settings or Settings.from_env()
    ctx = HarvestContext(source_id=cfg.id, settings=settings, http=net.session(settings))
    if connection is not None:
        ctx.connection = connection
    return ctx


def gather(cfg: SourceConfig, ctx: HarvestContext, portal=None) -> list[RemoteFile]:
    """What files does the source offer right now? With a portal: each with what the portal holds of it.

    A source that cannot be read, or offers nothing, raises: its files are then never counted missing.
    """
    try:
        files = cfg.source.gather(ctx)
    except HarvestError as exc:
        raise exc.with_context(source=cfg.id)
    if not files:
        raise FinalError("the source offers no files (an empty listing, or a page whose layout changed so the "
                         "selector finds nothing): nothing is marked missing", source=cfg.id)
    return recall(cfg, files, portal) if portal is not None else files


def file_key_of(resource: dict) -> str | None:
    """The source file a portal resource was made from (``harvest_file``; older resources: from their key)."""
    if resource.get("harvest_file"):
        return resource["harvest_file"]
    key = resource.get("harvest_key")
    return key.rsplit(".", 1)[0].split("__", 1)[0] if key else None


def known_files(dataset: dict | None) -> dict[str, KnownFile]:
    """What a portal dataset holds, per source file key, from its resources' ``harvest_*`` fields."""
    by_file: dict[str, list[dict]] = {}
    for res in (dataset or {}).get("resources", []):
        if (key := file_key_of(res)) and res.get("harvest_key"):
            by_file.setdefault(key, []).append(res)
    out = {}
    for key, resources in by_file.items():
        first = resources[0]
        same = len({r.get("harvest_sha256") for r in resources}) == 1  # else a half-updated file: not trusted
        out[key] = KnownFile(
            sha256=first.get("harvest_sha256") or None,
            fingerprint=(first.get("harvest_fingerprint") or first.get("harvest_sha256") or None) if same else None,
            etag=first.get("harvest_etag") or None, last_modified=first.get("harvest_last_modified") or None,
            version=first.get("harvest_version") or None, fetched_at=first.get("harvest_fetched_at") or None,
            last_updated=first.get("resource_last_updated_date") or None,
            formats=sorted({r["harvest_key"].rsplit(".", 1)[-1] for r in resources}),
            withdrawn=any(r.get("harvest_withdrawn") for r in resources))
    return out


def recall(cfg: SourceConfig, files: list[RemoteFile], portal) -> list[RemoteFile]:
    """Attach to each file what the portal holds of it (one dataset read per portal dataset)."""
    by_dataset: dict[str, dict[str, KnownFile]] = {}
    out = []
    for remote in files:
        name = remote.dataset.name if remote.dataset else cfg.dataset_name
        if name not in by_dataset:
            try:
                by_dataset[name] = known_files(portal.dataset(name))
            except HarvestError as exc:
                raise exc.with_context(source=cfg.id, file=name)
        out.append(remote.model_copy(update={"known": by_dataset[name].get(remote.key)}))
    return out


def _complete(cfg: SourceConfig, known: KnownFile | None) -> bool:
    """Does the portal hold this file whole: its content known and every output format there?"""
    return bool(known and known.fingerprint and set(cfg.outputs.formats) <= set(known.formats))


def _decided_at_gather(cfg: SourceConfig, remote: RemoteFile) -> tuple[str, str] | None:
    """(status, why) when the file need not be downloaded to know it is unchanged (or deferred)."""
    if remote.status == "deferred":
        return "deferred", remote.note or "left for a later run"
    if not _complete(cfg, remote.known):
        return None
    if remote.status == "unchanged":
        return "unchanged", remote.note or "unchanged at the source"
    if remote.etag and remote.known.version == remote.etag:
        return "unchanged", f"same version at the source as published ({remote.etag})"
    return None


def fetch(cfg: SourceConfig, remote: RemoteFile, staging: RunStaging, ctx: HarvestContext,
          force: bool = False) -> FetchedFile:
    """Download one file into the run's staging folder, under its ASCII key, unless it is known unchanged.

    ``status`` says what the run does with it: new, changed, unchanged (no conversion, no upload) or deferred.
    """
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    known = remote.known
    early = _decided_at_gather(cfg, remote)
    if early and (not force or early[0] == "deferred"):
        status, why = early
        log.info("%s: %s: %s", remote.key, status, why)
        return FetchedFile(remote=remote, path=None, sha256=(known.sha256 if known else None) or "", size=0,
                           fetched_at=now, status=status, change=why, fingerprint=known.fingerprint if known else None)
    dest = staging.dir("raw") / f"{remote.key}{remote.suffix}"
    # Forced: ask unconditionally (a 304 would leave nothing to convert).
    asked = remote.model_copy(update={"known": None}) if force or not _complete(cfg, known) else remote
    try:
        got = cfg.source.fetch(asked, dest, ctx)
        if got.not_modified:
            log.info("%s: unchanged: HTTP 304 Not Modified", remote.key)
            return FetchedFile(remote=remote, path=None, sha256=known.sha256 or "", size=0, fetched_at=now,
                               status="unchanged", change="HTTP 304 Not Modified (conditional request)",
                               fingerprint=known.fingerprint, etag=known.etag, last_modified=known.last_modified)
        fingerprint = cfg.source.fingerprint(dest)
    except HarvestError as exc:
        raise exc.with_context(source=cfg.id, file=remote.url)
    sha256 = sha256_file(dest)
    if known is None:
        status, why = "new", "not on the portal yet"
    elif _complete(cfg, known) and known.fingerprint == fingerprint:
        status, why = "unchanged", f"same content as on the portal (SHA-256 {sha256[:12]}…)"
    elif not _complete(cfg, known):
        status, why = "changed", "the portal holds this file incompletely (an output format or checksum missing)"
    else:
        status, why = "changed", f"content differs from the portal's (SHA-256 {sha256[:12]}…)"
    log.info("%s: %s: %s%s", remote.key, status, why, " (forced: converted and published anyway)" if force else "")
    fetched = FetchedFile(
        remote=remote,
        path=str(dest),
        sha256=sha256,
        size=dest.stat().st_size,
        fetched_at=now,
        content_type=got.content_type or mimetypes.guess_type(dest.name)[0],
        status=status, change=why, forced=force, fingerprint=fingerprint,
        etag=got.etag, last_modified=got.last_modified,
    )
    if fetched.to_convert:  # a new raw version: nothing goes on whose source bytes are not kept
        archive.keep_fetched(fetched, staging, ctx.settings)
    return fetched


def convert(cfg: SourceConfig, fetched: FetchedFile, staging: RunStaging) -> ConvertedFile:
    """Turn one fetched file into clean CSV/Parquet tables (refusals name the source and file).

    An unchanged or deferred file raises ``SkipItem`` (its later tasks skip: no work, the run stays green).
    """
    if not fetched.to_convert:
        raise SkipItem(f"{fetched.status}: {fetched.change}; not converted, nothing uploaded",
                       source=cfg.id, file=fetched.remote.url)
    from .convert import convert_file  # pandas/pyarrow: keep them out of DAG parsing
    from .convert.options import ConvertOptions

    out_dir = staging.dir("converted", fetched.remote.key)
    try:
        options = ConvertOptions(**{**fetched.remote.convert,
                                    "allow_pii": cfg.outputs.allow_personal_data_columns})
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
    """After a successful publish: let the source record what was taken (drops mark objects processed).

    Files the source itself already records in this version, and deferred ones, are left out.
    """
    taken = [f for f in fetched if f.remote.status == "offered" and f.status != "deferred"]
    try:
        cfg.source.acknowledge(taken, ctx)
    except HarvestError as exc:
        raise exc.with_context(source=cfg.id)

