"""JSON and XML readers end to end: records, flattening, refusals."""

import json

import pyarrow.parquet as pq
import pytest

from harvesters.convert import convert_file
from harvesters.convert.options import ConvertOptions
from harvesters.errors import RefusedFile
from tests.thai_ids import thai_id


def refused(path, out, reason, **kwargs):
    with pytest.raises(RefusedFile) as info:
        convert_file(path, out, source="src", **kwargs)
    assert info.value.reason == reason, str(info.value)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert not out.exists() or not list(out.iterdir())
    return info.value


# --- JSON ---------------------------------------------------------------------------------

RECORDS = [
    {"province": "เชียงใหม่", "year": 2567, "tourism": {"thai_visitors": "1,200", "foreign": {"total": 50}},
     "tags": ["north", "ภูเขา"], "updated": "29/02/2567"},
    {"province": "ภูเก็ต", "year": 2567, "tourism": {"thai_visitors": 900}, "tags": [], "note": None,
     "updated": "2024-03-01"},
    {"province": "ตรัง", "tourism": None, "updated": None, "extra": True},
]


def test_json_array_of_objects_is_flattened(tmp_path):
    path = tmp_path / "tourism.json"
    path.write_text(json.dumps(RECORDS, ensure_ascii=False), encoding="utf-8")
    report = convert_file(path, tmp_path / "out")
    assert report.format == "json" and report.stars_in == 3
    (table,) = report.tables
    columns = {c.name: c.type for c in table.columns}
    assert list(columns) == [
        "province", "year", "tourism.thai_visitors", "tourism.foreign.total", "tags", "updated", "note", "tourism", "extra",
    ]
    assert columns["tourism.thai_visitors"] == "integer"  # "1,200" and 900
    assert columns["updated"] == "date"
    data = pq.read_table(table.parquet).to_pydict()
    assert data["tourism.thai_visitors"] == [1200, 900, None]  # a missing key is null
    assert data["tourism.foreign.total"] == [50, None, None]
    assert data["tags"] == ['["north", "ภูเขา"]', "[]", None]  # lists stay JSON text
    assert data["year"] == [2567, 2567, None]  # a plain year stays as it is
    assert data["note"] == [None, None, None]
    assert data["extra"] == [None, None, True]
    assert table.rows_written == 3


def test_json_records_path(tmp_path):
    path = tmp_path / "api.json"
    doc = {"success": True, "result": {"records": RECORDS[:2], "total": 2}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    options = ConvertOptions(records_path="result.records")
    report = convert_file(path, tmp_path / "out", options=options)
    assert report.tables[0].rows_written == 2
    refused(path, tmp_path / "none", "no table")  # a bare object without records_path
    refused(path, tmp_path / "bad", "no table", options=ConvertOptions(records_path="result.rows"))


def test_json_records_path_through_a_list_index(tmp_path):
    path = tmp_path / "pages.json"
    path.write_text(json.dumps({"pages": [{"rows": [{"a": 1}, {"a": 2}]}]}), encoding="utf-8")
    report = convert_file(path, tmp_path / "out", options=ConvertOptions(records_path="pages.0.rows"))
    assert report.tables[0].rows_written == 2


def test_json_named_txt_is_still_json(tmp_path):
    path = tmp_path / "export.txt"
    path.write_text('[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]', encoding="utf-8")
    assert convert_file(path, tmp_path / "out").format == "json"


def test_json_array_of_scalars_is_no_table(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    refused(path, tmp_path / "out", "no table")


def test_json_thai_ids_are_pii(tmp_path):
    ids = [thai_id(f"1100{n:08d}") for n in range(4)]
    path = tmp_path / "people.json"
    path.write_text(json.dumps([{"name": f"p{i}", "person": {"cid": v}} for i, v in enumerate(ids)]), encoding="utf-8")
    err = refused(path, tmp_path / "out", "pii")
    assert not any(v in str(err) for v in ids)
    assert convert_file(path, tmp_path / "ok", allow_pii={"person.cid"}).tables[0].rows_written == 4


# --- XML ----------------------------------------------------------------------------------

XML = """<?xml version="1.0" encoding="UTF-8"?>
<data xmlns="urn:example">
  <meta><source>กรมควบคุมโรค</source></meta>
  <record id="1">
    <province>เชียงใหม่</province>
    <cases>1,234</cases>
    <reported>29/02/2567</reported>
    <address><district>เมือง</district><zip>50000</zip></address>
    <phone>053-111</phone><phone>053-222</phone>
  </record>
  <record id="2">
    <province>ลำพูน</province>
    <cases>-</cases>
    <reported>1 มี.ค. 2567</reported>
    <amount unit="THB">12.5</amount>
  </record>
  <record id="3"><province>ตรัง</province><cases/></record>
</data>
"""


def test_xml_repeated_children_are_records(tmp_path):
    path = tmp_path / "cases.xml"
    path.write_text(XML, encoding="utf-8")
    report = convert_file(path, tmp_path / "out")
    assert report.format == "xml"
    (table,) = report.tables
    names = [c.name for c in table.columns]
    assert names[:6] == ["id", "province", "cases", "reported", "address.district", "address.zip"]
    assert {"phone", "amount.unit", "amount"} <= set(names)
    data = pq.read_table(table.parquet).to_pydict()
    assert data["id"] == [1, 2, 3]
    assert data["cases"] == [1234, None, None]  # "-" and an empty element are null
    assert [d.isoformat() for d in data["reported"][:2]] == ["2024-02-29", "2024-03-01"]
    assert data["reported"][2] is None  # a missing element is null
    assert data["phone"][0] == '["053-111", "053-222"]'
    assert data["amount"] == [None, 12.5, None]
    assert data["address.zip"] == [50000, None, None]


@pytest.mark.parametrize(
    "payload",
    [
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r><a>&x;</a><a>1</a></r>',
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><r><i>&b;</i><i>1</i></r>',
        '<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://example.invalid/r.dtd"><r><i>1</i><i>2</i></r>',
        '<!DOCTYPE r><r><i>1</i><i>2</i></r>',
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r><a>&x;</a><broken></r>',
    ],
)
def test_any_dtd_or_entity_is_xxe(tmp_path, payload):
    for name in ("evil.xml", "evil.txt"):
        path = tmp_path / name
        path.write_text(payload, encoding="utf-8")
        err = refused(path, tmp_path / f"out-{name}", "xxe")
        assert "root:" not in str(err)


def test_xml_in_cp874_declared_as_tis620(tmp_path):
    text = '<?xml version="1.0" encoding="TIS-620"?><rows><row><name>“ทดสอบ”</name><n>1</n></row><row><name>ข</name><n>2</n></row></rows>'
    path = tmp_path / "thai.xml"
    path.write_bytes(text.encode("cp874"))
    report = convert_file(path, tmp_path / "out")
    data = pq.read_table(report.tables[0].parquet).to_pydict()
    assert data["name"] == ["“ทดสอบ”", "ข"]


def test_xml_thai_ids_are_pii(tmp_path):
    ids = [thai_id(f"3100{n:08d}") for n in range(3)]
    path = tmp_path / "people.xml"
    path.write_text("<people>" + "".join(f"<p><cid>{v}</cid></p>" for v in ids) + "</people>", encoding="utf-8")
    refused(path, tmp_path / "out", "pii")


def test_xml_without_repeated_children_is_no_table(tmp_path):
    path = tmp_path / "one.xml"
    path.write_text("<?xml version='1.0'?><config><a>1</a><b>2</b></config>", encoding="utf-8")
    refused(path, tmp_path / "out", "no table")
