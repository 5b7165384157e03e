"""Write a new source config (and a starter expectation suite): what `harvest new-source` does.

The config is checked by the same loader as every other (``config.load_source``,
with the agency's ``_agency.yaml`` merged beneath it) before it lands at
``<sources>/<agency>/<id>.yaml``: a scaffold that would not pass
`harvest sources validate` is never written. With a sample file, the sample is
converted by the project's converter, exactly as a run converts the source's
files, and the suite is profiled from the result (``suite_profile``).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import AGENCY_DEFAULTS, ID_RE, load_all, load_source
from .errors import ConfigError, FinalError

SCHEMA_COMMENT = "# yaml-language-server: $schema=../../schemas/source.schema.json\n"
# Source kinds whose main setting is one URL (http: the file's; the others: the page or endpoint's).
URL_KINDS = ("http", "web_page", "html_table", "json_api", "ckan_catalog")


@dataclass
class NewSource:
    id: str
    agency: str
    kind: str
    metadata: dict[str, Any]  # config names (title, notes, tags, data_type...) with their config values
    url: str | None = None
    file_title: str | None = None  # http: the file's resource name (default: the dataset title)
    schedule: str | None = "@daily"
    settings: dict[str, Any] = field(default_factory=dict)  # further `source:` settings (kind-specific)
    suite: str | None = None
    on_failure: str = "block"

    def config(self) -> dict[str, Any]:
        source: dict[str, Any] = {"kind": self.kind}
        if self.url and self.kind == "http":
            source["files"] = [{"url": self.url, "title": self.file_title or self.metadata.get("title")}]
        elif self.url:
            source["url"] = self.url
        _merge_into(source, self.settings)
        data: dict[str, Any] = {"id": self.id, "schedule": self.schedule, "source": source}
        if self.suite:
            data["validation"] = {"suite": self.suite, "on_failure": self.on_failure}
        data["metadata"] = {k: v for k, v in self.metadata.items() if v not in (None, "", [])}
        return data


def _merge_into(target: dict, dotted: dict[str, Any]) -> None:
    for key, value in dotted.items():
        *parents, last = key.split(".")
        node = target
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value


def _with_flag_hint(field_name: str, message: str) -> tuple[str, str]:
    """A missing setting of the kind: say how new-source takes it."""
    if field_name.startswith("source.") and message == "required but missing":
        message += f" (give it with --set {field_name.removeprefix('source.')}=VALUE)"
    return field_name, message


def suite_name(source_id: str) -> str:
    return source_id.replace("-", "_")


def agency_defaults(sources_dir: Path, agency: str) -> dict[str, Any]:
    """The agency's ``_agency.yaml`` as written (empty when the agency has none yet)."""
    path = sources_dir / agency / AGENCY_DEFAULTS
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data if isinstance(data, dict) else {}


def yaml_text(data: dict[str, Any]) -> str:
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=110, default_flow_style=False)
    return SCHEMA_COMMENT + body


@dataclass
class Written:
    config: Path
    suite: Path | None
    tables: list[dict[str, Any]]  # per table profiled: name, rows, columns


def write(new: NewSource, sources_dir: Path, expectations_dir: Path, sample: Path | None = None,
          overwrite: bool = False) -> Written:
    """Check and write ``new`` (and its suite from ``sample``); nothing is written when either fails."""
    if not ID_RE.match(new.agency):
        raise FinalError(f"agency {new.agency!r} must be 2–70 lower-case ASCII letters, digits, '-' or '_' "
                         f"(the portal organization's URL name)")
    target = sources_dir / new.agency / f"{new.id}.yaml"
    if target.exists() and not overwrite:
        raise FinalError(f"{target} already exists (--force to replace it)")
    loaded, _ = load_all(sources_dir)
    for other in loaded:
        if other.config.id == new.id and other.path.resolve() != target.resolve():
            raise FinalError(f"source id {new.id!r} is already used by {other.path}")
    if sample is not None:
        new.suite = new.suite or suite_name(new.id)
    suite_path = expectations_dir / f"{new.suite}.json" if sample is not None else None
    if suite_path is not None and suite_path.exists() and not overwrite:
        raise FinalError(f"{suite_path} already exists (--force to replace it, or --suite NAME)")

    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml_text(new.config())
    draft = target.with_name(f".{target.name}.new")  # hidden: never discovered as a source meanwhile
    draft.write_text(text, encoding="utf-8")
    try:
        try:
            checked = load_source(draft, sources_dir)
        except ConfigError as exc:
            raise ConfigError(str(target), [_with_flag_hint(f, m) for f, m in exc.problems]) from None
        tables: list[dict[str, Any]] = []
        if sample is not None:
            suite, tables = _profiled_suite(checked.config, sample, new.suite)
            suite_path.parent.mkdir(parents=True, exist_ok=True)
            suite_path.write_text(json.dumps(suite, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        draft.replace(target)
    finally:
        draft.unlink(missing_ok=True)
    return Written(target, suite_path, tables)


def _profiled_suite(cfg, sample: Path, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Convert ``sample`` as a run converts this source's files, then profile the tables."""
    from .convert import convert_file
    from .convert.options import ConvertOptions
    from .suite_profile import profile

    if not sample.is_file():
        raise FinalError(f"{sample}: no such file (--sample)")
    table = getattr(cfg.source, "table", None)  # html_table: the table the source means
    options = ConvertOptions(allow_pii=cfg.outputs.allow_personal_data_columns,
                             tables=table.model_dump(exclude_none=True) if table is not None else None)
    with tempfile.TemporaryDirectory(prefix="harvest-new-source-") as tmp:
        report = convert_file(sample, Path(tmp), name=sample.stem, formats=("parquet",), options=options,
                              source=cfg.id)
        parquets = [Path(t.parquet) for t in report.tables if t.parquet]
        suite = profile(parquets, name, sample.name)
    tables = [{"name": t.name, "rows": t.rows_written, "columns": [{"name": c.name, "type": c.type} for c in t.columns]}
              for t in report.tables]
    return suite, tables
