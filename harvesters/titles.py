"""One title, one live dataset: the GD Catalog refuses a title another live dataset already uses.

DGA's plugin answers "That title is already in use" on the portal; we ask the
portal's search first, so the clash is caught before anything is sent (in
prepare, in publish, and by ``harvest sources validate --portal``), with the
other dataset named. Titles compare exactly after whitespace is normalised.
"""

from __future__ import annotations

from .errors import FinalError
from .gdc import fields as gdc
from .portal import Portal


def normalise(title: str) -> str:
    return " ".join(str(title).split())


def same_title(portal: Portal, title: str, name: str) -> list[dict]:
    """Live datasets other than `name` whose title is `title` (after normalising whitespace)."""
    wanted = normalise(title)
    return [d for d in portal.datasets_titled(wanted)
            if d.get("name") != name and d.get("state", "active") == "active" and normalise(d.get("title", "")) == wanted]


def check_title_free(portal: Portal, title: str, name: str) -> None:
    """Raise FinalError naming the other dataset when the title is taken on the portal."""
    others = same_title(portal, title, name)
    if not others:
        return
    other = others[0]
    owner = (other.get("organization") or {}).get("name")
    raise FinalError(
        f"metadata {gdc.label('title')}: {normalise(title)!r} is already the title of dataset {other['name']!r}"
        + (f" of organization {owner!r}" if owner else "") + f" ({portal.dataset_url(other['name'])}); the portal "
        "refuses a second live dataset with the same title (That title is already in use): give this one a title "
        "of its own (a ckan_catalog source: its title_template, e.g. \"{title} (จาก {organization})\")")
