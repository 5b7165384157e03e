"""sniff.py: the bytes decide the kind, not the extension."""

import io
import zipfile

import openpyxl

from harvesters.convert.sniff import sniff


def test_empty(tmp_path):
    p = tmp_path / "x.unknown"
    p.write_bytes(b"")
    assert sniff(p).kind == "empty"


def test_png_named_csv(tmp_path):
    p = tmp_path / "data.csv"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert sniff(p).kind == "png"


def test_pdf(tmp_path):
    p = tmp_path / "data.xlsx"
    p.write_bytes(b"%PDF-1.7\n...")
    assert sniff(p).kind == "pdf"


def test_xlsx_by_content_even_when_named_xls(tmp_path):
    p = tmp_path / "report.xls"
    wb = openpyxl.Workbook()
    wb.active.append(["a", "b"])
    wb.save(p)
    assert sniff(p).kind == "xlsx"


def test_plain_zip(tmp_path):
    p = tmp_path / "bundle.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("a.csv", "a,b\n1,2\n")
    assert sniff(p).kind == "zip"


def test_broken_zip_is_a_problem(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("xl/workbook.xml", "x" * 5000)
    p = tmp_path / "broken.xlsx"
    p.write_bytes(buf.getvalue()[:200])
    assert sniff(p).problem


def test_html_saved_as_xls(tmp_path):
    p = tmp_path / "export.xls"
    p.write_bytes(b"\r\n  <html><body><table><tr><td>1</td></tr></table></body></html>")
    assert sniff(p).kind == "html"


def test_text_and_utf16_text(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes("a,b\n1,2\n".encode("utf-16"))
    assert sniff(p).kind == "text"
    p.write_bytes("a,b\n1,2\n".encode("utf-16-le"))
    assert sniff(p).kind == "text"
    p.write_bytes("ชื่อ,จำนวน\n".encode("cp874"))
    assert sniff(p).kind == "text"


def test_binary_noise(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(bytes(range(256)) * 4)
    assert sniff(p).kind == "binary"
