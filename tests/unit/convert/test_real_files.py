"""Acceptance tests on the real agency files in ../shared/fixtures/thai-real/:
one test per file (and per ZIP member) stating what a careful data engineer
expects of it under conversion-rules.md: exact header names, row count, a date
(ISO, Buddhist Era converted) and a number at a known row, column types.

Every expectation was read from the file itself with tools independent of the
converter: xlrd with formatting_info (merged ranges of the .xls sheets), the
csv module with the file's encoding (cp874, UTF-8 with BOM), json, zipfile
with cp874 member names. None was copied from the converter's output.

Assumptions where conversion-rules.md is silent, stated once here:
- a total row (`รวม`) that has the shape of a data row is data: the rules drop
  titles, blank, notes and source lines, not totals;
- a row holding only a label inside the data (the OAE `อัตราการขยายตัว` line
  before the last year) is data too: it is not below the data.
"""

import csv
import datetime as dt
import re
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harvesters.convert import convert_file
from harvesters.convert.options import ConvertOptions

REAL = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "thai-real"
if not REAL.is_dir():
    pytest.skip(f"shared fixtures not found at {REAL}", allow_module_level=True)

C1_OR_FFFD = re.compile("[\u0080-\u009f\ufffd]")

COVERED = {  # every file of thai-real/ has its test below
    "dbd_new_juristic_persons_201501.csv",
    "ddc_confirmed_cases_2020.csv",
    "dlt_new_cars_2559.xls",
    "dmh_suicide_rate_2556.xls",
    "ect66_info_province.json",
    "n_icu_bed_2553.csv",
    "oae_fiber_crops_50y.zip",
    "tmd_monthly_rainfall_via_oae.xls",
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Each file converted once for the module (the XLS files have many sheets)."""
    cache = {}

    def get(name, **kwargs):
        if name not in cache:
            cache[name] = convert_file(REAL / name, tmp_path_factory.mktemp("real"), source="thai-real", **kwargs)
        return cache[name]

    return get


def _columns(table):
    return {c.name: c.type for c in table.columns}


def _data(table):
    """Parquet columns as lists, after checking the CSV holds the same table."""
    names = [c.name for c in table.columns]
    text = Path(table.csv).read_text(encoding="utf-8")
    assert not C1_OR_FFFD.search(text) and not text.startswith("\ufeff")
    with open(table.csv, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == names
    parquet = pq.read_table(table.parquet)
    assert parquet.column_names == names
    assert parquet.num_rows == len(rows) - 1 == table.rows_written
    return parquet.to_pydict(), rows


def _by_sheet(report):
    return {t.sheet: t for t in report.tables}


def test_every_real_file_has_a_test():
    assert {p.name for p in REAL.iterdir() if p.is_file()} == COVERED


def test_n_icu_bed_2553(converted):
    """UTF-8, one header row, Thai province names with a trailing space."""
    (table,) = converted("n_icu_bed_2553.csv").tables
    kinds = ["Hospital", "ICU_BED"]
    owners = ["Total", "HealthMinistry", "OtherMinistries", "StateEnterprise", "IndependentOrganization",
              "LocalAdministrativeOrganization", "PrivateCompany"]
    counts = [f"{o}_N_{k}" for o in owners for k in kinds]
    assert [c.name for c in table.columns] == ["Region", "SubRegion", "Province"] + counts
    assert table.rows_written == 75
    texts = {"Region": "text", "SubRegion": "text", "Province": "text"}
    assert _columns(table) == texts | {c: "integer" for c in counts}
    data, rows = _data(table)
    assert data["Province"][0] == "กรุงเทพมหานคร"  # "กรุงเทพมหานคร " in the file
    assert data["Total_N_ICU_BED"][0] == 1502
    assert data["PrivateCompany_N_ICU_BED"][0] == 689
    assert (data["Region"][-1], data["SubRegion"][-1], data["Province"][-1]) == ("ภาคใต้", "เขต 8", "นราธิวาส")
    assert data["Total_N_ICU_BED"][-1] == 36


def test_ddc_confirmed_cases_2020(converted):
    """UTF-8 with BOM, CRLF, Gregorian d/m/yyyy dates, an often empty date column."""
    report = converted("ddc_confirmed_cases_2020.csv")
    (table,) = report.tables
    assert [c.name for c in table.columns] == [
        "No.", "announce_date", "Notified date", "sex", "age", "Unit", "nationality",
        "province_of_isolation", "risk", "province_of_onset", "district_of_onset",
    ]
    assert table.rows_written == 379
    assert _columns(table) == {
        "No.": "integer", "announce_date": "date", "Notified date": "date", "sex": "text", "age": "integer",
        "Unit": "text", "nationality": "text", "province_of_isolation": "text", "risk": "text",
        "province_of_onset": "text", "district_of_onset": "text",
    }
    data, rows = _data(table)
    assert data["announce_date"][0] == dt.date(2020, 1, 12)  # "12/1/2020": day first
    assert rows[1][1] == "2020-01-12"
    assert data["Notified date"][0] is None
    assert data["No."][47] == 48 and data["Notified date"][47] == dt.date(2020, 3, 4)  # "4/3/2020"
    assert data["age"][0] == 61 and data["nationality"][0] == "China"
    assert data["announce_date"][-1] == dt.date(2020, 3, 21)
    assert data["district_of_onset"][-1] == "เมือง"
    assert sum(v is None for v in data["Notified date"]) == 306


def test_dbd_new_juristic_persons_201501_converts(converted):
    """cp874, two title lines, a header cell with a line break, B.E. dates,
    padded amounts with thousands separators, and 13-digit juristic
    registration numbers that start with 0 (public by law: not PII)."""
    report = converted("dbd_new_juristic_persons_201501.csv")
    assert report.encoding in ("cp874", "windows-874")
    (table,) = report.tables
    assert [c.name for c in table.columns] == [
        "ที่", "เลขทะเบียน", "ชื่อนิติบุคคล", "วันที่จดทะเบียน", "ทุนจดทะเบียน (บาท)",
        "รายละเอียดวัตถุประสงค์", "ที่ตั้งสำนักงานใหญ่",
    ]
    assert table.rows_written == 5980
    assert _columns(table) == {
        "ที่": "integer", "เลขทะเบียน": "text", "ชื่อนิติบุคคล": "text", "วันที่จดทะเบียน": "date",
        "ทุนจดทะเบียน (บาท)": "integer", "รายละเอียดวัตถุประสงค์": "text", "ที่ตั้งสำนักงานใหญ่": "text",
    }
    data, rows = _data(table)
    assert data["เลขทะเบียน"][0] == "0105558004940"  # the leading zero is kept: a code, not a number
    assert data["วันที่จดทะเบียน"][0] == dt.date(2015, 1, 12)  # "12/1/2558"
    assert rows[1][3] == "2015-01-12"
    assert data["ทุนจดทะเบียน (บาท)"][0] == 2_000_000_000  # " 2,000,000,000 "
    assert rows[1][4] == "2000000000"
    assert data["ที่ตั้งสำนักงานใหญ่"][0] == (
        "1 อาคารกลาสเฮ้าส์ ชั้นที่ 12 ซอยสุขุมวิท 25 ถนนสุขุมวิท  แขวงคลองเตยเหนือ เขตวัฒนา กรุงเทพมหานคร 10110"
    )  # inner double space kept
    assert data["ที่"][1160] == 1161  # "1,161"
    assert data["ชื่อนิติบุคคล"][1160] == "บจ.เยลิโวบุ แอนด์ บราเธอร์ส อิมพอร์ต – เอ็กซพอร์ต จำกัด"  # cp874 en dash
    assert data["วันที่จดทะเบียน"][1160] == dt.date(2015, 1, 22)
    assert (data["ที่"][-1], data["เลขทะเบียน"][-1]) == (6, "0963558000023")
    assert data["วันที่จดทะเบียน"][-1] == dt.date(2015, 1, 19)
    assert all(len(v) == 13 and v.startswith("0") for v in data["เลขทะเบียน"])


def test_ect66_info_province_with_records_path(converted):
    """An object around the list of 77 provinces: the source names the records path."""
    report = converted("ect66_info_province.json", options=ConvertOptions(records_path="province"))
    (table,) = report.tables
    assert [c.name for c in table.columns] == [
        "province_id", "prov_id", "province", "abbre_thai", "eng", "total_registered_vote",
    ]
    assert table.rows_written == 77
    assert _columns(table) == {
        "province_id": "integer", "prov_id": "text", "province": "text", "abbre_thai": "text", "eng": "text",
        "total_registered_vote": "integer",
    }
    data, _ = _data(table)
    assert (data["province_id"][0], data["prov_id"][0], data["province"][0]) == (10, "BKK", "กรุงเทพมหานคร")
    assert (data["prov_id"][38], data["eng"][38], data["total_registered_vote"][38]) == ("CMI", "CHIANG MAI", 1327483)
    assert sum(data["total_registered_vote"]) == 52195920  # the document's own total_registered_vote


def test_dmh_suicide_rate_2556(converted):
    """Empty leading column, two title rows, a two-level header with three
    groups merged over ชาย/หญิง/รวม, a total row, a notes footer, an empty sheet."""
    report = converted("dmh_suicide_rate_2556.xls")
    (table,) = report.tables  # "Sheet1" is empty
    assert table.sheet == "s2554"
    groups = ["จำนวนประชากรกลางปี", "จำนวนคนฆ่าตัวตาย", "อัตราการฆ่าตัวตายต่อประชากรหนึ่งแสนคน"]
    split = [f"{g} - {s}" for g in groups for s in ("ชาย", "หญิง", "รวม")]
    assert [c.name for c in table.columns] == ["ลำดับ", "รหัสจังหวัด", "จังหวัด"] + split
    assert table.rows_written == 78  # 77 provinces and the total row
    assert _columns(table) == {"ลำดับ": "integer", "รหัสจังหวัด": "integer", "จังหวัด": "text"} | {
        name: ("decimal" if name.startswith("อัตรา") else "integer") for name in split
    }
    data, _ = _data(table)
    assert (data["ลำดับ"][0], data["รหัสจังหวัด"][0], data["จังหวัด"][0]) == (1, 51, "ลำพูน")
    assert data["จำนวนประชากรกลางปี - ชาย"][0] == 196747
    assert data["จำนวนคนฆ่าตัวตาย - รวม"][0] == 60
    assert data["อัตราการฆ่าตัวตายต่อประชากรหนึ่งแสนคน - ชาย"][0] == pytest.approx(23.380280258402923)
    assert data["จังหวัด"][76] == "ปัตตานี"
    assert (data["ลำดับ"][-1], data["จังหวัด"][-1]) == (None, "รวม")
    assert data["จำนวนประชากรกลางปี - รวม"][-1] == 64785909
    assert not any("เผยแพร่" in str(v) or "ขอขอบคุณ" in str(v) for v in data["ลำดับ"] + data["จังหวัด"])


DLT_SHEETS = ["Total", "มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม",
              "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม"]
DLT_CC = ["ไม่เกิน 1,300 ซีซี", "1,301 ถึง 1,600 ซีซี", "1,601 ถึง 1,800 ซีซี", "1,801 ถึง 2,000 ซีซี",
          "2,001 ซีซีขึ้นไป"]
DLT_COLUMNS = (["ลำดับที่", "ยี่ห้อรถ"] + [f"ความจุกระบอกสูบ - {cc}" for cc in DLT_CC]
               + ["รถใช้ - เชื้อเพลิงไฟฟ้า", "รวม"])
DLT_TOTALS = [535919, 62333, 58981, 54646, 38434, 47786, 52354, 39838, 45260, 40999, 35860, 34414, 25014]


def test_dlt_new_cars_2559(converted):
    """13 sheets, four title rows and a unit row, a two-level header
    (`ความจุกระบอกสูบ` merged over five engine sizes; `รถใช้` above
    `เชื้อเพลิงไฟฟ้า` unmerged), a total row after a blank row, a source footer."""
    report = converted("dlt_new_cars_2559.xls")
    assert [t.sheet for t in report.tables] == DLT_SHEETS
    for table, total in zip(report.tables, DLT_TOTALS):
        assert [c.name for c in table.columns] == DLT_COLUMNS, table.sheet
        assert table.rows_written == 66, table.sheet  # 65 brands and the total row
        types = _columns(table)
        assert types["ยี่ห้อรถ"] == "text"
        assert all(types[name] == "integer" for name in DLT_COLUMNS[2:]), table.sheet
        data, _ = _data(table)
        assert data["ยี่ห้อรถ"][0] == "ALFA ROMEO" and data["ยี่ห้อรถ"][64] == "อื่น ๆ"
        assert data["ลำดับที่"][-1] == "รวม" and data["รวม"][-1] == total  # "  รวม" trimmed
        assert not any("กลุ่มสถิติการขนส่ง" in str(v) for v in data["ลำดับที่"])  # the source line is no row
    data, _ = _data(report.tables[0])
    assert data["ยี่ห้อรถ"][62] == "VOLVO" and data["รวม"][62] == 923
    assert data["ความจุกระบอกสูบ - 1,601 ถึง 1,800 ซีซี"][0] == 3
    assert sum(DLT_TOTALS[1:]) == DLT_TOTALS[0]  # the months add up to the year, as read by xlrd


TMD_MONTHS = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."]
EN_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def test_tmd_monthly_rainfall_first_sheet(converted):
    """A title line, then a plain one-row header over 3,137 station-years."""
    table = _by_sheet(converted("tmd_monthly_rainfall_via_oae.xls"))["Rt2240.asc"]
    assert [c.name for c in table.columns] == ["PROVINCE", "REGION", "YEAR", "ZONE", "CODE"] + EN_MONTHS
    assert table.rows_written == 3137
    assert _columns(table) == {"PROVINCE": "text", "REGION": "text", "YEAR": "integer", "ZONE": "integer",
                               "CODE": "integer"} | {m: "decimal" for m in EN_MONTHS}
    data, _ = _data(table)
    assert (data["PROVINCE"][0], data["REGION"][0]) == ("ChiangRai", "N")  # "  N" in the file
    assert data["YEAR"][0] == 2522  # a year stored as a plain number stays as it is
    assert data["FEB"][0] == pytest.approx(0.05) and data["SEP"][0] == pytest.approx(137.77)
    assert (data["PROVINCE"][-1], data["YEAR"][-1], data["CODE"][-1]) == ("WholeKingdom", 2556, 815)


def test_tmd_monthly_rainfall_second_sheet_sparse_upper_header(converted):
    """Two title rows merged across the sheet; a two-level header whose upper
    row is sparse: the first two labels merged down over both rows, `เดือน`
    merged across the twelve month columns, `รวม` merged down. The group label
    reaches every month: `เดือน - ม.ค.`, never `ม.ค._2`."""
    report = converted("tmd_monthly_rainfall_via_oae.xls")
    assert [t.sheet for t in report.tables] == ["Rt2240.asc", "ปริมาณฝนตกปี 57-58"]
    table = _by_sheet(report)["ปริมาณฝนตกปี 57-58"]
    months = [f"เดือน - {m}" for m in TMD_MONTHS]
    assert [c.name for c in table.columns] == ["รหัสสถานี-สถานี-จังหวัด", "ปี"] + months + ["รวม"]
    assert table.header_rows == [2, 3]
    assert table.rows_written == 130
    assert _columns(table) == {"รหัสสถานี-สถานี-จังหวัด": "text", "ปี": "integer"} | {
        m: "decimal" for m in months + ["รวม"]
    }
    data, _ = _data(table)
    assert (data["รหัสสถานี-สถานี-จังหวัด"][0], data["ปี"][0]) == ("300201-แม่ฮ่องสอน จ.แม่ฮ่องสอน", 2014)
    assert data["เดือน - เม.ย."][0] == pytest.approx(14.3)
    assert data["รวม"][0] == pytest.approx(1024.9)
    assert data["รหัสสถานี-สถานี-จังหวัด"][-1] == "583201-นราธิวาส จ.นราธิวาส"
    assert (data["ปี"][-1], data["เดือน - ธ.ค."][-1]) == (2015, pytest.approx(315.7))


OAE_MEMBERS = ["3_พืชเส้นใย/16.ฝ้าย.xls", "3_พืชเส้นใย/17.ปอ.xls", "3_พืชเส้นใย/18.นุ่น.xls"]
OAE_GROWTH = "อัตราการขยายตัว"


def _oae_columns(area_planted, area_harvested, yield_planted, yield_harvested):
    return ["ปี", f"{area_planted} - (ไร่)", f"{area_harvested} - (ไร่)", "ผลผลิต - (ตัน)",
            f"ผลผลิตต่อไร่ (กก.) - {yield_planted}", f"ผลผลิตต่อไร่ (กก.) - {yield_harvested}",
            "ราคา - (บาท/กก.)", "มูลค่าผลผลิต - (ล้านบาท)"]


# member -> (columns, rows, growth-rate rows, first year, first values, last-row values (2560);
# None where the file says NA)
OAE = {
    "16.ฝ้าย": (
        _oae_columns("เนื้อที่เพาะปลูก", "เนื้อที่เก็บเกี่ยว", "ปลูก", "เก็บ"), 78, 7, "2490",
        {"เนื้อที่เพาะปลูก - (ไร่)": 240000, "ราคา - (บาท/กก.)": 3.72, "มูลค่าผลผลิต - (ล้านบาท)": 80.352},
        {"เนื้อที่เพาะปลูก - (ไร่)": 3384, "เนื้อที่เก็บเกี่ยว - (ไร่)": None, "ผลผลิต - (ตัน)": 656,
         "ราคา - (บาท/กก.)": None},
    ),
    "17.ปอ": (
        _oae_columns("เนื้อที่เพาะปลูก", "เนื้อที่เก็บเกี่ยว", "ปลูก", "เก็บ"), 75, 7, "2493",
        {"เนื้อที่เพาะปลูก - (ไร่)": 31000, "ราคา - (บาท/กก.)": 1.39, "มูลค่าผลผลิต - (ล้านบาท)": 6.533},
        {"เนื้อที่เพาะปลูก - (ไร่)": 1026, "เนื้อที่เก็บเกี่ยว - (ไร่)": None, "ผลผลิต - (ตัน)": 345,
         "ผลผลิตต่อไร่ (กก.) - ปลูก": 336},
    ),
    "18.นุ่น": (
        _oae_columns("เนื้อที่ยืนต้น", "เนื้อที่ให้ผล", "ยืนต้น", "ให้ผล"), 67, 6, "2500",
        {"เนื้อที่ยืนต้น - (ไร่)": 330000, "ผลผลิต - (ตัน)": 72160, "มูลค่าผลผลิต - (ล้านบาท)": 95.251},
        {"เนื้อที่ยืนต้น - (ไร่)": None, "เนื้อที่ให้ผล - (ไร่)": 17123, "ผลผลิต - (ตัน)": 3526,
         "ผลผลิตต่อไร่ (กก.) - ยืนต้น": None},
    ),
}


def test_oae_fiber_crops_zip_members_are_as_read():
    """The facts below hold for the archive as it is: three XLS members whose
    names are cp874 without the UTF-8 flag."""
    with zipfile.ZipFile(REAL / "oae_fiber_crops_50y.zip") as archive:
        infos = archive.infolist()
    assert [i.filename.encode("cp437").decode("cp874") for i in infos] == OAE_MEMBERS
    assert not any(i.flag_bits & 0x800 for i in infos)


@pytest.mark.parametrize("member", sorted(OAE))
def test_oae_fiber_crops_member(member, converted):
    """Each member: a title row, a two-level header (`ปี` merged down,
    `ผลผลิตต่อไร่ (กก.)` merged over two columns, units below the others),
    growth-rate rows between the decades, `NA` in numeric columns (null after
    issue 12, so the columns are numeric), a source footer and a print date;
    the three empty sheets of each workbook give no table."""
    report = converted("oae_fiber_crops_50y.zip")
    assert len(report.tables) == 3
    crop = member.split(".")[1]
    (table,) = [t for t in report.tables if crop in t.name]
    columns, rows, growth_rows, first_year, first, last = OAE[member]
    assert [c.name for c in table.columns] == columns
    assert table.rows_written == rows
    types = _columns(table)
    assert types["ปี"] == "text"  # the growth-rate rows are labelled in the year column
    assert all(types[name] == "decimal" for name in columns[1:]), types  # growth rates are fractions
    data, csv_rows = _data(table)
    assert data["ปี"][0] == first_year  # a year stays as written, never 2490.0
    assert data["ปี"][-1] == "2560" and data["ปี"][-2] == OAE_GROWTH
    for name, value in first.items():
        assert data[name][0] == pytest.approx(value), name
    for name, value in last.items():
        assert data[name][-1] == (None if value is None else pytest.approx(value)), name
    assert data["ปี"].count(OAE_GROWTH) == growth_rows
    assert not any(cell == "NA" for row in csv_rows for cell in row)
    assert not any(str(v).startswith(("ที่มา", "14-07-59")) for v in data["ปี"])
