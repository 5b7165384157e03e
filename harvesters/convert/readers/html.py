"""HTML pages: one raw grid per data table, streamed from lxml's parser events.

- Text: the declared ``<meta charset>`` (or http-equiv) decides, else the
  decoding rules (:func:`..decode.html_text`).
- Invisible content is left out: ``<script>``, ``<style>``, ``<template>``,
  ``<noscript>``, ``<head>``, elements with the ``hidden`` attribute, an inline
  ``display:none`` or ``visibility:hidden`` style, or a class/id that a
  ``<style>`` rule of the page hides that way (wherever on the page the rule
  is); the text around a hidden element joins up as if it had never been there.
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
- Leading rows whose filled cells are all ``<th>`` are the header, except a
  lone title cell above further header rows; ``<thead>``, body rows and
  ``<tfoot>`` are read in that order. ``<caption>`` (else the nearest heading
  above the table) is kept for choosing a table by caption.
- Cell text follows rendering: runs of whitespace are one space, ``<br>`` and
  block elements (``<p>``, ``<div>``, ``<li>``) are line breaks; nested tables
  are not part of a cell's text (they are tables of their own).

Streaming. The page is never held whole, as text or as a tree: lxml's HTML
parser (libxml2: the same parser, so the same structure as a whole-page parse)
pulls the text chunk by chunk (:func:`..decode.html_text` decides the codec and
the clean-up in a first read) and calls :class:`_Events` for each element
start, element end and run of text. It is a parser *target*: no tree is built,
so memory stays flat however long the page or its tables are. (The parser
pulls rather than being fed because libxml2 keeps every byte fed to it.)
A first pass (:meth:`_Page.scan`) finds the tables and what deciding about
them needs: caption or heading, the layout/navigation counts, the header
rows, legend-ness, the widths that cap spans, and the stylesheet's hiding
rules (a rule that comes after an element it hides makes the pass run once
more with every rule known); ``max_rows`` trips there. Each data table's rows
then stream on demand (``RawGrid.blocks``, as ``xlsx.py`` streams a sheet):
the page is parsed again, in a thread that hands rows over through a short
queue, up to the table's end; its rows are laid out one by one, rowspans
carrying from row to row and block to block, and handed over in blocks;
merged ranges join ``RawGrid.merges`` as their rows go. A table whose
``<thead>``/``<tfoot>`` come out of reading order is read one section per
pass. The first pass lays rows out as they come; a table whose spans its
final widths would cap or cut is laid out again once they are known
(:meth:`_Page.facts`). A page of many tables is parsed once per data table
(up to that table's end): the price of never holding one.

Choosing by CSS selector needs elements: when ``ConvertOptions.tables.css`` is
set, the first pass also builds a skeleton of the page (tags and attributes of
the visible elements outside table rows, plus the path down to each nested
table); ``RawGrid.element`` is the table's element in it. Row contents never
enter it, so it stays small however big the tables are.
"""

from __future__ import annotations

import queue
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ...errors import RefusedFile
from ..decode import HtmlText, html_text
from ..normalize import parse_date, parse_number
from ..options import Limits
from ..sniff import Sniffed
from .base import Merge, RawGrid, ReadResult, row_blocks

MAX_COLSPAN = 1000  # the HTML standard's own limit
MAX_ROWSPAN = 65534
MIN_COLSPAN_CAP = 50  # a colspan="100" title is common; the empty columns are dropped later
MAX_CELLS = 20_000_000  # grid cells per table after expanding spans
WIDTH_SLACK = 10  # columns a rowspan may push cells past the widest row
BLOCK_ROWS = 5_000  # rows handed to the engine at a time
MAX_SEEN_NAMES = 10_000  # classes/ids remembered to tell whether a late CSS rule hides an element already read

_INVISIBLE_TAGS = {"script", "style", "template", "noscript", "head", "title"}
_BLOCK_TAGS = {"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
               "blockquote", "pre", "address", "section", "article", "tr"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_CSS_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_SPACES = re.compile(r"[ \t\r\n\f]+")
_LINE_BREAK = re.compile(r" *\n[ \n]*")
_LAYOUT_ROLES = {"presentation", "none", "navigation", "menu", "menubar", "tablist"}
_LAYOUT_ANCESTORS = {"nav", "header", "footer", "menu"}
_FORM_TAGS = {"input", "select", "textarea", "button"}
_SECTIONS = ("thead", "tbody", "tfoot")  # the order rows are read in

Cell = tuple  # (text, colspan attribute, rowspan attribute, is <th>)


def read(path: Path, sniffed: Sniffed | None = None, options=None) -> ReadResult:
    limits = options.limits if options is not None else Limits()
    skeleton = bool(options is not None and options.tables is not None and options.tables.css is not None)
    text = html_text(Path(path))
    page = _Page(text, limits)
    warnings = list(text.warnings)
    grids: list[RawGrid] = []
    weak: list[RawGrid] = []
    for table in page.scan(skeleton):
        if table.is_layout():
            continue
        facts = page.facts(table)
        grid = _grid(page, table, facts, limits, warnings)
        if grid is None:
            continue
        (weak if facts.is_legend(grid.header_rows) else grids).append(grid)
    if not grids:
        grids = weak  # a page whose only table is a short list is still a table
    return ReadResult(format="html", grids=grids, encoding=text.encoding, warnings=warnings)


def _grid(page: "_Page", table: "_Table", facts: "_Layout", limits: Limits, warnings: list[str]) -> RawGrid | None:
    if table.rows * max(facts.width, 1) > MAX_CELLS:
        raise RefusedFile("size", f"an HTML table of more than {MAX_CELLS} cells")
    if not facts.any_value or len(facts.filled_columns) < 2 or facts.filled_rows < 2:
        return None  # empty, or a single column or a single row: layout, not data
    # max_rows tripped in the first pass; the engine checks columns and cells block by block, and
    # merged ranges before the first block, when this grid's list is still empty: they are checked here.
    if facts.merges > limits.max_merged_ranges:
        raise RefusedFile("size", f"limit max_merged_ranges: {facts.merges} merged ranges "
                                  f"(limit {limits.max_merged_ranges})")
    if facts.lost:
        warnings.append(f"{facts.lost} cells pushed past the table's width by malformed spans were left out")
    grid = RawGrid(caption=table.caption_or_heading(), element=table.element,
                   header_rows=facts.header_rows() or None)
    grid.blocks = lambda: page.blocks(table, grid)
    return grid


def _span(text: str | None, limit: int) -> int:
    if text is None:
        return 1
    try:
        value = int((text or "").strip())
    except ValueError:
        return 1
    return min(value, limit) if value >= 1 else 1


def _hiding_rules(css: str) -> tuple[set[str], set[str]]:
    """Classes and ids a stylesheet hides (``display:none``/``visibility:hidden``)."""
    classes: set[str] = set()
    ids: set[str] = set()
    for selectors, body in _CSS_RULE.findall(css):
        if not _HIDDEN_STYLE.search(body):
            continue
        for selector in selectors.split(","):
            selector = selector.strip()
            if m := re.fullmatch(r"[a-zA-Z0-9]*\.([\w-]+)", selector):
                classes.add(m.group(1))
            elif m := re.fullmatch(r"[a-zA-Z0-9]*#([\w-]+)", selector):
                ids.add(m.group(1))
    return classes, ids


# --- the page's tables ----------------------------------------------------------------------


@dataclass
class _Table:
    """One visible ``<table>`` as the first pass found it."""

    index: int  # among the page's visible tables, in document order
    role: str
    in_layout_element: bool  # inside <nav>, <header>, <footer>, <menu>
    heading: str | None  # the nearest heading above
    element: Any = None  # its element in the skeleton
    caption: str | None = None  # its first <caption>, when that has text
    caption_seen: bool = False
    rows: int = 0
    filled = nested = forms = links_only = 0
    widest = 0  # cells in the widest row
    natural = 0  # columns of the widest row (spans up to 1000 added up)
    wide_spans = False  # a colspan above MIN_COLSPAN_CAP: the cap may cut it
    in_order = True  # thead rows, then body rows, then tfoot rows, as the document has them
    section_rank = 0
    layout: "_Layout | None" = None  # the rows laid out as they came (see _Page.facts)

    def is_layout(self) -> bool:
        if self.role.strip().lower() in _LAYOUT_ROLES or self.in_layout_element:
            return True
        if self.rows < 2:
            return True  # a single row is a menu bar or a banner, not data
        if not self.filled:
            return True
        filled = self.filled
        return self.nested / filled >= 0.5 or self.forms / filled >= 0.3 or self.links_only / filled >= 0.8

    def caption_or_heading(self) -> str | None:
        return self.caption if self.caption is not None else self.heading

    @property
    def cap(self) -> int:
        return min(MAX_COLSPAN, max(MIN_COLSPAN_CAP, self.widest))

    @property
    def max_width(self) -> int:
        return self.natural + WIDTH_SLACK

    def add_row(self, cells: list[Cell], section: str, limits: Limits) -> None:
        self.rows += 1
        if self.rows > limits.max_rows:
            raise RefusedFile("size", f"limit max_rows: more than {limits.max_rows} rows")
        rank = _SECTIONS.index(section)
        if rank < self.section_rank:
            self.in_order = False
        self.section_rank = max(self.section_rank, rank)
        self.widest = max(self.widest, len(cells))
        spans = [_span(cell[1], MAX_COLSPAN) for cell in cells]
        self.natural = max(self.natural, sum(spans))
        self.wide_spans = self.wide_spans or any(s > MIN_COLSPAN_CAP for s in spans)
        if self.layout is not None:
            self.layout.place(cells)


# --- laying rows out ---------------------------------------------------------------------------


class _Layout:
    """Rows laid out as browsers do, one at a time (rowspans carry from row to
    row), and the facts the reader decides on, gathered as they pass."""

    def __init__(self, cap: int, max_width: int, nrows: int | None) -> None:
        self.cap, self.max_width, self.nrows = cap, max_width, nrows  # nrows None: not known yet
        self.blocked: list[int] = []  # per column: first row no longer covered by a rowspan from above
        self.r = 0
        self.lost = 0
        self.merges = 0
        self.last_row_tall = 0  # rowspan-only ranges of the last row (no range once clamped to the table)
        self.any_value = False
        self.filled_columns: set[int] = set()  # up to 2
        self.filled_rows = 0
        self.value_columns: set[int] = set()  # up to 3
        self.has_number = False
        self.head: list[tuple[int, int]] = []  # leading <th> rows: (row, filled cells)
        self.head_done = False

    @property
    def width(self) -> int:
        return len(self.blocked)

    def place(self, cells: list[Cell]) -> tuple[list[Any], list[Merge]]:
        """The row's values (anchors of merged ranges hold the value) and its new merged ranges."""
        r, blocked, cap, max_width = self.r, self.blocked, self.cap, self.max_width
        row: list[Any] = []
        merges: list[Merge] = []
        tall = filled = 0
        all_th = True
        c = 0
        for text, colspan_text, rowspan_text, is_th in cells:
            while c < len(blocked) and blocked[c] > r:
                c += 1
            if c >= max_width:
                self.lost += 1
                continue
            value = text or None
            if colspan_text is None and rowspan_text is None:  # a plain cell (most of them)
                end = c + 1
                if len(blocked) == c:  # (c never passes the blocked columns, nor a blocked one)
                    blocked.append(r + 1)
                else:
                    blocked[c] = r + 1
                if len(row) < c:  # (a row never reaches past c: cells are placed left to right)
                    row.extend([None] * (c - len(row)))
                row.append(value)
                if value:
                    filled += 1
                    all_th = all_th and is_th
                    self._value(value, c, end)
                c = end
                continue
            colspan = min(_span(colspan_text, MAX_COLSPAN), cap, max_width - c)
            rowspan = _span(rowspan_text, MAX_ROWSPAN)
            if self.nrows is not None:
                rowspan = min(rowspan, self.nrows - r)
            end = c + colspan
            if len(blocked) < end:
                blocked.extend([0] * (end - len(blocked)))
            until = r + rowspan
            for k in range(c, end):
                if blocked[k] < until:
                    blocked[k] = until
            if len(row) <= c:
                row.extend([None] * (c + 1 - len(row)))
            row[c] = value
            if colspan > 1 or rowspan > 1:
                merges.append(Merge(r, c, r + rowspan - 1, end - 1))
                tall += colspan == 1
            if value:
                filled += 1
                all_th = all_th and is_th
                self._value(value, c, end)
            c = end
        self.merges += len(merges)
        self.last_row_tall = tall
        if filled:
            self.filled_rows += 1
        if not self.head_done:
            if not filled:
                self.head_done = bool(self.head)
            elif all_th:
                self.head.append((r, filled))
            else:
                self.head_done = True
        self.r += 1
        return row, merges

    def _value(self, value: str, c: int, end: int) -> None:
        self.any_value = True
        if len(self.filled_columns) < 2:
            self.filled_columns.update(range(c, min(end, c + 2)))
        if len(self.value_columns) < 3:
            self.value_columns.add(c)
        if not self.has_number and len(self.value_columns) <= 2:
            self.has_number = parse_number(value) is not None or parse_date(value) is not None

    def finish(self) -> None:
        """The table ended before its row count was known: a rowspan of the last row covers nothing."""
        if self.nrows is None:
            self.merges -= self.last_row_tall
            self.last_row_tall = 0

    def header_rows(self) -> list[int]:
        """Leading rows whose filled cells are all <th>; a lone title cell at the
        top is not a header level when header rows follow."""
        rows = list(self.head)
        while len(rows) > 1 and self.width >= 2 and rows[0][1] == 1:
            rows.pop(0)  # a title, not a level
        if rows and len(rows) == self.filled_rows:
            return []  # every row is <th>: let the table finder decide
        return [r for r, _ in rows]

    def is_legend(self, header_rows: list[int] | None) -> bool:
        """A short key/legend (symbol, meaning): at most two filled columns, no
        header row of two or more labels, and no number anywhere."""
        if len(self.value_columns) > 2:
            return False
        filled = dict(self.head)
        if header_rows and any(filled[r] >= 2 for r in header_rows):
            return False
        return not self.has_number


# --- parser events ------------------------------------------------------------------------------


class _Sink:
    """Rendered text of a cell or caption: whitespace runs per text node are one
    space, <br> and block elements are line breaks."""

    __slots__ = ("parts", "pending")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pending: list[str] = []  # pieces of the current text node

    def flush(self) -> None:
        if self.pending:
            self.parts.append(_SPACES.sub(" ", "".join(self.pending)))
            self.pending.clear()

    def text(self) -> str:
        if not self.parts:  # plain text only (most cells): one text node, no line breaks
            pending = self.pending
            if not pending:
                return ""
            return _SPACES.sub(" ", pending[0] if len(pending) == 1 else "".join(pending)).strip(" ")
        self.flush()
        return _LINE_BREAK.sub("\n", "".join(self.parts)).strip(" \n")


class _CellFacts:
    __slots__ = ("has_table", "forms", "linked")

    def __init__(self) -> None:
        self.has_table = False
        self.forms = False
        self.linked: list[str] | None = None  # text of its links, whitespace removed


class _Frame:
    """One open element."""

    __slots__ = ("tag", "kind", "table", "section", "cells", "attrib", "sink", "facts", "collect", "order",
                 "skeleton")

    def __init__(self, tag: str, kind: str | None = None) -> None:
        self.tag = tag
        self.kind = kind  # table | section | row | cell | caption | None
        self.table: _Table | None = None
        self.section = "tbody"
        self.cells: list[Cell] | None = None
        self.attrib: dict | None = None
        self.sink: _Sink | None = None
        self.facts: _CellFacts | None = None
        self.collect: list[str] | None = None  # raw text of a heading or link
        self.order = 0  # a heading's place in the document
        self.skeleton: Any = None


class _Events:
    """lxml parser target. The first pass (``want`` None) finds every table and its
    facts; a rows pass (``want`` a table index) collects that table's rows only,
    of the ``sections`` given (all when None), and notes when the table ended."""

    def __init__(self, limits: Limits, hidden: tuple[set[str], set[str]], *, want: int | None = None,
                 sections: tuple[str, ...] | None = None, skeleton: bool = False) -> None:
        self.limits = limits
        self.hidden_classes, self.hidden_ids = hidden
        self.want, self.sections = want, sections
        self.first = want is None
        self.stack: list[_Frame] = []
        self.hiding = 0  # open elements in invisible content
        self.sinks: list[_Sink | None] = []
        self.cells: list[_CellFacts] = []  # open cells of every table (first pass)
        self.collecting: list[list[str]] = []  # open headings and links (first pass)
        self.style: list[str] | None = None
        self.tables: list[_Table] = []
        self.count = 0  # visible tables started
        self.order = 0  # visible elements started (document order)
        self.heading: tuple[int, str | None] = (-1, None)  # (order, text) of the nearest heading ended
        self.rows: list[list[Cell]] = []  # rows pass: collected, not yet taken
        self.finished = False  # the wanted table ended, or a limit tripped: read no further
        self.started = False
        self.build = skeleton
        self.root: Any = None
        self.seen_classes: set[str] = set()
        self.seen_ids: set[str] = set()
        self.restyle = False  # a hiding rule came after an element it hides

    # -- helpers ---------------------------------------------------------------------

    def _invisible(self, tag: str, attrib) -> bool:
        if tag in _INVISIBLE_TAGS:
            return True
        if not attrib:  # most elements have no attributes (lxml then passes an empty mapping)
            return False
        if "hidden" in attrib:
            return True
        style = attrib.get("style")
        if style and _HIDDEN_STYLE.search(style):
            return True
        if self.hidden_classes:
            classes = attrib.get("class")
            if classes and set(classes.split()) & self.hidden_classes:
                return True
        return bool(self.hidden_ids) and attrib.get("id") in self.hidden_ids

    def _remember_names(self, attrib) -> None:
        classes, ident = attrib.get("class"), attrib.get("id")
        if classes:
            self.seen_classes.update(classes.split())
        if ident:
            self.seen_ids.add(ident)
        if len(self.seen_classes) + len(self.seen_ids) > MAX_SEEN_NAMES:
            self.seen_classes = self.seen_ids = None  # type: ignore[assignment]  # too many: any late rule counts

    def _add_rules(self, css: str) -> None:
        classes, ids = _hiding_rules(css)
        new_classes, new_ids = classes - self.hidden_classes, ids - self.hidden_ids
        if not (new_classes or new_ids):
            return
        if self.seen_classes is None or new_classes & self.seen_classes or new_ids & self.seen_ids:
            self.restyle = True
        self.hidden_classes = self.hidden_classes | new_classes
        self.hidden_ids = self.hidden_ids | new_ids

    def _skeleton(self, frame: _Frame, attrib) -> None:
        """Add the element to the skeleton; rows and what they hold wait until a
        nested table needs the path down to it."""
        from lxml import etree

        parent = self.stack[-1] if self.stack else None
        if frame.kind != "table" and (frame.kind == "row" or (parent is not None and parent.skeleton is None)):
            frame.attrib = dict(attrib)
            return
        waiting = []
        for above in reversed(self.stack):
            if above.skeleton is not None:
                break
            waiting.append(above)
        parent_element = self.root if not self.stack or above.skeleton is None else above.skeleton
        for above in reversed(waiting):
            above.skeleton = parent_element = _element(etree, parent_element, above.tag, above.attrib or {})
        frame.skeleton = _element(etree, parent_element, frame.tag, attrib)
        if self.root is None:
            self.root = frame.skeleton

    # -- target interface -----------------------------------------------------------------

    def start(self, tag: str, attrib) -> None:
        self.started = True
        stack = self.stack
        frame = _Frame(tag)
        if tag == "style" and self.first:
            self.style = []
        if self.hiding or tag in _INVISIBLE_TAGS or (attrib and self._invisible(tag, attrib)):
            self.hiding += 1  # the depth inside invisible content
            stack.append(frame)
            return
        if self.first and attrib and self.seen_classes is not None and ("class" in attrib or "id" in attrib):
            self._remember_names(attrib)
        self.order += 1
        sink = self.sinks[-1] if self.sinks else None
        if sink is not None and sink.pending:
            sink.flush()
        parent = stack[-1] if stack else None
        pkind = parent.kind if parent is not None else None
        if tag == "table":
            self._start_table(frame, attrib)
        elif tag in ("thead", "tbody", "tfoot") and pkind == "table":
            frame.kind, frame.table, frame.section = "section", parent.table, tag
        elif tag == "tr" and pkind in ("table", "section"):
            table = parent.table
            if self.first or (table.index == self.want and (self.sections is None or parent.section in self.sections)):
                frame.kind, frame.table, frame.section, frame.cells = "row", table, parent.section, []
        elif tag in ("td", "th") and pkind == "row":
            frame.kind = "cell"
            frame.attrib = attrib
            frame.sink = _Sink()
            self.sinks.append(frame.sink)
            if self.first:
                frame.facts = _CellFacts()
                self.cells.append(frame.facts)
        elif tag == "caption" and pkind == "table" and self.first and not parent.table.caption_seen:
            parent.table.caption_seen = True
            frame.kind, frame.table, frame.sink = "caption", parent.table, _Sink()
            self.sinks.append(frame.sink)
        elif sink is not None:
            if tag == "br" or tag in _BLOCK_TAGS:
                sink.parts.append("\n")
        if self.first:
            if tag in _FORM_TAGS:
                for cell in self.cells:
                    cell.forms = True
            elif tag in _HEADINGS or (tag == "a" and "href" in attrib and self.cells):
                frame.collect, frame.order = [], self.order
                self.collecting.append(frame.collect)
            if self.build:
                self._skeleton(frame, attrib)
                if frame.kind == "table":
                    frame.table.element = frame.skeleton
        stack.append(frame)

    def _start_table(self, frame: _Frame, attrib) -> None:
        frame.kind = "table"
        if self.first:
            for cell in self.cells:
                cell.has_table = True
            in_layout = any(f.tag in _LAYOUT_ANCESTORS for f in self.stack)
            table = _Table(self.count, attrib.get("role") or "", in_layout, self.heading[1])
            table.layout = _Layout(MAX_COLSPAN, 1 << 62, None)
            self.tables.append(table)
        else:
            table = _Table(self.count, "", False, None)
        frame.table = table
        self.count += 1
        self.sinks.append(None)  # a nested table is not part of the cell around it

    def end(self, tag: str) -> None:
        frame = self.stack.pop()
        if frame.tag == "style" and self.style is not None:
            self._add_rules("".join(self.style))
            self.style = None
        if self.hiding:
            self.hiding -= 1
            return
        kind = frame.kind
        if kind == "cell":  # (its text is flushed as it is read)
            self.sinks.pop()
            self._end_cell(frame)
            return
        sink = self.sinks[-1] if self.sinks else None
        if sink is not None and sink.pending:
            sink.flush()
        if kind == "row":
            self._end_row(frame)
        elif kind == "table":
            self.sinks.pop()
            if self.first:
                frame.table.layout.finish()
            elif frame.table.index == self.want:
                self.finished = True
        elif kind == "caption":
            self.sinks.pop()
            text = frame.sink.text()
            if text:
                frame.table.caption = " ".join(text.split())
        elif sink is not None and frame.tag in _BLOCK_TAGS:
            sink.parts.append("\n")
        if frame.collect is not None:
            self._end_collect(frame)

    def _end_cell(self, frame: _Frame) -> None:
        text = frame.sink.text()
        attrib = frame.attrib
        parent = self.stack[-1]
        if attrib:
            parent.cells.append((text, attrib.get("colspan"), attrib.get("rowspan"), frame.tag == "th"))
        else:
            parent.cells.append((text, None, None, frame.tag == "th"))
        if not self.first:
            return
        facts = self.cells.pop()
        if not text and not facts.has_table:
            return
        table = parent.table
        table.filled += 1
        table.nested += facts.has_table
        table.forms += facts.forms
        if text and facts.linked is not None:
            table.links_only += "".join(facts.linked) == _SPACES.sub("", text)

    def _end_row(self, frame: _Frame) -> None:
        if self.first:
            try:
                frame.table.add_row(frame.cells, frame.section, self.limits)
            except RefusedFile:
                self.finished = True  # the parser reads no further (see _Pull)
                raise
        else:
            self.rows.append(frame.cells)

    def _end_collect(self, frame: _Frame) -> None:
        self.collecting.remove(frame.collect)
        if frame.tag in _HEADINGS:
            if frame.order > self.heading[0]:
                text = " ".join("".join(frame.collect).split())
                self.heading = (frame.order, text or None)
        else:
            linked = _SPACES.sub("", "".join(frame.collect))
            for cell in self.cells:
                if cell.linked is None:
                    cell.linked = []
                cell.linked.append(linked)

    def data(self, text: str) -> None:
        if self.style is not None:
            self.style.append(text)
        if self.hiding:
            return
        if self.sinks:
            sink = self.sinks[-1]
            if sink is not None:
                sink.pending.append(text)
        for collect in self.collecting:
            collect.append(text)

    def close(self) -> None:
        return None

    def take(self) -> list[list[Cell]]:
        rows, self.rows = self.rows, []
        return rows


class _Pull:
    """The text as a file object the parser reads (see :meth:`_Page._parse`)."""

    def __init__(self, chunks: Iterator[bytes], between: Callable[[], bool]) -> None:
        self.chunks, self.between = chunks, between

    def read(self, size: int = -1) -> bytes:
        if self.between():  # (an end of input for the parser)
            return b""
        return next(self.chunks, b"")


def _element(etree, parent, tag: str, attrib):
    """A skeleton element; names lxml will not take (libxml2's HTML parser lets them
    through) are left out, since no selector could name them."""
    try:
        el = etree.Element(tag) if parent is None else etree.SubElement(parent, tag)
    except ValueError:
        el = etree.Element("unnamed") if parent is None else etree.SubElement(parent, "unnamed")
    for name, value in attrib.items():
        try:
            el.set(name, value or "")
        except (ValueError, TypeError):
            pass
    return el


# --- passes over the page ----------------------------------------------------------------------


class _Page:
    def __init__(self, text: HtmlText, limits: Limits) -> None:
        self.text, self.limits = text, limits
        self.hidden: tuple[set[str], set[str]] = (set(), set())

    def _parse(self, events: _Events, between: Callable[[], bool] | None = None) -> None:
        """Parse the whole text with ``events`` as the target. The parser pulls the text
        chunk by chunk (libxml2 keeps every byte it was *fed*, but frees what it has
        read); ``between()``, called before each chunk, returns True to stop there."""
        from lxml import etree

        parser = etree.HTMLParser(target=events, encoding="utf-8", remove_comments=True, remove_pis=True,
                                  no_network=True, huge_tree=True)
        chunks = self.text.utf8_chunks()
        try:
            etree.parse(_Pull(chunks, between or (lambda: events.finished)), parser)
        except etree.LxmlSyntaxError:
            pass  # nothing at all to parse (the first pass says so); HTML is otherwise read as browsers do
        finally:
            chunks.close()

    def scan(self, skeleton: bool) -> list[_Table]:
        """The first pass: every visible table with its facts (twice when a hiding rule comes late)."""
        for _attempt in range(2):
            events = _Events(self.limits, self.hidden, skeleton=skeleton)
            self._parse(events)
            if not events.started:
                raise RefusedFile("no table", "unreadable HTML (Document is empty)")
            self.hidden = (events.hidden_classes, events.hidden_ids)
            if not events.restyle:
                break
        return events.tables

    def rows(self, table: _Table) -> Iterator[list[list[Cell]]]:
        """The table's rows in reading order (thead, body, tfoot), a list per chunk of the page."""
        for sections in [None] if table.in_order else [(s,) for s in _SECTIONS]:
            events = _Events(self.limits, self.hidden, want=table.index, sections=sections)
            yield from self._rows_pass(events)

    def _rows_pass(self, events: _Events) -> Iterator[list[list[Cell]]]:
        """One rows pass. The parser pulls its text, so it runs in a thread of its own and
        hands the rows over through a short queue (it waits while the engine is busy)."""
        handed: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def put(item) -> None:
            while not stop.is_set():
                try:
                    handed.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def between() -> bool:
            rows = events.take()
            if rows:
                put(("rows", rows))
            return stop.is_set() or events.finished

        def work() -> None:
            try:
                self._parse(events, between)
                rows = events.take()
                if rows:
                    put(("rows", rows))
                put(("end", None))
            except BaseException as exc:  # handed to the engine's thread, which raises it
                put(("error", exc))

        thread = threading.Thread(target=work, name="html-rows", daemon=True)
        thread.start()
        try:
            while True:
                kind, value = handed.get()
                if kind == "rows":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            stop.set()
            thread.join()

    def facts(self, table: _Table) -> _Layout:
        """The table laid out with its final widths: the first pass's layout when
        no cap, width or row order could have changed it, else a pass of its own."""
        layout = table.layout
        if table.in_order and not table.wide_spans and layout.width <= table.max_width:
            return layout  # every span fit as it was: the same layout
        if table.wide_spans:  # the widest row's columns with spans capped
            cap = table.cap
            table.natural = max((sum(min(_span(cell[1], MAX_COLSPAN), cap) for cell in cells)
                                 for rows in self.rows(table) for cells in rows), default=0)
        layout = _Layout(table.cap, table.max_width, table.rows)
        for rows in self.rows(table):
            for cells in rows:
                layout.place(cells)
        table.layout = layout
        return layout

    def blocks(self, table: _Table, grid: RawGrid) -> Iterator[list[list[Any]]]:
        layout = _Layout(table.cap, table.max_width, table.rows)
        grid.merges.clear()

        def placed() -> Iterator[list[Any]]:
            for rows in self.rows(table):
                for cells in rows:
                    row, merges = layout.place(cells)
                    grid.merges.extend(merges)  # before the block holding the row goes to the engine
                    yield row

        yield from row_blocks(placed(), BLOCK_ROWS)
