"""A Solr stand-in for the local CKAN: a test double of the search index only.

Apache Solr cannot be installed on our build machines, and CKAN refuses to
save a dataset when its index is unreachable. This server answers the few Solr
endpoints CKAN 2.12 (via pysolr) calls, under ``/solr/<core>/``:

- ``admin/ping``                        liveness;
- ``schema?wt=schema.xml`` (and ``admin/file?file=schema.xml``, ``schema/name``,
  ``schema/version``): CKAN's start-up check reads the root element's
  ``name="ckan-2.12"`` (ckan/lib/search/__init__.py, SUPPORTED_SCHEMA_VERSIONS);
- ``select``  GET or POST form: ``*:*``, ``field:value`` / ``field:"value"`` /
  ``field:(a OR b)`` clauses with ``+``/``-``/AND/OR/parentheses, bare words as a
  substring match, ``fq`` (repeated), ``rows``/``start``, ``fl``, a plain
  ``sort``, ``facet.field`` counts; returns ``numFound``;
- ``update``  XML (pysolr's default) or JSON: add, delete by id or query, commit.

Documents live in memory and, with ``--store``, are saved to a JSON file on each
commit so a restarted stand-in still knows the datasets in CKAN's database.
Ranking, analysis, range queries and most of Solr's syntax are not implemented
(a ``[a TO b]`` range matches everything): never test search quality against it.

Usage: python3 solr_standin.py --port PORT [--host 127.0.0.1] [--store FILE]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

SCHEMA_NAME = "ckan-2.12"
SCHEMA_XML = f'<?xml version="1.0" encoding="UTF-8"?>\n<schema name="{SCHEMA_NAME}" version="1.6"/>\n'
UNIQUE_KEY = "index_id"  # CKAN's schema.xml uniqueKey



def tokens(query: str) -> list[tuple[str, str]]:
    """Split a query into (sign, term); a term keeps its quotes, brackets or (group)."""
    out, i, n = [], 0, len(query)
    while i < n:
        if query[i].isspace():
            i += 1
            continue
        sign = query[i] if query[i] in "+-" else ""
        i += len(sign)
        start, depth, quoted = i, 0, False
        while i < n and (quoted or depth or not query[i].isspace()):
            ch = query[i]
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = not quoted
            elif not quoted and ch in "([":
                depth += 1
            elif not quoted and ch in ")]":
                depth -= 1
            i += 1
        out.append((sign, query[start:i]))
    return out


class Index:
    """The documents and the little query language CKAN uses against them."""

    def __init__(self, store: Path | None):
        self.docs: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.store = store
        if store and store.exists():
            self.docs = json.loads(store.read_text(encoding="utf-8"))

    def add(self, doc: dict) -> None:
        key = str(doc.get(UNIQUE_KEY) or doc.get("id"))
        with self.lock:
            self.docs[key] = doc

    def delete_id(self, doc_id: str) -> None:
        with self.lock:
            for key in [k for k, d in self.docs.items() if doc_id in (k, d.get("id"))]:
                del self.docs[key]

    def delete_query(self, q: str) -> None:
        with self.lock:
            for key in [k for k, d in self.docs.items() if matches(q, d)]:
                del self.docs[key]

    def commit(self) -> None:
        if self.store:
            with self.lock:
                data = json.dumps(self.docs, ensure_ascii=False)
            tmp = self.store.with_suffix(".tmp")
            tmp.write_text(data, encoding="utf-8")
            tmp.replace(self.store)

    def select(self, params: dict[str, list[str]]) -> dict:
        one = lambda name, default: (params.get(name) or [default])[0]  # noqa: E731
        queries = [one("q", "*:*")] + params.get("fq", [])
        with self.lock:
            found = [d for d in self.docs.values() if all(matches(q, d) for q in queries)]
        found = sort_docs(found, one("sort", ""))
        start, rows = int(one("start", "0")), int(one("rows", "10"))
        fields = one("fl", "*").replace(",", " ").split()
        page = [project(d, fields) for d in found[start:start + rows]]
        return {
            "responseHeader": {"status": 0, "QTime": 0},
            "response": {"numFound": len(found), "start": start, "docs": page},
            "facet_counts": {"facet_queries": {}, "facet_fields": facets(found, params),
                             "facet_ranges": {}, "facet_intervals": {}, "facet_heatmaps": {}},
        }


def matches(query: str, doc: dict) -> bool:
    """Lucene-ish boolean match: every required/plain clause holds, no '-' clause does.

    Clauses joined by OR form one alternative group (enough for CKAN's queries).
    """
    groups: list[tuple[str, list[str]]] = []  # (sign, alternatives)
    joiner = None
    for sign, term in tokens(query):
        if term in ("AND", "&&"):
            continue
        if term in ("OR", "||"):
            joiner = "OR"
            continue
        if joiner == "OR" and groups:
            groups[-1][1].append(term)
        else:
            groups.append((sign, [term]))
        joiner = None
    for sign, alternatives in groups:
        hit = any(term_matches(t, doc) for t in alternatives)
        if hit == (sign == "-"):
            return False
    return True


def term_matches(term: str, doc: dict) -> bool:
    if term in ("*:*", "*"):
        return True
    if term.startswith("(") and term.endswith(")"):
        return matches(term[1:-1], doc)
    field, sep, value = term.partition(":")
    if not sep or not re.fullmatch(r"[\w.]+", field):
        return free_text(term, doc)
    if value.startswith("[") or value == "*":
        return field in doc or value.startswith("[")
    if value.startswith("(") and value.endswith(")"):
        return any(value_matches(doc.get(field), v)
                   for _, v in tokens(value[1:-1]) if v not in ("OR", "AND"))
    return value_matches(doc.get(field), value)


def value_matches(actual, wanted: str) -> bool:
    wanted = wanted[1:-1].replace('\\"', '"') if wanted.startswith('"') else wanted.replace("\\", "")
    values = actual if isinstance(actual, list) else [actual]
    return any(v is not None and fnmatch.fnmatchcase(str(v), wanted) for v in values)


def free_text(word: str, doc: dict) -> bool:
    """A bare word: case-insensitive substring of any value (no analysis, no ranking)."""
    word = word.strip('"').lower()
    return any(word in str(v).lower() for v in doc.values())


def sort_docs(docs: list[dict], sort: str) -> list[dict]:
    for part in reversed([p.split() for p in sort.split(",") if p.strip()]):
        field, order = part[0], (part[1] if len(part) > 1 else "asc")
        if field == "score":
            continue
        docs = sorted(docs, key=lambda d: str(d.get(field, "")), reverse=order == "desc")
    return docs


def project(doc: dict, fields: list[str]) -> dict:
    if "*" in fields:
        return dict(doc)
    return {f: doc[f] for f in fields if f in doc}


def facets(docs: list[dict], params: dict[str, list[str]]) -> dict:
    mincount = int((params.get("facet.mincount") or ["1"])[0])
    out = {}
    for field in params.get("facet.field", []):
        counts = Counter()
        for d in docs:
            value = d.get(field)
            counts.update(value if isinstance(value, list) else [] if value is None else [value])
        out[field] = [x for v, c in counts.most_common() if c >= mincount for x in (str(v), c)]
    return out


def apply_xml_update(index: Index, body: bytes) -> None:
    root = ET.fromstring(body)
    ops = [root] if root.tag in ("add", "delete", "commit") else list(root)
    for op in ops:
        if op.tag == "add":
            for doc in op.findall("doc"):
                index.add(xml_doc(doc))
        elif op.tag == "delete":
            for el in op.findall("id"):
                index.delete_id(el.text or "")
            for el in op.findall("query"):
                index.delete_query(el.text or "")
        elif op.tag == "commit":
            index.commit()


def xml_doc(el: ET.Element) -> dict:
    doc: dict = {}
    for f in el.findall("field"):
        name, value = f.get("name"), f.text or ""
        if name in doc:  # a repeated field is multi-valued
            doc[name] = (doc[name] if isinstance(doc[name], list) else [doc[name]]) + [value]
        else:
            doc[name] = value
    return doc


def apply_json_update(index: Index, body: bytes) -> None:
    data = json.loads(body or b"[]")
    if isinstance(data, list):
        for doc in data:
            index.add(doc)
        return
    for op, arg in data.items():
        if op == "add":
            index.add(arg.get("doc", arg))
        elif op == "delete":
            if "id" in arg:
                index.delete_id(str(arg["id"]))
            if "query" in arg:
                index.delete_query(arg["query"])
        elif op == "commit":
            index.commit()


class Handler(BaseHTTPRequestHandler):
    index: Index  # set by serve()
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.route(b"")

    def do_POST(self):
        self.route(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def route(self, body: bytes) -> None:
        url = urlsplit(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        ctype = self.headers.get("Content-Type", "")
        if "x-www-form-urlencoded" in ctype:
            for k, v in parse_qs(body.decode(), keep_blank_values=True).items():
                params.setdefault(k, []).extend(v)
        action = re.sub(r"^/solr/[^/]+/", "", url.path).strip("/")
        try:
            self.dispatch(action, params, body, ctype)
        except Exception as exc:  # a test double: report, do not die
            self.reply(400, {"responseHeader": {"status": 400}, "error": {"msg": repr(exc), "code": 400}})

    def dispatch(self, action: str, params: dict, body: bytes, ctype: str) -> None:
        wt = (params.get("wt") or ["json"])[0]
        if action == "admin/ping":
            self.reply(200, {"responseHeader": {"status": 0}, "status": "OK"})
        elif action in ("schema", "admin/file") and (wt == "schema.xml" or params.get("file")):
            self.reply(200, SCHEMA_XML, "application/xml; charset=utf-8")
        elif action.startswith("schema"):
            info = {"name": SCHEMA_NAME, "version": 1.6, "uniqueKey": UNIQUE_KEY}
            sub = action.partition("/")[2]
            self.reply(200, {"responseHeader": {"status": 0}, **({sub: info[sub]} if sub in info else {"schema": info})})
        elif action == "select":
            self.reply(200, self.index.select(params))
        elif action == "update":
            if body.strip():
                apply = apply_json_update if "json" in ctype else apply_xml_update
                apply(self.index, body)
            if (params.get("commit") or ["false"])[0] == "true":
                self.index.commit()
            self.reply(200, {"responseHeader": {"status": 0, "QTime": 0}})
        else:
            self.reply(404, {"error": {"msg": f"not in the stand-in: {action}", "code": 404}})

    def reply(self, status: int, payload, ctype: str = "application/json; charset=utf-8") -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        raw = data.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, fmt, *args):  # one short line per request in the log file
        print(f"{self.command} {self.path[:200]} -> {args[1] if len(args) > 1 else ''}", flush=True)


def serve(host: str, port: int, store: Path | None) -> None:
    Handler.index = Index(store)
    server = ThreadingHTTPServer((host, port), Handler)
    print(f"solr stand-in on http://{host}:{server.server_port}/solr/ckan", flush=True)
    server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--store", type=Path, help="JSON file the documents are saved to on commit")
    args = ap.parse_args()
    serve(args.host, args.port, args.store)


if __name__ == "__main__":
    main()
