"""Withdrawal: a file or dataset the source stops offering is marked on the portal, never deleted.

Each run whose gather succeeded compares what the source offers with what it
offered before. A file not offered any more is *missing*; once it has been
missing for the config's grace period (``withdrawal.after_runs`` consecutive
runs AND ``withdrawal.after_days`` days) it is *withdrawn* on the portal in one
``package_revise``: its resources keep existing, with a visible note (date and
reason) at the top of their description and a machine-readable
``harvest_withdrawn`` field; when every file of a dataset is withdrawn, the
dataset itself is withdrawn as ``publishing.withdraw`` does it (private,
``allow_harvest`` "False", so the national GD Catalog stops harvesting it) with
the same note at the top of its notes. A file that comes back is restored by
its next publish (``publishing.prepare``: the note goes, the dataset reopens).

A source that cannot be read (DNS, timeout, 5xx, an empty listing, a selector
that finds nothing) fails in gather, before anything here runs: nothing is
ever counted missing because a site was down.

Where the counters live: a small JSON file per source, ``<staging>/<source
id>/state.json``, written atomically (temporary file, then rename). Not on the
portal: counting a missing file there would change a resource every run of the
grace period, and each change is an activity the national catalog sees as an
update, which is what change detection exists to prevent. The file holds only
counters, never what the portal shows: the portal stays the truth for what is
published and what is withdrawn (``harvest_withdrawn``), so a lost state file
costs at most a restarted grace period, never a wrong mark. Each run is
counted once (its run id is recorded), so a retried task does not count twice.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from .errors import HarvestError
from .results import MissingFile, RemoteFile

log = logging.getLogger(__name__)
STATE_FILE = "state.json"


class _SeenFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dataset: str
    title: str = ""
    url: str = ""
    last_seen: str
    missing_since: str | None = None
    missing_runs: int = 0
    withdrawn_at: str | None = None


class SourceState(BaseModel):
    """Per source: every file it offered, and for missing ones since when and for how many runs."""

    model_config = ConfigDict(extra="ignore")

    source: str
    last_run: str | None = None  # the last run counted (a retried task must not count twice)
    files: dict[str, _SeenFile] = {}


def state_path(staging_root: Path, source_id: str) -> Path:
    return Path(staging_root) / source_id / STATE_FILE


def load_state(path: Path, source_id: str) -> SourceState:
    try:
        return SourceState.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return SourceState(source=source_id)
    except ValueError:
        log.warning("%s: unreadable state file %s: starting it again (grace periods restart)", source_id, path)
        return SourceState(source=source_id)


def save_state(path: Path, state: SourceState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(state.model_dump_json(indent=1), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a reader sees the old state or the new one, never half of one


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def observe(cfg, gathered: list[RemoteFile], state: SourceState, run_id: str, now: str | None = None
            ) -> list[MissingFile]:
    """Count this run: files offered are seen; files offered before and not now are missing one more run.

    Returns the missing files, each "missing" (within the grace period) or due for withdrawal
    (``status="withdrawn"`` when due now, "withdrawn_before" when marked in an earlier run).
    """
    now = now or _now()
    first_count = state.last_run != run_id
    offered = {r.key: r for r in gathered}
    for key, remote in offered.items():
        seen = state.files.get(key)
        if seen and seen.missing_runs:
            log.info("%s: %s is offered again after %d run(s) missing", cfg.id, key, seen.missing_runs)
        state.files[key] = _SeenFile(dataset=remote.dataset.name if remote.dataset else cfg.dataset_name,
                                     title=remote.title, url=remote.url, last_seen=now)
    if not cfg.source.tracks_withdrawal():
        state.last_run = run_id
        return []
    grace = cfg.withdrawal
    missing = []
    for key, seen in sorted(state.files.items()):
        if key in offered:
            continue
        if first_count:
            seen.missing_runs += 1
            seen.missing_since = seen.missing_since or now
        due = seen.missing_runs >= grace.after_runs and \
            _parse(now) - _parse(seen.missing_since) >= timedelta(days=grace.after_days)
        status = "withdrawn_before" if seen.withdrawn_at else ("withdrawn" if due else "missing")
        missing.append(MissingFile(key=key, dataset=seen.dataset, title=seen.title, url=seen.url,
                                   missing_since=seen.missing_since, missing_runs=seen.missing_runs, status=status))
    state.last_run = run_id
    return missing


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


# --------------------------------------------------------------------------- the marks on the portal

def note(at: str, since: str, runs: int) -> str:
    """The visible note, in Thai first (the portal's readers), with the English gist."""
    return (f"[ถอนการเผยแพร่ {at[:10]}] แหล่งข้อมูลต้นทางไม่มีข้อมูลนี้แล้วตั้งแต่ {since[:10]} "
            f"(ไม่พบ {runs} รอบการดึงข้อมูลติดต่อกัน) ข้อมูลที่เผยแพร่ไว้ยังคงอยู่แต่จะไม่มีการปรับปรุงอีก "
            f"/ Withdrawn {at[:10]}: no longer offered by the source since {since[:10]}; kept, no longer updated.")


def marker(resource: dict) -> dict | None:
    """The withdrawal a resource carries (``harvest_withdrawn``), or None."""
    raw = resource.get("harvest_withdrawn")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {"note": ""}
    return value if isinstance(value, dict) else {"note": ""}


def dataset_withdrawal(dataset: dict | None) -> dict | None:
    """The pipeline's withdrawal of a whole dataset: every harvested resource marked, the dataset flagged."""
    resources = [r for r in (dataset or {}).get("resources", []) if r.get("harvest_key")]
    marks = [marker(r) for r in resources]
    if not resources or not all(marks):
        return None
    return next((m for m in marks if m.get("dataset")), None)


def without_note(text: str | None, mark: dict | None) -> str:
    """``text`` with the note the pipeline put at its top removed (exactly the stored note, nothing else)."""
    text = text or ""
    prefix = f"{(mark or {}).get('note', '')}\n\n"
    return text[len(prefix):] if mark and mark.get("note") and text.startswith(prefix) else text


def withdraw(cfg, due: list[MissingFile], portal, now: str | None = None) -> list[MissingFile]:
    """Mark the due files withdrawn on the portal: one package_revise per dataset. Returns what was marked."""
    from .stages import file_key_of

    now = now or _now()
    done: list[MissingFile] = []
    by_dataset: dict[str, list[MissingFile]] = {}
    for m in due:
        by_dataset.setdefault(m.dataset, []).append(m)
    for name, items in by_dataset.items():
        try:
            dataset = portal.dataset(name)
        except HarvestError as exc:
            raise exc.with_context(source=cfg.id, file=name)
        if dataset is None or dataset.get("state") == "deleted":
            log.info("%s: %s is not on the portal: nothing to withdraw", cfg.id, name)
            continue
        owner = (dataset.get("organization") or {}).get("name")
        if owner and owner != cfg.agency:  # never mark another agency's dataset (a name clash)
            log.warning("%s: %s belongs to organization %s, not %s: not withdrawn", cfg.id, name, owner, cfg.agency)
            continue
        keys = {m.key: m for m in items}
        harvested = [r for r in dataset.get("resources", []) if r.get("harvest_key")]
        whole = bool(harvested) and all(file_key_of(r) in keys or marker(r) for r in harvested)
        was_open = not dataset.get("private") and dataset.get("allow_harvest") == "True"
        updates = {}
        for res in harvested:
            m = keys.get(file_key_of(res))
            if m is None or marker(res):
                continue
            text = note(now, m.missing_since, m.missing_runs)
            mark = {"at": now, "missing_since": m.missing_since, "reason": "no longer offered by the source",
                    "note": text, "dataset": whole, "reopen": whole and was_open}
            updates[res["id"]] = {"harvest_withdrawn": json.dumps(mark, ensure_ascii=False),
                                  "description": f"{text}\n\n{res.get('description') or ''}"}
        if not updates:
            continue
        fields = {}
        if whole:
            first = items[0]
            text = note(now, min(m.missing_since for m in items), first.missing_runs)
            fields = {"private": True, "allow_harvest": "False", "notes": f"{text}\n\n{dataset.get('notes') or ''}"}
        log.info("%s: withdrawing %d resource(s) of %s%s", cfg.id, len(updates), name,
                 " and the dataset (private, allow_harvest False)" if whole else "")
        try:
            portal.revise_dataset(dataset, fields, [], resource_fields=updates)
        except HarvestError as exc:
            raise exc.with_context(source=cfg.id, file=name)
        done += [m.model_copy(update={"status": "withdrawn", "dataset_withdrawn": whole}) for m in items]
    return done


def track(cfg, gathered: list[RemoteFile], staging_root: Path, run_id: str, portal=None) -> list[MissingFile]:
    """One run's withdrawal step: count, withdraw what is due (with a portal), save the counters.

    Without a portal (a dry run) nothing is written: the result says what a real run would count.
    """
    path = state_path(staging_root, cfg.id)
    state = load_state(path, cfg.id)
    missing = observe(cfg, gathered, state, run_id)
    if portal is None:
        return missing
    save_state(path, state)  # the count first: a failed withdrawal is retried next run, not recounted
    marked = {m.key: m for m in withdraw(cfg, [m for m in missing if m.status == "withdrawn"], portal)}
    for key in marked:
        state.files[key].withdrawn_at = _now()
    if marked:
        save_state(path, state)
    out = []
    for m in missing:
        if m.status == "withdrawn" and m.key not in marked:
            m = m.model_copy(update={"status": "missing"})  # nothing on the portal to mark
        out.append(marked.get(m.key, m))
    for m in out:
        log.info("%s: %s %s (missing since %s, %d run(s))", cfg.id, m.key, m.status, m.missing_since,
                 m.missing_runs)
    return out
