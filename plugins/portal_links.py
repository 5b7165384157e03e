"""Airflow UI plugin: the harvest overview page, and links from each DAG, run and task to the agency and the portal.

A small FastAPI app mounted in Airflow's API server under ``/harvest`` (``fastapi_apps``):

- ``/harvest/overview[?agency=pcd]``: every source with its agency, last run, state, rows, openness
  stars, validation result, last change of the data and its portal dataset(s) (nav: Browse → Harvest overview);
- ``/harvest/links/{dag_id}[?run_id=...]``: the tab "Agency & portal" of each DAG, run and task instance;
- ``/harvest/go/source/{dag_id}``: redirects to the agency's page for the source;
- ``/harvest/go/portal/{dag_id}[?run_id=...]``: redirects to the dataset the run published (no run id:
  the last run that published); several datasets: a list; none: a page that says so.

Links come from what a run published (its run report in the archive), never from the DAG id.
Every endpoint needs an Airflow login (the UI's session cookie or a bearer token, checked by
Airflow's own auth) and shows only DAGs the user may read. The page data and HTML are built by
``harvesters.overview`` (plain functions, unit-tested); this module only adds Airflow: auth,
the last DagRun of each DAG, the mount. The nav also links to the portal (the `gdc_portal`
connection's host, from AIRFLOW_CONN_GDC_PORTAL, or HARVEST_PORTAL_URL, read when the plugin loads).
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from airflow.plugins_manager import AirflowPlugin

PREFIX = "/harvest"


def portal_url() -> str | None:
    raw = os.environ.get("AIRFLOW_CONN_GDC_PORTAL", "")
    if raw.startswith("{"):
        try:
            host = json.loads(raw).get("host") or ""
        except ValueError:
            host = ""
        if host:
            return host.rstrip("/")
    return os.environ.get("HARVEST_PORTAL_URL", "").rstrip("/") or None


def base_path() -> str:
    """The path Airflow's UI is served under ("" at the root), from ``[api] base_url``."""
    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def external_views(url: str | None, base: str = "") -> list[dict]:
    here = f"{base}{PREFIX}"
    views = [
        {"name": "Harvest overview", "href": f"{here}/overview", "destination": "nav", "category": "browse",
         "url_route": "harvest-overview"},
        # Tabs (Airflow shows a DAG/run/task tab only for views with a url_route; the page lists the links).
        {"name": "Agency & portal", "href": f"{here}/links/{{DAG_ID}}", "destination": "dag",
         "url_route": "harvest-links"},
        {"name": "Agency & portal", "href": f"{here}/links/{{DAG_ID}}?run_id={{RUN_ID}}", "destination": "dag_run",
         "url_route": "harvest-run-links"},
        {"name": "Agency & portal", "href": f"{here}/links/{{DAG_ID}}?run_id={{RUN_ID}}",
         "destination": "task_instance", "url_route": "harvest-task-links"},
    ]
    if url:  # no url_route: a plain link in the nav
        views.append({"name": "GD Catalog portal", "href": url, "destination": "nav", "category": "browse"})
    return views


# --------------------------------------------------------------------------- auth (Airflow's own)

async def viewer(request: Request):
    """The logged-in Airflow user (session cookie or bearer token), as Airflow's REST API resolves it."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    return await get_user(request, None, await bearer_scheme(request))


def readable_dags(user) -> set[str]:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_authorized_dag_ids(user=user, method="GET")


def check_readable(user, dag_id: str) -> None:
    if dag_id not in readable_dags(user):
        raise HTTPException(status_code=404, detail=f"no DAG {dag_id!r} you may read")


def login_redirect(request: Request) -> RedirectResponse:
    from airflow.api_fastapi.app import get_auth_manager

    return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)


async def page_viewer(request: Request):
    """Like ``viewer``, but a browser without a login is sent to Airflow's login page."""
    try:
        return await viewer(request)
    except HTTPException as exc:
        if exc.status_code in (401, 403) and "authorization" not in request.headers:
            raise _LoginNeeded() from exc
        raise


class _LoginNeeded(Exception):
    pass


# --------------------------------------------------------------------------- data from Airflow

def last_runs() -> dict:
    """Airflow's last run of every DAG (``overview.AirflowRun`` by DAG id), from its metadata database."""
    from sqlalchemy import func, select

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from harvesters.overview import AirflowRun

    latest = select(DagRun.dag_id, func.max(DagRun.run_after).label("run_after")).group_by(DagRun.dag_id).subquery()
    query = select(DagRun).join(latest, (DagRun.dag_id == latest.c.dag_id) & (DagRun.run_after == latest.c.run_after))

    def iso(when) -> str | None:
        return when.isoformat() if when else None

    with create_session() as session:
        return {run.dag_id: AirflowRun(run_id=run.run_id, state=DagRunState(run.state).value,
                                       started_at=iso(run.start_date or run.run_after), ended_at=iso(run.end_date))
                for run in session.scalars(query)}


def settings():
    from harvesters.settings import Settings

    return Settings.from_env()


def reports(dag_id: str):
    from harvesters import archive
    from harvesters.overview import reports_of

    return reports_of(archive.backend(settings()), dag_id)


# --------------------------------------------------------------------------- the app

app = FastAPI(title="Harvest overview and links", docs_url=None, redoc_url=None, openapi_url=None)


@app.exception_handler(_LoginNeeded)
async def _to_login(request: Request, exc: _LoginNeeded):
    return login_redirect(request)


@app.get("/overview", response_class=HTMLResponse)
def overview_page(agency: str | None = None, user=Depends(page_viewer)) -> HTMLResponse:
    from harvesters.overview import collect, render_overview

    rows = collect(settings(), last_runs(), base_path(), readable=readable_dags(user))
    return HTMLResponse(render_overview(rows, agency))


@app.get("/links/{dag_id}", response_class=HTMLResponse)
def links(dag_id: str, run_id: str | None = None, user=Depends(page_viewer)) -> HTMLResponse:
    from harvesters.overview import links_page, source_config

    check_readable(user, dag_id)
    return HTMLResponse(links_page(source_config(settings(), dag_id), dag_id, reports(dag_id), run_id))


@app.get("/go/source/{dag_id}")
def go_source(dag_id: str, user=Depends(page_viewer)):
    from harvesters.overview import render_links, source_config, source_page

    check_readable(user, dag_id)
    cfg = source_config(settings(), dag_id)
    url = source_page(cfg) if cfg is not None else None
    if url:
        return RedirectResponse(url, status_code=307)
    why = (f"{dag_id} has no agency page: set metadata.url in its config (or in its agency's _agency.yaml)."
           if cfg is not None else f"{dag_id} is not a harvest source (no config with this id).")
    return HTMLResponse(render_links(dag_id, why), status_code=404)


@app.get("/go/portal/{dag_id}")
def go_portal(dag_id: str, run_id: str | None = None, user=Depends(page_viewer)):
    from harvesters.overview import portal_answer, render_links

    check_readable(user, dag_id)
    answer = portal_answer(dag_id, reports(dag_id), run_id)
    if answer.redirect:
        return RedirectResponse(answer.redirect, status_code=307)
    return HTMLResponse(render_links(dag_id, answer.message, answer.links), status_code=200 if answer.links else 404)


class PortalLinksPlugin(AirflowPlugin):
    name = "portal_links"
    fastapi_apps = [{"app": app, "url_prefix": PREFIX, "name": "Harvest overview and links"}]
    external_views = external_views(portal_url(), base_path())
