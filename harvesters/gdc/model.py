"""The `metadata:` block of a source config, typed from the GD Catalog field registry.

The model is generated from ``fields.DATASET_FIELDS`` so the local check, the
JSON Schema agencies get in their editor, and the portal's scheming schema all
come from one list. Choice fields accept the portal's Thai value or one of its
English aliases (``geo_coverage: province`` → ``จังหวัด``); values are stored
in Thai, exactly as the portal wants them.

Two models come from the one builder:

- ``DatasetMetadata``, for the configs agencies write: every choice list and
  field type of the registry, the fields of the data type only; then the target
  portal's profile (``profiles.py``) on top: a field that portal would drop
  silently, or a choice it does not have, is refused with the reason.
- ``intake_model(profile)``, for metadata copied from an agency's own catalog
  (``ckan_catalog``): only what the target portal enforces, so a dataset the
  national portal would take is not held back (see ``intake.py``).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator

from . import fields as gdc
from . import profiles

# Fields the pipeline fills itself; a config may not set them (allow_harvest is the approval's to set).
DERIVED = {"name", "owner_org", "data_format", "tag_string", "allow_harvest"}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TAG_RE = re.compile(gdc.TAG_PATTERN)
# What CKAN's isodate validator parses (h.date_str_to_datetime): a date, optionally with a time.
ISO_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$")


def _to_thai(f: gdc.Field):
    def to_thai(value: Any) -> Any:
        if isinstance(value, list):
            return [f.aliases.get(v, v) for v in value]
        return f.aliases.get(value, value)

    return to_thai


def _choice_type(f: gdc.Field, choices: tuple[str, ...] | None) -> Any:
    """One of `choices` (or an alias of one); `choices=None`: any text (the portal does not enforce the list)."""
    if choices is None:
        one: Any = str
    else:
        aliases = tuple(a for a, v in f.aliases.items() if v in choices)
        one = Literal[tuple(dict.fromkeys(choices + aliases))]  # type: ignore[valid-type]
    base = list[one] if f.multiple else one  # type: ignore[valid-type]
    return Annotated[base, AfterValidator(_to_thai(f))]


def _email(value: str) -> str:
    if not EMAIL_RE.match(value):
        raise ValueError(f"not a valid e-mail address: {value!r}")
    return value


def _date_text(value: Any) -> Any:
    # YAML reads an unquoted 2025-01-31 as a date.
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def _iso_date(value: str) -> str:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date: write it as YYYY-MM-DD (Christian Era), "
                         "e.g. 2025-01-31; the portal refuses anything else (Date format incorrect)") from None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"{value!r}: write the date as YYYY-MM-DD, e.g. 2025-01-31")
    return value


def _iso_date_or_time(value: str) -> str:
    """What the portal's isodate takes: a date, optionally with a time (metadata from other catalogs)."""
    try:
        if not ISO_DATETIME_RE.match(value):
            raise ValueError
        dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD); the portal refuses it "
                         "(Date format incorrect)") from None
    return value


def _number_text(value: Any) -> Any:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _field_type(f: gdc.Field, profile: profiles.Profile | None) -> Any:
    """The field's type for configs (profile None: the registry's strict rules) or for intake into `profile`."""
    rule = profile.rule(f.name) if profile else None
    if f.choices:
        return _choice_type(f, f.choices if profile is None else (rule.listed if rule and rule.enforced else None))
    if f.kind == "email":
        return Annotated[str, AfterValidator(_email)]
    if f.kind == "date":
        check = _iso_date if profile is None else _iso_date_or_time
        return Annotated[str, BeforeValidator(_date_text), AfterValidator(check)]
    if f.kind == "number":
        if profile is None or (rule and rule.integer):
            return int  # the project's portal validates these with int_validator
        return Annotated[str, BeforeValidator(_number_text)]  # DGA's schema: free text ("1.5" is taken)
    return str


def _tags(value: list[str]) -> list[str]:
    bad = [t for t in value if not TAG_RE.match(t)]
    if bad:
        raise ValueError(f"tags may hold only Thai letters, word characters, space, '-' and '.': {bad}")
    return value


def _profile_problems(values: dict[str, Any], tags: list[str], profile: profiles.Profile) -> list[str]:
    """What the target portal would refuse or silently drop, though the registry allows it."""
    where = f"the target portal ({profile.name}: {profile.description})"
    problems = []
    for name, value in values.items():
        if not profile.has(name):
            problems.append(f"{gdc.label(name)}: {where} has no such field and would drop the value silently; "
                            f"remove it (or set {profiles.PROFILE_ENV} to a portal that has it)")
            continue
        choices = profile.enforced_choices(name)
        if choices is not None:
            bad = [v for v in (value if isinstance(value, list) else [value]) if v not in choices]
            if bad:
                problems.append(f"{gdc.label(name)}: {', '.join(map(repr, bad))} is not a choice of {where}, "
                                f"which refuses it; choose one of: {' · '.join(choices)}")
    problems += [f"{gdc.label('tag_string')}: {p}" for t in tags if (p := profile.tag_problem(t))]
    return problems


class _MetadataBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def portal_fields(self) -> dict[str, Any]:
        """The fields as the portal takes them (Thai values, tag_string joined)."""
        out = self.model_dump(exclude_none=True, exclude={"tags"})
        out["tag_string"] = ",".join(self.tags)  # type: ignore[attr-defined]
        return out


class _ConfigMetadata(_MetadataBase):
    @model_validator(mode="after")
    def _fields_fit_data_type_and_target(self) -> "_ConfigMetadata":
        for f in gdc.DATASET_FIELDS:
            if f.name in DERIVED or getattr(self, f.name, None) is None:
                continue
            if self.data_type not in f.data_types:  # type: ignore[attr-defined]
                raise ValueError(
                    f"{gdc.label(f.name)} is not a field of data type {self.data_type!r}; "  # type: ignore[attr-defined]
                    f"it belongs to {', '.join(f.data_types)}"
                )
            other = getattr(self, f"{f.name}_other", None) if f.has_other else None
            value = getattr(self, f.name)
            chose_other = gdc.OTHER in (value if isinstance(value, list) else [value])
            if chose_other and not other:
                raise ValueError(f"{gdc.label(f.name)} is {gdc.OTHER!r}: say what in {f.name}_other")
        problems = _profile_problems(self.model_dump(exclude_none=True, exclude={"tags"}),
                                     self.tags, profiles.active())  # type: ignore[attr-defined]
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _build_model(profile: profiles.Profile | None) -> type[BaseModel]:
    if profile is None:
        tag_check = AfterValidator(_tags)
    else:
        def tag_check_fn(value: list[str]) -> list[str]:
            bad = [p for t in value if (p := profile.tag_problem(t))]
            if bad:
                raise ValueError("; ".join(bad))
            return value
        tag_check = AfterValidator(tag_check_fn)
    definitions: dict[str, Any] = {
        "tags": (Annotated[list[str], Field(min_length=1, description=gdc.BY_NAME["tag_string"].label),
                           tag_check], ...),
    }
    for f in gdc.DATASET_FIELDS:
        if f.name in DERIVED or (profile is not None and not profile.has(f.name)):
            continue
        typ = _field_type(f, profile)
        desc = f.label + (" (choices: " + " · ".join(f.choices) + ")" if f.choices else "")
        if f.required:
            definitions[f.name] = (Annotated[typ, Field(description=desc)], ...)
        else:
            definitions[f.name] = (Annotated[Optional[typ], Field(description=desc)], None)
        if f.has_other and (profile is None or profile.has(f"{f.name}_other")):
            definitions[f"{f.name}_other"] = (Optional[str], None)
    if profile is None:
        return create_model("DatasetMetadata", __base__=_ConfigMetadata, **definitions)
    # A subclass of the config model (so a SourceConfig holds it as its metadata), with the looser types
    # and without the config-only checks (data type membership, the profile's refusals: its types say them).
    name = "IntakeMetadata_" + re.sub(r"\W", "_", profile.name)
    return create_model(name, __base__=DatasetMetadata, __validators__={"_fields_fit_data_type_and_target": _no_check},
                        **definitions)


@model_validator(mode="after")
def _no_check(self):
    return self


DatasetMetadata = _build_model(None)


@cache
def intake_model(profile_name: str) -> type[BaseModel]:
    """The model remote metadata is checked with before it goes to the portal of `profile_name`."""
    return _build_model(profiles.get(profile_name))

