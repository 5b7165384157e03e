"""ZIP archives: members converted, sizes decided from the directory."""

import io
import struct
import zipfile

import openpyxl
import pyarrow.parquet as pq
import pytest

from harvesters.convert import convert_file
from harvesters.convert.options import ConvertOptions, Limits
from harvesters.convert.readers import archive
from harvesters.errors import RefusedFile
from tests.thai_ids import thai_id


def make_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def xlsx_bytes():
    buf = io.BytesIO()
    wb = openpyxl.Workbook()
    wb.active.title = "ภาค"
    wb.active.append(["จังหวัด", "จำนวน"])
    wb.active.append(["ตรัง", 5])
    second = wb.create_sheet("B")
    second.append(["x", "y"])
    second.append([1, 2])
    wb.save(buf)
    return buf.getvalue()


def refused(path, out, reason):
    with pytest.raises(RefusedFile) as info:
        convert_file(path, out, source="src")
    assert info.value.reason == reason, str(info.value)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert not out.exists() or not list(out.iterdir())
    return info.value


def test_every_table_member_is_converted_and_readme_ignored(tmp_path):
    path = make_zip(tmp_path / "bundle.zip", {
        "README.txt": "Data of the department, see the web site.",
        "data/ผู้ป่วย.csv": "จังหวัด,จำนวน\nเชียงใหม่,10\n".encode("cp874"),
        "book.xlsx": xlsx_bytes(),
        "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(20),
        "__MACOSX/._book.xlsx": b"junk",
    })
    out = tmp_path / "out"
    report = convert_file(path, out)
    assert report.format == "zip"
    assert report.stars_in == 2  # the least open member (XLSX)
    assert [t.name for t in report.tables] == ["ผู้ป่วย", "book_ภาค", "book_B"]
    assert sorted(p.name for p in out.glob("*.csv")) == sorted(
        ["bundle__ผู้ป่วย.csv", "bundle__book_ภาค.csv", "bundle__book_B.csv"]
    )
    assert pq.read_table(report.tables[0].parquet).to_pydict() == {"จังหวัด": ["เชียงใหม่"], "จำนวน": [10]}


def test_declared_total_size_over_the_limit_is_refused_before_extracting(tmp_path):
    path = make_zip(tmp_path / "bomb.zip", {"a.csv": "a,b\n1,2\n"})
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 3 * 1024**3)  # declared uncompressed size: 3 GiB
    path.write_bytes(bytes(data))
    err = refused(path, tmp_path / "out", "size")
    assert "declares" in str(err)


def test_compression_ratio_over_the_limit_is_size(tmp_path):
    path = make_zip(tmp_path / "ratio.zip", {"zeros.csv": b"0" * (5 * 1024 * 1024)})
    refused(path, tmp_path / "out", "size")


def test_a_small_repetitive_member_is_fine(tmp_path):
    path = make_zip(tmp_path / "small.zip", {"a.csv": "a,b\n" + "1,2\n" * 1000})
    assert convert_file(path, tmp_path / "out").tables[0].rows_written == 1000


def test_archive_limits_have_safe_defaults_and_are_configurable(tmp_path):
    limits = Limits()
    assert limits.max_member_bytes == 2 * 1024**3 and limits.max_ratio == 100 and limits.max_members == 10_000
    path = make_zip(tmp_path / "three.zip", {"a.csv": "a,b\n1,2\n", "b.csv": "a,b\n1,2\n", "c.csv": "a,b\n3,4\n"})
    with pytest.raises(RefusedFile) as info:
        convert_file(path, tmp_path / "out", options=ConvertOptions(limits=Limits(max_members=2)))
    assert info.value.reason == "size" and "max_members" in str(info.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_corrupt_archive(tmp_path):
    path = make_zip(tmp_path / "broken.zip", {"a.csv": "a,b\n" + "1,2\n" * 500})
    path.write_bytes(path.read_bytes()[:60])
    refused(path, tmp_path / "out", "corrupt")


def test_corrupt_member_data_is_corrupt(tmp_path):
    path = make_zip(tmp_path / "crc.zip", {"a.csv": "a,b\n" + "1,2\n" * 50}, compression=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF  # inside the stored member: the CRC no longer matches
    path.write_bytes(bytes(data))
    refused(path, tmp_path / "out", "corrupt")


def test_nested_zip_is_not_opened(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("inner.csv", "a,b\n1,2\n")
    path = make_zip(tmp_path / "outer.zip", {"inner.zip": inner.getvalue(), "top.csv": "c,d\n3,4\n"})
    report = convert_file(path, tmp_path / "out")
    assert [t.name for t in report.tables] == ["outer"]
    assert any("nested archive" in w for w in report.warnings)
    only_nested = make_zip(tmp_path / "only.zip", {"inner.zip": inner.getvalue()})
    refused(only_nested, tmp_path / "out2", "no table")


def test_archive_without_table_members_is_no_table(tmp_path):
    path = make_zip(tmp_path / "docs.zip", {"README.txt": "nothing here", "a.pdf": b"%PDF-1.4"})
    refused(path, tmp_path / "out", "no table")


def test_pii_in_a_member_refuses_the_archive(tmp_path):
    ids = [thai_id(f"1234{n:08d}") for n in range(3)]
    path = make_zip(tmp_path / "people.zip", {
        "ok.csv": "a,b\n1,2\n",
        "people.csv": "name,cid\n" + "".join(f"n{i},{v}\n" for i, v in enumerate(ids)),
    })
    err = refused(path, tmp_path / "out", "pii")
    assert not any(v in str(err) for v in ids)


def test_xxe_in_a_member_refuses_the_archive(tmp_path):
    evil = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r><a>&x;</a><a>1</a></r>'
    path = make_zip(tmp_path / "evil.zip", {"ok.csv": "a,b\n1,2\n", "evil.xml": evil})
    refused(path, tmp_path / "out", "xxe")


def test_a_broken_member_is_skipped_when_others_convert(tmp_path):
    path = make_zip(tmp_path / "mixed.zip", {"good.csv": "a,b\n1,2\n", "bad.xlsx": b"PK\x03\x04broken"})
    report = convert_file(path, tmp_path / "out")
    assert [t.name for t in report.tables] == ["mixed"]
    assert any("bad.xlsx" in w for w in report.warnings)
