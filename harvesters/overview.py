"""The harvest overview and the links of the Airflow UI, assembled from configs, run reports and Airflow runs.

``plugins/portal_links.py`` serves these pages inside Airflow's API server; this module is
their plain core (no Airflow import): it reads the source configs (``config.load_all``) and the
run reports in the archive (``archive.load_reports``), takes Airflow's last run of each DAG as
plain records (``AirflowRun``), and renders HTML with Jinja2 (autoescaped: titles, errors and
URLs come from agencies' files and configs).

- ``source_page(cfg)``: the agency's page for a source (``metadata.url`` when set, else the
  address the source is read from; drops have none unless ``metadata.url`` names one).
- ``published(report)``: the portal datasets a run report shows on the portal (with their URLs),
  so a link follows what a run actually published, whatever ``dataset:`` or file split named them.
- ``overview(...)``: one ``SourceRow`` per source (and per broken config) for the overview page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import jinja2
from markupsafe import Markup  # the page's own CSS and script: constants, not escaped

from .report import RunReport, public_url

# Dataset statuses of a run report under which the dataset is on the portal after the run.
ON_PORTAL = ("created", "updated", "metadata updated", "unchanged", "withdrawn")
# File statuses that change the published data.
DATA_CHANGES = ("added", "updated", "withdrawn")
STARS_MAX = 5


@dataclass(frozen=True)
class AirflowRun:
    """Airflow's record of a DAG run (read by the plugin from Airflow's database)."""

    run_id: str
    state: str  # queued, running, success, failed
    started_at: str | None = None  # ISO 8601
    ended_at: str | None = None


@dataclass(frozen=True)
class DatasetLink:
    name: str
    url: str
    status: str


@dataclass
class SourceRow:
    source: str
    agency: str
    agency_name: str = ""
    title: str = ""
    kind: str = ""
    source_page: str | None = None
    config_error: str | None = None  # a config that does not load: the row says why
    run_id: str | None = None  # the last run (Airflow's, else the last report's)
    run_url: str | None = None
    run_at: str | None = None
    state: str = "never run"  # Airflow's state of the last run, else the last report's
    rows: int | None = None
    stars_in: int | None = None
    stars_out: int | None = None
    validation: str | None = None
    last_change: str | None = None
    datasets: list[DatasetLink] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # datasets awaiting approval in the last report


def source_page(cfg) -> str | None:
    """The agency's page for a source (``config.SourceConfig``), without userinfo; None if it has none."""
    url = getattr(cfg.metadata, "url", None)
    if not url:
        settings = cfg.source
        url = getattr(settings, "url", None)
        if url and getattr(settings, "organization", None):  # an agency catalog: its organization's page
            url = f"{url.rstrip('/')}/organization/{settings.organization}"
        elif not url and getattr(settings, "files", None):  # fixed files: the first one
            url = settings.files[0].url
    return public_url(url) if url else None


def load_report(data: dict) -> RunReport | None:
    """A stored report, or None when it does not read as one (a damaged file hides nothing else)."""
    try:
        return RunReport.load(data)
    except ValueError:
        return None


def published(report: RunReport | None) -> list[DatasetLink]:
    """The datasets a run left on the portal, with their portal URLs."""
    if report is None or report.dry_run:
        return []
    return [DatasetLink(d.name, d.url, d.status) for d in report.datasets if d.status in ON_PORTAL and d.url]


def run_report(reports: Iterable[RunReport], run_id: str) -> RunReport | None:
    return next((r for r in reports if r.run_id == run_id), None)


def last_published(reports: Iterable[RunReport]) -> RunReport | None:
    """The newest report (newest first, as ``archive.load_reports`` lists them) that shows a dataset."""
    return next((r for r in reports if published(r)), None)


def last_change(reports: Iterable[RunReport]) -> str | None:
    """When the published data last changed: the newest run that added, updated or withdrew a file."""
    for r in reports:
        if not r.dry_run and any(f.status in DATA_CHANGES for f in r.files):
            return r.finished_at or r.started_at
    return None


def stars(report: RunReport) -> tuple[int | None, int | None]:
    """Openness of the least open file the agency published and of the most open output (5-star scheme)."""
    ins = [f.stars_in for f in report.files if f.stars_in is not None]
    outs = [f.stars_out for f in report.files if f.stars_out is not None]
    return (min(ins) if ins else None), (max(outs) if outs else None)


def run_url(airflow_url: str, dag_id: str, run_id: str) -> str:
    from urllib.parse import quote

    return f"{airflow_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def overview(sources, config_errors, reports: dict[str, list[RunReport]], runs: dict[str, AirflowRun],
             airflow_url: str = "") -> list[SourceRow]:
    """One row per source: ``sources`` are ``config.LoadedSource``s, ``config_errors`` ``errors.ConfigError``s,
    ``reports`` each source's reports newest first, ``runs`` Airflow's last run per DAG id (= source id)."""
    rows = []
    for loaded in sources:
        cfg = loaded.config
        mine = [r for r in reports.get(cfg.id, []) if not r.dry_run]
        row = SourceRow(source=cfg.id, agency=cfg.agency, agency_name=cfg.metadata.data_source or "",
                        title=cfg.metadata.title, kind=cfg.source.kind, source_page=source_page(cfg),
                        last_change=last_change(mine))
        run = runs.get(cfg.id)
        latest = mine[0] if mine else None
        if run is not None:
            row.run_id, row.state, row.run_at = run.run_id, run.state, run.started_at
            # The run's own report once it has one; while it runs, the figures of the last report.
            latest = run_report(mine, run.run_id) or latest
        elif latest is not None:  # run outside Airflow (`harvest run`)
            row.run_id, row.state, row.run_at = latest.run_id, latest.state, latest.started_at
        if row.run_id and run is not None:
            row.run_url = run_url(airflow_url, cfg.id, row.run_id)
        if latest is not None:
            row.rows, row.validation = latest.rows, latest.validation
            row.stars_in, row.stars_out = stars(latest)
            row.waiting = [d.name for d in latest.datasets if d.status == "awaiting approval"]
        shown = last_published(mine)
        row.datasets = published(shown) if shown else []
        rows.append(row)
    for err in config_errors:
        file = Path(err.file)
        rows.append(SourceRow(source=file.stem, agency=file.parent.name, state="config error",
                              config_error=str(err).splitlines()[0][:300]))
    return sorted(rows, key=lambda r: (r.agency, r.source))


def collect(settings, runs: dict[str, AirflowRun], airflow_url: str = "",
            readable: set[str] | None = None) -> list[SourceRow]:
    """The overview rows from the configs and the archive of ``settings`` (``settings.Settings``);
    ``readable``: the DAG ids the viewer may see (None: all). A broken config is shown to every viewer:
    its row says only which file and field is wrong."""
    from . import archive
    from .config import load_all

    sources, errors = load_all(settings.sources_dir)
    if readable is not None:
        sources = [s for s in sources if s.config.id in readable]
    store = archive.backend(settings)
    reports = {s.config.id: reports_of(store, s.config.id) for s in sources}
    return overview(sources, errors, reports, runs, airflow_url)


def reports_of(store, source: str) -> list[RunReport]:
    """A source's readable reports in the archive, newest first."""
    from . import archive

    return [r for r in map(load_report, archive.load_reports(store, source)) if r is not None]


def source_config(settings, source_id: str):
    """The config of a source id (a DAG id), or None."""
    from .config import load_all

    sources, _ = load_all(settings.sources_dir)
    return next((s.config for s in sources if s.config.id == source_id), None)


# --------------------------------------------------------------------------- HTML

# Thai glyphs: Noto Sans Thai / Sarabun where installed, the TLWG fonts Debian ships (fonts-thai-tlwg).
FONTS = ('"Noto Sans Thai", "Noto Sans", Sarabun, Loma, Garuda, "TlwgTypo", Kinnari, system-ui, sans-serif')

_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["stars"] = lambda n: "" if n is None else "★" * n + "☆" * (STARS_MAX - n)
_ENV.filters["when"] = lambda iso: (iso or "")[:16].replace("T", " ")

_STYLE = """
body { font-family: %s; margin: 1rem; color: #1a202c; font-size: 14px; }
table { border-collapse: collapse; width: 100%%; }
th, td { border-bottom: 1px solid #e2e8f0; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f7fafc; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { padding: 0 .4rem; border-radius: 4px; color: #fff; background: #718096; white-space: nowrap; }
.state.success { background: #38a169; } .state.failed, .state.config-error { background: #e53e3e; }
.state.running, .state.queued { background: #3182ce; }
.stars { color: #d69e2e; white-space: nowrap; } .muted { color: #718096; } .err { color: #c53030; }
form { margin-bottom: .75rem; }
""" % FONTS

# Inside Airflow's UI these pages sit in a sandboxed iframe (scripts and same origin allowed; popups and
# top navigation not): a plain link would open Airflow's UI inside the frame, a new tab not at all. So a
# click goes through the parent page (Airflow's, same origin): a link into Airflow opens in the UI itself,
# any other (portal, agency) in a new tab. Outside a frame, or if the parent is out of reach, links are plain.
_SCRIPT = """
document.addEventListener("click", function (event) {
  var a = event.target.closest("a[href]");
  if (!a || window.top === window || event.defaultPrevented) return;
  try {
    var doc = window.top.document, link = doc.createElement("a");
    link.href = a.href;
    if (a.origin !== location.origin) { link.target = "_blank"; link.rel = "noopener"; }
    doc.body.appendChild(link); link.click(); link.remove();
    event.preventDefault();
  } catch (e) { /* a plain link then */ }
});
"""

OVERVIEW = _ENV.from_string("""<!doctype html>
<html lang="th"><head><meta charset="utf-8"><title>Harvest overview</title>
<style>{{ style }}</style><script>{{ script }}</script></head>
<body>
<h1>Harvest overview <span class="muted">ภาพรวมการรวบรวมข้อมูล</span></h1>
<form method="get" id="filter">
  <label for="agency">Agency / หน่วยงาน</label>
  <select name="agency" id="agency" onchange="this.form.submit()">
    <option value="">all ({{ total }})</option>
    {% for slug, name in agencies %}
    <option value="{{ slug }}"{% if slug == agency %} selected{% endif %}>{{ slug }}{% if name %} · {{ name }}{% endif %}</option>
    {% endfor %}
  </select>
  <button type="submit">Filter</button>
</form>
<table id="sources">
<thead><tr><th>Source</th><th>Agency</th><th>Last run</th><th>Status</th><th>Rows</th><th>Openness</th>
<th>Validation</th><th>Data last changed</th><th>Portal dataset</th></tr></thead>
<tbody>
{% for r in rows %}
<tr data-source="{{ r.source }}" data-agency="{{ r.agency }}">
  <td><b>{{ r.source }}</b><br>{{ r.title }}
    {% if r.source_page %}<br><a class="source-page" href="{{ r.source_page }}">agency page</a>{% endif %}
    {% if r.config_error %}<br><span class="err">{{ r.config_error }}</span>{% endif %}</td>
  <td>{{ r.agency }}{% if r.agency_name %}<br><span class="muted">{{ r.agency_name }}</span>{% endif %}</td>
  <td>{% if r.run_url %}<a class="run" href="{{ r.run_url }}">{{ r.run_at | when or r.run_id }}</a>
      {% elif r.run_id %}{{ r.run_at | when }} <span class="muted">{{ r.run_id }}</span>{% else %}–{% endif %}</td>
  <td><span class="state {{ r.state | replace(' ', '-') }}">{{ r.state }}</span>
      {% for name in r.waiting %}<br><span class="muted">{{ name }}: awaiting approval</span>{% endfor %}</td>
  <td class="num">{{ "{:,}".format(r.rows) if r.rows is not none else "–" }}</td>
  <td class="stars" title="as published by the agency → on the portal">
      {% if r.stars_out %}{{ r.stars_in | stars }} → {{ r.stars_out | stars }}{% else %}–{% endif %}</td>
  <td>{{ r.validation or "–" }}</td>
  <td>{{ r.last_change | when or "–" }}</td>
  <td>{% for d in r.datasets %}<a class="dataset" href="{{ d.url }}">{{ d.name }}</a><br>{% else %}–{% endfor %}</td>
</tr>
{% else %}
<tr><td colspan="9">No source{% if agency %} of agency {{ agency }}{% endif %}.</td></tr>
{% endfor %}
</tbody></table>
</body></html>
""")

LINKS = _ENV.from_string("""<!doctype html>
<html lang="th"><head><meta charset="utf-8"><title>{{ title }}</title><style>{{ style }}</style>
<script>{{ script }}</script></head>
<body>
<p>{{ message }}</p>
{% if links %}<ul>{% for d in links %}
<li><a class="dataset" href="{{ d.url }}">{{ d.name }}</a> <span class="muted">({{ d.status }})</span></li>
{% endfor %}</ul>{% endif %}
{% if source_page %}<p>Agency's page: <a class="source-page" href="{{ source_page }}">{{ source_page }}</a></p>{% endif %}
</body></html>
""")


def render_overview(rows: list[SourceRow], agency: str | None = None) -> str:
    agencies = sorted({(r.agency, r.agency_name) for r in rows if r.agency})
    names = {}
    for slug, name in agencies:
        names[slug] = names.get(slug) or name
    shown = [r for r in rows if not agency or r.agency == agency]
    return OVERVIEW.render(rows=shown, agency=agency or "", agencies=sorted(names.items()), total=len(rows),
                           style=Markup(_STYLE), script=Markup(_SCRIPT))


def render_links(title: str, message: str, links: list[DatasetLink] = (), source_page: str | None = None) -> str:
    return LINKS.render(title=title, message=message, links=list(links), source_page=source_page,
                        style=Markup(_STYLE), script=Markup(_SCRIPT))


@dataclass(frozen=True)
class PortalAnswer:
    """Where the portal link of a DAG (or of one of its runs) goes: the datasets, and a sentence about them."""

    message: str
    links: list[DatasetLink]

    @property
    def redirect(self) -> str | None:
        """One dataset: its URL (the link goes straight there); several or none: a page says which or why."""
        return self.links[0].url if len(self.links) == 1 else None


def portal_answer(source_id: str, reports: list[RunReport], run_id: str | None = None) -> PortalAnswer:
    """The datasets run ``run_id`` published (no run: the last run that published any), said plainly."""
    if run_id:
        report = run_report(reports, run_id)
        if report is None:
            return PortalAnswer(f"Run {run_id} of {source_id} has no run report (yet): it is still running, "
                                "or it ended before its report task.", [])
        what = f"Run {run_id} of {source_id}"
    else:
        report = last_published(reports)
        if report is None:
            return PortalAnswer(f"{source_id} has not published a dataset yet.", [])
        what = f"The last run of {source_id} that published ({report.run_id})"
    links = published(report)
    if links:
        return PortalAnswer(f"{what} published {len(links)} dataset{'s' if len(links) > 1 else ''}:", links)
    others = "; ".join(f"{d.name}: {d.status}" for d in report.datasets)
    return PortalAnswer(f"{what} published no dataset" + (f" ({others})." if others else "."), [])


def links_page(cfg, source_id: str, reports: list[RunReport], run_id: str | None = None) -> str:
    """The DAG/run/task tab: the portal dataset(s) (of the run, or the last that published), the agency's page."""
    answer = portal_answer(source_id, reports, run_id)
    return render_links(source_id, answer.message, answer.links, source_page(cfg) if cfg is not None else None)
