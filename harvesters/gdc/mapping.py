"""Map a source config and its run results onto GD Catalog dataset and resource fields.

Derived fields are filled from the data and the run, never typed by hand:
data_format, last_updated_date, first/last year of data (Buddhist Era, from the
date columns), and per resource its provenance, table schema, row count,
openness stars and validation outcome. The GD Catalog has no dataset fields for
the last group; CKAN keeps extra *resource* fields, so they travel as
``harvest_*`` resource fields (scheming drops unknown dataset-level keys).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ..config import CREDENTIAL_NAME, SourceConfig
from ..results import ConvertedFile, ConvertedTable, ValidationSummary
from . import fields as gdc

FORMAT_LABELS = {"csv": "CSV", "parquet": "Parquet"}
BUDDHIST_ERA_OFFSET = 543


@dataclass(frozen=True)
class ResourcePlan:
    key: str  # stable: matches the resource across runs (harvest_key)
    file: Path
    fields: dict[str, str]  # flat strings: uploads go as multipart form fields


def public_url(url: str) -> str:
    """``url`` as the public may see it: http(s) only, without userinfo or credential-like query parameters.

    A drop's ``sftp://``, ``s3://`` or ``file://`` location is internal: it gives "" (publish nothing).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not host:
        return ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port else ""
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not CREDENTIAL_NAME.search(k)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query) if query else "", ""))


def _shown_origin(url: str) -> str:
    """Where a file came from, for a description: its public URL, else just its file name."""
    return public_url(url) or posixpath.basename(unquote(urlsplit(url).path)) or "-"


def be_year(iso_date: str) -> str:
    return str(int(iso_date[:4]) + BUDDHIST_ERA_OFFSET)


def _year_span(tables: list[ConvertedTable]) -> list[str] | None:
    ranges = [t.date_range for t in tables if t.date_range]
    if not ranges:
        return None
    return [be_year(min(r[0] for r in ranges)), be_year(max(r[1] for r in ranges))]


def dataset_fields(cfg: SourceConfig, converted: list[ConvertedFile]) -> dict:
    """The dataset as the portal takes it: config metadata plus what the run derives."""
    fields = cfg.metadata.portal_fields()
    fields["name"] = cfg.dataset_name
    fields["owner_org"] = cfg.agency
    fields["allow_harvest"] = "False"  # only an approval opens a dataset to the national catalog
    # data_format is a fixed choice list: Parquet is not on it, so it goes as "อื่นๆ" + its name.
    formats = ["CSV"] if "csv" in cfg.outputs.formats else []
    if "parquet" in cfg.outputs.formats:
        formats.append(gdc.OTHER)
        fields["data_format_other"] = "Parquet"
    fields["data_format"] = formats
    changed = [d for c in converted if (d := changed_on(c.fetched))]
    if changed:  # the data changed: not merely a run that happened (then the portal's date stays)
        fields["last_updated_date"] = max(changed)
    urls = [c.fetched.remote.url for c in converted]
    # The dataset's page: the config's `metadata.url` (the agency's public page), else the one file's
    # public URL; never an internal location (a drop's sftp:// or file:// path) or a credential.
    fields.setdefault("url", public_url(urls[0]) if len(urls) == 1 else "")
    years = _year_span([t for c in converted for t in c.tables])
    if years and fields["data_type"] == gdc.STATISTICAL:
        fields.setdefault("first_year_of_data", years[0])
        fields.setdefault("last_year_of_data", years[1])
    return fields


def changed_on(fetched) -> str | None:
    """The date (ISO) a file's content last changed: this run's, unless it is unchanged (re-sent by force)."""
    if fetched.status == "unchanged":
        return fetched.remote.known.last_updated if fetched.remote.known else None
    return fetched.fetched_at[:10]


def _describe(table: ConvertedTable, source: ConvertedFile) -> str:
    fetched = source.fetched
    columns = ", ".join(f"{c.name} ({c.type})" for c in table.columns)
    return (
        f"{table.rows:,} แถว {len(table.columns)} คอลัมน์: {columns}\n\n"
        f"แปลงอัตโนมัติจาก {_shown_origin(fetched.remote.url)} (ดึงข้อมูลเมื่อ {fetched.fetched_at}, "
        f"SHA-256 {fetched.sha256[:16]}…, รูปแบบต้นฉบับ {source.format}, ระดับความเปิด {source.stars_in}→{source.stars_out} ดาว)"
    )


def _validation_note(summary: ValidationSummary | None) -> str:
    if summary is None or summary.suite is None:
        return json.dumps({"outcome": "skipped"})
    return json.dumps({"suite": summary.suite, "outcome": summary.outcome, "evaluated": summary.evaluated,
                       "failed": summary.failed[:5]}, ensure_ascii=False)


def resource_plans(cfg: SourceConfig, converted: list[ConvertedFile],
                   summaries: list[ValidationSummary] = ()) -> list[ResourcePlan]:
    by_table = {s.table: s for s in summaries}
    statistical = cfg.metadata.data_type == gdc.STATISTICAL
    plans = []
    for source in converted:
        fetched = source.fetched
        for table in source.tables:
            for fmt in cfg.outputs.formats:
                path = getattr(table, fmt)
                if not path:
                    continue
                fields = {
                    "name": f"{table.title} ({FORMAT_LABELS[fmt]})",
                    "description": _describe(table, source),
                    "format": FORMAT_LABELS[fmt],
                    "resource_last_updated_date": changed_on(fetched) or fetched.fetched_at[:10],
                    "harvest_key": f"{table.key}.{fmt}",
                    "harvest_file": fetched.remote.key,
                    "harvest_rows": str(table.rows),
                    "harvest_schema": json.dumps(table.table_schema, ensure_ascii=False),
                    "harvest_stars": f"{source.stars_in}->{source.stars_out}",
                    "harvest_validation": _validation_note(by_table.get(table.key)),
                    "harvest_source_url": public_url(fetched.remote.url),
                    "harvest_fetched_at": fetched.fetched_at,
                    "harvest_sha256": fetched.sha256,
                    # Change detection reads these back next run (harvesters.stages.recall).
                    "harvest_fingerprint": fetched.fingerprint or fetched.sha256,
                    "harvest_etag": fetched.etag or "",
                    "harvest_last_modified": fetched.last_modified or "",
                    "harvest_version": fetched.remote.etag or "",
                    "harvest_withdrawn": "",  # a file published again is not withdrawn (lifecycle)
                }
                if statistical and table.date_range:
                    fields["resource_first_year_of_data"] = be_year(table.date_range[0])
                    fields["resource_last_year_of_data"] = be_year(table.date_range[1])
                plans.append(ResourcePlan(f"{table.key}.{fmt}", Path(path), fields))
    return plans
