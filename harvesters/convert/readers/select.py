"""Choose among the data tables found (``ConvertOptions.tables``).

Every field that is set filters; ``index`` then picks by 0-based position
among the tables the other fields left (alone, among all data tables found):

- ``sheet``: the spreadsheet sheet name (case and surrounding blanks ignored);
- ``caption``: a text contained in the table's caption: the HTML
  ``<caption>`` or the heading above the table, or a spreadsheet table's
  title lines above its header (case-insensitive, whitespace runs as one);
- ``css``: the HTML ``<table>`` matches the selector: lxml's cssselect when
  the ``cssselect`` package is installed, else a built-in subset (type, ``#id``,
  ``.class``, ``[attr]``/``[attr=value]`` compounds joined by descendant or
  ``>`` combinators).

Nothing left: ``RefusedFile("no table", "no table matches <choice>")``.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from ...errors import RefusedFile
from ..normalize import render_text
from .base import RawGrid



def choose_tables(found: Sequence[tuple[RawGrid, Any]], choice) -> list[tuple[RawGrid, Any]]:
    """``found`` is (grid, engine.Scanned) pairs in document order."""
    if choice is None:
        return list(found)
    fields = {k: v for k, v in choice.model_dump().items() if v is not None}
    if not fields:
        return list(found)
    kept = list(found)
    if choice.sheet is not None:
        wanted = _norm(choice.sheet)
        kept = [(g, t) for g, t in kept if _norm(g.sheet or g.name or "") == wanted]
    if choice.caption is not None:
        wanted = _norm(choice.caption)
        kept = [(g, t) for g, t in kept if wanted in _norm(caption_of(g, t))]
    if choice.css is not None:
        kept = [(g, t) for g, t in kept if g.element is not None and css_matches(g.element, choice.css)]
    if choice.index is not None:
        kept = [kept[choice.index]] if choice.index < len(kept) else []
    if not kept:
        described = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        raise RefusedFile("no table", f"no table matches {described}")
    return kept


def caption_of(grid: RawGrid, table: Any) -> str:
    """``table`` is an ``engine.Scanned``: its layout keeps the rows above the header."""
    if grid.caption:
        return grid.caption
    layout = table.layout
    first = layout.header_rows[0] if layout.header_rows else 0
    lines = [" ".join(render_text(v) for v in row if v is not None and render_text(v))
             for row in layout.head_raw[:first]]
    return " ".join(line for line in lines if line)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


# --- CSS selectors --------------------------------------------------------------------------------


def css_matches(element, selector: str) -> bool:
    root = element.getroottree().getroot()
    try:
        from lxml.cssselect import CSSSelector  # needs the cssselect package
    except ImportError:
        matches = root.xpath(css_to_xpath(selector))
    else:
        try:
            matches = CSSSelector(selector)(root)
        except Exception as exc:  # cssselect.SelectorError and friends
            raise RefusedFile("no table", f"no table matches css={selector!r} ({exc})") from None
    return any(m is element for m in matches)


_COMPOUND = re.compile(
    r"""(?P<tag>[a-zA-Z][\w-]*|\*)?(?P<rest>(?:\#[\w-]+|\.[\w-]+|\[[\w-]+(?:[~|^$*]?=(?:"[^"]*"|'[^']*'|[^\]]*))?\])*)"""
)
_PART = re.compile(r"""\#([\w-]+)|\.([\w-]+)|\[([\w-]+)(?:([~|^$*]?=)("[^"]*"|'[^']*'|[^\]]*))?\]""")


def css_to_xpath(selector: str) -> str:
    """XPath for a selector of the built-in subset; anything else refuses."""
    paths = []
    for alternative in selector.split(","):
        tokens = re.split(r"\s*(>)\s*|\s+", alternative.strip())
        tokens = [t for t in tokens if t]
        if not tokens:
            raise _unsupported(selector)
        xpath, child = "", False
        for token in tokens:
            if token == ">":
                child = True
                continue
            step = _compound(token, selector)
            if not xpath:
                xpath = "descendant-or-self::" + step
            else:
                xpath += ("/" if child else "//") + step
            child = False
        paths.append(xpath)
    return " | ".join(paths)


def _compound(token: str, selector: str) -> str:
    match = _COMPOUND.fullmatch(token)
    if not match or not (match.group("tag") or match.group("rest")):
        raise _unsupported(selector)
    conditions = []
    for m in _PART.finditer(match.group("rest") or ""):
        ident, cls, attr, op, value = m.groups()
        if ident:
            conditions.append(f"@id={_literal(ident)}")
        elif cls:
            conditions.append(f"contains(concat(' ', normalize-space(@class), ' '), {_literal(' ' + cls + ' ')})")
        elif op is None:
            conditions.append(f"@{attr}")
        else:
            v = value.strip("\"'")
            if op == "=":
                conditions.append(f"@{attr}={_literal(v)}")
            elif op == "*=":
                conditions.append(f"contains(@{attr}, {_literal(v)})")
            elif op == "^=":
                conditions.append(f"starts-with(@{attr}, {_literal(v)})")
            elif op == "~=":
                conditions.append(f"contains(concat(' ', normalize-space(@{attr}), ' '), {_literal(' ' + v + ' ')})")
            else:
                raise _unsupported(selector)
    tag = match.group("tag") or "*"
    return tag + "".join(f"[{c}]" for c in conditions)


def _literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ", \"'\", ".join(f"'{p}'" for p in text.split("'")) + ")"


def _unsupported(selector: str) -> RefusedFile:
    return RefusedFile(
        "no table",
        f"no table matches css={selector!r} (selector not supported without the cssselect package)",
    )
