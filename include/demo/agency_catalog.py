"""A demo agency catalog: an organization on a CKAN (GD Catalog schema) with datasets to harvest.

Agencies that run their own GD Catalog instance are harvested with the
``ckan_catalog`` source kind. This module seeds such a catalog on a local CKAN
(the devstack's portal can play the agency's catalog too): an organization and
two statistical datasets in Thai, each with a data file from the demo site
(``gistda/hotspots.xlsx``, ``gistda/stats.html``) and a PDF manual that the kind
must skip. Both carry ``allow_harvest: "True"``, the agency's consent.

Idempotent: an existing dataset is patched (its metadata only), a resource is
uploaded only when the dataset has none of that name.

    .local/venv/bin/python include/demo/agency_catalog.py --url URL --token TOKEN [--org NAME]

(URL and TOKEN default to HARVEST_PORTAL_URL and HARVEST_PORTAL_TOKEN.)
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

import ckanapi

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from harvesters.gdc.model import DatasetMetadata

SITE_DIR = Path(__file__).resolve().parent / "site"
ORG_TITLE = "แคตตาล็อกข้อมูลหน่วยงาน (สาธิต)"

# What an agency fills in its own GD Catalog (config names and English aliases, as in a source config).
COMMON = {
    "data_type": "statistical",
    "maintainer": "ศูนย์ข้อมูลดาวเทียม (สาธิต)",
    "maintainer_email": "opendata@agency.example.go.th",
    "objective": ["public_service", "agency_mission"],
    "update_frequency_unit": "month",
    "update_frequency_interval": 1,
    "geo_coverage": "province",
    "data_source": "สำนักงานพัฒนาเทคโนโลยีอวกาศและภูมิสารสนเทศ (องค์การมหาชน)",
    "data_category": "public",
    "license_id": "odc",
    "data_language": ["th"],
    "unit_of_measure": "จุด",
    "official_statistics": "False",
}

# A tiny, valid-looking PDF: the kind must skip it by its format, never download it.
MANUAL_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
              b"trailer<</Root 1 0 R>>\n%%EOF\n")

DATASETS = [
    {
        "slug": "hotspots-daily",
        "metadata": {
            **COMMON,
            "title": "จุดความร้อนจากดาวเทียม รายจังหวัด รายวัน มีนาคม 2567",
            "notes": "จำนวนจุดความร้อนจากดาวเทียมรายวันใน 17 จังหวัดภาคเหนือ แยกพื้นที่ป่าอนุรักษ์และพื้นที่เกษตร "
                     "ระหว่างวันที่ 1–14 มีนาคม 2567 (ข้อมูลสาธิต)",
            "tags": ["จุดความร้อน", "ไฟป่า", "ฝุ่นละออง"],
        },
        "data_format": ["XLS", "PDF"],
        "resources": [
            {"name": "จุดความร้อนรายวัน รายจังหวัด", "file": "gistda/hotspots.xlsx", "format": "XLSX"},
            {"name": "คู่มือการใช้ข้อมูลจุดความร้อน", "file": "manual.pdf", "format": "PDF"},
        ],
    },
    {
        "slug": "hotspot-stats",
        "metadata": {
            **COMMON,
            "title": "สถิติจุดความร้อนสะสมรายจังหวัด มกราคม–มีนาคม",
            "notes": "จำนวนจุดความร้อนสะสมรายจังหวัด เปรียบเทียบปี 2568 กับปี 2567 (ข้อมูลสาธิต)",
            "tags": ["จุดความร้อน", "สถิติ"],
            "update_frequency_unit": "year",
        },
        "data_format": ["HTML", "PDF"],
        "resources": [
            {"name": "ตารางสถิติจุดความร้อนสะสม", "file": "gistda/stats.html", "format": "HTML"},
            {"name": "คำอธิบายชุดข้อมูล", "file": "about.pdf", "format": "PDF"},
        ],
    },
]


def portal_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    """GD Catalog fields as CKAN takes them (Thai values, tag_string), checked like a source config."""
    return DatasetMetadata.model_validate(metadata).portal_fields()


def ensure_organization(ckan: ckanapi.RemoteCKAN, org: str, title: str = ORG_TITLE) -> None:
    try:
        ckan.action.organization_show(id=org)
    except ckanapi.NotFound:
        ckan.action.organization_create(name=org, title=title)


def _open(files_dir: Path, name: str) -> BinaryIO:
    path = files_dir / name
    if name.endswith(".pdf") and not path.exists():
        return io.BytesIO(MANUAL_PDF)
    return path.open("rb")


def ensure_dataset(ckan: ckanapi.RemoteCKAN, name: str, org: str, fields: dict[str, Any],
                   resources: list[dict[str, str]], files_dir: Path) -> dict:
    """Create or patch dataset ``name``; upload each resource whose name it does not have yet."""
    fields = {**fields, "name": name, "owner_org": org}
    try:
        ckan.action.package_show(id=name)
    except ckanapi.NotFound:
        ckan.action.package_create(**fields)
    else:
        ckan.action.package_patch(id=name, **fields)
    have = {r["name"] for r in ckan.action.package_show(id=name)["resources"]}
    for spec in resources:
        if spec["name"] in have:
            continue
        with _open(files_dir, spec["file"]) as fh:
            # CKAN keeps only the ASCII of an uploaded file's name: the demo files have ASCII names.
            ckan.action.resource_create(package_id=name, name=spec["name"], format=spec["format"],
                                        upload=(Path(spec["file"]).name, fh))
    return ckan.action.package_show(id=name)


def seed_catalog(ckan_url: str, token: str, org: str, files_dir: Path = SITE_DIR) -> list[str]:
    """The demo agency catalog on ``ckan_url``: organization ``org`` and its datasets. Returns their names."""
    ckan = ckanapi.RemoteCKAN(ckan_url, apikey=token)
    ensure_organization(ckan, org)
    names = []
    for spec in DATASETS:
        name = f"{org}-{spec['slug']}"[:100]
        fields = {**portal_fields(spec["metadata"]), "data_format": spec["data_format"], "allow_harvest": "True"}
        ensure_dataset(ckan, name, org, fields, spec["resources"], Path(files_dir))
        names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=os.environ.get("HARVEST_PORTAL_URL"), help="the CKAN site root")
    ap.add_argument("--token", default=os.environ.get("HARVEST_PORTAL_TOKEN"), help="a sysadmin API token")
    ap.add_argument("--org", default="agency-catalog", help="the organization to seed")
    ap.add_argument("--files", type=Path, default=SITE_DIR, help="where the demo files are")
    args = ap.parse_args(argv)
    if not args.url or not args.token:
        ap.error("--url and --token (or HARVEST_PORTAL_URL and HARVEST_PORTAL_TOKEN) are needed")
    for name in seed_catalog(args.url, args.token, args.org, args.files):
        print(f"{args.url.rstrip('/')}/dataset/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
