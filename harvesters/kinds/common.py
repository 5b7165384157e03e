"""Helpers the source kinds share: ASCII keys and unique titles, URL and regex checks, auth."""

from __future__ import annotations

import hashlib
import posixpath
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import FinalError

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
PORTAL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,69}$")  # a dataset's URL name on the portal
KEY_RULE = "key must be lower-case ASCII letters, digits, '-' or '_' (at most 60)"


def file_name(url_or_path: str) -> str:
    """The decoded last path segment of a URL or path (`.../%E0%B8%84.csv` → `ค.csv`)."""
    path = urlsplit(url_or_path).path if "://" in url_or_path else url_or_path
    return posixpath.basename(unquote(path).rstrip("/"))


def suffix_of(name: str) -> str:
    return posixpath.splitext(name)[1].lower()[:10]


def ascii_key(name: str) -> str:
    """ASCII letters and digits of a file name's stem; '' when it has none (a Thai-only name)."""
    stem = posixpath.splitext(name)[0]
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:50]


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def unique_keys(names: list[str], identities: list[str] | None = None) -> list[str]:
    """Stable, unique ASCII keys for file names.

    A name with ASCII letters keeps them (`pm25_2568.csv` → `pm25-2568`). A name
    without any (Thai only), or one whose key another file shares, gets a short
    hash of its identity (the full URL or path) appended, so a key does not
    depend on the order files are listed in.
    """
    identities = identities or names
    bases = [ascii_key(n) for n in names]
    counts: dict[str, int] = {}
    for b in bases:
        counts[b] = counts.get(b, 0) + 1
    keys = []
    for base, ident in zip(bases, identities):
        if base and counts[base] == 1:
            keys.append(base)
        else:
            keys.append(f"{base or 'file'}-{short_hash(ident)}")
    return keys


def dataset_slug(*parts: str) -> str:
    """A portal dataset URL name from parts (`pcd-reports`, `pm25-2568` → `pcd-reports-pm25-2568`).

    Lower-case ASCII, digits, '-' and '_', at most 70 characters; a longer one is
    cut and ends with a short hash of the whole, so two long names stay apart.
    """
    whole = "-".join(p for p in parts if p)
    if PORTAL_NAME_RE.match(whole):
        return whole  # already a portal name (e.g. an agency catalog's own dataset name): keep it exactly
    slug = re.sub(r"[^a-z0-9_]+", "-", whole.lower()).strip("-_")
    if len(slug) > 70:
        slug = f"{slug[:61].rstrip('-_')}-{short_hash(whole)}"
    return slug


def unique_titles(titles: list[str], names: list[str]) -> list[str]:
    """Resource names must differ (the portal matches resources by name): add the file name to repeats."""
    out = []
    for title, name in zip(titles, names):
        clash = titles.count(title) > 1 and title != name
        out.append(f"{title} ({name})" if clash else title)
    # Still equal (same title and same file name in two folders): number them.
    seen: dict[str, int] = {}
    final = []
    for t in out:
        seen[t] = seen.get(t, 0) + 1
        final.append(t if out.count(t) == 1 else f"{t} #{seen[t]}")
    return final


def strings_as(key: str, value):
    """In a list, a bare string stands for ``{key: string}`` (`files: [url, ...]`, `approvers: [id, ...]`)."""
    if isinstance(value, list):
        return [{key: v} if isinstance(v, str) else v for v in value]
    return value


def check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


def check_key(value: str | None) -> str | None:
    if value is not None and not KEY_RE.match(value):
        raise ValueError(KEY_RULE)
    return value


def check_regex(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression {value!r}: {exc}") from None
    return value


def check_css(value: str | None) -> str | None:
    if value is None:
        return None
    import soupsieve

    try:
        soupsieve.compile(value)
    except Exception as exc:  # noqa: BLE001 - SelectorSyntaxError and friends
        first = str(exc).splitlines()[0]
        raise ValueError(f"not a valid CSS selector {value!r}: {first}") from None
    return value


def dotted(data: Any, path: str | None) -> Any:
    """``data["a"]["b"][0]`` for the path ``a.b.0``; raises KeyError naming the missing part."""
    if not path:
        return data
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            have = ", ".join(list(node)[:10]) if isinstance(node, dict) else type(node).__name__
            raise KeyError(f"{part!r} (found: {have})")
    return node


def require(condition: bool, message: str) -> None:
    if not condition:
        raise FinalError(message)
