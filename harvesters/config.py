"""Source configs: one YAML file per source, typed and checked before anything runs.

Layout: ``include/sources/<agency>/<source>.yaml``; an optional
``include/sources/<agency>/_agency.yaml`` holds agency defaults that are merged
beneath every source of that agency (mappings merge key by key, anything else
in the source file wins). Strings may use ``${VAR}`` or ``${VAR:-default}`` to
read deployment settings (e.g. a host name) from the environment: only
``HARVEST_CFG_*`` variables and those the deployment lists in
``HARVEST_CFG_VARS``, so a config can never read the portal token or another secret.

Configs come from hundreds of agencies: they are read as untrusted input. A file
over ``HARVEST_MAX_CONFIG_BYTES`` is refused unread, YAML aliases are refused
(no "billion laughs" expansion), and a config that carries a credential inline
(URL userinfo, an Authorization or API-key header, a token-like parameter) is
refused: credentials live in Airflow Connections.
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
CONFIG_VAR_PREFIX = "HARVEST_CFG_"
MAX_CONFIG_BYTES = 512 * 1024  # an agency's source file is a few KB; HARVEST_MAX_CONFIG_BYTES overrides
SUITE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Airflow's schedule presets (cron expressions are checked with croniter, as Airflow's cron timetable does).
SCHEDULE_PRESETS = {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly",
                    "@annually", "@midnight"}
# Names of headers, parameters and URL query keys that carry credentials.
CREDENTIAL_NAME = re.compile(
    r"(authori[sz]ation|^auth$|auth[-_]?token|pass(word|wd)?$|^pwd$|secret|token|api[-_]?key|apikey|access[-_]?key|"
    r"private[-_]?key|credential|cookie|session[-_]?id|^sid$|signature|^sig$|^key$|^x-amz-security)", re.I)

SourceSettings = Annotated[Union[SOURCE_KINDS + (SOURCE_KINDS[0],)], Field(discriminator="kind")]  # type: ignore[valid-type]
# (The repeated first member keeps this a Union while there is only one kind.)


class ValidationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suite: str = Field(description="Great Expectations suite: expectations/<suite>.json")
    on_failure: Literal["block", "warn"] = Field(
        "block", description="block: a failed suite stops the publish; warn: publish and report")

    @field_validator("suite")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not SUITE_RE.match(value) or ".." in value:
            raise ValueError(f"{value!r} must be a plain file name (letters, digits, '_', '-', '.'; no folders)")
        return value


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


class EmailNotify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(min_length=1, description="Who gets the mail (the agency's data team)")
    connection: str = Field("smtp_default", description="Airflow SMTP connection id (server, login, from address)")
    from_email: str | None = Field(None, description="Sender; default: the connection's from_email")

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", a)]
        if bad:
            raise ValueError(f"not an e-mail address: {', '.join(bad)}")
        return value


class WebhookNotify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str = Field(description="Airflow HTTP connection id: host = the webhook's base URL; any token "
                                        "lives in the connection, never here")
    endpoint: str = Field("", description="Path under the connection's URL")


class NotifySettings(BaseModel):
    """Who hears about a failed run (usually set once in _agency.yaml). Uses Airflow's notifiers."""

    model_config = ConfigDict(extra="forbid")

    email: EmailNotify | None = None
    webhook: WebhookNotify | None = None


class WithdrawalSettings(BaseModel):
    """When a file or dataset the source no longer offers is marked withdrawn on the portal (never deleted).

    Both must hold: missing for ``after_runs`` consecutive successful runs AND for ``after_days`` days.
    A run that cannot read the source counts nothing.
    """

    model_config = ConfigDict(extra="forbid")

    after_runs: int = Field(3, ge=1, le=1000, description="Consecutive successful runs a file must be missing")
    after_days: float = Field(1, ge=0, le=366, description="Days a file must be missing (0: runs alone decide)")


class OutputSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    formats: list[Literal["csv", "parquet"]] = Field(default_factory=lambda: ["csv", "parquet"], min_length=1)
    csv_bom: bool = Field(False, description="Write a UTF-8 BOM so Excel opens Thai CSVs correctly")
    allow_personal_data_columns: list[str] = Field(
        default_factory=list,
        description="Columns that may hold personal data (Thai national ID numbers, mobile phone numbers, e-mail "
                    "addresses); only for data category ข้อมูลส่วนบุคคล. Any other such column makes the converter "
                    "refuse the file (reason: pii)")
    allow_national_id_columns: list[str] = Field(
        default_factory=list, description="The former name of allow_personal_data_columns; still read, merged into it")

    @model_validator(mode="after")
    def _merge_former_name(self) -> "OutputSettings":
        merged = list(dict.fromkeys([*self.allow_personal_data_columns, *self.allow_national_id_columns]))
        self.allow_personal_data_columns = merged
        return self


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
    notify: NotifySettings = Field(default_factory=NotifySettings)
    withdrawal: WithdrawalSettings = Field(default_factory=WithdrawalSettings)
    metadata: DatasetMetadata  # type: ignore[valid-type]

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from croniter import croniter

        value = value.strip()
        if value.startswith("@"):
            if value not in SCHEDULE_PRESETS:
                raise ValueError(f"unknown preset {value!r} (one of {', '.join(sorted(SCHEDULE_PRESETS))})")
        elif len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (five fields: minute hour day month weekday)")
        return value

    @field_validator("id", "agency", "dataset")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not ID_RE.match(value):
            raise ValueError(f"{value!r} must be 2–70 lower-case ASCII letters, digits, '-' or '_'")
        return value

    @model_validator(mode="after")
    def _pii_needs_personal_category(self) -> "SourceConfig":
        personal = gdc.BY_NAME["data_category"].aliases["personal"]
        if self.outputs.allow_personal_data_columns and self.metadata.data_category != personal:
            field = ("allow_national_id_columns" if self.outputs.allow_national_id_columns
                     else "allow_personal_data_columns")
            raise ValueError(f"outputs.{field}: personal data may be published only in "
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


def _interpolate(value: Any, missing: list[str], allowed: frozenset[str] = frozenset(),
                 refused: list[str] | None = None) -> Any:
    if isinstance(value, str):
        def sub(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if not name.startswith(CONFIG_VAR_PREFIX) and name not in allowed:
                if refused is not None:
                    refused.append(name)
                return m.group(0)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            missing.append(name)
            return m.group(0)

        return ENV_RE.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, missing, allowed, refused) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, missing, allowed, refused) for v in value]
    return value


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases: `*name` could expand a small file into billions of nodes."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"YAML aliases (*{event.anchor}) are not allowed in "
                                                          f"source configs: write the values out",
                                              event.start_mark)
        return super().compose_node(parent, index)


def _max_config_bytes() -> int:
    raw = os.environ.get("HARVEST_MAX_CONFIG_BYTES", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_CONFIG_BYTES


def _read_yaml(path: Path) -> dict:
    limit = _max_config_bytes()
    try:
        with path.open("rb") as fh:
            raw = fh.read(limit + 1)  # never more: a huge file is refused unread
        if len(raw) > limit:
            raise ConfigError(str(path), [("", f"file over {limit} bytes (HARVEST_MAX_CONFIG_BYTES): a source "
                                               f"config is a few KB")])
        data = yaml.load(raw.decode("utf-8"), Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise ConfigError(str(path), [("", "nested too deeply to be a source config")]) from None
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


def _url_problem(text: str) -> str | None:
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(text.strip())
        userinfo = parts.username is not None or parts.password is not None
    except ValueError:
        return None
    if userinfo:
        return "a URL with a user name or password in it"
    secret = [k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if CREDENTIAL_NAME.search(k)]
    return f"a URL with a credential-like query parameter ({secret[0]})" if secret else None


def inline_secrets(raw: Any, where: str = "") -> list[tuple[str, str]]:
    """Credentials written into a config: (field, message) pairs; the value itself is never repeated."""
    fix = "credentials belong in an Airflow Connection named by `connection:`, never in the config"
    problems: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            field = f"{where}.{key}" if where else str(key)
            if key in ("headers", "params") and isinstance(value, dict):
                for name in value:
                    if CREDENTIAL_NAME.search(str(name)):
                        kind = "header" if key == "headers" else "parameter"
                        problems.append((f"{field}.{name}", f"a credential-like {kind} inline: {fix}"))
            problems += inline_secrets(value, field)
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            problems += inline_secrets(value, f"{where}.{i}")
    elif isinstance(raw, str) and "://" in raw:
        problem = _url_problem(raw)
        if problem:
            problems.append((where, f"{problem}: {fix}"))
    return problems


def config_vars() -> frozenset[str]:
    """The variables besides ``HARVEST_CFG_*`` that ``${VAR}`` may read (deployment setting HARVEST_CFG_VARS)."""
    from .settings import Settings

    return frozenset(Settings.from_env().config_vars)


def load_source(path: Path, sources_dir: Path | None = None, read_yaml=None,
                allowed_vars: frozenset[str] | None = None) -> LoadedSource:
    """Read, merge, interpolate and check one source file. Raises ConfigError.

    ``read_yaml(path) -> dict`` replaces the file reading (the DAG files pass a content-keyed cache);
    ``allowed_vars`` is ``config_vars()``, read once by a caller that loads many files.
    """
    path = Path(path)
    read = read_yaml or _read_yaml
    raw = read(path)
    defaults_file = path.parent / AGENCY_DEFAULTS
    if defaults_file.exists() and defaults_file != path:
        raw = _merge(read(defaults_file), raw)
    raw.setdefault("agency", path.parent.name)
    missing: list[str] = []
    refused: list[str] = []
    raw = _interpolate(raw, missing, config_vars() if allowed_vars is None else allowed_vars, refused)
    if refused:
        raise ConfigError(str(path), [("", f"${{{name}}}: configs may read only {CONFIG_VAR_PREFIX}* variables "
                                           f"and those the deployment lists in HARVEST_CFG_VARS")
                                      for name in dict.fromkeys(refused)])
    if missing:
        raise ConfigError(str(path), [("", f"environment variable {name} is not set") for name in dict.fromkeys(missing)])
    problems = inline_secrets(raw)
    try:
        config = SourceConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(str(path), problems + _problems(exc)) from None
    if problems:
        raise ConfigError(str(path), problems)
    return LoadedSource(path=path, config=config)


def discover_relative(sources_dir: Path) -> list[str]:
    """Every source file under ``sources_dir/<agency>/`` as ``agency/file.yaml``, sorted by (agency, file).

    Through ``os.scandir``, not ``Path.glob``: every DAG file lists the whole folder at each parse
    (10,000 files at national scale), and pathlib's glob costs ~10x more per file.
    """
    def entries(folder):
        try:
            with os.scandir(folder) as it:
                return list(it)
        except OSError:
            return []

    found = [(agency.name, entry.name) for agency in entries(sources_dir) if agency.is_dir()
             for entry in entries(agency.path)
             if entry.name.endswith((".yaml", ".yml")) and entry.name != AGENCY_DEFAULTS
             and not entry.name.startswith(".")]
    return [f"{agency}/{name}" for agency, name in sorted(found)]


def discover(sources_dir: Path) -> list[Path]:
    """Every source file under ``sources_dir/<agency>/``, sorted."""
    return [Path(sources_dir) / rel for rel in discover_relative(sources_dir)]


def duplicate_id(path: Path, source_id: str, first: Path) -> ConfigError:
    """The error of a file whose id an earlier file (in sorted order) already uses."""
    return ConfigError(str(path), [("id", f"{source_id!r} is already used by {first}")])


def load_all(sources_dir: Path, paths: list[Path] | None = None,
             read_yaml=None) -> tuple[list[LoadedSource], list[ConfigError]]:
    """Load every source; a broken file is reported, never hides the others."""
    loaded: list[LoadedSource] = []
    errors: list[ConfigError] = []
    seen: dict[str, Path] = {}
    allowed = config_vars()
    for path in paths if paths is not None else discover(sources_dir):
        try:
            source = load_source(path, sources_dir, read_yaml, allowed)
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
