"""Null markers in numeric columns (issue 12, to be added to conversion-rules.md):
in a column whose other values are all numbers, `NA`, `N/A`, `n.a.` and the
Excel error values `#VALUE!`, `#DIV/0!`, `#N/A` are nulls and the column is
numeric; a value that is neither a number nor such a marker keeps the column
as text, every value as written.

The files are written here (CSV text, openpyxl for XLSX with native error
cells); the expectations come from the rule's wording, not from the
converter. Assumption: in a column that stays text, a marker is an ordinary
value and is kept (the rule makes markers null only in otherwise numeric columns).
"""

import csv

import openpyxl
import pyarrow.parquet as pq
import pytest

from harvesters.convert import convert_file

MARKERS = ["NA", "N/A", "n.a.", "#VALUE!", "#DIV/0!", "#N/A"]


def _convert_csv(tmp_path, text, name="crops.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    (table,) = convert_file(path, tmp_path / "out").tables
    with open(table.csv, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return table, rows, pq.read_table(table.parquet)


@pytest.mark.parametrize("marker", MARKERS + [" N/A ", "NA "])
def test_each_marker_is_null_in_an_integer_column(tmp_path, marker):
    text = f"ปี,ผลผลิต (ตัน)\n2558,\"1,204\"\n2559,{marker}\n2560,980\n"
    table, rows, parquet = _convert_csv(tmp_path, text)
    assert {c.name: c.type for c in table.columns}["ผลผลิต (ตัน)"] == "integer"
    assert parquet.column("ผลผลิต (ตัน)").to_pylist() == [1204, None, 980]
    assert str(parquet.schema.field("ผลผลิต (ตัน)").type) == "int64"
    assert [r[1] for r in rows[1:]] == ["1204", "", "980"]


def test_all_markers_in_one_decimal_column(tmp_path):
    values = ["12.5", *MARKERS, "-", "", "7"]
    text = "สถานี,ปริมาณฝน\n" + "".join(f"s{i},{v}\n" for i, v in enumerate(values))
    table, rows, parquet = _convert_csv(tmp_path, text)
    assert {c.name: c.type for c in table.columns}["ปริมาณฝน"] == "decimal"
    assert parquet.column("ปริมาณฝน").to_pylist() == [12.5] + [None] * 8 + [7.0]
    assert table.rows_written == len(values)


def test_another_word_keeps_the_column_text_with_every_value(tmp_path):
    text = "ปี,ผลผลิต (ตัน)\n2558,1204\n2559,NA\n2560,ไม่มีการสำรวจ\n2561,#DIV/0!\n2562,980\n"
    table, rows, parquet = _convert_csv(tmp_path, text)
    assert {c.name: c.type for c in table.columns}["ผลผลิต (ตัน)"] == "text"
    assert parquet.column("ผลผลิต (ตัน)").to_pylist() == ["1204", "NA", "ไม่มีการสำรวจ", "#DIV/0!", "980"]
    assert [r[1] for r in rows[1:]] == ["1204", "NA", "ไม่มีการสำรวจ", "#DIV/0!", "980"]


def test_markers_do_not_touch_a_text_column(tmp_path):
    """A column of words holding `NA` (a code, an abbreviation) keeps it."""
    text = "ประเทศ,รหัส\nนามิเบีย,NA\nไทย,TH\nลาว,LA\n"
    table, _, parquet = _convert_csv(tmp_path, text)
    assert parquet.column("รหัส").to_pylist() == ["NA", "TH", "LA"]


def test_xlsx_native_error_cells_and_na_text_are_nulls(tmp_path):
    """Excel error values as real error cells (type `e`), next to `NA` text."""
    path = tmp_path / "prices.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ปี", "ราคา (บาท/กก.)", "มูลค่า (ล้านบาท)"])
    ws.append([2557, 27.0, 23.409])
    ws.append([2558, "#DIV/0!", "NA"])
    ws.append([2559, "#N/A", 7.35])
    ws.append([2560, "#VALUE!", "n.a."])
    ws.append([2561, 10.5, 1.25])
    wb.save(path)
    check = openpyxl.load_workbook(path).active
    assert [check.cell(r, 2).data_type for r in range(3, 6)] == ["e", "e", "e"]  # really error cells

    (table,) = convert_file(path, tmp_path / "out").tables
    assert [(c.name, c.type) for c in table.columns] == [
        ("ปี", "integer"), ("ราคา (บาท/กก.)", "decimal"), ("มูลค่า (ล้านบาท)", "decimal"),
    ]
    data = pq.read_table(table.parquet).to_pydict()
    assert data["ราคา (บาท/กก.)"] == [27.0, None, None, None, 10.5]
    assert data["มูลค่า (ล้านบาท)"] == [23.409, None, 7.35, None, 1.25]
    assert data["ปี"] == [2557, 2558, 2559, 2560, 2561]
