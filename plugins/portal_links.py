"""Airflow UI links to the portal: each harvest DAG links to its dataset, the nav bar to the portal.

A DAG's id is its source id, which is also the dataset's URL name on the portal
unless the config sets ``dataset:`` or the source feeds several datasets (then
the link finds nothing; each run's publish results and the DAG's docs name them). The portal address is the `gdc_portal` connection's
host (from AIRFLOW_CONN_GDC_PORTAL) or HARVEST_PORTAL_URL, read when the plugin loads.
"""

from __future__ import annotations

import json
import os

from airflow.plugins_manager import AirflowPlugin


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


def external_views(url: str | None) -> list[dict]:
    if not url:
        return []
    return [
        {"name": "GD Catalog portal", "href": url, "destination": "nav", "category": "browse"},
        # No url_route: opened as a plain link, not embedded.
        {"name": "Dataset on the portal", "href": f"{url}/dataset/{{DAG_ID}}", "destination": "dag"},
    ]


class PortalLinksPlugin(AirflowPlugin):
    name = "portal_links"
    external_views = external_views(portal_url())
