"""Target portal profiles: what the portal we push to keeps and enforces, read from its scheming schema.

A deployment names its target with ``HARVEST_PORTAL_PROFILE`` (``settings.py``):

- ``gdc-2.1``   DGA's ckanext-thai_gdc v2.1.0, what the agency catalogs and data.go.th run
                (``dga/gdc-2.1.json``, DGA's file unchanged);
- ``gdc-2024``  the December 2024 fork (``dga/gdc-2024.json``): adds ``data_classification``
                and the data category ``ข้อมูลใช้ภายใน``;
- ``project``   (default) the project's own portal: the schema ``scheming.py`` generates from
                the field registry, which the local test portal runs.

Nothing here is retyped from DGA's files: each profile is derived from its
schema the way ckanext-scheming 3.1.0 reads it with its default presets (the
ones a CKAN 2.12 portal runs DGA's file with): a ``select``/``multiple_checkbox``
preset or a ``scheming_choices``/``scheming_multiple_choice`` validator enforces
the choice list, the ``date`` preset enforces an ISO date, ``int_validator`` an
integer, ``email_validator`` an address; a field the schema does not name is
dropped silently by the portal. Choices a form lists without such a validator
are offered, not enforced.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Mapping

from . import fields as gdc

from ..settings import PORTAL_PROFILE_DEFAULT as DEFAULT
from ..settings import PORTAL_PROFILE_ENV as PROFILE_ENV
from ..settings import portal_profile
DGA_DIR = Path(__file__).resolve().with_name("dga")
DGA_FILES = {"gdc-2.1": DGA_DIR / "gdc-2.1.json", "gdc-2024": DGA_DIR / "gdc-2024.json"}
DESCRIPTIONS = {
    "gdc-2.1": "DGA GD Catalog ckanext-thai_gdc v2.1.0 (agency catalogs, data.go.th)",
    "gdc-2024": "GD Catalog fork thai-gdc-opal (December 2024)",
    "project": "the project's own GD Catalog schema (include/portal/gdc_dataset.json)",
}
NAMES = tuple(DESCRIPTIONS)

# ckanext-scheming 3.1.0's presets.json: the validators of the presets these schemas use. A field's
# own `validators` replace its preset's. (Copied because the pipeline's venv has no CKAN; the
# integration tests load the schemas into a real CKAN and find out if this drifts.)
PRESET_VALIDATORS = {
    "title": "if_empty_same_as(name) unicode_safe",
    "dataset_slug": "not_empty unicode_safe name_validator package_name_validator",
    "tag_string_autocomplete": "ignore_missing tag_string_convert",
    "dataset_organization": "owner_org_validator unicode_safe",
    "resource_url_upload": "ignore_missing unicode_safe remove_whitespace",
    "resource_format_autocomplete": "if_empty_guess_format ignore_missing clean_format unicode_safe",
    "select": "scheming_required scheming_choices",
    "radio": "scheming_required scheming_choices",
    "multiple_checkbox": "scheming_multiple_choice",
    "multiple_select": "scheming_multiple_choice",
    "date": "scheming_required isodate convert_to_json_if_date",
}
CHOICE_VALIDATORS = {"scheming_choices", "scheming_multiple_choice"}
# CKAN's tag length rule (ckan.model.tag MIN_TAG_LENGTH / MAX_TAG_LENGTH); a comma splits tag_string.
TAG_MIN, TAG_MAX = 2, 100


class ProfileError(ValueError):
    """An unknown profile name."""


@dataclass(frozen=True)
class Rule:
    """What one portal does with one field."""

    name: str
    label: str | None  # the Thai label the portal shows, when it has one
    listed: tuple[str, ...]  # the choices its form offers
    enforced: bool  # a value outside `listed` is refused
    multiple: bool  # a real JSON list of choices
    date: bool  # an ISO date, or 409 "Date format incorrect"
    integer: bool
    email: bool
    required: bool
    data_types: tuple[str, ...]  # the data types whose form shows it
    label_en: str | None = None  # the English label, when the schema has one (DGA's do)


def _label(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("th")
    return value if isinstance(value, str) and re.search(r"[ก-๙]", value) else None


def _label_en(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("en")
    return value if isinstance(value, str) and not re.search(r"[ก-๙]", value) else None


def rules(fields: list[dict]) -> dict[str, Rule]:
    """Rules of a scheming schema's dataset_fields or resource_fields."""
    out = {}
    for f in fields:
        validators = (f.get("validators") or PRESET_VALIDATORS.get(f.get("preset", ""), "")).split()
        listed = tuple(c["value"] for c in f.get("choices") or ())
        out[f["field_name"]] = Rule(
            name=f["field_name"], label=_label(f.get("label")), label_en=_label_en(f.get("label")), listed=listed,
            enforced=bool(listed) and bool(CHOICE_VALIDATORS & set(validators)),
            multiple="scheming_multiple_choice" in validators, date="isodate" in validators,
            integer="int_validator" in validators, email="email_validator" in validators,
            required=bool(f.get("required")),
            data_types=tuple(f.get("form_data_type") or gdc.DATA_TYPES))
    return out


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    dataset: Mapping[str, Rule]
    resource: Mapping[str, Rule]
    tag_pattern: str | None  # None: any tag CKAN can store

    def has(self, name: str) -> bool:
        return name in self.dataset

    def rule(self, name: str) -> Rule | None:
        return self.dataset.get(name)

    def thai_label(self, name: str) -> str | None:
        rule = self.dataset.get(name) or self.resource.get(name)
        return rule.label if rule else None

    def english_label(self, name: str) -> str | None:
        """The portal's English label; the project's schema has Thai labels only, so DGA's v2.1 file names it."""
        rule = self.dataset.get(name) or self.resource.get(name)
        if rule and rule.label_en:
            return rule.label_en
        return None if self.name == "gdc-2.1" else get("gdc-2.1").english_label(name)

    def enforced_choices(self, name: str) -> tuple[str, ...] | None:
        rule = self.dataset.get(name)
        return rule.listed if rule and rule.enforced else None

    def tag_problem(self, tag: str) -> str | None:
        """Why this portal refuses the tag, or None."""
        if not TAG_MIN <= len(tag) <= TAG_MAX:
            return f"a tag must be {TAG_MIN}–{TAG_MAX} characters long: {tag!r}"
        if "," in tag:
            return f"a tag may not hold a comma (it separates tags): {tag!r}"
        if self.tag_pattern and not re.match(self.tag_pattern, tag):
            return f"tags may hold only Thai letters, word characters, space, '-' and '.': {tag!r}"
        return None


def _load(name: str) -> dict:
    if name == DEFAULT:
        from .scheming import build_schema

        return build_schema()
    return json.loads(DGA_FILES[name].read_text(encoding="utf-8"))


@cache
def get(name: str) -> Profile:
    if name not in DESCRIPTIONS:
        raise ProfileError(f"{PROFILE_ENV}={name!r} is not a portal profile; use one of {', '.join(NAMES)}")
    schema = _load(name)
    # The project's portal runs the gdcthai plugin's Thai tag rule; DGA's production portals take any tag.
    return Profile(name=name, description=DESCRIPTIONS[name], dataset=rules(schema["dataset_fields"]),
                   resource=rules(schema["resource_fields"]),
                   tag_pattern=gdc.TAG_PATTERN if name == DEFAULT else None)


def active() -> Profile:
    """The deployment's target portal profile (HARVEST_PORTAL_PROFILE)."""
    return get(portal_profile())


def dga_schema_for_ckan(name: str = "gdc-2.1") -> dict:
    """DGA's schema as a CKAN 2.12 test portal can load it: the one change is the validator
    ``unicode`` (removed from CKAN) renamed ``unicode_safe``; everything else as DGA ships it."""
    schema = json.loads(DGA_FILES[name].read_text(encoding="utf-8"))
    for f in schema["dataset_fields"] + schema["resource_fields"]:
        if "validators" in f:
            f["validators"] = " ".join("unicode_safe" if v == "unicode" else v for v in f["validators"].split())
    return schema
