"""Output that tells more (issue 12): the report says which rows were title,
header, notes and footer and which markers were read as null; Parquet carries
the column titles as field metadata; the table schema goes with the outputs."""

import json

import openpyxl
import pyarrow.parquet as pq

from harvesters.convert import convert_file


def test_report_names_the_rows_it_did_not_keep_and_the_nulls_it_read(tmp_path):
    path = tmp_path / "rain.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ปริมาณฝนรายจังหวัด"])  # 0 title
    ws.append([])  # 1 blank
    ws.append(["จังหวัด", "ปริมาณฝน (มม.)", "อัตรา"])  # 2 header
    ws.append(["เชียงใหม่", 12.5, "N/A"])
    ws.append(["ลำพูน", "#DIV/0!", 3])
    ws.append(["ลำปาง", 7, "n.a."])
    ws.append([])  # 6 blank
    ws.append(["ที่มา: กรมอุตุนิยมวิทยา"])  # 7 note
    ws.append(["ปรับปรุงล่าสุด 2567"])  # 8 footer
    wb.save(path)

    report = convert_file(path, tmp_path / "out")
    (table,) = report.tables
    assert table.title_rows == [0]
    assert table.header_rows == [2]
    assert table.note_rows == [7]
    assert table.footer_rows == [7, 8]
    columns = {c.name: c for c in table.columns}
    assert columns["ปริมาณฝน (มม.)"].type == "decimal" and columns["ปริมาณฝน (มม.)"].null_markers == ["#DIV/0!"]
    assert columns["อัตรา"].type == "integer" and columns["อัตรา"].null_markers == ["N/A", "n.a."]
    assert columns["จังหวัด"].null_markers == []
    assert pq.read_table(table.parquet).column("อัตรา").to_pylist() == [None, 3, None]
    dumped = report.model_dump(mode="json")["tables"][0]
    assert dumped["columns"][2]["null_markers"] == ["N/A", "n.a."] and dumped["footer_rows"] == [7, 8]


def test_parquet_field_titles_and_schema_file(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("จังหวัด,จำนวน (ราย)\nตรัง,3\nสตูล,4\n", encoding="utf-8")
    (table,) = convert_file(path, tmp_path / "out").tables
    schema = pq.read_schema(table.parquet)
    assert schema.field("จำนวน (ราย)").metadata == {b"title": "จำนวน (ราย)".encode()}
    written = json.loads((tmp_path / "out" / "cases.schema.json").read_text(encoding="utf-8"))
    assert written == table.schema_ and table.table_schema == str(tmp_path / "out" / "cases.schema.json")
    assert written["fields"][1] == {"name": "จำนวน (ราย)", "type": "integer", "title": "จำนวน (ราย)"}


def test_a_text_column_keeps_na_markers_as_text(tmp_path):
    """A marker is null only where every other value is a number."""
    path = tmp_path / "mixed.csv"
    path.write_text("a,b\nx,1\nN/A,2\ny,#VALUE!\n", encoding="utf-8")
    (table,) = convert_file(path, tmp_path / "out").tables
    columns = {c.name: c for c in table.columns}
    assert columns["a"].type == "text" and columns["a"].null_markers == []
    assert pq.read_table(table.parquet).column("a").to_pylist() == ["x", "N/A", "y"]
    assert columns["b"].type == "integer" and columns["b"].null_markers == ["#VALUE!"]


def test_decimals_are_not_phone_numbers_or_ids(tmp_path):
    """Digits after a decimal point are a fraction: 0.0812345678 is no mobile number."""
    path = tmp_path / "values.csv"
    path.write_text("a,b\n0.0812345678,1234567890123.5\n12.0912345678,3.1101700012341\n", encoding="utf-8")
    (table,) = convert_file(path, tmp_path / "out").tables
    assert [c.type for c in table.columns] == ["decimal", "decimal"]
