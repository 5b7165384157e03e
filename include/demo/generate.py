"""Demo data for the "PM2.5 war room" (ห้องสถานการณ์ฝุ่น PM2.5).

Run with the pipeline venv::

    .local/venv/bin/python include/demo/generate.py            # writes include/demo/site/
    .local/venv/bin/python include/demo/generate.py --out DIR  # writes DIR/pcd/..., DIR/gistda/..., DIR/ddc/...

Everything is generated from a fixed seed: every run writes the same bytes
(the XLSX too: fixed workbook properties and fixed ZIP member timestamps).
The generated files are committed; ``tests/unit/test_demo_data.py`` checks
that they still match this script. The data are synthetic but Thai-shaped.

Files and what each one exercises
---------------------------------

``pcd/pm25_hourly.csv`` - Pollution Control Department (กรมควบคุมมลพิษ),
hourly PM2.5 at 10 stations, 48 hours (14-15 January 2567 B.E.).
  * cp874 (windows-874) bytes, not UTF-8, with CRLF line ends. The title
    line has an en dash ``–`` (byte 0x96) and one station name has curly
    quotes ``“ ”`` (0x93/0x94): decoding as TIS-620 instead of cp874 would
    turn them into C1 control characters.
  * a title line above the header, and a blank line plus a ``ที่มา:`` source
    line below the data (neither are data rows).
  * Buddhist-Era ``dd/mm/yyyy`` dates (-> 2024-01-14 / 2024-01-15), ``HH:00``
    times (stay text), station codes like ``05t`` (text), PM2.5 with one
    decimal and a handful of ``-`` no-data marks (-> nulls, column stays
    decimal).
  * Expected converted table: 480 rows x 6 columns
    ``วันที่`` (date), ``เวลา`` (text), ``รหัสสถานี`` (text), ``ชื่อสถานี`` (text),
    ``จังหวัด`` (text), ``PM2.5 (มคก./ลบ.ม.)`` (float, with nulls).

``gistda/hotspots.xlsx`` - GISTDA fire hotspots (จุดความร้อน) per province and
day, 17 northern provinces x 14 days (1-14 March 2024).
  * one sheet ``จุดความร้อน``; row 1 a title merged across all columns, row 2
    blank, a two-level header in rows 3-4: ``จังหวัด``, ``ภาค``, ``วันที่`` and
    ``จำนวนจุดความร้อน`` merged vertically over both levels, and a parent
    ``พื้นที่`` merged horizontally over ``ป่าอนุรักษ์`` / ``พื้นที่เกษตร``.
  * native Excel dates, integer counts, a blank row and a ``หมายเหตุ:`` note
    below the data.
  * Expected converted table: 238 rows x 6 columns ``จังหวัด`` (text),
    ``ภาค`` (text), ``วันที่`` (date), ``จำนวนจุดความร้อน`` (int),
    ``พื้นที่ - ป่าอนุรักษ์`` (int), ``พื้นที่ - พื้นที่เกษตร`` (int).

``ddc/respiratory_patients.csv`` - Department of Disease Control (กรมควบคุมโรค),
weekly patients with PM2.5-related respiratory illness, 12 provinces x 8
weeks of fiscal year 2567.
  * UTF-8 with a BOM (the BOM must not end up in the first column name), LF.
  * ``ปีงบประมาณ`` is a Buddhist-Era year as a plain number (stays 2567).
  * Deliberately BAD data: 3 negative patient counts and 2 rows with an empty
    province. Its Great Expectations suite
    (``expectations/ddc_respiratory_patients.json``) must FAIL, so the demo
    shows a publish being blocked.
  * Expected converted table: 96 rows x 4 columns ``ปีงบประมาณ`` (int),
    ``สัปดาห์`` (int), ``จังหวัด`` (text, 2 nulls), ``จำนวนผู้ป่วย`` (int).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import random
import zipfile
from pathlib import Path

SEED = 2567
SITE_DIR = Path(__file__).resolve().parent / "site"
FIXED_TIME = dt.datetime(2024, 1, 16, 8, 0, 0)  # workbook created/modified
ZIP_TIME = (2024, 1, 16, 8, 0, 0)  # ZIP member timestamps

# --------------------------------------------------------------------------
# pcd/pm25_hourly.csv
# --------------------------------------------------------------------------

PCD_TITLE = "รายงานค่าฝุ่นละออง PM2.5 รายชั่วโมง – ข้อมูลเบื้องต้น"
PCD_HEADER = ["วันที่", "เวลา", "รหัสสถานี", "ชื่อสถานี", "จังหวัด", "PM2.5 (มคก./ลบ.ม.)"]
PCD_FOOTER = "ที่มา: กรมควบคุมมลพิษ (ข้อมูลเบื้องต้น ยังไม่ผ่านการตรวจสอบคุณภาพ)"

# (code, station name, province, typical level in µg/m³)
PCD_STATIONS = [
    ("05t", "แขวงบางนา เขตบางนา", "กรุงเทพมหานคร", 45.0),
    ("10t", "การเคหะชุมชนคลองจั่น เขตบางกะปิ", "กรุงเทพมหานคร", 48.0),
    ("35t", "ศาลากลางจังหวัดเชียงใหม่", "เชียงใหม่", 70.0),
    ("36t", "โรงเรียน “ยุพราชวิทยาลัย”", "เชียงใหม่", 75.0),
    ("57t", "สำนักงานทรัพยากรธรรมชาติและสิ่งแวดล้อมจังหวัดเชียงราย", "เชียงราย", 80.0),
    ("73t", "สถานีอุตุนิยมวิทยาแม่สาย", "เชียงราย", 95.0),
    ("37t", "ศูนย์ราชการจังหวัดลำปาง", "ลำปาง", 60.0),
    ("46t", "สำนักงานทางหลวงที่ 10 ขอนแก่น", "ขอนแก่น", 40.0),
    ("24t", "สถานีตำรวจภูธรหน้าพระลาน", "สระบุรี", 55.0),
    ("58t", "สถานีอุตุนิยมวิทยาแม่ฮ่องสอน", "แม่ฮ่องสอน", 85.0),
]
PCD_FIRST_DAY = dt.date(2024, 1, 14)
PCD_HOURS = 48
# (hour index, station code) that report "-" (no data): instrument outages
PCD_MISSING = {(7, "05t"), (8, "05t"), (20, "73t"), (31, "46t"), (32, "46t"), (45, "58t")}


def _be_date(d: dt.date) -> str:
    """dd/mm/yyyy in the Buddhist Era (2024 -> 2567)."""
    return f"{d.day:02d}/{d.month:02d}/{d.year + 543}"


def pcd_rows(rng: random.Random) -> list[list[str]]:
    rows = []
    for h in range(PCD_HOURS):
        day = PCD_FIRST_DAY + dt.timedelta(days=h // 24)
        hour = h % 24
        # PM2.5 peaks at night/early morning (inversion), dips mid-afternoon
        diurnal = 1.0 + 0.35 * (1 if hour < 9 or hour >= 20 else -0.5 if 12 <= hour <= 16 else 0)
        for code, name, province, base in PCD_STATIONS:
            if (h, code) in PCD_MISSING:
                value = "-"
            else:
                tenths = round(base * diurnal * (0.35 + 1.3 * rng.random()) * 10)
                tenths = max(50, min(2500, tenths))  # 5.0 .. 250.0
                value = f"{tenths // 10}.{tenths % 10}"
            rows.append([_be_date(day), f"{hour:02d}:00", code, name, province, value])
    return rows


def pcd_bytes() -> bytes:
    rng = random.Random(f"{SEED}-pcd")
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([PCD_TITLE])
    w.writerow(PCD_HEADER)
    w.writerows(pcd_rows(rng))
    w.writerow([])
    w.writerow([PCD_FOOTER])
    return buf.getvalue().encode("cp874")


# --------------------------------------------------------------------------
# gistda/hotspots.xlsx
# --------------------------------------------------------------------------

GISTDA_SHEET = "จุดความร้อน"
GISTDA_TITLE = "จำนวนจุดความร้อน (Hotspot) จากดาวเทียม Suomi NPP ระบบ VIIRS รายจังหวัด ภาคเหนือ 1-14 มีนาคม 2567"
GISTDA_NOTE = (
    "หมายเหตุ: จำนวนจุดความร้อนรวมทุกประเภทพื้นที่ "
    "พื้นที่อื่นๆ (เขต สปก. ชุมชน ริมทางหลวง) ไม่ได้แสดงแยก "
    "ที่มา: สำนักงานพัฒนาเทคโนโลยีอวกาศและภูมิสารสนเทศ (GISTDA)"
)
# the 17 provinces of the northern region, with a relative fire intensity
GISTDA_PROVINCES = [
    ("เชียงใหม่", 9), ("เชียงราย", 6), ("ลำปาง", 6), ("ลำพูน", 3), ("แม่ฮ่องสอน", 10),
    ("น่าน", 8), ("พะเยา", 4), ("แพร่", 4), ("อุตรดิตถ์", 4), ("ตาก", 9),
    ("สุโขทัย", 3), ("พิษณุโลก", 4), ("พิจิตร", 1), ("กำแพงเพชร", 4),
    ("เพชรบูรณ์", 5), ("นครสวรรค์", 3), ("อุทัยธานี", 4),
]
GISTDA_REGION = "ภาคเหนือ"
GISTDA_FIRST_DAY = dt.datetime(2024, 3, 1)
GISTDA_DAYS = 14
GISTDA_FIRST_DATA_ROW = 5


def gistda_rows(rng: random.Random) -> list[list]:
    rows = []
    for province, intensity in GISTDA_PROVINCES:
        for d in range(GISTDA_DAYS):
            trend = 0.6 + 0.8 * d / (GISTDA_DAYS - 1)  # the burning season builds up
            forest = int(intensity * trend * rng.random() * 12)
            agri = int(intensity * trend * rng.random() * 6)
            other = int(intensity * rng.random() * 3)
            total = forest + agri + other
            rows.append([province, GISTDA_REGION, GISTDA_FIRST_DAY + dt.timedelta(days=d), total, forest, agri])
    return rows


def gistda_workbook():
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    rng = random.Random(f"{SEED}-gistda")
    wb = Workbook()
    ws = wb.active
    ws.title = GISTDA_SHEET
    wb.properties.creator = "GISTDA demo generator"
    wb.properties.lastModifiedBy = "GISTDA demo generator"
    wb.properties.title = "จุดความร้อน ภาคเหนือ"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME

    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    bold = Font(bold=True)

    ws["A1"] = GISTDA_TITLE
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells("A1:F1")
    # row 2 stays blank
    for col, label in zip("ABCD", ["จังหวัด", "ภาค", "วันที่", "จำนวนจุดความร้อน"]):
        ws[f"{col}3"] = label
        ws.merge_cells(f"{col}3:{col}4")  # one label over both header levels
    ws["E3"] = "พื้นที่"
    ws.merge_cells("E3:F3")  # parent over the two land-use columns
    ws["E4"] = "ป่าอนุรักษ์"
    ws["F4"] = "พื้นที่เกษตร"
    for row in ws.iter_rows(min_row=3, max_row=4):
        for cell in row:
            cell.font = bold
            cell.alignment = center

    r = GISTDA_FIRST_DATA_ROW
    for r, values in enumerate(gistda_rows(rng), start=GISTDA_FIRST_DATA_ROW):
        for c, v in enumerate(values, start=1):
            cell = ws.cell(row=r, column=c, value=v)
            if c == 3:
                cell.number_format = "dd/mm/yyyy"
    ws.cell(row=r + 2, column=1, value=GISTDA_NOTE)

    for col, width in zip("ABCDEF", [16, 12, 12, 18, 14, 14]):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A5"
    return wb


def _workbook_bytes(wb) -> bytes:
    """Serialise with fixed properties and fixed ZIP timestamps (openpyxl's
    save_workbook stamps `modified` with now() and zipfile uses the clock)."""
    from openpyxl.writer.excel import ExcelWriter

    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, src.read(info.filename))
    return out.getvalue()


def gistda_bytes() -> bytes:
    return _workbook_bytes(gistda_workbook())


# --------------------------------------------------------------------------
# ddc/respiratory_patients.csv
# --------------------------------------------------------------------------

DDC_HEADER = ["ปีงบประมาณ", "สัปดาห์", "จังหวัด", "จำนวนผู้ป่วย"]
DDC_FISCAL_YEAR = 2567
DDC_WEEKS = range(15, 23)  # 8 epidemiological weeks of FY 2567 (January-February 2024)
DDC_PROVINCES = [
    ("เชียงใหม่", 420), ("เชียงราย", 310), ("ลำปาง", 180), ("ลำพูน", 90),
    ("แม่ฮ่องสอน", 70), ("น่าน", 120), ("พะเยา", 95), ("แพร่", 85),
    ("ตาก", 110), ("กรุงเทพมหานคร", 650), ("สระบุรี", 140), ("ขอนแก่น", 260),
]
# the deliberate defects (row index in the data, 0-based)
DDC_NEGATIVE_ROWS = {5: -12, 40: -3, 77: -150}
DDC_EMPTY_PROVINCE_ROWS = {23, 61}


def ddc_rows(rng: random.Random) -> list[list]:
    rows = []
    for week in DDC_WEEKS:
        for province, base in DDC_PROVINCES:
            count = int(base * (0.8 + 0.5 * rng.random()))
            rows.append([DDC_FISCAL_YEAR, week, province, count])
    for i, value in DDC_NEGATIVE_ROWS.items():
        rows[i][3] = value
    for i in DDC_EMPTY_PROVINCE_ROWS:
        rows[i][2] = ""
    return rows


def ddc_bytes() -> bytes:
    rng = random.Random(f"{SEED}-ddc")
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DDC_HEADER)
    w.writerows(ddc_rows(rng))
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


# --------------------------------------------------------------------------

FILES = {
    "pcd/pm25_hourly.csv": pcd_bytes,
    "gistda/hotspots.xlsx": gistda_bytes,
    "ddc/respiratory_patients.csv": ddc_bytes,
}


def generate(out_dir: Path | str = SITE_DIR) -> list[Path]:
    out_dir = Path(out_dir)
    written = []
    for rel, build in FILES.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(build())
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SITE_DIR, help="output directory (default: include/demo/site)")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
