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
from .results import ConvertedFile, PublishedResource, PublishPlan, PublishResult, ValidationSummary
from .stages import check_gate
from .titles import check_title_free

log = logging.getLogger(__name__)
SAMPLE_ROWS = 5


def _approved(dataset: dict | None) -> bool:
    return bool(dataset) and not dataset.get("private") and dataset.get("allow_harvest") == "True"


def published_schemas(dataset: dict) -> dict[str, dict]:
    """Table schemas of what is on the portal now, by table key (from the CSV/Parquet resources)."""
    out = {}
    for res in dataset.get("resources", []):
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


def prepare(cfg: SourceConfig, converted: list[ConvertedFile], summaries: list[ValidationSummary],
            portal: Portal) -> PublishPlan:
    check_gate(cfg, summaries)
    fields = dataset_fields(cfg, converted)
    plans = resource_plans(cfg, converted, summaries)
    if not plans:
        raise FinalError("nothing to publish: no converted table", source=cfg.id)
    try:
        portal.ensure_organization(cfg.agency)
        existing = portal.dataset(cfg.dataset_name)
        _check_slug(portal, cfg, existing)
        check_title_free(portal, fields["title"], cfg.dataset_name)
        approved = _approved(existing)
        reasons = []
        if existing is None:
            reasons.append("new dataset")
        elif not approved:
            reasons.append("dataset not yet approved (private or allow_harvest is not \"True\")")
        else:
            reasons += [f"table schema changed: {c}" for c in schema_changes(published_schemas(existing), converted)]
            if cfg.approval.every_update:
                reasons.append("the source's config asks for approval of every update")
        staged = False
        if not approved:
            # Stage privately, so the approver can look at it on the portal before it opens.
            dataset = _ensure_dataset(portal, fields) if existing is None else existing
            _upload(portal, dataset, plans)
            portal.patch_dataset(cfg.dataset_name, {**fields, "private": True, "allow_harvest": "False"})
            staged = True
    except HarvestError as exc:
        raise exc.with_context(source=cfg.id, file=str(cfg.dataset_name))
    url = portal.dataset_url(cfg.dataset_name)
    return PublishPlan(dataset=cfg.dataset_name, url=url, exists=existing is not None, approved_before=approved,
                       needs_approval=bool(reasons), reasons=reasons, staged=staged,
                       summary_md=summary_md(cfg, converted, summaries, url, reasons, staged) if reasons else "",
                       files=converted, checks=summaries)


def publish(cfg: SourceConfig, converted: list[ConvertedFile], summaries: list[ValidationSummary],
            portal: Portal, plan: PublishPlan, approved_by: str | None = None) -> PublishResult:
    """Open (after approval) or update in place. Files first, metadata last."""
    if plan.needs_approval and not approved_by:
        raise FinalError(f"publish of {plan.dataset} needs an approval ({'; '.join(plan.reasons)})", source=cfg.id)
    check_gate(cfg, summaries)  # defence in depth: never publish what the gate blocks
    fields = dataset_fields(cfg, converted)
    plans = resource_plans(cfg, converted, summaries)
    try:
        dataset = portal.dataset(cfg.dataset_name)
        if dataset is None:
            raise FinalError(f"dataset {plan.dataset} vanished from the portal between prepare and publish")
        check_title_free(portal, fields["title"], cfg.dataset_name)
        opened = {"private": False, "allow_harvest": "True"} if plan.needs_approval else {}
        if plan.staged:
            # The files are already there, uploaded privately by prepare: opening is one metadata change.
            resources = [r for r in dataset.get("resources", []) if r.get("harvest_key")]
            portal.patch_dataset(cfg.dataset_name, {**fields, **opened})
        else:
            # An update of a published dataset: files and metadata in one revision, never half of it.
            keep = opened or {"allow_harvest": dataset.get("allow_harvest", "False")}
            revised = portal.revise_dataset(dataset, {**fields, **keep}, [(p.key, p.file, p.fields) for p in plans])
            keys = {p.key for p in plans}
            resources = [r for r in revised.get("resources", []) if r.get("harvest_key") in keys]
    except HarvestError as exc:
        raise exc.with_context(source=cfg.id, file=plan.dataset)
    rows = sum(t.rows for c in converted for t in c.tables)
    log.info("published %s (%d resources, %d rows)%s", plan.dataset, len(resources), rows,
             f", approved by {approved_by}" if approved_by else "")
    return PublishResult(
        dataset=plan.dataset, url=plan.url, created=not plan.exists, rows=rows, approved_by=approved_by,
        resources=[PublishedResource(id=r["id"], name=r["name"], format=r.get("format", ""), url=r.get("url", ""))
                   for r in resources],
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
