"""ODS and XLS readers, and several tables on one sheet (all spreadsheets)."""

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pytest

from harvesters.convert import convert_file
from harvesters.convert.options import ConvertOptions, TableChoice
from harvesters.convert.readers import ods, xls
from harvesters.convert.readers.base import Merge, RawGrid
from harvesters.convert.readers.blocks import split_sheet
from harvesters.errors import RefusedFile
from tests.thai_ids import thai_id

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "messytables-horror"

NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)


def s(text, extra=""):
    return f'<table:table-cell office:value-type="string"{extra}><text:p>{text}</text:p></table:table-cell>'


def f(number, extra=""):
    return f'<table:table-cell office:value-type="float" office:value="{number}"{extra}><text:p>{number}</text:p></table:table-cell>'


def d(iso):
    return f'<table:table-cell office:value-type="date" office:date-value="{iso}"><text:p>x</text:p></table:table-cell>'


EMPTY = "<table:table-cell/>"
TAIL = '<table:table-cell table:number-columns-repeated="16370"/>'
BLANK_ROWS = '<table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>'


def row(*cells, repeat=None):
    attr = f' table:number-rows-repeated="{repeat}"' if repeat else ""
    return f"<table:table-row{attr}>{''.join(cells)}{TAIL}</table:table-row>"


def write_ods(path, sheets):
    body = "".join(f'<table:table table:name="{name}">{"".join(rows)}</table:table>' for name, rows in sheets.items())
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {NS}><office:body>'
               f"<office:spreadsheet>{body}</office:spreadsheet></office:body></office:document-content>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content)
    return path


TWO_TABLES = [
    row(s("ตารางที่ 1 ผู้ป่วย")),
    row(),
    row(s("จังหวัด"), s("จำนวน"), s("วันที่")),
    row(s("เชียงใหม่"), f(10), d("2024-02-29")),
    row(),  # a blank row inside the data: not a new table
    row(s("ลำพูน"), f(20), d("2024-03-01")),
    row(s("ที่มา: กรมควบคุมโรค")),
    row(),
    row(),
    row(s("ตารางที่ 2 อัตรา")),
    row(s("ภาค"), s("อัตรา")),
    row(s("เหนือ"), f(1.5)),
    row(s("ใต้"), f(2.5)),
    BLANK_ROWS,
]


def test_ods_two_tables_on_one_sheet(tmp_path):
    path = write_ods(tmp_path / "stats.ods", {"ข้อมูล": TWO_TABLES, "ว่าง": [BLANK_ROWS]})
    out = tmp_path / "out"
    report = convert_file(path, out)
    assert report.format == "ods" and report.stars_in == 3
    assert [t.name for t in report.tables] == ["ข้อมูล_t1", "ข้อมูล_t2"]
    assert [t.sheet for t in report.tables] == ["ข้อมูล t1", "ข้อมูล t2"]  # unique titles downstream
    first, second = (pq.read_table(t.parquet).to_pydict() for t in report.tables)
    assert first == {"จังหวัด": ["เชียงใหม่", "ลำพูน"], "จำนวน": [10, 20],
                     "วันที่": [dt.date(2024, 2, 29), dt.date(2024, 3, 1)]}
    assert second == {"ภาค": ["เหนือ", "ใต้"], "อัตรา": [1.5, 2.5]}
    # choose by caption (the title line above the header) or by sheet + index
    only = convert_file(path, tmp_path / "o2", options=ConvertOptions(tables=TableChoice(caption="อัตรา")))
    assert [c.name for c in only.tables[0].columns] == ["ภาค", "อัตรา"]
    only = convert_file(path, tmp_path / "o3", options=ConvertOptions(tables=TableChoice(sheet="ข้อมูล", index=0)))
    assert [c.name for c in only.tables[0].columns] == ["จังหวัด", "จำนวน", "วันที่"]


def test_ods_merged_cells_covered_cells_and_multiline_text(tmp_path):
    merged_header = (
        '<table:table-cell office:value-type="string" table:number-rows-spanned="2"><text:p>จังหวัด</text:p></table:table-cell>'
        '<table:table-cell office:value-type="string" table:number-columns-spanned="2"><text:p>จำนวน</text:p>'
        '<text:p>(คัน)</text:p></table:table-cell><table:covered-table-cell/>'
    )
    province = ('<table:table-cell office:value-type="string" table:number-rows-spanned="2"><text:p>เชียง<text:s text:c="2"/>'
                'ใหม่<office:annotation><text:p>comment</text:p></office:annotation></text:p></table:table-cell>')
    rows = [
        row(merged_header),
        row("<table:covered-table-cell/>", s("ปี 2565"), s("ปี 2566")),
        row(province, f(1), f(2)),
        row("<table:covered-table-cell/>", f(3), f(4)),
        row(s("ลำพูน"), f('5" table:number-columns-repeated="2')),
        BLANK_ROWS,
    ]
    path = write_ods(tmp_path / "merged.ods", {"S": rows})
    report = convert_file(path, tmp_path / "out")
    (table,) = report.tables
    assert [c.name for c in table.columns] == ["จังหวัด", "จำนวน (คัน) - ปี 2565", "จำนวน (คัน) - ปี 2566"]
    data = pq.read_table(table.parquet).to_pydict()
    assert data["จังหวัด"] == ["เชียง  ใหม่", "เชียง  ใหม่", "ลำพูน"]  # merged down; the comment is not text
    assert data["จำนวน (คัน) - ปี 2566"] == [2, 4, 5]  # a repeated cell is expanded


def test_ods_reader_keeps_multiline_cells():
    (sheet1, *_rest) = ods.read(FIXTURES / "multilineods.ods").grids
    assert sheet1.rows == [["1\n2\n3\n4"]]


def _shape(grids):
    """Sheet names and filled rows, trailing empty cells cut: the two readers
    may differ only in how many empty cells they store."""
    def cut(r):
        while r and r[-1] is None:
            r = r[:-1]
        return r

    return [(g.name, [cut(list(r)) for r in g.rows if any(v is not None for v in r)]) for g in grids]


@pytest.mark.parametrize("name", ["blank_line.ods", "simple.ods", "ods_formats.ods", "loffice-4.4.1.2.ods", "multilineods.ods"])
def test_ods_fast_and_full_readers_agree(name, monkeypatch):
    fast = _shape(ods.read(FIXTURES / name).grids)
    monkeypatch.setattr(ods, "_needs_full_parse", lambda zf: True)
    monkeypatch.setattr(ods, "_read_with_calamine", lambda path: pytest.fail("calamine used"))
    assert _shape(ods.read(FIXTURES / name).grids) == fast
    assert any(rows for _name, rows in fast)


def test_truncated_ods_is_corrupt(tmp_path):
    path = write_ods(tmp_path / "t.ods", {"S": TWO_TABLES})
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(RefusedFile) as info:
        convert_file(path, tmp_path / "out")
    assert info.value.reason == "corrupt"


def test_ods_thai_ids_are_pii(tmp_path):
    rows = [row(s("name"), s("cid"))] + [row(s(f"n{i}"), f(thai_id(f"3100{i:08d}"))) for i in range(3)]
    path = write_ods(tmp_path / "p.ods", {"S": rows})
    with pytest.raises(RefusedFile) as info:
        convert_file(path, tmp_path / "out")
    assert info.value.reason == "pii"


# --- XLS ------------------------------------------------------------------------------------


def test_xls_dates_merges_and_sheet_choice(tmp_path):
    result = xls.read(FIXTURES / "span_rich.xls")
    (grid,) = result.grids
    assert grid.merges == [Merge(1, 1, 2, 2)]
    simple = next(iter(xls.read(FIXTURES / "simple.xls").grids))
    assert simple.rows[1][0] == dt.date(2011, 1, 1)  # the 1904 date system
    report = convert_file(FIXTURES / "simple.xls", tmp_path / "out",
                          options=ConvertOptions(tables=TableChoice(sheet="simple.csv")))
    assert report.format == "xls" and report.stars_in == 2 and report.tables[0].rows_written == 6
    with pytest.raises(RefusedFile) as info:
        convert_file(FIXTURES / "simple.xls", tmp_path / "o2", options=ConvertOptions(tables=TableChoice(sheet="nope")))
    assert info.value.reason == "no table" and "no table matches sheet='nope'" in str(info.value)


def test_truncated_xls_is_corrupt(tmp_path):
    path = tmp_path / "cut.xls"
    path.write_bytes((FIXTURES / "simple.xls").read_bytes()[:3000])
    with pytest.raises(RefusedFile) as info:
        convert_file(path, tmp_path / "out")
    assert info.value.reason == "corrupt"
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_long_xls_sheets_stream_from_calamine_with_merges_across_blocks(tmp_path, monkeypatch):
    """A sheet longer than SPLIT_ROWS (made small here) streams in blocks; a
    used area that starts right of column A keeps its columns; a value merged
    down across a block boundary repeats on every row."""
    import xlwt  # bench/requirements.txt, installed by bin/setup
    monkeypatch.setattr(xls, "SPLIT_ROWS", 4)
    monkeypatch.setattr(xls, "BLOCK_ROWS", 3)
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("ยาว")
    for c, name in enumerate(["จังหวัด", "ปี", "จำนวน"], start=1):
        sheet.write(0, c, name)
    for r in range(1, 6):
        sheet.write(r, 1, f"จ{r}")
        sheet.write(r, 2, 2560 + r)
        sheet.write(r, 3, r)
    sheet.write_merge(6, 9, 1, 1, "ตรัง")
    for r in range(6, 10):
        sheet.write(r, 2, 2560 + r)
        sheet.write(r, 3, r)
    path = tmp_path / "long.xls"
    book.save(str(path))
    result = xls.read(path)
    (grid,) = result.grids
    assert grid.blocks is not None  # streams
    for close in result.cleanup:
        close()
    report = convert_file(path, tmp_path / "out")
    data = pq.read_table(report.tables[0].parquet).to_pydict()
    assert list(data) == ["จังหวัด", "ปี", "จำนวน"]
    assert data["จังหวัด"] == [f"จ{r}" for r in range(1, 6)] + ["ตรัง"] * 4
    assert data["จำนวน"] == list(range(1, 10))


def test_xlrd_reads_what_calamine_refuses_the_same_way(tmp_path, monkeypatch):
    """BIFF5 and older go to xlrd: its grids match calamine's on the same sheet."""
    import python_calamine

    by_calamine = [(g.rows, g.merges) for g in xls.read(FIXTURES / "span_rich.xls").grids]

    def refuse(path):
        raise python_calamine.CalamineError("unsupported BIFF version")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_path", refuse)
    by_xlrd = [(g.rows, g.merges) for g in xls.read(FIXTURES / "span_rich.xls").grids]
    trim = [([r[: max((i + 1 for i, v in enumerate(r) if v is not None), default=0)] for r in rows], m)
            for rows, m in by_xlrd]
    assert trim == by_calamine and by_calamine[0][1] == [Merge(1, 1, 2, 2)]


def test_encrypted_xls(tmp_path):
    with pytest.raises(RefusedFile) as info:
        xls.read(FIXTURES / "encrypted_no_password.xls")
    assert info.value.reason == "encrypted"


# --- several tables on one sheet ------------------------------------------------------------------


def test_xlsx_side_by_side_tables(tmp_path):
    path = tmp_path / "side.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws.append(["จังหวัด", "จำนวน", None, "ภาค", "อัตรา"])
    for i in range(5):
        ws.append([f"p{i}", i, None, f"r{i}" if i < 2 else None, 0.5 * i if i < 2 else None])
    wb.save(path)
    report = convert_file(path, tmp_path / "out")
    assert [(t.name, t.rows_written) for t in report.tables] == [("S_t1", 5), ("S_t2", 2)]


def grid(rows, merges=()):
    return RawGrid(rows=[list(r) for r in rows], name="S", merges=list(merges))


def test_split_keeps_one_table_with_blank_rows_titles_and_notes():
    rows = [
        ["Title", None, None], [None, None, None],
        ["a", "b", "c"], ["x", 1, 2], [None, None, None], ["y", 3, 4],
        [None, None, None], ["Source: somewhere", None, None], ["Note: more", None, None],
    ]
    assert len(split_sheet(grid(rows))) == 1


def test_split_does_not_cut_before_text_rows_or_at_a_spacer_column():
    rows = [["a", "b"], ["x", 1], [None, None], ["y", "-"], ["z", 2]]  # "y, -" is data, not a header
    assert len(split_sheet(grid(rows))) == 1
    rows = [["a", None, "b"], ["x", None, 1], ["y", None, 2]]  # one spacer column, same rows
    assert len(split_sheet(grid(rows))) == 1


def test_split_stacked_tables_carries_titles_and_merges():
    rows = [
        ["T1", None], ["a", "b"], ["x", 1], ["y", 2], [None, None],
        ["T2", None], ["c", "d"], ["u", 3], ["v", 4],
    ]
    parts = split_sheet(grid(rows, [Merge(5, 0, 5, 1)]))
    assert [p.name for p in parts] == ["S t1", "S t2"]
    assert parts[1].rows[0] == ["T2", None] and parts[1].merges == [Merge(0, 0, 0, 1)]
    assert sum(len(p.rows) for p in parts) == len(rows)


def test_long_ods_sheets_stream_in_blocks_with_merges_past_the_first_block(tmp_path, monkeypatch):
    """A sheet longer than SPLIT_ROWS streams block by block (made small here);
    a province merged down across a block boundary repeats on every row."""
    monkeypatch.setattr(ods, "SPLIT_ROWS", 4)
    monkeypatch.setattr(ods, "BLOCK_ROWS", 3)
    monkeypatch.setattr(ods, "_read_with_calamine", lambda path: pytest.fail("calamine used"))
    merged = '<table:table-cell office:value-type="string" table:number-rows-spanned="4"><text:p>ตรัง</text:p></table:table-cell>'
    covered = "<table:covered-table-cell/>"
    long_sheet = [row(s("จังหวัด"), s("ปี"), s("จำนวน"))]
    long_sheet += [row(s(f"จ{i}"), f(2560 + i), f(i)) for i in range(5)]
    long_sheet += [row(merged, f(2570), f(10))] + [row(covered, f(2571 + i), f(11 + i)) for i in range(3)]
    short_sheet = [row(s("a"), s("b")), row(f(1), f(2))]
    path = write_ods(tmp_path / "long.ods", {"ยาว": long_sheet, "สั้น": short_sheet})
    result = ods.read(path)
    assert next(result.grids).blocks is not None  # streams
    for close in result.cleanup:
        close()
    report = convert_file(path, tmp_path / "out")
    assert [t.sheet for t in report.tables] == ["ยาว", "สั้น"]
    data = pq.read_table(report.tables[0].parquet).to_pydict()
    assert data["จังหวัด"][5:] == ["ตรัง"] * 4
    assert data["จำนวน"] == [0, 1, 2, 3, 4, 10, 11, 12, 13]
    assert report.tables[1].rows_written == 1
