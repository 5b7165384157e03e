"""Metadata taken from another GD Catalog (an agency's own catalog), made fit for the target portal.

Be liberal in what we take: an agency's catalog and the national portal take
values our own configs may not use, and a dataset the target portal would
accept must not be held back for them. So, before the target's own rules
(``model.intake_model``) check what is left:

- a value outside a choice list goes to the field's ``<field>_other`` companion
  (the value becomes ``อื่นๆ``) when the target has that companion; otherwise it
  travels as it is when the target does not enforce the list;
- True/False flags written another way (``true``, ``1``, ``yes``) are spelled as the portal does;
- a field the target portal does not have is dropped (it would drop it too);
- a tag the target's tag rule refuses is cleaned (``PM(2.5)`` → ``PM 2.5``).
Fields the data type's form does not show are kept: the portals store them.
Only what the target would still refuse holds the dataset back, with the field named.
"""

from __future__ import annotations

import re
from typing import Any

from . import fields as gdc
from .profiles import Profile

TRUE_WORDS = {"true", "1", "yes", "y", "ใช่", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "ไม่ใช่", "f"}
TAG_CLEAN_RE = re.compile(r"[^ก-๙\w \-.]+")


def _flag(value: Any) -> Any:
    word = str(value).strip().lower()
    return "True" if word in TRUE_WORDS else "False" if word in FALSE_WORDS else value


def _clean_tag(tag: str) -> str:
    return " ".join(TAG_CLEAN_RE.sub(" ", tag).split())


def _tags(tags: list[str], profile: Profile, notes: list[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        tag = " ".join(str(tag).split())
        if profile.tag_problem(tag) and profile.tag_pattern:
            cleaned = _clean_tag(tag)
            notes.append(f"tag {tag!r} → {cleaned!r} (the target's tag rule)")
            tag = cleaned
        if problem := profile.tag_problem(tag):
            notes.append(f"tag dropped: {problem}")
            continue
        if tag not in out:
            out.append(tag)
    return out


def _choice(f: gdc.Field, value: Any, values: dict[str, Any], profile: Profile, notes: list[str]) -> Any:
    """The value of choice field `f` as the target takes it; may set values[f'{f.name}_other']."""
    items = value if isinstance(value, list) else [value]
    if f.choices == gdc.TRUE_FALSE:
        items = [_flag(v) for v in items]
    items = [f.aliases.get(str(v), v) for v in items]
    rule = profile.rule(f.name)
    known = rule.listed if rule and rule.listed else f.choices  # the target's list, else the registry's
    unknown = [str(v) for v in items if v not in known]
    other = f"{f.name}_other"
    if unknown and f.has_other and profile.has(other) and gdc.OTHER in known:
        kept = [v for v in items if v in known and v != gdc.OTHER] + [gdc.OTHER]
        said = str(values.get(other) or "").strip()
        values[other] = "; ".join(x for x in [said, *unknown] if x)
        notes.append(f"{f.name}: {', '.join(map(repr, unknown))} is not on the portal's list: "
                     f"sent as {gdc.OTHER!r} with {other}")
        items = kept
    return items if f.multiple else items[0]


def remote_metadata(raw: dict[str, Any], profile: Profile, skip: set[str] = frozenset()) -> tuple[dict, list[str]]:
    """`raw` (a remote dataset's GD Catalog values) as the target portal `profile` takes them.

    Returns the values and notes saying what was changed or dropped (for the log).
    """
    notes: list[str] = []
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name in skip or value in (None, "", []):
            continue
        if name == "tags":
            values["tags"] = _tags(list(value), profile, notes)
            continue
        if not profile.has(name):
            notes.append(f"{name} dropped: the target portal ({profile.name}) has no such field")
            continue
        values[name] = value
    for name in list(values):
        f = gdc.BY_NAME.get(name)
        if f is not None and f.choices:
            values[name] = _choice(f, values[name], values, profile, notes)
    return values, notes
