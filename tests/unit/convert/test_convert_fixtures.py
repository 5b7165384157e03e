"""Every real-world fixture in ../shared/fixtures: converted with concrete facts
checked, or refused with the right reason word. Never a traceback."""

import csv
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harvesters.convert import convert_file
from harvesters.convert.writers import csv_cell
from harvesters.errors import RefusedFile

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures"
if not FIXTURES.is_dir():
    pytest.skip(f"shared fixtures not found at {FIXTURES}", allow_module_level=True)

C1_OR_FFFD = re.compile("[\u0080-\u009f\ufffd]")
H = "messytables-horror/"

# file -> {table name: (rows written, some column names in order)}
CONVERTS = {
    H + "211.csv": {"211": (2132, ["ResourceAgencyNum", "PublicName", "AlternateName"])},
    H + "begrotingsanalyse-2011.csv": {
        "begrotingsanalyse-2011": (36, ["NR.", "Cluster", "provincie - A - Groningen", "provincie - L - Flevoland"])
    },
    H + "bian-anal-mca-2005-dols-eng-1011-0312-tab3.xlsm": {
        "bian-anal-mca-2005-dols-eng-1011-0312-tab3": (10, ["Data item", "Description", "Definition"])
    },
    H + "characters.csv": {"characters": (382, ["id", "景點編號", "景點中文名稱"])},
    H + "complex.csv": {"complex": (3, ["date", "another date", "temperature", "place"])},
    H + "example.tsv": {"example": (140, ["hour", "expr1_0_imp"])},
    H + "excel_pasting.csv": {"excel_pasting": (14, ["Year", "2000", "2007"])},
    H + "large.xlsx": {
        "Report": (14, ["SERIES", "column_2", "'A' - ALL BONDS ISSUED"]),
        "data": (8544, ["RptDate", "Series", "RecordType", "Total Pieces", "ReportDate", "Series_2"]),
        "criteria": (1, ["Record Types", "column_2", "column_3", "Current Date", "Tran Month"]),
    },
    H + "long.csv": {"long": (3999, ["foo"])},
    H + "mixedGLB.csv": {"mixedGLB": (133, ["Year", "Jan", "Feb", "SON"])},
    H + "null.csv": {"null": (10, ["column_1", "column_2", "column_3", "column_4"])},  # no header row
    H + "simple.csv": {"simple": (6, ["date", "temperature", "place"])},
    H + "simple.psv": {"simple": (28, ["Year", "New dwellings", "Former owner occupiers"])},
    H + "simple.ssv": {"simple": (6, ["date", "temperature", "place"])},
    H + "simple.xlsx": {"simple": (6, ["date", "temperature", "place"])},
    H + "skip_initials.csv": {"skip_initials": (2, ["field1", "field2"])},
    H + "spanish_chars.csv": {"spanish_chars": (114, ["GF_ID", "Gasto total 2011", "Descripción"])},
    H + "sparse_with_column_errors.csv": {"sparse_with_column_errors": (2200, ["LP", "Bezeichnung", "Kapitel/Titel"])},
    H + "sw_gen.xlsx": {"sw_gen": (15, ["id_str", "tweet_url", "created_at", "text"])},
    H + "utf-16le_encoded.csv": {"utf-16le_encoded": (327, ["Organisation_code", "Organisation_name"])},
    H + "utf8bom.csv": {"utf8bom": (0, ["kitten", "win"])},  # a header line and no data
    H + "weird_head_padding.csv": {"weird_head_padding": (60, ["column_1", "1985", "1993", "2010"])},
    "thai-real/n_icu_bed_2553.csv": {"n_icu_bed_2553": (75, ["Region", "SubRegion", "Province", "Total_N_ICU_BED"])},
}

REFUSED = {
    H + "encrypted_no_password.xls": "encrypted",
    H + "libreoffice.xlsx": "no table",  # one sheet, no cell
    H + "simple.unknown": "no table",  # empty file
    H + "small.csv": "no table",  # the single word "a"
    # Out of scope for now (later issue: legacy XLS, ODS, HTML, ZIP readers).
    H + "badcolspan.html": "unsupported",
    H + "complex.html": "unsupported",
    H + "html.html": "unsupported",
    H + "invisible_text.html": "unsupported",
    H + "rowcolspan.html": "unsupported",
    H + "blank_line.ods": "unsupported",
    H + "large.ods": "unsupported",
    H + "loffice-4.4.1.2.ods": "unsupported",
    H + "multilineods.ods": "unsupported",
    H + "ods_formats.ods": "unsupported",
    H + "simple.ods": "unsupported",
    H + "excel_properties.xls": "unsupported",
    H + "simple.xls": "unsupported",
    H + "span_rich.xls": "unsupported",
    H + "unicode_sheet_name.xls": "unsupported",
    H + "simple.zip": "unsupported",
}

NOT_DATA = {"README.md"}


def _all_fixture_files():
    return sorted(
        str(p.relative_to(FIXTURES.resolve()))
        for p in FIXTURES.resolve().rglob("*")
        if p.is_file() and p.name not in NOT_DATA
    )


def test_every_fixture_has_a_verdict():
    assert set(_all_fixture_files()) == set(CONVERTS) | set(REFUSED)


@pytest.mark.parametrize("rel", sorted(CONVERTS))
def test_fixture_converts(rel, tmp_path):
    report = convert_file(FIXTURES / rel, tmp_path)
    expected = CONVERTS[rel]
    assert [t.name for t in report.tables] == list(expected)
    for table in report.tables:
        rows, some_columns = expected[table.name]
        names = [c.name for c in table.columns]
        assert table.rows_written == rows
        assert _in_order(some_columns, names), names
        assert table.rows_read == len(table.header_rows) + rows + sum(d.count for d in table.rows_dropped)
        _check_outputs(table, names)


@pytest.mark.parametrize("rel", sorted(REFUSED))
def test_fixture_is_refused(rel, tmp_path):
    with pytest.raises(RefusedFile) as info:
        convert_file(FIXTURES / rel, tmp_path, source="fixtures")
    assert info.value.reason == REFUSED[rel]
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def _in_order(wanted, names):
    positions = [names.index(w) for w in wanted if w in names]
    return len(positions) == len(wanted) and positions == sorted(positions)


def _check_outputs(table, names):
    """CSV and Parquet hold the same columns and values; no mojibake markers."""
    text = Path(table.csv).read_text(encoding="utf-8")
    assert not C1_OR_FFFD.search(text)
    assert not text.startswith("\ufeff")
    with open(table.csv, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == names
    parquet = pq.read_table(table.parquet)
    assert parquet.column_names == names
    assert parquet.num_rows == len(rows) - 1 == table.rows_written
    for i, name in enumerate(names):
        from_parquet = [csv_cell(v) for v in parquet.column(name).to_pylist()]
        assert from_parquet == [r[i] for r in rows[1:]], name


@pytest.mark.parametrize(
    "rel, column, row, value",
    [
        ("thai-real/n_icu_bed_2553.csv", "Province", 0, "กรุงเทพมหานคร"),  # trailing space trimmed
        ("thai-real/n_icu_bed_2553.csv", "Total_N_ICU_BED", 0, 1502),
        (H + "spanish_chars.csv", "F", 1, "Legislación"),  # cp1252, not cp1250
        (H + "spanish_chars.csv", "Gasto total 2011", 0, 229932.5),  # "229,932.50"
        (H + "complex.csv", "temperature", 2, 6000000),  # quoted "6,000,000" after a space
        (H + "simple.xlsx", "date", 0, "2011-01-01"),
        (H + "utf8bom.csv", None, None, None),
    ],
)
def test_fixture_values(rel, column, row, value, tmp_path):
    report = convert_file(FIXTURES / rel, tmp_path)
    table = pq.read_table(report.tables[0].parquet)
    if column is None:  # the BOM never reaches a column name
        assert table.column_names == ["kitten", "win"]
        return
    got = table.column(column).to_pylist()[row]
    assert (got.isoformat() if hasattr(got, "isoformat") else got) == value
