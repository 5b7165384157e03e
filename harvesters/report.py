"""The run report: what one run of one source did, per file and per dataset.

Built from the stage records (``results.py``) that a run already hands around, by
``harvest run`` and by the DAG's final ``report`` task alike; stored as JSON in the
archive (``<source>/<run>/report.json``), printed by ``harvest report SOURCE_ID``,
logged as a table at the end of the DAG run and set as the run's note (Markdown).

Errors in a report are the pipeline's one-line messages (they name the source, the
file and the reason, never a value of the file: see errors.py), and URLs lose any
userinfo, so a report is safe to show, mail and store.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, computed_field

from .errors import HarvestError
from .results import (ConvertedFile, DatasetGroup, FetchedFile, MissingFile, PublishPlan, PublishResult, RemoteFile,
                      ValidationSummary)

# added/updated: published in this run; unchanged: same as on the portal, nothing sent; withdrawn: marked
# withdrawn on the portal in this run; missing: not offered, within the grace period (or withdrawn before);
# pending: not published in this run (awaiting approval, rejected, held back, deferred, dry run).
FileStatus = Literal["added", "updated", "unchanged", "withdrawn", "failed", "missing", "pending"]
DatasetStatus = Literal["created", "updated", "metadata updated", "unchanged", "withdrawn", "awaiting approval",
                        "rejected", "held back", "planned"]
COUNTED: tuple[FileStatus, ...] = ("added", "updated", "unchanged", "withdrawn", "failed", "missing", "pending")
ALWAYS_SHOWN = ("added", "updated", "unchanged", "withdrawn", "failed")
NOTE_MAX = 1000  # Airflow's limit on a DAG run note


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileError(_Model):
    """Why one file (or the run, when ``file`` is None) failed; a failed task leaves this behind."""

    file: str | None  # the file key
    stage: str  # gather, fetch, convert, validate, prepare, publish, report
    message: str  # the one-line error
    reason: str | None = None  # the refusal's reason word (pii, size...) when the converter refused it
    retryable: bool = False
    skipped: bool = False  # not a failure: the item was skipped on purpose (nothing new, a rejection...)

    @classmethod
    def of(cls, exc: BaseException, *, file: str | None, stage: str) -> "FileError":
        from .errors import RetryableError, SkipItem

        message = str(exc) if isinstance(exc, HarvestError) else f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        return cls(file=file, stage=stage, message=message[:500], reason=getattr(exc, "reason", None),
                   retryable=isinstance(exc, RetryableError), skipped=isinstance(exc, SkipItem))


class FileReport(_Model):
    key: str
    title: str = ""
    url: str = ""  # without userinfo
    dataset: str | None = None
    status: FileStatus
    rows: int | None = None
    bytes_downloaded: int = 0
    sha256: str | None = None
    validation: str | None = None  # passed, failed, warned, skipped
    stars_in: int | None = None  # openness stars (5-star scheme) of the file as the agency published it
    stars_out: int | None = None  # ... and of what the portal got
    archived: str | None = None  # the raw file's archive key (or its quarantine key when refused)
    note: str | None = None  # why it is unchanged, missing...
    error: str | None = None
    reason: str | None = None


class DatasetReport(_Model):
    name: str
    url: str | None = None
    status: DatasetStatus
    files: list[str] = []
    bytes_uploaded: int = 0
    error: str | None = None  # why it was held back: fails the run
    note: str | None = None  # e.g. who rejected it and why: a decision, not a failure


class RunReport(_Model):
    source: str
    run_id: str
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    dry_run: bool = False
    files: list[FileReport] = []
    datasets: list[DatasetReport] = []
    errors: list[str] = []  # run-level (a source that could not be listed, an archive that failed)

    @computed_field
    @property
    def state(self) -> Literal["success", "failed"]:
        failed = self.errors or any(f.status == "failed" for f in self.files) or any(d.error for d in self.datasets)
        return "failed" if failed else "success"

    @computed_field
    @property
    def counts(self) -> dict[str, int]:
        return {status: sum(f.status == status for f in self.files) for status in COUNTED}

    @computed_field
    @property
    def rows(self) -> int:
        return sum(f.rows or 0 for f in self.files)

    @computed_field
    @property
    def bytes_downloaded(self) -> int:
        return sum(f.bytes_downloaded for f in self.files)

    @computed_field
    @property
    def bytes_uploaded(self) -> int:
        return sum(d.bytes_uploaded for d in self.datasets)

    @computed_field
    @property
    def validation(self) -> str:
        outcomes = {f.validation for f in self.files if f.validation}
        for outcome in ("failed", "warned", "passed"):
            if outcome in outcomes:
                return outcome
        return "skipped"

    def dump(self) -> dict:
        return self.model_dump(mode="json")

    @classmethod
    def load(cls, data: dict) -> "RunReport":
        return cls.model_validate({k: v for k, v in data.items() if k not in cls.model_computed_fields})


def public_url(url: str) -> str:
    """The URL without userinfo (credentials never reach a report, a mail or a log)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def build(source: str, run_id: str, *, started_at: str | None = None, finished_at: str | None = None,
          gathered: list[RemoteFile] = (), groups: list[DatasetGroup] = (), fetched: list[FetchedFile] = (),
          converted: list[ConvertedFile] = (), checks: list[ValidationSummary] = (),
          plans: list[PublishPlan] = (), published: list[PublishResult] = (), errors: list[FileError] = (),
          dataset_errors: dict[str, str] | None = None, rejected: dict[str, str] | None = None,
          missing: list[MissingFile] = (), archived: dict[str, str] | None = None,
          dry_run: bool = False) -> RunReport:
    """The report of one run from its stage records (any of them may be missing: a failed stage leaves none)."""
    dataset_errors, rejected, archived = dict(dataset_errors or {}), dict(rejected or {}), dict(archived or {})
    file_errors = {e.file: e for e in errors if e.file}
    run_errors = [e.message for e in errors if not e.file]
    fetched_by = {f.remote.key: f for f in fetched}
    fetched_by.update({c.fetched.remote.key: c.fetched for c in converted})
    converted_by = {c.fetched.remote.key: c for c in converted}
    missing_by = {m.key: m for m in missing}
    remotes = {r.key: r for r in gathered}
    remotes.update({f.remote.key: f.remote for f in fetched_by.values() if f.remote.key not in remotes})
    dataset_of = {key: g.name for g in groups for key in g.files}
    dataset_of.update({m.key: m.dataset for m in missing})
    published_by = {p.dataset: p for p in published}
    plans_by = {p.dataset: p for p in plans}
    table_outcome = {s.table: s.outcome for s in checks}

    def file_status(key: str, dataset: str | None) -> FileStatus:
        if key in file_errors:
            return "failed"
        if key in missing_by:
            return "withdrawn" if missing_by[key].status == "withdrawn" else "missing"
        got = fetched_by.get(key)
        if got is not None and not got.to_convert:
            return "unchanged" if got.status == "unchanged" else "pending"  # deferred: a later run takes it
        result = published_by.get(dataset or "")
        if result is None:
            return "pending"
        if key in result.unchanged:
            return "unchanged"
        return "added" if result.created or (got is not None and got.status == "new") else "updated"

    files = []
    for key in list(dict.fromkeys([*remotes, *missing_by, *file_errors])):
        remote, got, conv = remotes.get(key), fetched_by.get(key), converted_by.get(key)
        dataset = dataset_of.get(key) or (remote.dataset.name if remote and remote.dataset else None)
        if dataset is None and len(groups) == 1:
            dataset = groups[0].name
        outcomes = [table_outcome[t.key] for t in conv.tables if t.key in table_outcome] if conv else []
        err, gone = file_errors.get(key), missing_by.get(key)
        note = (f"not offered since {gone.missing_since} ({gone.missing_runs} run(s))" if gone
                else got.change if got is not None and got.change else None)
        files.append(FileReport(
            key=key, title=remote.title if remote else gone.title if gone else "",
            url=public_url(remote.url if remote else gone.url if gone else ""),
            dataset=dataset, status=file_status(key, dataset),
            rows=sum(t.rows for t in conv.tables) if conv else None,
            bytes_downloaded=got.size if got else 0, sha256=(got.sha256 or None) if got else None,
            validation=next((o for o in ("failed", "warned", "passed", "skipped") if o in outcomes), None),
            stars_in=conv.stars_in if conv else None, stars_out=conv.stars_out if conv else None,
            archived=archived.get(key), note=note, error=err.message if err else None,
            reason=err.reason if err else None))

    datasets = []
    names = list(dict.fromkeys([*(g.name for g in groups), *plans_by, *published_by, *dataset_errors, *rejected,
                                *(m.dataset for m in missing)]))
    for name in names:
        mine = [f for f in files if f.dataset == name]
        result, plan = published_by.get(name), plans_by.get(name)
        if name in dataset_errors:
            status: DatasetStatus = "held back"
        elif result is not None:
            status = {"create": "created", "update": "updated", "metadata": "metadata updated",
                      "unchanged": "unchanged"}[result.status]
        elif name in rejected:
            status = "rejected"
        elif plan is not None and plan.needs_approval and not dry_run:
            status = "awaiting approval"
        elif any(m.dataset == name and m.dataset_withdrawn for m in missing):
            status = "withdrawn"
        elif mine and all(f.status in ("unchanged", "missing", "withdrawn") for f in mine):
            status = "unchanged"
        else:
            status = "planned" if dry_run else "held back"
        datasets.append(DatasetReport(
            name=name, url=(result.url if result else plan.url if plan else None), status=status,
            files=[f.key for f in mine], bytes_uploaded=result.uploaded_bytes if result else 0,
            error=dataset_errors.get(name), note=rejected.get(name)))

    seconds = None
    if started_at and finished_at:
        seconds = round((datetime.fromisoformat(finished_at) - datetime.fromisoformat(started_at)).total_seconds(), 1)
    return RunReport(source=source, run_id=run_id, started_at=started_at, finished_at=finished_at, seconds=seconds,
                     dry_run=dry_run, files=files, datasets=datasets, errors=run_errors)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- `harvest run` (runner.py)

def record_failure(run, exc: BaseException) -> None:
    """The error that ended a ``runner.RunReport``'s run, unless a file's own error already says it."""
    if not any(e["message"] == str(exc) for e in run.errors):
        run.errors.append(FileError.of(exc, file=None, stage="run").model_dump())


def finish(run, cfg, key: str, started: str, settings=None, *, dry_run: bool = False) -> dict:
    """Build the run report of a ``runner.RunReport``, store it in the archive; returns it (JSON-ready)."""
    from . import archive
    from .datasets import group_files

    gathered = [RemoteFile(**r) for r in run.gathered]
    fetched = [FetchedFile(**f) for f in run.fetched]
    errors = [FileError(**e) for e in run.errors]
    built = build(
        cfg.id, key, started_at=started, finished_at=now(), gathered=gathered, groups=group_files(cfg, gathered),
        fetched=fetched, converted=[ConvertedFile(**c) for c in run.files],
        checks=[ValidationSummary(**v) for v in run.validation],
        plans=[PublishPlan(**d.prepared) for d in run.datasets if d.prepared],
        published=[PublishResult(**d.published) for d in run.datasets if d.published],
        errors=errors, dataset_errors={d.name: d.error for d in run.datasets if d.error},
        missing=[MissingFile(**m) for m in run.missing], dry_run=dry_run,
        archived=archive.locations(cfg.id, key, fetched, errors))
    data = built.dump()
    archive.keep_report(data, settings)
    return data


# --------------------------------------------------------------------------- renderings

def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _counts_line(r: RunReport) -> str:
    return "  ".join(f"{k} {v}" for k, v in r.counts.items() if v or k in ALWAYS_SHOWN)


def summary_lines(r: RunReport) -> list[str]:
    """A plain-text table: the last lines of the DAG's report task, and `harvest report`'s output."""
    took = f"  {r.seconds:.1f} s" if r.seconds is not None else ""
    lines = [
        f"Run report: {r.source}  run {r.run_id}  {r.state.upper()}{took}" + ("  (dry run)" if r.dry_run else ""),
        f"  {_counts_line(r)}",
        f"  rows {r.rows:,}  downloaded {human_bytes(r.bytes_downloaded)}  uploaded {human_bytes(r.bytes_uploaded)}"
        f"  validation {r.validation}",
    ]
    if r.files:
        width = max(len(f.key) for f in r.files)
        lines.append(f"  {'file':<{width}}  {'status':<9}  {'rows':>8}  {'bytes':>9}  error or note")
        for f in r.files:
            rows = f"{f.rows:,}" if f.rows is not None else "-"
            lines.append(f"  {f.key:<{width}}  {f.status:<9}  {rows:>8}  {human_bytes(f.bytes_downloaded):>9}  "
                         f"{f.error or f.note or ''}".rstrip())
    for d in r.datasets:
        lines.append(f"  dataset {d.name}: {d.status}" + (f" ({d.error or d.note})" if d.error or d.note else "")
                     + (f"  {d.url}" if d.url else ""))
    lines += [f"  error: {e}" for e in r.errors]
    return lines


def markdown(r: RunReport, limit: int = NOTE_MAX) -> str:
    """A short Markdown rendering for the DAG run's note (at most ``limit`` characters)."""
    counts = {k: v for k, v in r.counts.items() if v or k in ALWAYS_SHOWN}
    head = [
        f"**{r.state}** · {r.rows:,} rows · ↓ {human_bytes(r.bytes_downloaded)} · ↑ {human_bytes(r.bytes_uploaded)}"
        f" · validation {r.validation}" + (f" · {r.seconds:.0f} s" if r.seconds is not None else ""),
        "",
        "| " + " | ".join(counts) + " |",
        "|" + "---|" * len(counts),
        "| " + " | ".join(str(v) for v in counts.values()) + " |",
    ]
    problems = [f"- `{f.key}`: {f.error}" for f in r.files if f.error]
    problems += [f"- dataset `{d.name}` {d.status}: {d.error}" for d in r.datasets if d.error]
    problems += [f"- {e}" for e in r.errors]
    text = "\n".join(head)
    if problems:
        text += "\n\n**Errors**\n"
        for i, line in enumerate(problems):
            more = f"\n- … {len(problems) - i} more: `harvest report {r.source}`"
            if len(text) + len(line) + 1 + len(more) > limit:
                return text + more
            text += ("\n" if i else "") + line
    return text[:limit]
