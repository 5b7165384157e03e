"""The local CKAN enforces the GD Catalog schema like the production portals do."""

from __future__ import annotations

import uuid

import ckanapi
import pytest
import requests

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def portal(services):
    return ckanapi.RemoteCKAN(services["ckan"]["url"], apikey=services["ckan"]["token"])


def complete_dataset(**overrides) -> dict:
    """A statistical dataset with every required GD Catalog field."""
    data = {
        "name": f"pm25-daily-{uuid.uuid4().hex[:8]}",
        "title": f"ค่าฝุ่นละออง PM2.5 รายวัน {uuid.uuid4().hex[:6]}",
        "owner_org": "pcd",
        "private": True,
        "allow_harvest": "False",
        "data_type": "ข้อมูลสถิติ",
        "maintainer": "ศูนย์ข้อมูลสิ่งแวดล้อม",
        "maintainer_email": "data@pcd.example",
        "tag_string": "คุณภาพอากาศ,PM2.5,ฝุ่นละออง",
        "notes": "ค่าเฉลี่ยรายวันของฝุ่นละอองขนาดไม่เกิน 2.5 ไมครอน",
        "objective": ["พันธกิจหน่วยงาน", "เพื่อการให้บริการประชาชน"],
        "update_frequency_unit": "วัน",
        "update_frequency_interval": "1",
        "geo_coverage": "ประเทศ",
        "data_source": "กรมควบคุมมลพิษ",
        "data_format": ["CSV"],
        "data_category": "ข้อมูลสาธารณะ",
        "license_id": "Open Data Common",
        "data_language": ["ไทย"],
        "first_year_of_data": "2567",
        "last_year_of_data": "2568",
        "disaggregate": ["ขอบเขตเชิงภูมิศาสตร์หรือเชิงพื้นที่"],
        "official_statistics": "False",
    }
    data.update(overrides)
    return data


def refused(portal, data) -> dict:
    """package_create must fail with a 409 validation error; return its error dict."""
    with pytest.raises(ckanapi.ValidationError) as exc:
        portal.action.package_create(**data)
    return exc.value.error_dict


def test_complete_dataset_is_accepted_with_thai_tags(portal):
    created = portal.action.package_create(**complete_dataset())
    shown = portal.action.package_show(id=created["id"])
    assert shown["data_type"] == "ข้อมูลสถิติ"
    # scheming stores a multiple choice as a list in the schema's choice order
    assert sorted(shown["objective"]) == sorted(["พันธกิจหน่วยงาน", "เพื่อการให้บริการประชาชน"])
    assert {t["name"] for t in shown["tags"]} == {"คุณภาพอากาศ", "PM2.5", "ฝุ่นละออง"}


def test_approval_flip_with_package_patch(portal):
    created = portal.action.package_create(**complete_dataset())
    patched = portal.action.package_patch(id=created["id"], private=False, allow_harvest="True")
    assert patched["private"] is False and patched["allow_harvest"] == "True"
    assert {t["name"] for t in patched["tags"]} >= {"คุณภาพอากาศ"}


def test_missing_required_field_is_named(portal):
    data = complete_dataset()
    del data["maintainer_email"]
    assert "maintainer_email" in refused(portal, data)


def test_choice_outside_the_list_is_refused(portal):
    assert "geo_coverage" in refused(portal, complete_dataset(geo_coverage="ดาวอังคาร"))


def test_multiple_choice_needs_a_real_list(portal):
    assert "objective" in refused(portal, complete_dataset(objective='["พันธกิจหน่วยงาน"]'))


def test_forbidden_tag_character_is_refused(portal):
    errors = refused(portal, complete_dataset(tag_string="คุณภาพอากาศ,bad/tag!"))
    assert "tags" in errors or "tag_string" in errors


def test_uploaded_file_round_trips(portal, services, tmp_path):
    dataset = portal.action.package_create(**complete_dataset())
    payload = "station,date,pm25\nกรุงเทพฯ,2025-01-31,41.5\n".encode("utf-8")
    path = tmp_path / "pm25-daily.csv"  # ASCII file name: CKAN strips Thai from stored names
    path.write_bytes(payload)
    with path.open("rb") as upload:
        resource = portal.action.resource_create(package_id=dataset["id"], name="ค่าฝุ่นรายวัน",
                                                 format="CSV", upload=upload)
    assert resource["url"].endswith("/pm25-daily.csv")
    got = requests.get(resource["url"], headers={"Authorization": services["ckan"]["token"]}, timeout=30)
    assert got.status_code == 200
    assert got.content == payload


@pytest.mark.parametrize("site", ["ckan", "ckan_dga"])
def test_each_portal_enforces_exactly_what_its_profile_reads_from_its_schema(site, request, services):
    """The profiles (harvesters/gdc/profiles.py) read enforcement from the schema files; the real CKAN agrees."""
    from harvesters.gdc import profiles

    info = services["ckan"] if site == "ckan" else request.getfixturevalue("dga_portal")
    ckan = ckanapi.RemoteCKAN(info["url"], apikey=info["token"])
    profile = profiles.get(info["profile"])
    checked = 0
    for name, rule in profile.dataset.items():
        if rule.listed:
            value = ["ไม่มีในรายการ"] if rule.multiple else "ไม่มีในรายการ"
        elif rule.date or rule.integer:
            value = "1.5 เดือน"
        else:
            continue
        data = complete_dataset(**{name: value})
        if rule.enforced or rule.date or rule.integer:
            assert name in refused(ckan, data), name
        else:
            assert ckan.action.package_create(**data)[name] == value, name
        checked += 1
    assert checked >= 20
