"""The `metadata:` block of a source config, typed from the GD Catalog field registry.

The model is generated from ``fields.DATASET_FIELDS`` so the local check, the
JSON Schema agencies get in their editor, and the portal's scheming schema all
come from one list. Choice fields accept the portal's Thai value or one of its
English aliases (``geo_coverage: province`` → ``จังหวัด``); values are stored
in Thai, exactly as the portal wants them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, model_validator

from . import fields as gdc

# Fields the pipeline fills itself; a config may not set them (allow_harvest is the approval's to set).
DERIVED = {"name", "owner_org", "data_format", "tag_string", "allow_harvest"}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TAG_RE = re.compile(gdc.TAG_PATTERN)


def _choice_type(f: gdc.Field) -> Any:
    accepted = tuple(dict.fromkeys(f.choices + tuple(f.aliases)))
    one = Literal[accepted]  # type: ignore[valid-type]

    def to_thai(value: Any) -> Any:
        if isinstance(value, list):
            return [f.aliases.get(v, v) for v in value]
        return f.aliases.get(value, value)

    base = list[one] if f.multiple else one  # type: ignore[valid-type]
    return Annotated[base, AfterValidator(to_thai)]


def _email(value: str) -> str:
    if not EMAIL_RE.match(value):
        raise ValueError(f"not a valid e-mail address: {value!r}")
    return value


def _field_type(f: gdc.Field) -> Any:
    if f.choices:
        return _choice_type(f)
    if f.kind == "email":
        return Annotated[str, AfterValidator(_email)]
    if f.kind == "number":
        return int  # the portal's schema validates these with int_validator
    return str


def _tags(value: list[str]) -> list[str]:
    bad = [t for t in value if not TAG_RE.match(t)]
    if bad:
        raise ValueError(f"tags may hold only Thai letters, word characters, space, '-' and '.': {bad}")
    return value


class _MetadataBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _fields_fit_data_type(self) -> "_MetadataBase":
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
        return self

    def portal_fields(self) -> dict[str, Any]:
        """The fields as the portal takes them (Thai values, tag_string joined)."""
        out = self.model_dump(exclude_none=True, exclude={"tags"})
        out["tag_string"] = ",".join(self.tags)  # type: ignore[attr-defined]
        return out


def _build_model() -> type[BaseModel]:
    definitions: dict[str, Any] = {
        "tags": (Annotated[list[str], Field(min_length=1, description=gdc.BY_NAME["tag_string"].label),
                           AfterValidator(_tags)], ...),
    }
    for f in gdc.DATASET_FIELDS:
        if f.name in DERIVED:
            continue
        typ = _field_type(f)
        desc = f.label + (" (choices: " + " · ".join(f.choices) + ")" if f.choices else "")
        if f.required:
            definitions[f.name] = (Annotated[typ, Field(description=desc)], ...)
        else:
            definitions[f.name] = (Annotated[Optional[typ], Field(description=desc)], None)
        if f.has_other:
            definitions[f"{f.name}_other"] = (Optional[str], None)
    return create_model("DatasetMetadata", __base__=_MetadataBase, **definitions)


DatasetMetadata = _build_model()
