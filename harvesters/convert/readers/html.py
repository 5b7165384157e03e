"""HTML pages: one raw grid per data table, via lxml.

- Text: the declared ``<meta charset>`` (or http-equiv) decides, else the
  decoding rules (:func:`..decode.decode_html`).
- Invisible content is removed before anything is read: ``<script>``,
  ``<style>``, ``<template>``, ``<noscript>``, elements with the ``hidden``
  attribute, an inline ``display:none`` or ``visibility:hidden`` style, or a
  class/id that a ``<style>`` rule of the page hides that way.
- ``colspan``/``rowspan`` are expanded the way browsers lay tables out; values
  that are not positive integers count as 1 (``colspan="0"``, ``"foo"``),
  ``rowspan`` never reaches past the last row, and ``colspan`` is capped at
  ``max(MIN_COLSPAN_CAP, cells of the widest row)`` (and HTML's own 1000);
  cells that rowspans push more than ``WIDTH_SLACK`` columns past the widest
  row (a staircase of huge spans) are left out with a warning.
- Layout and navigation tables are skipped: role="presentation"/"none",
  tables inside ``<nav>``/``<header>``/``<footer>``, tables whose cells
  mostly hold other tables or form fields, tables whose cells are mostly
  links only, and tables with a single row or a single column. A short
  all-text legend (at most two columns, no header row, no number) is only
  kept when the page has no other data table.
- Rows of ``<th>`` cells (and ``<thead>`` rows) at the top are the header,
  except a lone title cell above further header rows; ``<thead>``, body
  rows and ``<tfoot>`` are read in that order. ``<caption>`` (else the nearest
  heading above the table) is kept for choosing a table by caption.
- Cell text follows rendering: runs of whitespace are one space, ``<br>`` and
  block elements (``<p>``, ``<div>``, ``<li>``) are line breaks; nested tables
  are not part of a cell's text (they are tables of their own).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ...errors import RefusedFile
from ..decode import decode_html
from ..normalize import parse_date, parse_number
from ..sniff import Sniffed
from .base import Merge, RawGrid, ReadResult

MAX_COLSPAN = 1000  # the HTML standard's own limit
MAX_ROWSPAN = 65534
MIN_COLSPAN_CAP = 50  # a colspan="100" title is common; the empty columns are dropped later
MAX_CELLS = 20_000_000  # grid cells per table after expanding spans
WIDTH_SLACK = 10  # columns a rowspan may push cells past the widest row

_INVISIBLE_TAGS = {"script", "style", "template", "noscript", "head", "title"}
_BLOCK_TAGS = {"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
               "blockquote", "pre", "address", "section", "article", "tr"}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_CSS_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_SPACES = re.compile(r"[ \t\r\n\f]+")
_HEADINGS = "preceding::*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6][1]"
_LAYOUT_ROLES = {"presentation", "none", "navigation", "menu", "menubar", "tablist"}
_LAYOUT_ANCESTORS = {"nav", "header", "footer", "menu"}
_FORM_TAGS = {"input", "select", "textarea", "button"}


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    decoded = decode_html(path.read_bytes())
    doc = parse_html(decoded.text)
    remove_invisible(doc)
    grids: list[RawGrid] = []
    weak: list[RawGrid] = []
    for table in doc.iter("table"):
        if _is_layout(table):
            continue
        grid = table_grid(table, decoded.warnings)
        if grid is None:
            continue
        (weak if _is_legend(grid) else grids).append(grid)
    if not grids:
        grids = weak  # a page whose only table is a short list is still a table
    return ReadResult(format="html", grids=grids, encoding=decoded.encoding, warnings=decoded.warnings)


def parse_html(text: str):
    import lxml.html
    from lxml import etree

    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True)
    try:
        return lxml.html.document_fromstring(text.encode("utf-8"), parser=parser)
    except (etree.ParserError, ValueError) as exc:  # "Document is empty"
        raise RefusedFile("no table", f"unreadable HTML ({exc})") from None


# --- invisible content ---------------------------------------------------------------------


def remove_invisible(doc) -> None:
    hidden_classes, hidden_ids = _hidden_by_stylesheet(doc)
    doomed = []
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag in _INVISIBLE_TAGS or el.get("hidden") is not None:
            doomed.append(el)
            continue
        style = el.get("style")
        if style and _HIDDEN_STYLE.search(style):
            doomed.append(el)
            continue
        if hidden_classes and set((el.get("class") or "").split()) & hidden_classes:
            doomed.append(el)
        elif hidden_ids and el.get("id") in hidden_ids:
            doomed.append(el)
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()  # keeps the tail text, which is visible


def _hidden_by_stylesheet(doc) -> tuple[set[str], set[str]]:
    classes: set[str] = set()
    ids: set[str] = set()
    for style in doc.iter("style"):
        for selectors, body in _CSS_RULE.findall(style.text or ""):
            if not _HIDDEN_STYLE.search(body):
                continue
            for selector in selectors.split(","):
                selector = selector.strip()
                if m := re.fullmatch(r"[a-zA-Z0-9]*\.([\w-]+)", selector):
                    classes.add(m.group(1))
                elif m := re.fullmatch(r"[a-zA-Z0-9]*#([\w-]+)", selector):
                    ids.add(m.group(1))
    return classes, ids


# --- which tables hold data ---------------------------------------------------------------------


def _rows(table) -> list:
    """The table's own rows (not those of nested tables): thead, body, tfoot."""
    head, body, foot = [], [], []
    for child in table:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag == "tr":
            body.append(child)
        elif tag in ("thead", "tbody", "tfoot"):
            rows = [tr for tr in child if tr.tag == "tr"]
            {"thead": head, "tbody": body, "tfoot": foot}[tag].extend(rows)
    return head + body + foot


def _cells(tr) -> list:
    return [c for c in tr if c.tag in ("td", "th")]


def _is_layout(table) -> bool:
    if (table.get("role") or "").strip().lower() in _LAYOUT_ROLES:
        return True
    if any(a.tag in _LAYOUT_ANCESTORS for a in table.iterancestors()):
        return True
    rows = _rows(table)
    if len(rows) < 2:
        return True  # a single row is a menu bar or a banner, not data
    filled = nested = forms = links_only = 0
    for tr in rows:
        for cell in _cells(tr):
            has_table = cell.find(".//table") is not None
            text = cell_text(cell)
            if not text and not has_table:
                continue
            filled += 1
            nested += has_table
            forms += any(d.tag in _FORM_TAGS for d in cell.iterdescendants())
            links_only += bool(text) and _only_links(cell, text)
    if not filled:
        return True
    return nested / filled >= 0.5 or forms / filled >= 0.3 or links_only / filled >= 0.8


def _only_links(cell, text: str) -> bool:
    anchors = [a for a in cell.iterdescendants("a") if a.get("href") is not None]
    if not anchors:
        return False
    linked = "".join(_SPACES.sub("", a.text_content()) for a in anchors)
    return linked == _SPACES.sub("", text)


def _is_legend(grid: RawGrid) -> bool:
    """A short key/legend (symbol, meaning): at most two filled columns, no
    header row of two or more labels, and no number anywhere."""
    columns = {c for row in grid.rows for c, v in enumerate(row) if v}
    if len(columns) > 2:
        return False
    if grid.header_rows and any(sum(1 for v in grid.rows[r] if v) >= 2 for r in grid.header_rows):
        return False
    return not any(v and (parse_number(v) is not None or parse_date(v) is not None) for row in grid.rows for v in row)


# --- the grid -------------------------------------------------------------------------------------


def table_grid(table, warnings: list[str] | None = None) -> RawGrid | None:
    warnings = [] if warnings is None else warnings
    rows = _rows(table)
    row_cells = [_cells(tr) for tr in rows]
    widest = max((len(cells) for cells in row_cells), default=0)
    cap = min(MAX_COLSPAN, max(MIN_COLSPAN_CAP, widest))
    # No row of a sound table is wider than its widest row's own cells: rowspans
    # that push cells further (a "staircase" of huge spans) are malformed.
    natural = max((sum(min(_span(c.get("colspan"), MAX_COLSPAN), cap) for c in cells) for cells in row_cells), default=0)
    max_width = natural + WIDTH_SLACK
    nrows = len(rows)
    grid: list[list[Any]] = [[] for _ in range(nrows)]
    merges: list[Merge] = []
    blocked: list[int] = []  # per column: first row no longer covered by a rowspan from above
    is_th: list[list[bool]] = [[] for _ in range(nrows)]
    lost = 0
    for r, cells in enumerate(row_cells):
        c = 0
        for cell in cells:
            while c < len(blocked) and blocked[c] > r:
                c += 1
            if c >= max_width:
                lost += 1
                continue
            colspan = min(_span(cell.get("colspan"), MAX_COLSPAN), cap, max_width - c)
            rowspan = min(_span(cell.get("rowspan"), MAX_ROWSPAN), nrows - r)
            if len(blocked) < c + colspan:
                blocked.extend([0] * (c + colspan - len(blocked)))
            for k in range(c, c + colspan):
                blocked[k] = max(blocked[k], r + rowspan)
            row = grid[r]
            if len(row) < c + 1:
                row.extend([None] * (c + 1 - len(row)))
                is_th[r].extend([False] * (c + 1 - len(is_th[r])))
            row[c] = cell_text(cell) or None
            is_th[r][c] = cell.tag == "th" or cell.getparent().tag == "thead"
            if colspan > 1 or rowspan > 1:
                merges.append(Merge(r, c, r + rowspan - 1, c + colspan - 1))
            c += colspan
        if nrows * max(len(blocked), 1) > MAX_CELLS:
            raise RefusedFile("size", f"an HTML table of more than {MAX_CELLS} cells")
    if not any(v for row in grid for v in row):
        return None
    filled_columns = {c for row in grid for c, v in enumerate(row) if v}
    for m in merges:
        if grid[m.first_row][m.first_col]:
            filled_columns.update(range(m.first_col, m.last_col + 1))
    filled_rows = sum(1 for row in grid if any(row))
    if len(filled_columns) < 2 or filled_rows < 2:
        return None  # a single column or a single row is layout, not data
    if lost:
        warnings.append(f"{lost} cells pushed past the table's width by malformed spans were left out")
    return RawGrid(
        rows=grid,
        merges=merges,
        caption=_caption(table),
        element=table,
        header_rows=_header_rows(grid, is_th, merges, len(blocked)) or None,
    )


def _span(text: str | None, limit: int) -> int:
    try:
        value = int((text or "").strip())
    except ValueError:
        return 1
    return min(value, limit) if value >= 1 else 1


def _header_rows(grid, is_th, merges, width) -> list[int]:
    """Leading rows whose filled cells are all <th> (or in <thead>); a lone
    title cell at the top is not a header level when header rows follow."""
    rows: list[int] = []
    for r, row in enumerate(grid):
        filled = [c for c, v in enumerate(row) if v]
        if not filled:
            if rows:
                break
            continue
        if all(is_th[r][c] for c in filled):
            rows.append(r)
        else:
            break
    while len(rows) > 1 and width >= 2 and sum(1 for v in grid[rows[0]] if v) == 1:
        rows.pop(0)  # a title, not a level
    if rows and len(rows) == len([r for r in grid if any(r)]):
        return []  # every row is <th>: let the table finder decide
    return rows


def _caption(table) -> str | None:
    caption = table.find("caption")
    if caption is not None:
        text = cell_text(caption)
        if text:
            return " ".join(text.split())
    try:
        heading = table.xpath(_HEADINGS)
    except Exception:
        heading = []
    if heading:
        text = " ".join(heading[0].text_content().split())
        return text or None
    return None


def cell_text(cell) -> str:
    """Visible text as rendered: whitespace runs are one space, <br> and block
    elements break lines; nested tables are left out."""
    parts: list[str] = []
    _walk(cell, parts, top=True)
    text = "".join(parts)
    text = re.sub(r" *\n[ \n]*", "\n", text)
    return text.strip(" \n")


def _walk(el, parts: list[str], top: bool = False) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    if not top and tag == "table":
        return
    if tag == "br":
        parts.append("\n")
    elif tag in _BLOCK_TAGS and not top:
        parts.append("\n")
    if el.text and tag != "br":
        parts.append(_SPACES.sub(" ", el.text))
    for child in el:
        _walk(child, parts)
        if child.tail:
            parts.append(_SPACES.sub(" ", child.tail))
    if tag in _BLOCK_TAGS and not top:
        parts.append("\n")
