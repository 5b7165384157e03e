"""What the local check accepts, the portal accepts: every GD Catalog field, for each data type.

For each of the five data types and each target portal (the project's own
schema, and DGA's v2.1.0 schema run as a second site), a metadata block that
sets every field of that type the target has (choices by their Thai value or
English alias) passes the local check for that target's profile, and the real
CKAN accepts the dataset built from it and stores every value.
"""

import ckanapi
import pytest

from harvesters.config import SourceConfig
from harvesters.gdc import fields as gdc
from harvesters.gdc import profiles
from harvesters.gdc.mapping import dataset_fields
from harvesters.gdc.model import DERIVED

pytestmark = pytest.mark.integration

SAMPLE = {"text": "ทดสอบ", "email": "opendata@agency.example.go.th", "date": "2024-01-31", "number": 3}


def value_for(field: gdc.Field):
    if field.choices:
        choice = next(c for c in field.choices if c != gdc.OTHER)  # "อื่นๆ" needs its _other text
        return [choice] if field.multiple else choice
    return SAMPLE.get(field.kind, "ทดสอบ")


def full_metadata(data_type: str, profile: str = "project") -> dict:
    meta = {"data_type": data_type, "tags": ["ทดสอบ", "test-tag"], "title": f"ทดสอบ {data_type} {profile}"}
    target = profiles.get(profile)
    for f in gdc.DATASET_FIELDS:
        if f.name in DERIVED or f.name in meta or data_type not in f.data_types or not target.has(f.name):
            continue
        meta[f.name] = value_for(f)
    meta["geo_coverage"] = "province"  # an English alias, stored in Thai
    return meta


def config_for(data_type: str, slug: str, profile: str = "project") -> SourceConfig:
    return SourceConfig.model_validate({
        "id": slug, "agency": "pcd",
        "source": {"kind": "http", "files": ["http://127.0.0.1:9/x.csv"]},
        "metadata": full_metadata(data_type, profile),
    })


@pytest.fixture(params=["ckan", "ckan_dga"])
def target(request, services, monkeypatch):
    """Each target portal with its profile set: the project's own schema, and DGA's v2.1.0 schema itself."""
    site = services["ckan"] if request.param == "ckan" else request.getfixturevalue("dga_portal")
    monkeypatch.setenv("HARVEST_PORTAL_PROFILE", site["profile"])
    return site


@pytest.mark.parametrize("data_type,slug", [
    (gdc.RECORD, "type-record"), (gdc.STATISTICAL, "type-statistical"), (gdc.GEOSPATIAL, "type-geospatial"),
    (gdc.MULTIPLE, "type-multiple"), (gdc.OTHER_TYPE, "type-other"),
])
def test_locally_accepted_metadata_is_accepted_by_the_portal(target, data_type, slug):
    cfg = config_for(data_type, slug, target["profile"])  # the local check: raises if anything is off
    fields = dataset_fields(cfg, [])
    ckan = ckanapi.RemoteCKAN(target["url"], apikey=target["token"])
    created = ckan.action.package_create(**fields)
    shown = ckan.action.package_show(id=created["id"])
    for name, value in fields.items():
        if name in ("tag_string", "owner_org"):
            continue
        expected = str(value) if isinstance(value, int) else value  # CKAN stores numbers as text
        assert shown[name] == expected, name
    assert shown["geo_coverage"] == "จังหวัด"
    assert sorted(t["name"] for t in shown["tags"]) == ["test-tag", "ทดสอบ"]


def test_every_field_of_every_type_is_settable():
    """No GD Catalog field is left out of the config model (other than those the pipeline derives)."""
    for data_type in gdc.DATA_TYPES:
        cfg = config_for(data_type, "x-" + str(gdc.DATA_TYPES.index(data_type)))
        set_fields = set(cfg.metadata.model_dump(exclude_none=True))
        expected = {f.name for f in gdc.DATASET_FIELDS if data_type in f.data_types} - DERIVED
        assert expected <= set_fields | {"data_type"}, expected - set_fields
