"""Personal data guard (issue 11, "Personal data (PDPA)"), on small files
written here: Thai national IDs in the shapes they really take (card spacing,
dashes, Excel's leading apostrophe, mixed into a column with other values,
inside free text), mobile phone numbers and persons' e-mail addresses refuse
the file with the reason word `pii`. The error names the column and the count
of hits and never any value. What is public by law passes: juristic persons'
registration numbers (13 digits, same check digit, leading 0), 13-digit
numbers with a wrong check digit, an office's landline.

IDs come from tests/thai_ids.py (check digits computed there); expectations
follow the issue's and conversion-rules.md's wording, not the converter.
Assumption: "the count" is the number of cells holding a hit; the tests
choose counts that cannot be mistaken for other numbers in the message.
"""

import csv
import re

import openpyxl
import pytest

from harvesters.convert import convert_file
from harvesters.errors import RefusedFile
from tests.thai_ids import card_spaced, dashed, juristic_id, thai_id, wrong_check_digit

SOURCE = "pdpa-src"
PEOPLE = ["สมชาย ใจดี", "มาลี สุขใจ", "ประยุทธ มั่นคง", "สมศรี แสงทอง", "วิชัย รุ่งเรือง", "อรุณี ศรีสุข", "บุญมี ทองคำ"]


def _ids(n, first="3"):
    """``n`` valid person IDs with varied digits."""
    return [thai_id(f"{first}{(7919 * (i + 3)) % 10**11:011d}") for i in range(n)]


def _write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _refused_pii(path, out, column, count, secrets):
    """The file is refused as pii in one line that names the file, the source,
    the column and the count, and echoes nothing of the values."""
    with pytest.raises(RefusedFile) as info:
        convert_file(path, out, source=SOURCE)
    err = info.value
    message = str(err)
    assert err.reason == "pii", message
    assert "\n" not in message
    assert str(path) in message and SOURCE in message
    assert not out.exists() or not [p for p in out.iterdir() if p.suffix in (".csv", ".parquet")]
    rest = message.replace(str(path), "").replace(SOURCE, "")
    assert column in rest, message
    assert re.search(rf"(?<!\d){count}(?!\d)", rest), f"no count {count} in: {message}"
    assert not re.search(r"\d{4}", rest), f"digits of a value in: {message}"
    for secret in secrets:
        digits = re.sub(r"\D", "", secret)
        assert secret not in message and (not digits or digits not in re.sub(r"\D", "", rest)), message
    return err


def _converted(path, out):
    """The CSV written, column by column."""
    (table,) = convert_file(path, out, source=SOURCE).tables
    with open(table.csv, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {name: [r[name] for r in rows] for name in rows[0]}


# --- national IDs ------------------------------------------------------------------------------

SHAPES = {
    "card spacing": card_spaced,  # 1 2345 67890 12 3
    "dashed": dashed,  # 1-2345-67890-12-3
    "leading apostrophe": lambda n: "'" + n,  # Excel's text marker, as exported to CSV
    "plain": lambda n: n,
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_column_of_ids_in_any_shape_is_refused(tmp_path, shape):
    ids = _ids(5)
    values = [SHAPES[shape](n) for n in ids]
    path = _write_csv(tmp_path / "people.csv", ["ชื่อ-สกุล", "เลขประจำตัวประชาชน"], zip(PEOPLE, values))
    _refused_pii(path, tmp_path / "out", "เลขประจำตัวประชาชน", 5, ids + values)


def test_ids_mixed_into_a_column_with_other_values_are_refused(tmp_path):
    ids = _ids(3, first="1")
    column = ["REF-A", card_spaced(ids[0]), "-", "ไม่ระบุ", ids[1], "B-77", dashed(ids[2])]
    path = _write_csv(tmp_path / "cases.csv", ["ชื่อ-สกุล", "เลขอ้างอิง"], zip(PEOPLE, column))
    _refused_pii(path, tmp_path / "out", "เลขอ้างอิง", 3, ids + [column[1], column[6]])


def test_ids_inside_free_text_are_refused(tmp_path):
    ids = _ids(2, first="5")
    notes = [
        f"ผู้ร้องเรียน นายสมชาย ใจดี เลขบัตร {card_spaced(ids[0])} แจ้งเหตุน้ำท่วม",
        "ดำเนินการแล้ว",
        f"ผู้ขอรับเงินช่วยเหลือ (เลขประจำตัว {ids[1]}) รอเอกสาร",
        "-",
        "ส่งต่อหน่วยงานที่เกี่ยวข้อง",
    ]
    path = _write_csv(tmp_path / "complaints.csv", ["เรื่อง", "หมายเหตุ"],
                      [[f"เรื่องที่ {i + 1}", n] for i, n in enumerate(notes)])
    _refused_pii(path, tmp_path / "out", "หมายเหตุ", 2, ids)


def test_xlsx_ids_as_numbers_and_as_apostrophe_text_are_refused(tmp_path):
    """In a workbook the apostrophe is a cell style (quotePrefix), not part of the value."""
    ids = _ids(6, first="2")
    path = tmp_path / "staff.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ชื่อ-สกุล", "เลขบัตรประชาชน"])
    for i, (name, number) in enumerate(zip(PEOPLE, ids)):
        ws.append([name, int(number) if i % 2 else number])
        if not i % 2:
            ws.cell(i + 2, 2).quotePrefix = True
    wb.save(path)
    _refused_pii(path, tmp_path / "out", "เลขบัตรประชาชน", 6, ids)


def test_allowed_id_column_converts(tmp_path):
    """The source's config may declare the column allowed (its data category permits it)."""
    ids = _ids(4)
    path = _write_csv(tmp_path / "people.csv", ["ชื่อ-สกุล", "เลขประจำตัวประชาชน"],
                      zip(PEOPLE, [card_spaced(n) for n in ids]))
    (table,) = convert_file(path, tmp_path / "out", source=SOURCE, allow_pii={"เลขประจำตัวประชาชน"}).tables
    assert table.rows_written == 4


# --- phones and e-mail addresses of persons ----------------------------------------------------

MOBILES = ["081-234-5678", "0891234567", "062 345 6789", "095-876-5432", "0861112233"]
EMAILS = ["somchai.j@gmail.com", "malee1985@hotmail.com", "prayut.m@yahoo.co.th", "somsri_s@outlook.com"]


def test_mobile_numbers_with_and_without_separators_are_refused(tmp_path):
    path = _write_csv(tmp_path / "volunteers.csv", ["ชื่อ-สกุล", "โทรศัพท์มือถือ"], zip(PEOPLE, MOBILES))
    _refused_pii(path, tmp_path / "out", "โทรศัพท์มือถือ", 5, MOBILES)


def test_mobile_numbers_inside_free_text_are_refused(tmp_path):
    contacts = [f"ติดต่อคุณ{p.split()[0]} โทร {m}" for p, m in zip(PEOPLE, MOBILES[:3])] + ["สำนักงานเขต", "-"]
    path = _write_csv(tmp_path / "shops.csv", ["ร้าน", "ผู้ประสานงาน"],
                      [[f"ร้านที่ {i + 1}", c] for i, c in enumerate(contacts)])
    _refused_pii(path, tmp_path / "out", "ผู้ประสานงาน", 3, MOBILES[:3])


def test_personal_email_addresses_are_refused(tmp_path):
    path = _write_csv(tmp_path / "applicants.csv", ["ชื่อ-สกุล", "อีเมล"], zip(PEOPLE, EMAILS))
    _refused_pii(path, tmp_path / "out", "อีเมล", 4, EMAILS)


# --- public by law: not refused ----------------------------------------------------------------


def test_juristic_registration_numbers_are_not_refused(tmp_path):
    numbers = [juristic_id(f"{10555800000 + 7 * i:011d}") for i in range(6)]
    assert all(n.startswith("0") and n == thai_id(n[:12]) for n in numbers)  # same check digit as a person's ID
    shown = [n if i % 2 else dashed(n) for i, n in enumerate(numbers)]
    rows = [[f"บริษัท ตัวอย่าง {i} จำกัด", s, f"จดทะเบียนเลขที่ {n}"] for i, (s, n) in enumerate(zip(shown, numbers))]
    path = _write_csv(tmp_path / "companies.csv", ["ชื่อนิติบุคคล", "เลขทะเบียนนิติบุคคล", "หมายเหตุ"], rows)
    data = _converted(path, tmp_path / "out")
    assert data["เลขทะเบียนนิติบุคคล"] == shown  # codes with a leading 0: kept as text
    assert data["หมายเหตุ"][0] == f"จดทะเบียนเลขที่ {numbers[0]}"


def test_13_digit_numbers_with_a_wrong_check_digit_are_not_refused(tmp_path):
    numbers = [wrong_check_digit(n) for n in _ids(5)]
    path = _write_csv(tmp_path / "meters.csv", ["จุดติดตั้ง", "หมายเลขมาตร"],
                      [[f"จุดที่ {i}", n] for i, n in enumerate(numbers)])
    assert _converted(path, tmp_path / "out")["หมายเลขมาตร"] == numbers


def test_office_landlines_are_not_refused(tmp_path):
    """The issue asks for mobile numbers (0[689]x-xxx-xxxx); an agency's
    published office line (02-, 053-) is not a person's number."""
    phones = ["02-590-1000", "053-112-233", "02 141 4000", "074-311-000"]
    path = _write_csv(tmp_path / "offices.csv", ["หน่วยงาน", "โทรศัพท์"],
                      [[f"สำนักงานเขต {i}", p] for i, p in enumerate(phones)])
    assert _converted(path, tmp_path / "out")["โทรศัพท์"] == phones
