"""Every real-world fixture in ../shared/fixtures: converted with concrete facts
checked, or refused with the right reason word. Never a traceback."""

import csv
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harvesters.convert import convert_file
from harvesters.convert.normalize import render_text
from harvesters.errors import RefusedFile

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures"
if not FIXTURES.is_dir():
    pytest.skip(f"shared fixtures not found at {FIXTURES}", allow_module_level=True)

C1_OR_FFFD = re.compile("[\u0080-\u009f\ufffd]")
H = "messytables-horror/"

# file -> {table name: (rows written, some column names in order)}
CONVERTS = {
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
    H + "large.xlsx": {  # two sheets hold two tables each: stacked, and side by side
        "Report_t1": (14, ["SERIES", "column_2", "'A' - ALL BONDS ISSUED"]),
        "Report_t2": (12, ["PERCENTAGE OF:", "All Series", "Series E"]),
        "data_t1": (8544, ["RptDate", "Series", "RecordType", "Total Pieces"]),
        "data_t2": (1986, ["ReportDate", "Series", "Bonds Out", "tranMonth", "FY", "Bonds Issued"]),
        "criteria": (1, ["Record Types", "column_2", "column_3", "Current Date", "Tran Month"]),
    },
    H + "large.ods": {  # 102 MB of content.xml, 16384 repeated empty columns per row
        "2007-08": (23760, ["Financial Year", "Financial Quarter", "Force Name", "Offence Code", "Number of Offences"]),
        "2008-09": (26753, ["Financial Year", "Number of Offences"]),
        "2009-10": (26048, ["Financial Year", "Number of Offences"]),
        "2010-11": (25872, ["Financial Year", "Number of Offences"]),
        "2011-12": (25872, ["Financial Year", "Number of Offences"]),
        "2012-13": (20328, ["Financial Year", "Number of Offences"]),
    },
    H + "blank_line.ods": {"blank_line": (3, ["Name", "Age", "When"])},  # the blank row inside is dropped
    H + "loffice-4.4.1.2.ods": {"loffice-4.4.1.2": (3, ["Name", "Age", "When"])},
    H + "simple.ods": {"simple": (3, ["Name", "Age", "When"])},
    H + "ods_formats.ods": {
        "ods_formats": (4, ["Date", "Time", "Boolean", "Float", "Currency", "Percentage", "Int", "Scientific"])
    },
    H + "simple.xls": {"simple": (6, ["date", "temperature", "place"])},  # 1904 date system
    H + "span_rich.xls": {"span_rich": (5, ["I", "h", "g", "f"])},
    H + "excel_properties.xls": {"excel_properties": (17, ["bold"])},  # one column of words, one blank row
    H + "simple.zip": {"simple": (6, ["date", "temperature", "place"])},  # its one member, simple.csv
    H + "html.html": {"html": (199, ["HDI Rank", "Country", "1990", "2010"])},  # footnotes/legend tables skipped
    H + "invisible_text.html": {
        "invisible_text": (3, ["Station", "Line(s)[*]", "Local Authority", "Zone(s)[†]", "Opened[4]", "Mainline opened"])
    },
    H + "rowcolspan.html": {"rowcolspan": (9, ["05", "06", "06_2", "08", "09"])},
    H + "badcolspan.html": {"badcolspan": (3, ["05", "06", "08", "09"])},  # colspan="", "foo", '""4""' count as 1
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
    H + "211.csv": "pii",  # contact persons' e-mail addresses (robert.egge@...) in four columns
    H + "encrypted_no_password.xls": "encrypted",
    H + "libreoffice.xlsx": "no table",  # one sheet, no cell
    H + "simple.unknown": "no table",  # empty file
    H + "small.csv": "no table",  # the single word "a"
    H + "complex.html": "no table",  # a layout table around a one-column table
    H + "multilineods.ods": "no table",  # one cell ("1\n2\n3\n4") on one sheet, two empty sheets
    H + "unicode_sheet_name.xls": "no table",  # one cell of text on sheet "mês"
}

NOT_DATA = {"README.md"}


def _all_fixture_files():
    return sorted(
        str(p.relative_to(FIXTURES.resolve()))
        for p in FIXTURES.resolve().rglob("*")
        if p.is_file() and p.name not in NOT_DATA
    )


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Each fixture converted once for all tests of this module (large.ods
    alone takes seconds)."""
    cache = {}

    def get(rel):
        if rel not in cache:
            cache[rel] = convert_file(FIXTURES / rel, tmp_path_factory.mktemp("fixture"))
        return cache[rel]

    return get


def test_every_fixture_has_a_verdict():
    # thai-real/ has one test per file, and its own completeness check, in test_real_files.py
    horror = {rel for rel in _all_fixture_files() if rel.startswith(H)}
    assert horror == {rel for rel in set(CONVERTS) | set(REFUSED) if rel.startswith(H)}


@pytest.mark.parametrize("rel", sorted(CONVERTS))
def test_fixture_converts(rel, converted):
    report = converted(rel)
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
        from_parquet = ["" if v is None else render_text(v) for v in parquet.column(name).to_pylist()]
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
        (H + "simple.xls", "date", 0, "2011-01-01"),  # 1904 date system, native date cell
        (H + "simple.ods", "When", 2, "2015-11-11"),
        (H + "blank_line.ods", "Name", 2, "Ian"),
        (H + "ods_formats.ods", "Boolean", 1, False),
        (H + "ods_formats.ods", "Float", 0, 11.11),
        (H + "ods_formats.ods", "Percentage", 0, 2),  # 200 % is the fraction 2
        (H + "ods_formats.ods", "Time", 3, "27:17:54"),  # a duration, not a time of day
        (H + "ods_formats.ods", "Time", 1, "00:00:12"),
        (H + "large.ods", "Number of Offences", 0, 188),
        (H + "span_rich.xls", "h", 1, "MERGE"),  # the merged data cell repeats over its range
        (H + "span_rich.xls", "g", 1, "MERGE"),
        (H + "html.html", "Country", 4, "Norway"),
        (H + "html.html", "1990", 4, "9"),  # ".." marks keep the column text
        (H + "invisible_text.html", "Opened[4]", 0, "1 July 1879"),  # the hidden sort key is gone
        (H + "invisible_text.html", "Usage[5]", 0, 5.58),
        (H + "invisible_text.html", "Line(s)[*]", 0, "District\nPiccadilly"),  # <br> is a line break
        (H + "simple.zip", "place", 5, "Berkeley"),
    ],
)
def test_fixture_values(rel, column, row, value, converted):
    report = converted(rel)
    table = pq.read_table(report.tables[0].parquet)
    if column is None:  # the BOM never reaches a column name
        assert table.column_names == ["kitten", "win"]
        return
    got = table.column(column).to_pylist()[row]
    assert (got.isoformat() if hasattr(got, "isoformat") else got) == value


def _parquet(rel, converted, table=0):
    report = converted(rel)
    return pq.read_table(report.tables[table].parquet).to_pydict()


def test_rowcolspan_html_spans_fill_every_cell(converted):
    data = _parquet(H + "rowcolspan.html", converted)
    # <td rowspan=2>25</td>, <td colspan=2 rowspan=2>27</td>, ... as a browser lays them out
    assert data["05"] == [15, 25, 25, 45, 55, 65, 65, 85, 95]
    assert data["06_2"] == [17, 27, 27, 47, 57, 67, 77, 77, 97]
    assert data["08"] == [18, 27, 27, 48, 58, 68, 77, 77, 98]
    assert data["09"] == [19, 29, 39, 49, 59, 69, 79, 89, 99]


def test_badcolspan_html_keeps_columns_aligned(converted):
    data = _parquet(H + "badcolspan.html", converted)
    assert list(data) == ["05", "06", "08", "09"]
    assert all(v == ["05", "06", "08", "09"][i] for i, col in enumerate(data.values()) for v in col)


def test_invisible_text_never_reaches_the_output(converted):
    report = converted(H + "invisible_text.html")
    text = open(report.tables[0].csv, encoding="utf-8").read()
    for hidden in ("7000558000000000000", "01879-07-01-0000", "z !", "sortkey"):
        assert hidden not in text


def test_large_ods_reads_every_sheet(converted):
    report = converted(H + "large.ods")
    assert [t.sheet for t in report.tables] == ["2007-08", "2008-09", "2009-10", "2010-11", "2011-12", "2012-13"]
    assert {c.name: c.type for c in report.tables[0].columns}["Offence Code"] == "text"


def test_large_ods_reader_streams_past_trailing_empties():
    """The reader alone: a 100 MB content.xml with a million repeated empty
    rows and 16384 repeated empty cells per row; the empties are counted,
    never stored (no timed assertion: speed is bench/'s job)."""
    from harvesters.convert.readers import ods

    result = ods.read(FIXTURES / H / "large.ods")
    assert [len(g.rows) for g in result.grids] == [23761, 26754, 26049, 25873, 25873, 20329]
    assert max(len(r) for g in result.grids for r in g.rows) == 5
