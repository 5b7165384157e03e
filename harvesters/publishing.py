"""Publishing to the GD Catalog portal, with the agency's approval where the law asks for it.

    prepare  decide whether a human must approve, and stage a new (or not yet
             approved) dataset privately on the portal, allow_harvest "False",
             so the approver can preview it there;
    approve  (an Airflow ApprovalOperator, addressed to the agency's approvers);
    publish  open it: public, allow_harvest "True"; or update an approved dataset
             in place (same dataset, same resource ids).

Approval is needed for a new dataset, for one not yet approved, when the table
schema changed (columns added, removed or retyped), or when the config asks for
every update. Withdrawal marks a dataset private and not harvestable; nothing is
ever deleted (the national catalog forbids deleting what it has published).
"""

from __future__ import annotations

import csv
import json
import logging
from itertools import islice

from .config import SourceConfig
from .errors import FinalError, HarvestError, PortalRefused
from .gdc import fields as gdc
from .gdc.mapping import ResourcePlan, dataset_fields, resource_plans
from .portal import Portal
from . import lifecycle
from .results import ConvertedFile, FetchedFile, PublishedResource, PublishPlan, PublishResult, ValidationSummary
from .stages import check_gate, file_key_of
from .titles import check_title_free

log = logging.getLogger(__name__)
SAMPLE_ROWS = 5


def _approved(dataset: dict | None) -> bool:
    return bool(dataset) and not dataset.get("private") and dataset.get("allow_harvest") == "True"


def published_schemas(dataset: dict, skip_files: set[str] = frozenset()) -> dict[str, dict]:
    """Table schemas of what is on the portal now, by table key (from the CSV/Parquet resources).

    ``skip_files``: source files left unchanged in this run, whose tables are not compared.
    """
    out = {}
    for res in dataset.get("resources", []):
        if file_key_of(res) in skip_files:
            continue
        key, schema = res.get("harvest_key"), res.get("harvest_schema")
        if key and schema:
            try:
                out[key.rsplit(".", 1)[0]] = json.loads(schema)
            except ValueError:
                continue
    return out


def schema_changes(before: dict[str, dict], converted: list[ConvertedFile]) -> list[str]:
    """Human-readable differences between the published table schemas and this run's."""
    changes = []
    now = {t.key: {c.name: c.type for c in t.columns} for c in converted for t in c.tables}
    for key in sorted(set(before) - set(now)):
        changes.append(f"table {key} removed")
    for key, columns in now.items():
        if key not in before:
            if before:
                changes.append(f"table {key} added")
            continue
        old = {f["name"]: f.get("type") for f in before[key].get("fields", [])}
        added = [c for c in columns if c not in old]
        removed = [c for c in old if c not in columns]
        retyped = [f"{c} ({old[c]}→{t})" for c, t in columns.items() if c in old and old[c] != t]
        for label, items in (("added", added), ("removed", removed), ("retyped", retyped)):
            if items:
                changes.append(f"{key}: columns {label}: {', '.join(items)}")
    return changes


def _sample_md(path: str | None) -> str:
    if not path:
        return ""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(islice(csv.reader(fh), SAMPLE_ROWS + 1))
    if not rows:
        return ""
    cell = lambda v: v.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(cell, rows[0])) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in rows[1:]]
    return "\n".join(lines)


def summary_md(cfg: SourceConfig, converted: list[ConvertedFile], summaries: list[ValidationSummary],
               url: str, reasons: list[str], staged: bool) -> str:
    by_table = {s.table: s for s in summaries}
    parts = [
        f"### {cfg.metadata.title}",
        f"**Dataset** `{cfg.dataset_name}` of `{cfg.agency}` on the portal: {url}"
        + (" (staged privately: open it there to preview)" if staged else ""),
        "**Why approval is asked:** " + "; ".join(reasons),
        "After approval the dataset becomes **public** with `allow_harvest = \"True\"`, so the national "
        "GD Catalog will pull it.",
    ]
    for c in converted:
        for t in c.tables:
            s = by_table.get(t.key)
            outcome = "no suite" if s is None or s.suite is None else f"{s.outcome} ({s.suite}, {s.evaluated} checks)"
            parts.append(f"#### {t.title}\n{t.rows:,} rows · {len(t.columns)} columns · validation: {outcome} · "
                         f"source {c.fetched.remote.url} · SHA-256 {c.fetched.sha256[:12]}…")
            sample = _sample_md(t.csv)
            if sample:
                parts.append(sample)
    return "\n\n".join(parts)


def _check_slug(portal: Portal, cfg: SourceConfig, existing: dict | None) -> None:
    if existing is None:
        return
    if existing.get("state") == "deleted":
        raise FinalError(f"metadata {gdc.label('name')}: {cfg.dataset_name!r} is in the portal's trash; "
                         "ask the portal admins to purge or restore it (the pipeline never reuses a trashed URL)")
    owner = (existing.get("organization") or {}).get("name")
    if owner and owner != cfg.agency:
        # Never take over another agency's dataset, e.g. when two catalogs use the same dataset name.
        raise FinalError(f"metadata {gdc.label('name')}: {cfg.dataset_name!r} already belongs to organization "
                         f"{owner!r} on the portal; give this source another dataset name (or a dataset_prefix)")


def _ensure_dataset(portal: Portal, fields: dict) -> dict:
    """Create the dataset private, or find the one another run just created (overlapping runs)."""
    try:
        return portal.create_dataset({**fields, "private": True})
    except PortalRefused as exc:
        again = portal.dataset(fields["name"])
        if again is None or "already" not in str(exc):
            raise
        return again


def _upload(portal: Portal, dataset: dict, plans: list[ResourcePlan]) -> list[dict]:
    return [portal.upsert_resource(dataset, p.key, p.file, p.fields) for p in plans]


# Dataset fields derived from the files: sent only with the files they come from, never compared on their
# own (a metadata-only update must not restate them, nor a date move because a run happened).
FILE_DERIVED = ("url", "last_updated_date", "first_year_of_data", "last_year_of_data")
# Set by the approval and the withdrawal, not by the config: not part of the metadata comparison.
NOT_COMPARED = ("name", "owner_org", "allow_harvest", "private")


def config_fields(cfg: SourceConfig) -> dict:
    """The dataset fields the config itself maps (what a metadata-only change may push)."""
    own = cfg.metadata.portal_fields()
    return {k: v for k, v in dataset_fields(cfg, []).items()
            if k not in NOT_COMPARED and (k not in FILE_DERIVED or k in own)}


def _same(wanted, current, name: str, existing: dict) -> bool:
    if name == "tag_string":
        return sorted(t for t in str(wanted).split(",") if t) == \
            sorted(t["name"] for t in existing.get("tags") or [])
    if isinstance(wanted, list) or isinstance(current, list):
        return sorted(map(str, wanted or [])) == sorted(map(str, current or []))
    norm = lambda v: "" if v is None else str(v).replace("\r\n", "\n").strip()  # noqa: E731
    return norm(wanted) == norm(current)


def metadata_changes(cfg: SourceConfig, existing: dict) -> list[str]:
    """Config fields whose value on the portal differs (by name), e.g. ["notes", "tag_string"]."""
    return [k for k, v in config_fields(cfg).items() if not _same(v, existing.get(k), k, existing)]


def _whole_dataset_fields(cfg: SourceConfig, converted: list[ConvertedFile], unchanged: list[FetchedFile],
                          existing: dict | None) -> dict:
    """dataset_fields over this run's converted files, with what depends on every file of the dataset
    (its URL, the span of years) taking the files left unchanged into account."""
    fields = dataset_fields(cfg, converted)
    if not unchanged:
        return fields
    own = cfg.metadata.portal_fields()
    if "url" not in own:
        urls = {c.fetched.remote.url for c in converted} | {u.remote.url for u in unchanged}
        fields["url"] = next(iter(urls)) if len(urls) == 1 else ""
    if fields.get("data_type") == gdc.STATISTICAL and "first_year_of_data" not in own and existing:
        keys = {u.remote.key for u in unchanged}
        kept = [r for r in existing.get("resources", []) if file_key_of(r) in keys]
        firsts = [r["resource_first_year_of_data"] for r in kept if r.get("resource_first_year_of_data")]
        lasts = [r["resource_last_year_of_data"] for r in kept if r.get("resource_last_year_of_data")]
        if fields.get("first_year_of_data"):
            firsts.append(fields["first_year_of_data"])
            lasts.append(fields["last_year_of_data"])
        if firsts and lasts:
            fields["first_year_of_data"], fields["last_year_of_data"] = min(firsts), max(lasts)
    return fields


def _restores(existing: dict, keys: set[str]) -> dict[str, dict]:
    """Field updates lifting the withdrawal of resources whose file is back unchanged (id → fields)."""
    out = {}
    for res in existing.get("resources", []):
        mark = lifecycle.marker(res)
        if mark is not None and file_key_of(res) in keys:
            out[res["id"]] = {"harvest_withdrawn": "", "description": lifecycle.without_note(res.get("description"),
                                                                                            mark)}
    return out


def prepare(cfg: SourceConfig, converted: list[ConvertedFile], summaries: list[ValidationSummary],
            portal: Portal, unchanged: list[FetchedFile] = ()) -> PublishPlan:
    """Decide what this dataset's update is (``action``) and whether a human must approve it.

    ``unchanged``: the dataset's files this run left as they are (``datasets.left_alone``). Nothing
    changed (files, config metadata, withdrawals) → action "unchanged": publish sends nothing.
    """
    check_gate(cfg, summaries)
    unchanged = list(unchanged)
    fields = dataset_fields(cfg, converted)
    plans = resource_plans(cfg, converted, summaries)
    if not plans and not unchanged:
        raise FinalError("nothing to publish: no converted table", source=cfg.id)
    try:
        portal.ensure_organization(cfg.agency)
        existing = portal.dataset(cfg.dataset_name)
        _check_slug(portal, cfg, existing)
        check_title_free(portal, fields["title"], cfg.dataset_name)
        if existing is None and not plans:
            raise FinalError(f"dataset {cfg.dataset_name} is not on the portal although its files were found "
                             "unchanged; rerun with force to publish them again")
        withdrawn = lifecycle.dataset_withdrawal(existing)
        reopen = bool(withdrawn and withdrawn.get("reopen"))
        approved = _approved(existing) or reopen
        present = {c.fetched.remote.key for c in converted} | {u.remote.key for u in unchanged
                                                                if u.status == "unchanged"}
        restored = sorted({file_key_of(r) for r in (existing or {}).get("resources", [])
                           if lifecycle.marker(r) and file_key_of(r) in present})
        changes = metadata_changes(cfg, existing) if existing else []
        if existing is None:
            action = "create"
        elif plans:
            action = "update"
        elif changes or restored or reopen:
            action = "metadata"
        else:
            action = "unchanged" if approved else "metadata"  # opening a staged dataset is a metadata change
        reasons = []
        if existing is None:
            reasons.append("new dataset")
        elif not approved:
            reasons.append("dataset not yet approved (private or allow_harvest is not \"True\")")
        else:
            before = published_schemas(existing, {u.remote.key for u in unchanged})
            reasons += [f"table schema changed: {c}" for c in schema_changes(before, converted)]
            if cfg.approval.every_update and action != "unchanged":
                reasons.append("the source's config asks for approval of every update")
        staged = False
        if not approved:
            # Stage privately, so the approver can look at it on the portal before it opens.
            dataset = _ensure_dataset(portal, fields) if existing is None else existing
            _upload(portal, dataset, plans)
            if existing is None or plans or changes:
                portal.patch_dataset(cfg.dataset_name, {**_whole_dataset_fields(cfg, converted, unchanged, existing),
                                                        "private": True, "allow_harvest": "False"})
            staged = True
    except HarvestError as exc:
        raise exc.with_context(source=cfg.id, file=str(cfg.dataset_name))
    url = portal.dataset_url(cfg.dataset_name)
    log.info("%s: %s%s%s", cfg.dataset_name, action, f" (metadata: {', '.join(changes)})" if changes else "",
             f" (restored: {', '.join(restored)})" if restored else "")
    return PublishPlan(dataset=cfg.dataset_name, url=url, exists=existing is not None, approved_before=approved,
                       needs_approval=bool(reasons), reasons=reasons, staged=staged,
                       summary_md=summary_md(cfg, converted, summaries, url, reasons, staged) if reasons else "",
                       files=converted, checks=summaries, action=action, unchanged=unchanged,
                       metadata_changes=changes, restored=restored, reopen=reopen)


def publish(cfg: SourceConfig, converted: list[ConvertedFile], summaries: list[ValidationSummary],
            portal: Portal, plan: PublishPlan, approved_by: str | None = None) -> PublishResult:
    """Open (after approval) or update in place. Files first, metadata last. Unchanged: nothing is sent."""
    if plan.needs_approval and not approved_by:
        raise FinalError(f"publish of {plan.dataset} needs an approval ({'; '.join(plan.reasons)})", source=cfg.id)
    check_gate(cfg, summaries)  # defence in depth: never publish what the gate blocks
    rows = sum(t.rows for c in converted for t in c.tables)
    left = [u.remote.key for u in plan.unchanged]
    if plan.action == "unchanged" and not plan.needs_approval:
        log.info("%s unchanged: nothing sent to the portal (%d file(s) unchanged)", plan.dataset, len(left))
        return PublishResult(dataset=plan.dataset, url=plan.url, created=False, resources=[], rows=0,
                             status="unchanged", unchanged=left)
    plans = resource_plans(cfg, converted, summaries)
    try:
        dataset = portal.dataset(cfg.dataset_name)
        if dataset is None:
            raise FinalError(f"dataset {plan.dataset} vanished from the portal between prepare and publish")
        fields = _whole_dataset_fields(cfg, converted, plan.unchanged, dataset)
        if not plans:
            fields = {**config_fields(cfg), "name": cfg.dataset_name}  # metadata only: nothing file-derived
        opened = {"private": False, "allow_harvest": "True"} if plan.needs_approval or plan.reopen else {}
        check_title_free(portal, fields.get("title") or cfg.metadata.title, cfg.dataset_name)
        if plan.staged:
            # The files are already there, uploaded privately by prepare: opening is one metadata change.
            resources = [r for r in dataset.get("resources", []) if r.get("harvest_key")]
            portal.patch_dataset(cfg.dataset_name, {**fields, **opened})
        else:
            # An update of a published dataset: files and metadata in one revision, never half of it.
            keep = opened or {"allow_harvest": dataset.get("allow_harvest", "False")}
            restores = _restores(dataset, set(plan.restored) - {c.fetched.remote.key for c in converted})
            revised = portal.revise_dataset(dataset, {**fields, **keep}, [(p.key, p.file, p.fields) for p in plans],
                                            resource_fields=restores)
            keys = {p.key for p in plans}
            resources = [r for r in revised.get("resources", []) if r.get("harvest_key") in keys]
    except HarvestError as exc:
        raise exc.with_context(source=cfg.id, file=plan.dataset)
    status = "create" if not plan.exists else plan.action
    # A staged dataset's files were uploaded by prepare, in this same run.
    log.info("published %s: %s (%d resources uploaded, %d rows, %d file(s) unchanged)%s", plan.dataset, status,
             len(plans), rows, len(left), f", approved by {approved_by}" if approved_by else "")
    return PublishResult(
        dataset=plan.dataset, url=plan.url, created=not plan.exists, rows=rows, approved_by=approved_by,
        resources=[PublishedResource(id=r["id"], name=r["name"], format=r.get("format", ""), url=r.get("url", ""))
                   for r in resources],
        status=status, uploaded=[p.key for p in plans], uploaded_bytes=sum(p.file.stat().st_size for p in plans),
        unchanged=left, restored=plan.restored,
    )


def withdraw(portal: Portal, name: str, reason: str, agency: str | None = None) -> dict:
    """Withdraw by marking: private and not harvestable. Never deleted. Only the source agency's own dataset."""
    dataset = portal.dataset(name)
    if dataset is None:
        raise FinalError(f"no dataset {name!r} on the portal {portal.url}")
    owner = (dataset.get("organization") or {}).get("name")
    if agency and owner and owner != agency:
        raise FinalError(f"dataset {name!r} belongs to organization {owner!r}, not to this source's {agency!r}")
    log.info("withdrawing %s: %s", name, reason)
    return portal.patch_dataset(name, {"private": True, "allow_harvest": "False"})
