"""Map a source config and its run results onto GD Catalog dataset and resource fields."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import SourceConfig
from ..results import ConvertedFile, ConvertedTable
from . import fields as gdc

FORMAT_LABELS = {"csv": "CSV", "parquet": "Parquet"}


@dataclass(frozen=True)
class ResourcePlan:
    file: Path
    fields: dict[str, str]  # flat strings: uploads go as multipart form fields


def dataset_fields(cfg: SourceConfig, converted: list[ConvertedFile]) -> dict:
    """The dataset as the portal takes it: config metadata plus what the run derives."""
    fields = cfg.metadata.portal_fields()
    fields["name"] = cfg.dataset_name
    fields["owner_org"] = cfg.agency
    fields.setdefault("allow_harvest", "False")
    # data_format is a fixed choice list: Parquet is not on it, so it goes as "อื่นๆ" + its name.
    formats = ["CSV"] if "csv" in cfg.outputs.formats else []
    if "parquet" in cfg.outputs.formats:
        formats.append(gdc.OTHER)
        fields["data_format_other"] = "Parquet"
    fields["data_format"] = formats
    fetched = [c.fetched.fetched_at for c in converted]
    if fetched:
        fields["last_updated_date"] = max(fetched)[:10]
    urls = [c.fetched.remote.url for c in converted]
    fields.setdefault("url", urls[0] if len(urls) == 1 else "")
    return fields


def _describe(table: ConvertedTable, source: ConvertedFile) -> str:
    fetched = source.fetched
    columns = ", ".join(f"{c.name} ({c.type})" for c in table.columns)
    return (
        f"{table.rows:,} แถว {len(table.columns)} คอลัมน์: {columns}\n\n"
        f"แปลงอัตโนมัติจาก {fetched.remote.url} (ดึงข้อมูลเมื่อ {fetched.fetched_at}, "
        f"SHA-256 {fetched.sha256[:16]}…, รูปแบบต้นฉบับ {source.format}, ระดับความเปิด {source.stars_in}→{source.stars_out} ดาว)"
    )


def resource_plans(cfg: SourceConfig, converted: list[ConvertedFile]) -> list[ResourcePlan]:
    plans = []
    for source in converted:
        for table in source.tables:
            for fmt in cfg.outputs.formats:
                path = getattr(table, fmt)
                if not path:
                    continue
                plans.append(ResourcePlan(Path(path), {
                    "name": f"{table.title} ({FORMAT_LABELS[fmt]})",
                    "description": _describe(table, source),
                    "format": FORMAT_LABELS[fmt],
                    "resource_last_updated_date": source.fetched.fetched_at[:10],
                }))
    return plans
