"""HTML tables: charset, spans, layout/navigation tables, invisible text, choosing a table."""

import pyarrow.parquet as pq
import pytest

from harvesters.convert import convert_file
from harvesters.convert.options import ConvertOptions, TableChoice
from harvesters.convert.readers import select
from harvesters.errors import RefusedFile
from tests.thai_ids import thai_id

PAGE = """<html><head><meta charset="{charset}">
<style>.sr-only {{ display: none }} .x, #gone {{visibility:hidden}}</style>
<title>สถิติ</title></head><body>
<table class="layout" width="100%"><tr>
 <td><table role="presentation"><tr><td><a href="/">หน้าแรก</a></td><td><a href="/news">ข่าว</a></td></tr></table></td>
 <td><table><tr><td><a href="/a">เกี่ยวกับ</a></td></tr><tr><td><a href="/b">ติดต่อ</a></td></tr></table></td>
</tr></table>
<nav><table><tr><th>เมนู</th><th>ลิงก์</th></tr><tr><td>1</td><td>2</td></tr></table></nav>
<table class="links"><tr><td><a href="/1">ปี 2565</a></td><td><a href="/2">ปี 2566</a></td></tr>
 <tr><td><a href="/3">ปี 2567</a></td><td><a href="/4">ปี 2568</a></td></tr></table>
<h2>ผู้ป่วยรายจังหวัด</h2>
<table id="cases" class="data main">
 <caption>ตารางที่ 1 “ผู้ป่วย” – รายจังหวัด</caption>
 <thead><tr><th rowspan="2">จังหวัด</th><th colspan="2">จำนวน (ราย)</th></tr>
 <tr><th>ปี 2565</th><th>ปี 2566</th></tr></thead>
 <tbody>
 <tr><td>เชียงใหม่<span class="sr-only">ซ่อน</span></td><td>1,200</td><td>1,300</td></tr>
 <tr><td>ลำพูน <span style="display:none">hidden</span></td><td>๕๐</td><td hidden>x</td></tr>
 <tr><td>ตรัง<span class="x">ซ่อน</span></td><td>-</td><td>7</td></tr>
 </tbody>
 <tfoot><tr><td>ที่มา: กรมควบคุมโรค</td></tr></tfoot>
</table>
<h3>อัตราต่อประชากร</h3>
<table id="rates"><tr><th>ภาค</th><th>อัตรา</th><th>วันที่</th></tr>
 <tr><td>เหนือ</td><td>1.5</td><td>31 ธ.ค. 2566</td></tr>
 <tr><td>ใต้</td><td>2.25</td><td>29/02/2567</td></tr></table>
<table><tr><th colspan="2">สัญลักษณ์</th></tr><tr><td>-</td><td>ไม่มีข้อมูล</td></tr><tr><td>..</td><td>ไม่ทราบ</td></tr></table>
</body></html>"""


def write_page(tmp_path, charset="utf-8", encoding="utf-8", name="page.html"):
    path = tmp_path / name
    path.write_bytes(PAGE.format(charset=charset).encode(encoding))
    return path


def refused(path, out, reason, **kwargs):
    with pytest.raises(RefusedFile) as info:
        convert_file(path, out, source="src", **kwargs)
    assert info.value.reason == reason, str(info.value)
    assert "\n" not in str(info.value)
    assert not out.exists() or not list(out.iterdir())
    return info.value


def check_cases(table):
    assert [c.name for c in table.columns] == ["จังหวัด", "จำนวน (ราย) - ปี 2565", "จำนวน (ราย) - ปี 2566"]
    data = pq.read_table(table.parquet).to_pydict()
    assert data["จังหวัด"] == ["เชียงใหม่", "ลำพูน", "ตรัง"]  # invisible text is gone
    assert data["จำนวน (ราย) - ปี 2565"] == [1200, 50, None]
    assert data["จำนวน (ราย) - ปี 2566"] == [1300, None, 7]
    assert {d.reason: d.count for d in table.rows_dropped} == {"footer": 1}


def test_layout_nav_and_legend_tables_are_skipped(tmp_path):
    report = convert_file(write_page(tmp_path), tmp_path / "out")
    assert report.format == "html" and report.encoding == "utf-8" and report.stars_in == 3
    assert [t.name for t in report.tables] == ["t1", "t2"]
    check_cases(report.tables[0])
    rates = pq.read_table(report.tables[1].parquet)
    assert str(rates.schema.field("วันที่").type) == "date32[day]"
    assert rates.column("อัตรา").to_pylist() == [1.5, 2.25]


@pytest.mark.parametrize("charset", ["windows-874", "tis-620", "TIS-620", "x-windows-874"])
def test_meta_charset_windows_874(tmp_path, charset):
    report = convert_file(write_page(tmp_path, charset=charset, encoding="cp874"), tmp_path / "out")
    assert report.encoding == "cp874"
    check_cases(report.tables[0])
    caption_csv = open(report.tables[0].csv, encoding="utf-8").read()
    assert "\ufffd" not in caption_csv


def test_http_equiv_charset(tmp_path):
    page = PAGE.replace('<meta charset="{charset}">', '<meta http-equiv="Content-Type" content="text/html; charset=windows-874">')
    path = tmp_path / "page.xls"  # an "Excel export" that is really HTML
    path.write_bytes(page.format().encode("cp874"))
    report = convert_file(path, tmp_path / "out")
    assert report.format == "html" and report.encoding == "cp874"
    check_cases(report.tables[0])


def test_wrong_declared_charset_falls_back_to_detection(tmp_path):
    report = convert_file(write_page(tmp_path, charset="utf-8", encoding="cp874"), tmp_path / "out")
    assert report.encoding == "cp874"
    check_cases(report.tables[0])


@pytest.mark.parametrize(
    "choice, name",
    [
        (TableChoice(index=1), "อัตรา"),
        (TableChoice(caption="ผู้ป่วย"), "จังหวัด"),
        (TableChoice(caption="อัตราต่อประชากร"), "อัตรา"),  # the heading above the table
        (TableChoice(css="#rates"), "อัตรา"),
        (TableChoice(css="table.data.main"), "จังหวัด"),
        (TableChoice(css="body > table[id=cases]"), "จังหวัด"),
    ],
)
def test_choose_a_table(tmp_path, choice, name):
    report = convert_file(write_page(tmp_path), tmp_path / "out", options=ConvertOptions(tables=choice))
    (table,) = report.tables
    assert name in [c.name for c in table.columns]
    assert table.name == "page"


def test_css_fallback_without_cssselect(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cssselect(name, *args, **kwargs):
        if name == "lxml.cssselect":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cssselect)
    options = ConvertOptions(tables=TableChoice(css="body table#rates"))
    report = convert_file(write_page(tmp_path), tmp_path / "out", options=options)
    assert "อัตรา" in [c.name for c in report.tables[0].columns]
    options = ConvertOptions(tables=TableChoice(css="h3 ~ table"))  # outside the built-in subset
    err = refused(write_page(tmp_path), tmp_path / "out2", "no table", options=options)
    assert "cssselect" in str(err)


def test_css_to_xpath_subset():
    from lxml import html

    doc = html.fromstring("<div><table id='a' class='x y'></table><section><table class='y'></table></section></div>")
    tables = doc.findall(".//table")
    assert doc.xpath(select.css_to_xpath("table.y")) == tables
    assert doc.xpath(select.css_to_xpath("#a")) == tables[:1]
    assert doc.xpath(select.css_to_xpath("div > table")) == tables[:1]
    assert doc.xpath(select.css_to_xpath("section table, #a")) == tables
    with pytest.raises(RefusedFile):
        select.css_to_xpath("table:nth-of-type(2)")


@pytest.mark.parametrize(
    "choice", [TableChoice(index=5), TableChoice(caption="ไม่มี"), TableChoice(css="#nope"), TableChoice(sheet="Sheet1")]
)
def test_choice_matching_nothing_is_no_table(tmp_path, choice):
    err = refused(write_page(tmp_path), tmp_path / "out", "no table", options=ConvertOptions(tables=choice))
    assert "no table matches" in str(err)


def test_page_without_data_table_is_no_table(tmp_path):
    path = tmp_path / "nav.html"
    path.write_text(
        "<html><body><table><tr><td><a href='/a'>A</a></td><td><a href='/b'>B</a></td></tr>"
        "<tr><td><a href='/c'>C</a></td><td><a href='/d'>D</a></td></tr></table>"
        "<table><tr><td>only one row</td><td>of cells</td></tr></table><p>text</p></body></html>",
        encoding="utf-8",
    )
    refused(path, tmp_path / "out", "no table")


@pytest.mark.parametrize("span", ["0", "-3", "foo", "", "99999999", "1e9", "2.5"])
@pytest.mark.parametrize("attr", ["colspan", "rowspan"])
def test_bad_or_huge_spans_neither_crash_nor_explode(tmp_path, span, attr):
    rows = "".join(f"<tr><td>r{i}</td><td {attr}='{span}'>{i}</td><td>{i * 2}</td></tr>" for i in range(30))
    path = tmp_path / "spans.html"
    path.write_text(f"<table><tr><th>a</th><th>b</th><th>c</th></tr>{rows}</table>", encoding="utf-8")
    report = convert_file(path, tmp_path / "out")
    (table,) = report.tables
    assert table.rows_written >= 1
    assert len(table.columns) <= 60
    if span in ("0", "-3", "foo", ""):  # not a positive integer: a span of 1
        assert [c.name for c in table.columns] == ["a", "b", "c"] and table.rows_written == 30


def test_huge_colspan_and_rowspan_together_stay_bounded(tmp_path):
    rows = "".join(f"<tr><td>r{i}</td><td colspan='9999' rowspan='9999'>{i}</td></tr>" for i in range(200))
    path = tmp_path / "stairs.html"
    path.write_text(f"<table><tr><th>a</th><th>b</th></tr>{rows}</table>", encoding="utf-8")
    try:
        convert_file(path, tmp_path / "out")
    except RefusedFile as exc:
        assert exc.reason in ("size", "no table")


def test_thai_ids_in_html_are_pii(tmp_path):
    ids = [thai_id(f"5100{n:08d}") for n in range(3)]
    dashed = [f"{v[0]}-{v[1:5]}-{v[5:10]}-{v[10:12]}-{v[12]}" for v in ids]
    body = "".join(f"<tr><td>n{i}</td><td>{v}</td></tr>" for i, v in enumerate(dashed))
    path = tmp_path / "people.html"
    path.write_text(f"<table><tr><th>ชื่อ</th><th>เลขประจำตัว</th></tr>{body}</table>", encoding="utf-8")
    err = refused(path, tmp_path / "out", "pii")
    assert not any(v in str(err) for v in dashed + ids)


NESTED = """<html><body><div class="report">
<table id="outer"><tr><th>ภาค</th><th>สรุป</th></tr>
 <tr><td>เหนือ</td><td>ดูตาราง<table id="inner" class="detail"><tr><th>จังหวัด</th><th>ราย</th></tr>
   <tr><td>เชียงใหม่</td><td>10</td></tr><tr><td>ลำพูน</td><td>20</td></tr></table>ด้านล่าง</td></tr>
 <tr><td>ใต้</td><td>5</td></tr>
 <tr><td>กลาง</td><td>7</td></tr></table></div></body></html>"""


def test_a_nested_table_is_a_table_of_its_own(tmp_path):
    path = tmp_path / "nested.html"
    path.write_text(NESTED, encoding="utf-8")
    report = convert_file(path, tmp_path / "out")
    outer, inner = report.tables
    assert [c.name for c in outer.columns] == ["ภาค", "สรุป"]
    assert pq.read_table(outer.parquet).column("สรุป").to_pylist() == ["ดูตารางด้านล่าง", "5", "7"]
    assert [c.name for c in inner.columns] == ["จังหวัด", "ราย"]
    assert pq.read_table(inner.parquet).column("ราย").to_pylist() == [10, 20]


@pytest.mark.parametrize("css, name", [("#inner", "ราย"), ("table table", "ราย"), ("td > table.detail", "ราย"),
                                       ("div.report > table", "สรุป"), ("body table#outer", "สรุป")])
def test_choose_a_nested_or_outer_table_by_css(tmp_path, css, name):
    path = tmp_path / "nested.html"
    path.write_text(NESTED, encoding="utf-8")
    report = convert_file(path, tmp_path / "out", options=ConvertOptions(tables=TableChoice(css=css)))
    (table,) = report.tables
    assert name in [c.name for c in table.columns]


def test_a_hiding_rule_below_the_table_still_hides(tmp_path):
    path = tmp_path / "late.html"
    path.write_text("<table><tr><th>ชื่อ</th><th>ราย</th></tr><tr><td>ก<span class='sr'>ซ่อน</span>ข</td><td>1</td></tr>"
                    "<tr><td>ค<b id='gone'>ซ่อน</b></td><td>2</td></tr></table><style>.sr, #gone { display:none }</style>",
                    encoding="utf-8")
    (table,) = convert_file(path, tmp_path / "out").tables
    assert pq.read_table(table.parquet).column("ชื่อ").to_pylist() == ["กข", "ค"]


def test_thead_body_tfoot_in_reading_order_whatever_the_markup_order(tmp_path):
    path = tmp_path / "order.html"
    path.write_text("<table><tfoot><tr><td>ที่มา: กรมอนามัย</td></tr></tfoot>"
                    "<tbody><tr><td rowspan='2'>เหนือ</td><td>1</td></tr><tr><td>2</td></tr><tr><td>ใต้</td><td>3</td></tr></tbody>"
                    "<thead><tr><th>ภาค</th><th>ราย</th></tr></thead></table>", encoding="utf-8")
    (table,) = convert_file(path, tmp_path / "out").tables
    assert [c.name for c in table.columns] == ["ภาค", "ราย"]
    data = pq.read_table(table.parquet).to_pydict()
    assert data == {"ภาค": ["เหนือ", "เหนือ", "ใต้"], "ราย": [1, 2, 3]}
    assert {d.reason: d.count for d in table.rows_dropped} == {"footer": 1}
