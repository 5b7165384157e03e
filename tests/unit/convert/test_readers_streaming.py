"""Every reader hands its rows over as they are read, and the same limits
(``ConvertOptions.limits``) trip while they stream: the file is refused with
``size`` and the limit's name before the rest of it is read, nothing written."""

import json
import zipfile

import openpyxl
import pyarrow.parquet as pq
import pytest

from harvesters.convert import convert_file
from harvesters.convert import decode
from harvesters.convert.readers import html, jsondoc, ods, xls, xlsx, xmldoc
from tests.unit.convert.test_convert_limits import refused_over, scratch  # noqa: F401  (a fixture)


def no_whole_read(monkeypatch, module):
    monkeypatch.setattr(module, "_read_whole", lambda *a, **k: pytest.fail("the document was read whole"))


# --- XLSX -----------------------------------------------------------------------------------------


def long_xlsx(path, rows, columns=3):
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("ยาว")
    ws.append([f"h{c}" for c in range(columns)])
    for r in range(rows):
        ws.append([r * columns + c for c in range(columns)])
    wb.save(path)
    return path


@pytest.fixture
def short_split(monkeypatch):
    """Sheets longer than 5 rows stream (the real threshold is 20,000)."""
    for module in (xlsx, xls, ods):
        monkeypatch.setattr(module, "SPLIT_ROWS", 5)
    monkeypatch.setattr(xlsx, "BLOCK_CELLS", 30)
    monkeypatch.setattr(xls, "BLOCK_ROWS", 10)
    monkeypatch.setattr(ods, "BLOCK_ROWS", 10)


def test_xlsx_rows_limit_trips_while_the_sheet_streams(tmp_path, scratch, short_split, monkeypatch):
    path = long_xlsx(tmp_path / "long.xlsx", 200)
    read = []
    real = xlsx._blocks
    monkeypatch.setattr(xlsx, "_blocks", lambda rows: (read.append(len(b)) or b for b in real(rows)))
    refused_over(path, tmp_path / "out", "max_rows", scratch, max_rows=50)
    assert read and sum(read) < 100  # refused after a few blocks, not after the whole sheet


def test_xlsx_columns_limit_trips_while_the_sheet_streams(tmp_path, scratch, short_split):
    refused_over(long_xlsx(tmp_path / "wide.xlsx", 20, columns=12), tmp_path / "out", "max_columns", scratch,
                 max_columns=10)


# --- XLS ------------------------------------------------------------------------------------------


def long_xls(path, rows, columns=3):
    import xlwt  # bench/requirements.txt, installed by bin/setup

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("ยาว")
    for c in range(columns):
        sheet.write(0, c, f"h{c}")
    for r in range(rows):
        for c in range(columns):
            sheet.write(r + 1, c, r * columns + c)
    book.save(str(path))
    return path


def test_xls_rows_limit_trips_while_the_sheet_streams(tmp_path, scratch, short_split, monkeypatch):
    path = long_xls(tmp_path / "long.xls", 200)
    read = []
    real = xls.row_blocks
    monkeypatch.setattr(xls, "row_blocks", lambda rows, size: (read.append(len(b)) or b for b in real(rows, size)))
    refused_over(path, tmp_path / "out", "max_rows", scratch, max_rows=50)
    assert read and sum(read) < 100


def test_xls_cells_limit_trips_while_the_sheet_streams(tmp_path, scratch, short_split):
    refused_over(long_xls(tmp_path / "long.xls", 40, columns=4), tmp_path / "out", "max_cells", scratch,
                 max_cells=100)


# --- ODS ------------------------------------------------------------------------------------------


def test_ods_rows_limit_trips_while_the_sheet_streams(tmp_path, scratch, short_split):
    from tests.unit.convert.test_convert_spreadsheets import f, row, s, write_ods

    rows = [row(s("a"), s("b"))] + [row(f(i), f(i * 2)) for i in range(60)]
    path = write_ods(tmp_path / "long.ods", {"ยาว": rows})
    refused_over(path, tmp_path / "out", "max_rows", scratch, max_rows=20)


# --- JSON -----------------------------------------------------------------------------------------


def records_json(path, count, keys=2):
    path.write_text(json.dumps([{f"k{k}": i * keys + k for k in range(keys)} for i in range(count)]), encoding="utf-8")
    return path


def test_json_streams_its_records_in_blocks(tmp_path, monkeypatch):
    no_whole_read(monkeypatch, jsondoc)
    monkeypatch.setattr(jsondoc, "BLOCK_ROWS", 7)
    path = tmp_path / "api.json"
    doc = {"meta": {"count": 20}, "result": {"records": [{"id": i, "place": {"province": f"จ{i}"}, "tags": [i]}
                                                        for i in range(20)]}}
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc, ensure_ascii=False).encode("utf-8"))
    from harvesters.convert.options import ConvertOptions

    result = jsondoc.read(path, options=ConvertOptions(records_path="result.records"))
    (grid,) = result.grids
    blocks = list(grid.iter_blocks(0))
    assert [len(b) for b in blocks] == [7, 7, 7]  # the header and 20 records
    assert blocks[0][0] == ["id", "place.province", "tags"] and blocks[0][1] == [0, "จ0", "[0]"]
    report = convert_file(path, tmp_path / "out", options=ConvertOptions(records_path="result.records"))
    assert report.encoding == "utf-8-sig" and report.tables[0].rows_written == 20


def test_json_rows_limit_trips_while_streaming(tmp_path, scratch, monkeypatch):
    no_whole_read(monkeypatch, jsondoc)
    refused_over(records_json(tmp_path / "many.json", 100), tmp_path / "out", "max_rows", scratch, max_rows=50)


def test_json_columns_limit_trips_while_streaming(tmp_path, scratch, monkeypatch):
    no_whole_read(monkeypatch, jsondoc)
    refused_over(records_json(tmp_path / "wide.json", 3, keys=12), tmp_path / "out", "max_columns", scratch,
                 max_columns=10)


def test_json_cells_limit_trips_in_the_engine(tmp_path, scratch, monkeypatch):
    no_whole_read(monkeypatch, jsondoc)
    refused_over(records_json(tmp_path / "cells.json", 60, keys=4), tmp_path / "out", "max_cells", scratch,
                 max_cells=100)


def test_json_invalid_utf8_json_is_refused_without_a_whole_read(tmp_path, monkeypatch):
    from harvesters.errors import RefusedFile

    no_whole_read(monkeypatch, jsondoc)
    path = tmp_path / "cut.json"
    path.write_text('[{"a": 1}, {"a": 2', encoding="utf-8")
    with pytest.raises(RefusedFile) as info:
        convert_file(path, tmp_path / "out")
    assert info.value.reason == "no table" and "not valid JSON" in str(info.value)


def test_json_in_cp874_is_decoded_by_the_rules(tmp_path):
    path = tmp_path / "thai.json"
    path.write_bytes('[{"ชื่อ": "“ทดสอบ”", "n": 1}, {"ชื่อ": "ข", "n": 2}]'.encode("cp874"))
    report = convert_file(path, tmp_path / "out")
    assert report.encoding == "cp874"
    assert pq.read_table(report.tables[0].parquet).to_pydict()["ชื่อ"] == ["“ทดสอบ”", "ข"]


def test_json_c1_controls_in_utf8_text_are_repaired_while_streaming(tmp_path, monkeypatch):
    no_whole_read(monkeypatch, jsondoc)
    path = tmp_path / "c1.json"
    path.write_text(json.dumps([{"name": "\u0093ทดสอบ\u0094 ตรัง", "n": 1}, {"name": "ข", "n": 2}]), encoding="utf-8")
    report = convert_file(path, tmp_path / "out")
    assert pq.read_table(report.tables[0].parquet).to_pydict()["name"] == ["“ทดสอบ” ตรัง", "ข"]
    assert any("C1" in w for w in report.warnings)


# --- XML ------------------------------------------------------------------------------------------


def records_xml(path, count, fields=2, wrapper=True):
    rows = "".join("<row>" + "".join(f"<f{k}>{i * fields + k}</f{k}>" for k in range(fields)) + "</row>"
                   for i in range(count))
    body = f"<data>{rows}</data>" if wrapper else rows
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?><export><!-- note -->{body}</export>', encoding="utf-8")
    return path


def test_xml_streams_its_records_in_blocks(tmp_path, monkeypatch):
    no_whole_read(monkeypatch, xmldoc)
    monkeypatch.setattr(xmldoc, "BLOCK_ROWS", 7)
    (grid,) = xmldoc.read(records_xml(tmp_path / "r.xml", 20)).grids
    blocks = list(grid.iter_blocks(0))
    assert [len(b) for b in blocks] == [7, 7, 7]
    assert blocks[0][:2] == [["f0", "f1"], ["0", "1"]]


def test_xml_rows_limit_trips_while_streaming(tmp_path, scratch, monkeypatch):
    no_whole_read(monkeypatch, xmldoc)
    refused_over(records_xml(tmp_path / "many.xml", 100), tmp_path / "out", "max_rows", scratch, max_rows=50)


def test_xml_columns_limit_trips_while_streaming(tmp_path, scratch, monkeypatch):
    no_whole_read(monkeypatch, xmldoc)
    refused_over(records_xml(tmp_path / "wide.xml", 3, fields=12, wrapper=False), tmp_path / "out", "max_columns",
                 scratch, max_columns=10)


# --- HTML -----------------------------------------------------------------------------------------


@pytest.fixture
def small_html_chunks(monkeypatch):
    """The page is parsed 256 bytes at a time and rows are handed over 4 at a time."""
    monkeypatch.setattr(decode, "CHUNK_BYTES", 256)
    monkeypatch.setattr(html, "BLOCK_ROWS", 4)


def parsed_bytes(monkeypatch):
    """Bytes of the page fed to the parser so far (by every pass together)."""
    fed = [0]
    real = decode.HtmlText.utf8_chunks

    def chunks(self):
        for chunk in real(self):
            fed[0] += len(chunk)
            yield chunk

    monkeypatch.setattr(decode.HtmlText, "utf8_chunks", chunks)
    return fed


def test_html_rows_stream_in_blocks_and_a_rowspan_carries_across_a_block(tmp_path, small_html_chunks, monkeypatch):
    rows = []
    for i in range(30):
        if i == 3:  # rows 3-5 share one name: the span starts in one block and ends in the next
            rows.append(f"<tr><td rowspan='3'>เชียงใหม่</td><td>{i}</td><td>{i * 2}</td></tr>")
        elif i in (4, 5):
            rows.append(f"<tr><td>{i}</td><td>{i * 2}</td></tr>")
        else:
            rows.append(f"<tr><td>จังหวัด{i}</td><td>{i}</td><td>{i * 2}</td></tr>")
    path = tmp_path / "page.html"
    path.write_text("<html><body><table><thead><tr><th rowspan='2'>จังหวัด</th><th colspan='2'>จำนวน</th></tr>"
                    "<tr><th>ชาย</th><th>หญิง</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></body></html>",
                    encoding="utf-8")
    sizes = []
    real = html._Page.blocks
    monkeypatch.setattr(html._Page, "blocks", lambda self, table, grid: (
        sizes.append(len(b)) or b for b in real(self, table, grid)))
    report = convert_file(path, tmp_path / "out")
    (table,) = report.tables
    assert sizes[0] == 4 and sum(sizes) == 32 and max(sizes) <= 4  # 2 header rows + 30 rows, 4 at a time
    assert [c.name for c in table.columns] == ["จังหวัด", "จำนวน - ชาย", "จำนวน - หญิง"]
    data = pq.read_table(table.parquet).to_pydict()
    assert data["จังหวัด"][2:7] == ["จังหวัด2", "เชียงใหม่", "เชียงใหม่", "เชียงใหม่", "จังหวัด6"]
    assert data["จำนวน - ชาย"][3:6] == [3, 4, 5] and data["จำนวน - หญิง"][3:6] == [6, 8, 10]
    assert table.rows_written == 30


def test_html_rows_limit_trips_while_the_page_streams(tmp_path, scratch, small_html_chunks, monkeypatch):
    rows = "".join(f"<tr><td>{i}</td><td>{i * 2}</td></tr>" for i in range(3000))
    path = tmp_path / "page.html"
    path.write_text(f"<html><body><table><tr><th>a</th><th>b</th></tr>{rows}</table><p>end</p></body></html>",
                    encoding="utf-8")
    fed = parsed_bytes(monkeypatch)
    refused_over(path, tmp_path / "out", "max_rows", scratch, max_rows=50)
    assert 0 < fed[0] < path.stat().st_size / 4  # refused near the top of the page, not at its end


def test_html_cells_and_merged_ranges_limits_apply(tmp_path, scratch):
    rows = "".join(f"<tr><td>{i}</td><td>{i * 2}</td><td>x</td></tr>" for i in range(40))
    path = tmp_path / "page.html"
    path.write_text(f"<table><tr><th>a</th><th>b</th><th>c</th></tr>{rows}</table>", encoding="utf-8")
    refused_over(path, tmp_path / "out", "max_cells", scratch, max_cells=100)
    spans = "".join(f"<tr><td rowspan='2'>{i}</td><td>{i}</td></tr><tr><td>{i}</td></tr>" for i in range(10))
    path.write_text(f"<table><tr><th>a</th><th>b</th></tr>{spans}</table>", encoding="utf-8")
    refused_over(path, tmp_path / "out", "max_merged_ranges", scratch, max_merged_ranges=5)


# --- ZIP members go through the same readers --------------------------------------------------


def test_a_member_of_an_archive_trips_the_same_limit(tmp_path, scratch, monkeypatch):
    no_whole_read(monkeypatch, jsondoc)
    member = records_json(tmp_path / "many.json", 100)
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(member, "data/many.json")
    refused_over(path, tmp_path / "out", "max_rows", scratch, max_rows=50)
