"""Source configs: one YAML file per source, typed and checked before anything runs.

Layout: ``include/sources/<agency>/<source>.yaml``; an optional
``include/sources/<agency>/_agency.yaml`` holds agency defaults that are merged
beneath every source of that agency (mappings merge key by key, anything else
in the source file wins). Strings may use ``${VAR}`` or ``${VAR:-default}`` to
read deployment settings (e.g. a host name) from the environment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .gdc import fields as gdc
from .gdc.model import DatasetMetadata
from .kinds import SOURCE_KINDS
from .kinds.common import strings_as

AGENCY_DEFAULTS = "_agency.yaml"
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,69}$")  # doubles as the portal slug: ≤ 70 chars
ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

SourceSettings = Annotated[Union[SOURCE_KINDS + (SOURCE_KINDS[0],)], Field(discriminator="kind")]  # type: ignore[valid-type]
# (The repeated first member keeps this a Union while there is only one kind.)


class ValidationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suite: str = Field(description="Great Expectations suite: expectations/<suite>.json")
    on_failure: Literal["block", "warn"] = Field(
        "block", description="block: a failed suite stops the publish; warn: publish and report")


class Approver(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The approver's user id in Airflow")
    name: str | None = Field(None, description="How the approver is shown")


class ApprovalSettings(BaseModel):
    """Who approves opening a dataset (the head of the agency or their delegate, as the law asks)."""

    model_config = ConfigDict(extra="forbid")

    approvers: list[Approver] = Field(
        default_factory=list, description="Airflow users who may answer; empty = anyone allowed to act on the DAG")
    every_update: bool = Field(False, description="Ask again for every update, not only for new datasets "
                                                  "and table schema changes")
    timeout_days: int = Field(14, ge=1, le=90, description="Days to wait for an answer before the run fails")

    @field_validator("approvers", mode="before")
    @classmethod
    def _plain_ids(cls, value):
        return strings_as("id", value)


class OutputSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    formats: list[Literal["csv", "parquet"]] = Field(default_factory=lambda: ["csv", "parquet"], min_length=1)
    csv_bom: bool = Field(False, description="Write a UTF-8 BOM so Excel opens Thai CSVs correctly")
    allow_national_id_columns: list[str] = Field(
        default_factory=list,
        description="Columns that may hold Thai national ID numbers; only for data category ข้อมูลส่วนบุคคล. "
                    "Any other such column makes the converter refuse the file (reason: pii)")


class SourceConfig(BaseModel):
    """One harvest source: where the data is, what to check, how it appears on the portal."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Unique source id; also the dataset's URL name on the portal unless `dataset` "
                                "says otherwise (≤ 70 chars)")
    dataset: str | None = Field(None, description="The dataset's URL name on the portal (default: the id). "
                                                  "Sources that make one dataset per file or per catalog entry "
                                                  "ignore it")
    agency: str = Field(description="The portal organization (its URL name) that owns the dataset")
    description: str | None = Field(None, description="For the Airflow UI; defaults to metadata.notes")
    owner: str = Field("data-engineering", description="Airflow DAG owner (team or person)")
    schedule: str | None = Field("@daily", description="Cron expression or preset; null = manual runs only")
    retries: int = Field(2, ge=0, le=10)
    source: SourceSettings
    outputs: OutputSettings = Field(default_factory=OutputSettings)
    validation: ValidationSettings | None = None
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    metadata: DatasetMetadata  # type: ignore[valid-type]

    @field_validator("id", "agency", "dataset")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not ID_RE.match(value):
            raise ValueError(f"{value!r} must be 2–70 lower-case ASCII letters, digits, '-' or '_'")
        return value

    @model_validator(mode="after")
    def _pii_needs_personal_category(self) -> "SourceConfig":
        personal = gdc.BY_NAME["data_category"].aliases["personal"]
        if self.outputs.allow_national_id_columns and self.metadata.data_category != personal:
            raise ValueError(f"outputs.allow_national_id_columns: national ID numbers may be published only in "
                             f"data category {personal!r}, not {self.metadata.data_category!r}")
        return self

    @property
    def dataset_name(self) -> str:
        return (self.dataset or self.id)[: gdc.SLUG_MAX]


class LoadedSource(BaseModel):
    """A config together with the file it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    config: SourceConfig


def _merge(base: Any, top: Any) -> Any:
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return top


def _interpolate(value: Any, missing: list[str]) -> Any:
    if isinstance(value, str):
        def sub(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            missing.append(name)
            return m.group(0)

        return ENV_RE.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, missing) for v in value]
    return value


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise ConfigError(str(path), [(where, getattr(exc, "problem", None) or "not valid YAML")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [("", f"cannot read: {exc}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), [("", "the file must hold a mapping of settings")])
    return data


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        # Drop pydantic's union-member tags (e.g. 'http') from the path people read.
        if len(loc) > 1 and loc[0] == "source" and loc[1] in {k.model_fields["kind"].annotation.__args__[0]
                                                              for k in SOURCE_KINDS}:
            del loc[1]
        field = ".".join(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if loc and loc[0] == "metadata" and len(loc) > 1:
            field = f"metadata.{gdc.label(loc[1])}" + "".join(f".{p}" for p in loc[2:])
        if err["type"] == "missing":
            msg = "required but missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling; `harvest sources schema` lists them all)"
        out.append((field, msg))
    return out


def load_source(path: Path, sources_dir: Path | None = None, read_yaml=None) -> LoadedSource:
    """Read, merge, interpolate and check one source file. Raises ConfigError.

    ``read_yaml(path) -> dict`` replaces the file reading (the DAG files pass a content-keyed cache).
    """
    path = Path(path)
    read = read_yaml or _read_yaml
    raw = read(path)
    defaults_file = path.parent / AGENCY_DEFAULTS
    if defaults_file.exists() and defaults_file != path:
        raw = _merge(read(defaults_file), raw)
    raw.setdefault("agency", path.parent.name)
    missing: list[str] = []
    raw = _interpolate(raw, missing)
    if missing:
        raise ConfigError(str(path), [("", f"environment variable {name} is not set") for name in dict.fromkeys(missing)])
    try:
        config = SourceConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(str(path), _problems(exc)) from None
    return LoadedSource(path=path, config=config)


def discover(sources_dir: Path) -> list[Path]:
    """Every source file under ``sources_dir/<agency>/``, sorted."""
    return sorted(p for p in Path(sources_dir).glob("*/*.y*ml")
                  if p.suffix in (".yaml", ".yml") and p.name != AGENCY_DEFAULTS and not p.name.startswith("."))


def duplicate_id(path: Path, source_id: str, first: Path) -> ConfigError:
    """The error of a file whose id an earlier file (in sorted order) already uses."""
    return ConfigError(str(path), [("id", f"{source_id!r} is already used by {first}")])


def load_all(sources_dir: Path, paths: list[Path] | None = None,
             read_yaml=None) -> tuple[list[LoadedSource], list[ConfigError]]:
    """Load every source; a broken file is reported, never hides the others."""
    loaded: list[LoadedSource] = []
    errors: list[ConfigError] = []
    seen: dict[str, Path] = {}
    for path in paths if paths is not None else discover(sources_dir):
        try:
            source = load_source(path, sources_dir, read_yaml)
        except ConfigError as exc:
            errors.append(exc)
            continue
        first = seen.setdefault(source.config.id, path)
        if first != path:
            errors.append(duplicate_id(path, source.config.id, first))
            continue
        loaded.append(source)
    return loaded, errors


def find_source(sources_dir: Path, source_id: str) -> LoadedSource:
    loaded, errors = load_all(sources_dir)
    for source in loaded:
        if source.config.id == source_id:
            return source
    for err in errors:  # the wanted source may be the broken one: say why
        if Path(err.file).stem == source_id or source_id in err.file:
            raise err
    from .errors import FinalError

    known = ", ".join(sorted(s.config.id for s in loaded)) or "none"
    raise FinalError(f"no source with id {source_id!r} under {sources_dir} (known: {known})")


def json_schema() -> dict:
    schema = SourceConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Harvest source config"
    return schema
