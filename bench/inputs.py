"""Inputs the benchmark generates into its temp dir: CSVs, an XLSX, an XLS, an HTML page, source config folders.

The rows are those of bench/generate_large_csv.py (Thai station names, Buddhist Era
dates, Thai digits, thousands separators, "-" for no data), typed the way an agency's
spreadsheet holds them: numbers as numbers, dates as the d/m/yyyy text agencies type.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
from pathlib import Path

import yaml

from generate_large_csv import HEADER, generate, make_rows  # bench/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
DEMO_SOURCE = REPO / "include" / "sources" / "pcd" / "pm25-hourly.yaml"
DEMO_AGENCY = REPO / "include" / "sources" / "pcd" / "_agency.yaml"
TITLE = "รายงานปริมาณน้ำฝนและผู้ใช้น้ำรายสถานี ปีงบประมาณ 2567"


def csv_file(path: Path, size: int, seed: int = 1) -> Path:
    generate(path, size, seed)
    return path


def _typed_rows(count: int, seed: int) -> list[list]:
    def cell(text: str):
        plain = text.replace(",", "")
        for kind in (int, float):
            try:
                return kind(plain)
            except ValueError:
                pass
        return text

    lines = make_rows(random.Random(seed), count)
    return [[row[0]] + [cell(v) for v in row[1:]] for row in csv.reader(io.StringIO("".join(lines)))]


def _rows_for(size: int, write, work: Path) -> int:
    """How many rows make a file of about ``size`` bytes: write a sample, scale by its size."""
    sample_rows = 20_000 if size > 5_000_000 else 2_000
    sample = work / "sample"
    write(sample, sample_rows)
    per_row = sample.stat().st_size / sample_rows
    sample.unlink()
    return max(100, int(size / per_row))


def _write_xlsx(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("ปริมาณฝน")
    sheet.append([TITLE])
    sheet.append([])
    sheet.append(HEADER.split(","))
    pool = _typed_rows(min(rows, 50_000), seed=3)
    for i in range(rows):
        sheet.append(pool[i % len(pool)])
    book.save(path)


def _write_xls(path: Path, rows: int) -> None:
    import xlwt  # bench/requirements.txt

    book = xlwt.Workbook(encoding="utf-8")
    pool = _typed_rows(min(rows, 50_000), seed=4)
    per_sheet = 60_000  # BIFF8 holds 65,536 rows a sheet: big XLS files come as several sheets
    for first in range(0, rows, per_sheet):
        sheet = book.add_sheet(f"ปี {2567 - first // per_sheet}")
        sheet.write(0, 0, TITLE)
        for c, name in enumerate(HEADER.split(",")):
            sheet.write(2, c, name)
        for r in range(min(per_sheet, rows - first)):
            for c, value in enumerate(pool[(first + r) % len(pool)]):
                sheet.write(r + 3, c, value)
    book.save(str(path))


def xlsx_file(path: Path, size: int) -> Path:
    _write_xlsx(path, _rows_for(size, _write_xlsx, path.parent))
    return path


def xls_file(path: Path, size: int) -> Path:
    _write_xls(path, _rows_for(size, _write_xls, path.parent))
    return path


def html_file(path: Path, size: int) -> Path:
    """A UTF-8 page of about ``size`` bytes holding one big table, as agencies' report
    pages are: a heading and a layout table above it, a two-level header (rowspan and
    colspan), Thai text, numbers with thousands separators, BE dates, a source line in
    ``<tfoot>``."""
    from html import escape

    names = HEADER.split(",")
    head = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>สถิติ</title>'
        "<style>.sr-only { display: none }</style></head><body>"
        '<table role="presentation"><tr><td><a href="/">หน้าแรก</a></td><td><a href="/data">ข้อมูล</a></td></tr></table>'
        f"<h2>{escape(TITLE)}</h2>\n<table class=\"data\">\n<thead><tr>"
        + "".join(f'<th rowspan="2">{escape(n)}</th>' for n in names[:4])
        + '<th colspan="3">ผลการตรวจวัด</th>'
        + "".join(f'<th rowspan="2">{escape(n)}</th>' for n in names[7:])
        + "</tr>\n<tr>" + "".join(f"<th>{escape(n)}</th>" for n in names[4:7]) + "</tr></thead>\n<tbody>\n"
    ).encode("utf-8")
    foot = ("</tbody>\n<tfoot><tr><td colspan=\"9\">ที่มา: กรมอุตุนิยมวิทยา</td></tr></tfoot></table>"
            "</body></html>\n").encode("utf-8")
    pool = [
        ("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>\n").encode("utf-8")
        for row in csv.reader(io.StringIO("".join(make_rows(random.Random(5), 20_000))))
    ]
    written = len(head) + len(foot)
    with open(path, "wb") as fh:
        fh.write(head)
        i = 0
        while written < size:
            line = pool[i % len(pool)]
            if i % 1000 == 1:  # now and then a code spanning two rows, as agencies merge repeated values
                line = line.replace(b"<td>", b'<td rowspan="2">', 1)
                below = pool[(i + 1) % len(pool)]
                line += b"<tr>" + below.split(b"</td>", 1)[1]  # the row below without its first cell
                i += 1
            fh.write(line)
            written += len(line)
            i += 1
        fh.write(foot)
    return path


def _source(config_id: str, urls: list[str], validation: dict | None = None) -> dict:
    cfg = yaml.safe_load(DEMO_SOURCE.read_text(encoding="utf-8"))
    cfg["id"] = config_id
    cfg["metadata"]["title"] = f"({config_id}) {cfg['metadata']['title']}"  # live titles are unique on the portal
    cfg["schedule"] = None
    cfg["source"]["files"] = [{"url": url, "title": f"ไฟล์ {i + 1}", "key": f"f{i + 1:02d}"} for i, url in enumerate(urls)]
    cfg.pop("validation", None)
    if validation:
        cfg["validation"] = validation
    return cfg


def _write_source(folder: Path, cfg: dict) -> Path:
    path = folder / f"{cfg['id']}.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def sources_for_parsing(root: Path, count: int, per_agency: int = 33) -> Path:
    """``count`` copies of the demo http config, ids changed, spread over agencies as on data.go.th
    (12,000 datasets from ~300 agencies: ~33 each). Returns the sources dir."""
    agency = yaml.safe_load(DEMO_AGENCY.read_text(encoding="utf-8"))
    cfg = _source("x", ["https://agency.example.go.th/data/pm25_hourly.csv"])
    for i in range(count):
        folder = root / f"ag{i // per_agency:03d}"
        if not folder.exists():
            folder.mkdir(parents=True)
            (folder / "_agency.yaml").write_text(
                yaml.safe_dump({**agency, "agency": folder.name}, allow_unicode=True), encoding="utf-8")
        _write_source(folder, {**cfg, "id": f"bench-{i:05d}"})
    return root


def portal_source(root: Path, config_id: str, urls: list[str], validation: dict | None = None) -> Path:
    """A source of the demo agency ``pcd`` (its organization exists on the local portal)."""
    folder = root / "pcd"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEMO_AGENCY, folder / "_agency.yaml")
    return _write_source(folder, _source(config_id, urls, validation))
