"""sniff.py: the bytes decide the kind, not the extension."""

import io
import zipfile

import openpyxl
import pytest

from harvesters.convert.sniff import sniff


@pytest.mark.parametrize("name, content, kind", [
    ("x.unknown", b"", "empty"),
    ("data.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "png"),  # a PNG named .csv
    ("data.xlsx", b"%PDF-1.7\n...", "pdf"),
], ids=["empty", "png_named_csv", "pdf_named_xlsx"])
def test_bytes_not_names_decide(tmp_path, name, content, kind):
    p = tmp_path / name
    p.write_bytes(content)
    assert sniff(p).kind == kind


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


def test_markup_and_json_by_content(tmp_path):
    cases = {
        b'<?xml version="1.0"?><rows><r>1</r></rows>': "xml",
        b"<rows><r>1</r><r>2</r></rows>": "xml",  # no declaration
        b"<!DOCTYPE r [<!ENTITY x 'y'>]><r>&x;</r>": "xml",  # a DTD always goes to the XML reader
        b"<!-- export --><rows/>": "xml",
        b'<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "x"><html><body></body></html>': "html",
        b"<!DOCTYPE html><html><body><p>hi</p></body></html>": "html",
        b"<div><table><tr><td>1</td></tr></table></div>": "html",
        b'[{"a": 1}]': "json",
        b'{"result": {"records": []}}': "json",
        b"[id],[name]\n1,a\n": "text",  # a CSV header in brackets is not JSON
    }
    for i, (data, kind) in enumerate(cases.items()):
        p = tmp_path / f"f{i}.txt"
        p.write_bytes(data)
        assert sniff(p).kind == kind, data


def test_office_documents_that_are_not_spreadsheets(tmp_path):
    p = tmp_path / "letter.xlsx"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    assert sniff(p).kind == "document"
    p = tmp_path / "text.ods"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        zf.writestr("content.xml", "<x/>")
    assert sniff(p).kind == "document"
