"""The XLSX reader's own XML handling: sheet and shared-strings parts written by
hand, the way other producers than openpyxl write them (prefixed names, rich
text, phonetic runs, _xHHHH_ escapes, rows and cells without references)."""

import datetime as dt
import zipfile

import openpyxl
import pytest

from harvesters.convert import convert_file
from harvesters.convert.readers import xlsx
from harvesters.errors import RefusedFile

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"


def book_with(tmp_path, sheet_xml: str, strings_xml: str | None = None, name="book.xlsx"):
    """An openpyxl workbook (the package and styles) whose sheet is replaced by
    the given XML, with the given shared strings part added."""
    base = tmp_path / "base.xlsx"
    wb = openpyxl.Workbook()
    wb.active["B1"] = dt.date(2024, 2, 29)  # a date style, index 1 in the cell formats
    wb.save(base)
    path = tmp_path / name
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml.encode("utf-8")
            elif info.filename == "[Content_Types].xml" and strings_xml is not None:
                override = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{STRINGS_TYPE}"/>'
                data = data.replace(b"</Types>", override.encode() + b"</Types>")
            out.writestr(info.filename, data)
        if strings_xml is not None:
            out.writestr("xl/sharedStrings.xml", strings_xml.encode("utf-8"))
    return path


def rows_of(path):
    result = xlsx.read(path)
    try:
        return [row for grid in result.grids for row in grid.rows]
    finally:
        for close in result.cleanup:
            close()


def test_prefixed_names_rich_text_phonetic_runs_and_escapes(tmp_path):
    strings = (
        f'<x:sst xmlns:x="{MAIN}" count="3" uniqueCount="3">'
        "<x:si><x:t>จังหวัด</x:t></x:si>"
        '<x:si><x:r><x:rPr><x:b/></x:rPr><x:t xml:space="preserve">ปริมาณ </x:t></x:r><x:r><x:t>ฝน</x:t></x:r>'
        "<x:rPh sb=\"0\" eb=\"1\"><x:t>ふりがな</x:t></x:rPh></x:si>"
        "<x:si><x:t>บรรทัด_x000D_ใหม่ และ _x005F_x0041_</x:t></x:si>"
        "</x:sst>"
    )
    sheet = (
        f'<x:worksheet xmlns:x="{MAIN}"><x:sheetData>'
        '<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>1</x:v></x:c></x:row>'
        '<x:row r="3"><x:c r="A3" t="inlineStr"><x:is><x:t>ตรัง</x:t></x:is></x:c>'
        '<x:c r="C3"><x:f>1+1</x:f><x:v>2.5</x:v></x:c></x:row>'
        "<x:row><x:c t=\"s\"><x:v>2</x:v></x:c><x:c t=\"b\"><x:v>1</x:v></x:c><x:c s=\"1\"><x:v>45351</x:v></x:c></x:row>"
        "</x:sheetData></x:worksheet>"
    )
    rows = rows_of(book_with(tmp_path, sheet, strings))
    assert rows == [
        ["จังหวัด", "ปริมาณ ฝน"],
        [],  # row 2 is not written: a blank row keeps the row numbers
        ["ตรัง", None, 2.5],
        ["บรรทัด\rใหม่ และ _x0041_", True, dt.datetime(2024, 2, 29)],
    ]


def test_far_row_numbers_do_not_build_blank_rows_at_once(tmp_path):
    """A row numbered in the billions: blank rows are made as they are read, so
    the row limit refuses the sheet instead of memory running out."""
    from harvesters.convert.options import ConvertOptions, Limits

    sheet = (
        f'<worksheet xmlns="{MAIN}"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c><c r="B1"><v>1</v></c></row>'
        '<row r="2000000000"><c r="A2000000000"><v>2</v></c></row>'
        "</sheetData></worksheet>"
    )
    with pytest.raises(RefusedFile) as info:
        convert_file(book_with(tmp_path, sheet), tmp_path / "out",
                     options=ConvertOptions(limits=Limits(max_rows=100_000)))
    assert info.value.reason == "size" and "max_rows" in str(info.value)


def test_a_dtd_in_a_sheet_is_refused_and_never_expanded(tmp_path):
    sheet = (
        '<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY lol "lol">]>'
        f'<worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol;</t></is></c>'
        '<c r="B1"><v>1</v></c></row></sheetData></worksheet>'
    )
    with pytest.raises(RefusedFile) as info:
        convert_file(book_with(tmp_path, sheet), tmp_path / "out")
    assert info.value.reason == "xxe"


def test_malformed_sheet_xml_is_corrupt(tmp_path):
    sheet = f'<worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1"><v>1</v></row>'
    with pytest.raises(RefusedFile) as info:
        convert_file(book_with(tmp_path, sheet), tmp_path / "out")
    assert info.value.reason == "corrupt"


def test_shared_strings_are_held_as_one_buffer():
    table = xlsx.SharedStrings()
    for text in ("ก", "", "ปริมาณฝน", "x" * 1000):
        table.append(text)
    assert len(table) == 4
    assert [table[i] for i in range(4)] == ["ก", "", "ปริมาณฝน", "x" * 1000]
    with pytest.raises(IndexError):
        table[4]
    assert len(table.data) == len("ก".encode()) + len("ปริมาณฝน".encode()) + 1000
