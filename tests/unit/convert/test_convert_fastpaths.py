"""The converter's fast paths give exactly what the plain pyarrow call they stand for gives."""

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from harvesters.convert import columns as C
from harvesters.convert.normalize import TRIM_CHARS
from harvesters.convert.pii import _candidates
from harvesters.convert.readers import delimited


def _random_values(rng: random.Random, alphabet: list[str], count: int, longest: int) -> pa.Array:
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest))) for _ in range(count)]
    values = [None if rng.random() < 0.1 else v for v in values]
    return pa.array(values, pa.string()).slice(rng.randint(0, 3))  # a slice: buffers start before it


def test_trim_matches_utf8_trim_with_every_trim_character():
    rng = random.Random(5)
    # Every trim character, quotes, Thai, and non-ASCII look-alikes that are not trimmed (curly quotes, en dash, °).
    alphabet = list(TRIM_CHARS) + list('ab"กข“”–°±') + ["\u00a0", "\u3000", "\ufeff"]
    for _ in range(300):
        values = _random_values(rng, alphabet, 20, 6)
        # The splitter asks the chunk's bytes whether a non-ASCII trim character may be there.
        maybe_wide = delimited._may_hold_wide_trim("".join(v or "" for v in values.to_pylist()).encode())
        for extra in ("", '"'):
            expected = pc.utf8_trim(values, characters=TRIM_CHARS + extra).to_pylist()
            assert delimited._trim(values, extra).to_pylist() == expected
            assert delimited._trim(values, extra, maybe_wide).to_pylist() == expected


def test_null_markers_and_dashes_match_the_plain_definitions():
    rng = random.Random(7)
    alphabet = list("nNaA/.#-vVdDiI0!?") + ["", "ก"]
    markers = set(C.NULL_MARKERS)
    for _ in range(200):
        values = _random_values(rng, alphabet, 30, 7)
        expected = [v is not None and v.lower() in markers for v in values.to_pylist()]
        assert C._markers(values).tolist() == expected
        nulled = C.nullish_to_null(values).to_pylist()
        assert nulled == [None if v == "-" else v for v in values.to_pylist()]


def test_pii_candidates_are_cells_with_ten_digits_or_an_at_sign():
    rng = random.Random(11)
    alphabet = list("0123456789 -@x") + ["๐", "๕", "๙", "ก", "น", "ฐ"]
    for _ in range(300):
        values = _random_values(rng, alphabet, 30, 16)
        expected = [i for i, v in enumerate(values.to_pylist())
                    if v is not None and (sum(ch.isdigit() for ch in v) >= 10 or "@" in v)]
        assert _candidates(values).tolist() == expected


def test_with_nulls_keeps_existing_nulls_and_text():
    values = pa.array(["a", None, "c", "d"]).slice(1)
    out = C.with_nulls(values, np.array([False, True, False]))
    assert out.to_pylist() == [None, None, "d"]


def test_thai_byte_counts_match_run_lengths():
    from itertools import groupby

    from harvesters.convert.decode import thai_byte_counts

    rng = random.Random(13)
    for _ in range(500):
        data = bytes(rng.choice([0x41, 0x0A, 0x80, 0xA1, 0xC0, 0xDF, 0xE0, 0xFF]) for _ in range(rng.randint(0, 14)))
        high = sum(b >= 0x80 for b in data)
        runs = [len(list(g)) for is_high, g in groupby(data, key=lambda b: b >= 0x80) if is_high]
        thai = sum(0xA1 <= b <= 0xDA or 0xDF <= b <= 0xFB for b in data)
        expected = (high, sum(n for n in runs if n >= 3), thai) if high else (0, 0, 0)
        assert thai_byte_counts(data) == expected


def test_dashes_and_curly_quotes_do_not_count_as_wide_trim_characters():
    assert not delimited._may_hold_wide_trim("รายงาน “ปีงบประมาณ 2540–2567”, ok\n".encode())
    for ch in ("\u00a0", "\u2009", "\u200b", "\u3000", "\ufeff", "\u205f"):
        assert delimited._may_hold_wide_trim(f"ก–{ch}x".encode())


def test_plain_integer_shortcut_agrees_with_the_number_rule():
    from harvesters.convert.normalize import NUMBER

    rng = random.Random(11)
    for _ in range(300):
        values = [("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 5))))
                  for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.3:
            values[rng.randrange(len(values))] = rng.choice(["1,000", "1.5", "-3", "+4", "", "๑", "007"])
        array = pa.array(values, pa.string())
        shortcut = C._plain_integers(array)
        rule = all(pc.match_substring_regex(array, NUMBER).to_pylist()) and not any("." in v for v in values)
        assert not shortcut or rule, values  # the shortcut never calls a non-integer an integer
        if all(v.isdigit() and v.isascii() and (v == "0" or not v.startswith("0")) for v in values):
            assert shortcut, values


def test_plain_decimal_shortcut_agrees_with_the_number_rule():
    from harvesters.convert.normalize import NUMBER

    rng = random.Random(12)
    pieces = ["0", "1", "5", "9", ".", "00", "10"]
    for _ in range(3000):
        values = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.2:
            values[rng.randrange(len(values))] = rng.choice(["1,000.5", "-3.5", "+4", "", "๑.๕", "1e3", "1.2.3", "."])
        array = pa.array(values, pa.string())
        shortcut = C._plain_decimals(array)
        rule = all(pc.match_substring_regex(array, NUMBER).to_pylist())
        assert shortcut == rule or (not shortcut and any(not set(v) <= set("0123456789.") for v in values)), values


def test_a_text_that_turns_cp874_after_its_first_mib_is_read_again_as_cp874(tmp_path):
    # The head is plain ASCII (it reads as UTF-8); Thai cp874 rows come after it: the stream
    # starts over as cp874 once a chunk is not UTF-8 and the whole file looks Thai.
    from harvesters.convert import convert_file

    path = tmp_path / "late.csv"
    ascii_rows = "".join(f"{i},{i * 3}\n" for i in range(150_000))
    thai_rows = "".join(f"สถานีที่ {i},{i}\n" for i in range(20_000))
    path.write_bytes(b"code,value\n" + ascii_rows.encode("ascii") + thai_rows.encode("cp874"))
    assert path.stat().st_size > delimited.FIRST_CHUNK_BYTES
    report = convert_file(path, tmp_path / "out")
    assert report.encoding == "cp874"
    table = report.tables[0]
    assert table.rows_written == 170_000
    assert open(table.csv, encoding="utf-8").read().rstrip("\n").rsplit("\n", 1)[1] == "สถานีที่ 19999,19999"


def test_number_text_reuses_only_text_the_rules_print_unchanged():
    from harvesters.convert.normalize import _NUMBER

    rng = random.Random(17)
    pieces = ["0", "1", "5", "9", "00", "10", "12", "100", "123456789", "999999999999", "1234567"]
    for kind in (C.INTEGER, C.DECIMAL):
        for _ in range(300):
            values = []
            for _ in range(rng.randint(1, 40)):
                text = rng.choice(["", "-", "+"]) + "".join(rng.choice(pieces) for _ in range(rng.randint(1, 3)))
                if kind == C.DECIMAL and rng.random() < 0.6:
                    text = text + "." + rng.choice(pieces)
                if kind == C.DECIMAL and rng.random() < 0.05:
                    text = rng.choice(["", "-"]) + "." + rng.choice(pieces)
                if _NUMBER.match(text) and (kind == C.DECIMAL or abs(int(text)) < 2**63):
                    values.append(text)
                elif rng.random() < 0.3:
                    values.append(None)
            # Nulls made from markers and dashes keep their text in the buffers.
            col = C.nullish_to_null(pa.array(values + ["-", "N/A"], pa.string()))
            col = C.with_nulls(col, C._markers(col))
            typed, text = C._cast_number(col, kind)
            if kind == C.INTEGER:
                expected = pc.cast(typed, pa.string())
            else:
                expected = C.decimal_csv_text(typed)
            assert text.to_pylist() == expected.to_pylist(), values


def test_number_text_keeps_the_source_text_of_a_plain_column():
    col = pa.array(["12.5", None, "0.25", "3", "-7.75", "0.00001", "2.50", ".5"], pa.string())
    typed, text = C._cast_number(col, C.DECIMAL)
    assert text.to_pylist() == ["12.5", None, "0.25", "3", "-7.75", "0.00001", "2.5", "0.5"]
    assert C._not_as_printed(col, decimal=True).tolist() == [6, 7]
    assert C._not_as_printed(pa.array(["10", "0", "-3", None]), decimal=False).tolist() == []
    assert C._not_as_printed(pa.array(["-0", "5"]), decimal=False) is None  # "-0" prints "0": the full cast decides


def test_note_rows_match_the_table_rule():
    from harvesters.convert.engine import _note_rows
    from harvesters.convert.table import NOTE_PREFIXES

    rng = random.Random(19)
    starts = list(NOTE_PREFIXES) + ["SOURCE", "Note", "ที่", "แหล่ง", "หมาย", "ทาง", "แม่", "หก", "(C)", "x", "1", "ก", ""]
    for _ in range(300):
        width = rng.randint(1, 3)
        rows = []
        for _ in range(rng.randint(0, 30)):
            row = [rng.choice(starts) + rng.choice(["", " 2567", "ข"]) if rng.random() < 0.7 else None
                   for _ in range(width)]
            rows.append([v or None for v in row])
        columns = [pa.array([row[c] for row in rows], pa.string()) for c in range(width)]
        expected = [next((v for v in row if v is not None), "").lower().startswith(NOTE_PREFIXES) for row in rows]
        assert _note_rows(columns, len(rows)).tolist() == expected


def test_grouped_integers_are_integers_by_the_number_rule():
    from harvesters.convert.normalize import _NUMBER

    rng = random.Random(23)
    told = 0
    for _ in range(2000):
        values = [rng.choice(["1", "12", "123", "0", "1234", ""]) + "".join(
                  rng.choice([",123", ",000", ",12", "45", ",", ".5"]) for _ in range(rng.randint(0, 3)))
                  for _ in range(rng.randint(1, 4))]
        col = pa.array(values, pa.string())
        if C._grouped_integers(col):
            told += 1
            assert all(_NUMBER.match(v) and "." not in v for v in values), values
        elif all(_NUMBER.match(v) and "." not in v and v[0] != "0" for v in values):
            raise AssertionError(f"grouped integers not told: {values}")
    assert told > 100
    assert C._grouped_integers(pa.array(["1,542,185", "800,829", "12", "1,000,000,000"]))


def _reference_columns(text: str, delimiter: str) -> list[list[str | None]]:
    """csv.reader's rows (skipinitialspace), cells trimmed by the rules, blank as None, as columns;
    trailing columns blank throughout are not columns."""
    rows = [[C.canonical(cell) for cell in row] for row in delimited.parse(text, delimiter)]
    width = max((len(row) for row in rows), default=0)
    columns = [[row[i] if i < len(row) else None for row in rows] for i in range(width)]
    while columns and all(v is None for v in columns[-1]):
        columns.pop()
    return columns


@pytest.mark.parametrize("encoding", ["utf-8", "cp874"])
def test_splitter_splits_as_csv_reader_does(monkeypatch, encoding):
    rng = random.Random(29)
    plain = ["a", "ข", "12", " ", "  ", "\u00a0", "x'y", "ก ข", "“ไทย”", "–", "๑"]
    if encoding == "utf-8":
        plain += ["\u3000", "\u200b"]  # not in cp874
    quoted = ['"q,1"', ' "q 2"', '""', '" ข "']  # whole cells
    quoting = ['"a""b"', '"line\nbreak"', 'x"y', '"a" b']
    slow = []
    original = delimited._Splitter._slow
    monkeypatch.setattr(delimited._Splitter, "_slow", lambda self, *a: slow.append(1) or original(self, *a))
    for _ in range(600):
        odd = rng.random() < 0.3
        delimiter = rng.choice([",", ";", "\t", "|"])
        end = rng.choice(["\n", "\r\n", "\r"])
        lines = []
        for _ in range(rng.randint(1, 12)):
            cells = [rng.choice(quoted) if rng.random() < 0.2 else
                     "".join(rng.choice(plain + (quoting if odd else [])) for _ in range(rng.randint(0, 3)))
                     for _ in range(rng.randint(1, 5))]
            lines.append(delimiter.join(cells))
        text = end.join(lines) + rng.choice([end, ""])
        splitter = delimited._Splitter(delimiter, '"', 1 << 20, encoding)
        rows, pending = splitter.split_from(text.encode(encoding), True, b"")
        got = delimited._columns(rows, 1000).columns if rows is not None and len(rows) else []
        assert pending == b""
        assert [col.to_pylist() for col in got] == _reference_columns(text, delimiter), text
    assert 50 < len(slow) < 300  # both the byte splitter and csv.reader were asked


def test_a_cp874_chunk_is_split_before_it_is_decoded():
    splitter = delimited._Splitter(",", '"', 1 << 20, "cp874")
    text = "\u00a0ก ข\u00a0, 1,\"๑,๐๐๐\"\n2,3,x\n“ไทย”,5,ฯ\n"
    *_, block = delimited._chunk_work(text.encode("cp874"), True, "cp874", splitter, 100)
    assert [col.to_pylist() for col in block.columns] == [["ก ข", "2", "“ไทย”"], ["1", "3", "5"], ["๑,๐๐๐", "x", "ฯ"]]
    assert all(col.type == pa.string() for col in block.columns)
    assert delimited._CP874_WIDE_TRIM == [b"\xa0"]  # cp874 holds no other trim character above ASCII



def test_thai_digits_translate_as_str_translate_does():
    rng = random.Random(31)
    table = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
    alphabet = list("๐๑๕๙01a,.") + ["ก", "ๆ", "\u1e50", "\u0e5a", "ฐ"]  # U+1E50 ends in B9 90 too
    for _ in range(300):
        values = _random_values(rng, alphabet, 25, 6)
        expected = [None if v is None else v.translate(table) for v in values.to_pylist()]
        assert C.translate_thai_digits(values).to_pylist() == expected


def test_a_cp874_cell_that_does_not_decode_reads_the_file_whole():
    splitter = delimited._Splitter(",", '"', 1 << 20, "cp874")
    with pytest.raises(delimited._Whole):
        delimited._chunk_work("ก,1\n".encode("cp874") + b"\xdb,2\n", True, "cp874", splitter, 100)
