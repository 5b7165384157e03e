"""normalize.py: nulls, numbers, dates (B.E.), inference, Thai IDs."""

import datetime as dt

import pytest

from harvesters.convert.columns import infer_column
from harvesters.convert.normalize import (
    DATE, DECIMAL, INTEGER, TEXT, BOOLEAN,
    clean_header, format_number, is_null, parse_date, parse_number, trim,
)
from harvesters.convert.pii import PiiCounts, is_valid_thai_id
from tests.thai_ids import thai_id


@pytest.mark.parametrize("value", [None, "", "   ", "\u00a0", "-", " - ", float("nan")])
def test_nulls(value):
    assert is_null(value)


@pytest.mark.parametrize("value", ["--", "0", "n/a", "–", 0])
def test_not_nulls(value):
    assert not is_null(value)


def test_trim_includes_nbsp_and_zero_width():
    assert trim("\u00a0\u200b สงขลา \u00a0") == "สงขลา"
    assert trim("a  b") == "a  b"  # inner text is kept


@pytest.mark.parametrize(
    "text, number",
    [("1234", 1234), ("1,234", 1234), ("1,234.5", 1234.5), ("-7", -7), ("๑,๒๓๔", 1234),
     ("๒๕๖๗", 2567), ("0", 0), ("0.25", 0.25), (" 12 ", 12), (3.0, 3), (2.5, 2.5)],
)
def test_numbers(text, number):
    assert parse_number(text) == number


@pytest.mark.parametrize("text", ["03006", "007", "1,23", "12a", "1 234", "", "-", True, "2,5"])
def test_not_numbers(text):
    assert parse_number(text) is None


@pytest.mark.parametrize(
    "text, date",
    [
        ("29/02/2567", dt.date(2024, 2, 29)),
        ("1/2/2024", dt.date(2024, 2, 1)),  # day first, always
        ("13/01/2566", dt.date(2023, 1, 13)),
        ("2567-01-15", dt.date(2024, 1, 15)),
        ("2024-01-15", dt.date(2024, 1, 15)),
        ("31 ธ.ค. 2566", dt.date(2023, 12, 31)),
        ("1 มกราคม 2567", dt.date(2024, 1, 1)),
        ("๕ มี.ค. ๒๕๖๗", dt.date(2024, 3, 5)),
        ("5 มี.ค.2567", dt.date(2024, 3, 5)),
        ("15 ก.ย. พ.ศ. 2565", dt.date(2022, 9, 15)),
        ("15 มกราคม 67", dt.date(2024, 1, 15)),  # the short B.E. year after a Thai month: 2567
        ("15 ม.ค. 67", dt.date(2024, 1, 15)),
        (dt.datetime(2013, 6, 30), dt.date(2013, 6, 30)),
        (dt.date(2567, 1, 1), dt.date(2024, 1, 1)),  # a B.E. year typed into a date cell
    ],
)
def test_dates(text, date):
    assert parse_date(text) == date


@pytest.mark.parametrize("text", ["31/02/2567", "2567", "13/13/2024", "2024-1-1x", "31 Dec 2023", "15/01/67",
                                  "29/02/2566", dt.datetime(2024, 1, 1, 8, 30)])
def test_not_dates(text):
    assert parse_date(text) is None


def test_be_iso_date_never_keeps_year_2567():
    column = infer_column("d", ["2567-01-15", "2567-02-01"])
    assert column.type == DATE
    assert [v.year for v in column.values] == [2024, 2024]


def test_integer_column_with_nulls_and_thai_digits():
    column = infer_column("n", ["1,234", "-", "", "๕", None])
    assert column.type == INTEGER
    assert column.values == [1234, None, None, 5, None]


def test_decimal_column():
    column = infer_column("n", ["1", "2.5", "1,000.25"])
    assert column.type == DECIMAL
    assert column.values == [1.0, 2.5, 1000.25]


def test_leading_zero_codes_stay_text():
    column = infer_column("code", ["03006", "10110", "-"])
    assert column.type == TEXT
    assert column.values == ["03006", "10110", None]


def test_mixed_column_stays_text_and_keeps_every_value():
    raw = ["12", "n/a", "1,234", "๕", " x ", "29/02/2567"]
    column = infer_column("mixed", raw)
    assert column.type == TEXT
    assert column.values == ["12", "n/a", "1,234", "๕", "x", "29/02/2567"]


def test_date_column_from_mixed_notations():
    column = infer_column("d", ["29/02/2567", "31 ธ.ค. 2566", "2024-03-01", dt.datetime(2024, 1, 2)])
    assert column.type == DATE
    assert column.values[:2] == [dt.date(2024, 2, 29), dt.date(2023, 12, 31)]


def test_year_column_stays_numeric():
    column = infer_column("fiscal_year", ["2566", "2567"])
    assert column.type == INTEGER and column.values == [2566, 2567]


def test_native_booleans_and_empty_column():
    assert infer_column("b", [True, None, False]).type == BOOLEAN
    empty = infer_column("e", [None, "", "-"])
    assert empty.type == TEXT and empty.values == [None, None, None]


def test_int64_overflow_stays_text():
    column = infer_column("id", ["99999999999999999999", "1"])
    assert column.type == TEXT


def test_clean_header():
    assert clean_header("  จำนวน\n(คัน)\u00a0 \u200b") == "จำนวน (คัน)"
    assert clean_header(2565) == "2565"
    assert clean_header("e\u0301") == "\u00e9"  # NFC


@pytest.mark.parametrize("number, text", [(1234.5, "1234.5"), (379.0, "379"), (1e20, "100000000000000000000"),
                                          (1.5e-7, "0.00000015"), (42, "42")])
def test_format_number_is_plain(number, text):
    assert format_number(number) == text


def test_thai_id_checksum():
    valid = thai_id("110170012345")
    assert is_valid_thai_id(valid)

    wrong = valid[:12] + str((int(valid[12]) + 1) % 10)
    assert not is_valid_thai_id(wrong)


def looks_like_thai_ids(values):
    import pyarrow as pa

    counts = PiiCounts()
    counts.add(pa.array(values, pa.string()))
    return counts.is_personal()


def test_id_column_detection():
    ids = [thai_id(f"1101700{n:05d}") for n in range(20)]
    assert looks_like_thai_ids(ids + ["-"])
    invalid = [i[:12] + str((int(i[12]) + 1) % 10) for i in ids]
    assert not looks_like_thai_ids(invalid)
