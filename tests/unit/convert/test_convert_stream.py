"""The streaming path for big delimited files gives exactly what the in-memory path gives.

Every input here goes through ``convert_file`` twice: once in memory (threshold
out of reach) and once forced through ``stream.py`` (threshold 0, and small
batches so that a few KB already make many batches: titles, headers and
footers land in different batches than most data). The CSV bytes, the Parquet
schema and values and the report must be identical. No timings here: see
bench/convert_throughput.py.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import random
import re
import struct
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harvesters.convert import convert_file, stream
from harvesters.convert import vector as V
from harvesters.convert.normalize import format_number, parse_date, parse_number
from harvesters.errors import RefusedFile
from tests.thai_ids import thai_id

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / ".." / "shared" / "fixtures"
FIXTURE_FILES = sorted(
    p for pattern in ("messytables-horror/*.csv", "messytables-horror/*.tsv", "messytables-horror/*.psv",
                      "messytables-horror/*.ssv", "thai-real/*.csv")
    for p in FIXTURES.glob(pattern)
)
# Fixtures the streaming path must handle itself (the others fall back to the
# in-memory path by design: UTF-16, legacy Western code pages).
MUST_STREAM = {
    "begrotingsanalyse-2011.csv", "complex.csv", "example.tsv", "excel_pasting.csv", "long.csv",
    "mixedGLB.csv", "null.csv", "simple.csv", "simple.psv", "simple.ssv", "skip_initials.csv",
    "utf8bom.csv", "weird_head_padding.csv", "n_icu_bed_2553.csv",
}


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_large_csv", ROOT / "bench" / "generate_large_csv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- running both paths ------------------------------------------------------------------


class Outcome:
    def __init__(self, report=None, error=None, files=None):
        self.report, self.error, self.files = report, error, files or {}


def _run(path: Path, out: Path, monkeypatch, *, streaming: bool, chunk: int | None = None, **kwargs) -> Outcome:
    with monkeypatch.context() as m:
        m.setenv(stream.ENV_THRESHOLD, "0" if streaming else str(1 << 50))
        if chunk:
            m.setattr(stream, "CHUNK_BYTES", chunk)
            m.setattr(stream, "FIRST_CHUNK_BYTES", chunk)
        try:
            report = convert_file(path, out, **kwargs)
        except RefusedFile as exc:
            return Outcome(error=str(exc))
    dumped = json.loads(json.dumps(report.model_dump(mode="json")).replace(str(out), "OUT"))
    files = {}
    for table in report.tables:
        if table.csv:
            files[table.csv] = Path(table.csv).read_bytes()
        if table.parquet:
            files[table.parquet] = pq.read_table(table.parquet)
    return Outcome(report=dumped, files=files)


def assert_same(path: Path, tmp_path: Path, monkeypatch, chunk: int | None = 700, **kwargs) -> Outcome:
    memory = _run(path, tmp_path / "memory", monkeypatch, streaming=False, **kwargs)
    streamed = _run(path, tmp_path / "stream", monkeypatch, streaming=True, chunk=chunk, **kwargs)
    assert streamed.error == memory.error
    assert streamed.report == memory.report
    for (mem_path, mem), (str_path, got) in zip(sorted(memory.files.items()), sorted(streamed.files.items())):
        assert Path(mem_path).name == Path(str_path).name
        if isinstance(mem, bytes):
            assert got == mem, f"CSV differs: {Path(mem_path).name}"
        else:
            assert got.schema == mem.schema
            assert got.equals(mem), f"Parquet values differ: {Path(mem_path).name}"
    return memory


@pytest.fixture
def streamed_files(monkeypatch):
    """Names of the files convert_streaming finished (no NotStreamable fallback)."""
    done = []
    real = stream.convert_streaming

    def spy(path, *args, **kwargs):
        report = real(path, *args, **kwargs)
        done.append(Path(path).name)
        return report

    monkeypatch.setattr(stream, "convert_streaming", spy)
    return done


# --- fixtures -------------------------------------------------------------------------------


@pytest.mark.skipif(not FIXTURE_FILES, reason="shared fixtures not found")
@pytest.mark.parametrize("chunk", [None, 700], ids=["default-batches", "tiny-batches"])
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_same_through_both_paths(path, chunk, tmp_path, monkeypatch, streamed_files):
    assert_same(path, tmp_path, monkeypatch, chunk=chunk)
    if path.name in MUST_STREAM:
        assert streamed_files == [path.name]


# --- generated Thai files -----------------------------------------------------------------------


def test_generated_thai_cp874_file(tmp_path, monkeypatch, streamed_files):
    generator = _load_generator()
    path = tmp_path / "สถานี.csv"
    generator.generate(path, 300_000, seed=7)
    memory = assert_same(path, tmp_path, monkeypatch, chunk=16_384)
    assert streamed_files == ["สถานี.csv"]
    table = memory.report["tables"][0]
    assert memory.report["encoding"] == "cp874"
    assert [c["type"] for c in table["columns"]] == [
        "text", "text", "text", "date", "decimal", "integer", "integer", "decimal", "text"]
    assert {d["reason"]: d["count"] for d in table["rows_dropped"]} == {"title": 1, "blank": 2, "footer": 1}


THAI_TEXT = (
    "รายงานผู้ป่วยรายจังหวัด “ปีงบประมาณ 2567” – กรมควบคุมโรค\r\n"
    "\r\n"
    "จังหวัด,รหัส,วันที่รายงาน,จำนวน,ค่าเฉลี่ย,ผสม,วันที่ไทย,หมายเหตุ\r\n"
    "{rows}"
    "\r\n"
    "ที่มา: กรมควบคุมโรค กระทรวงสาธารณสุข\r\n"
    "หมายเหตุ: ข้อมูลเบื้องต้น\r\n"
)
PROVINCES = ["เชียงใหม่", "ลำพูน", "ตรัง", "กรุงเทพมหานคร", "สงขลา"]
MONTHS = ["ม.ค.", "ก.พ.", "มี.ค.", "เมษายน", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."]


def _thai_rows(rng: random.Random, count: int, *, mixed_at: int | None = None, bad_date_at: int | None = None) -> str:
    lines = []
    for i in range(count):
        province = rng.choice(PROVINCES) + (" " if i % 3 == 0 else "") + ("\u00a0" if i % 7 == 0 else "")
        code = f"{rng.randint(1, 99999):05d}"
        date = f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.randint(2540, 2567)}"
        if i == bad_date_at:
            date = "31/02/2567"
        n = rng.randint(0, 5_000_000)
        number = "-" if i % 11 == 0 else (f'"{n:,}"' if n >= 1000 else str(n))
        if i % 13 == 0:
            number = str(rng.randint(0, 999)).translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
        mean = f"{rng.uniform(-100, 1e6):.{rng.randint(0, 4)}f}"
        mixed = str(rng.randint(1, 9)) if i != mixed_at else "ไม่ทราบ"
        thai_date = f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {rng.randint(2560, 2567)}"
        note = rng.choice(["", "-", " ", "ข้อมูล “เบื้องต้น”", "ซ่อม – ชั่วคราว", "a,b"])
        note = f'"{note}"' if "," in note else note
        lines.append(f"{province},{code},{date},{number},{mean},{mixed},{thai_date},{note}\r\n")
    return "".join(lines)


@pytest.mark.parametrize("chunk", [256, 4096, None])
def test_thai_cp874_title_footer_be_dates_numbers(chunk, tmp_path, monkeypatch, streamed_files):
    rng = random.Random(1)
    path = tmp_path / "ผู้ป่วย.csv"
    path.write_bytes(THAI_TEXT.format(rows=_thai_rows(rng, 400, mixed_at=350)).encode("cp874"))
    memory = assert_same(path, tmp_path, monkeypatch, chunk=chunk)
    assert streamed_files == ["ผู้ป่วย.csv"]
    types = {c["name"]: c["type"] for c in memory.report["tables"][0]["columns"]}
    assert types == {"จังหวัด": "text", "รหัส": "text", "วันที่รายงาน": "date", "จำนวน": "integer",
                     "ค่าเฉลี่ย": "decimal", "ผสม": "text", "วันที่ไทย": "date", "หมายเหตุ": "text"}


def test_one_bad_value_late_keeps_the_column_text(tmp_path, monkeypatch, streamed_files):
    """The last rows, in the last batch, decide the type as much as the first."""
    rng = random.Random(2)
    path = tmp_path / "late.csv"
    path.write_bytes(THAI_TEXT.format(rows=_thai_rows(rng, 600, mixed_at=598, bad_date_at=597)).encode("cp874"))
    memory = assert_same(path, tmp_path, monkeypatch, chunk=512)
    types = {c["name"]: c["type"] for c in memory.report["tables"][0]["columns"]}
    assert types["ผสม"] == "text" and types["วันที่รายงาน"] == "text"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_utf8_quoting_and_line_ends(newline, tmp_path, monkeypatch, streamed_files):
    """Quoted fields with delimiters, escaped quotes and line breaks inside go
    through Python's csv module; simple lines are split vectorised."""
    rows = ["ชื่อ,จำนวน,ข้อความ"]
    for i in range(300):
        text = {0: 'พูดว่า ""สวัสดี""', 1: "สอง\nบรรทัด", 2: "a, b", 3: "  ช่องว่าง  "}.get(i % 10, f"ข้อ {i}")
        rows.append(f'ก{i}, "{i * 1000:,}","{text}"' if i % 10 < 4 else f"ก{i},{i},{text}")
    path = tmp_path / "quoted.csv"
    path.write_bytes(("\ufeff" + newline.join(rows) + newline).encode("utf-8"))
    assert_same(path, tmp_path, monkeypatch, chunk=300)
    assert streamed_files == ["quoted.csv"]


def test_record_spanning_batches_and_unclosed_quote_at_end(tmp_path, monkeypatch, streamed_files):
    long_cell = "บรรทัด\n" * 200
    text = "a,b,c\n" + "".join(f'{i},"{long_cell if i == 5 else i}",x\n' for i in range(50)) + '9,"never closed\n'
    path = tmp_path / "span.csv"
    path.write_text(text, encoding="utf-8")
    assert_same(path, tmp_path, monkeypatch, chunk=256)
    assert streamed_files == ["span.csv"]


def test_odd_values_exotic_digits_big_numbers_ragged_rows(tmp_path, monkeypatch, streamed_files):
    rows = [
        "id,arabic,big,huge,float,code,only_header,lone",
        "1,١٢٣,9223372036854775807,99999999999999999999,1e,001,,",
        "2,٤٥,-9223372036854775808,1,12345678901234567890.5,002,,x",
        "3,٦,1234567890123456789,2,0.00001,003,,",
        "4,7,-,3,-0.0,004,,",
        "5,8,5,4,123456789012345678901234.5,005,,",
        "6,9,6",
        "7,10,7,5,1.5,,,,,extra",
        "",
        "8,11,8,6,2,006,,",
    ]
    path = tmp_path / "odd.csv"
    path.write_text("\n".join(rows * 1) + "\n", encoding="utf-8")
    assert_same(path, tmp_path, monkeypatch, chunk=64)
    assert streamed_files == ["odd.csv"]


def test_pii_refused_the_same_way(tmp_path, monkeypatch):
    def random_id(rng):
        return thai_id(str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(11)))

    rng = random.Random(5)
    path = tmp_path / "ids.csv"
    path.write_text("ชื่อ,เลขประจำตัว\n" + "".join(f"ก{i},{random_id(rng)}\n" for i in range(200)), encoding="utf-8")
    memory = assert_same(path, tmp_path, monkeypatch, chunk=512)
    assert memory.error and "pii" in memory.error
    assert_same(path, tmp_path / "allowed", monkeypatch, chunk=512, allow_pii=["เลขประจำตัว"])


def test_nothing_tabular_refused_the_same_way(tmp_path, monkeypatch):
    path = tmp_path / "words.csv"
    path.write_text("hello\n\n\n", encoding="utf-8")
    memory = assert_same(path, tmp_path, monkeypatch)
    assert memory.error and "no table" in memory.error


def test_latin1_falls_back_to_the_in_memory_path(tmp_path, monkeypatch, streamed_files):
    path = tmp_path / "es.csv"
    path.write_bytes("año,señal\n1,ñandú\n2,pingüino\n".encode("cp1252"))
    assert_same(path, tmp_path, monkeypatch)
    assert streamed_files == []


# --- dispatch, temporary files, failures ------------------------------------------------------------------


def test_small_files_stay_in_memory_by_default(tmp_path, monkeypatch, streamed_files):
    monkeypatch.delenv(stream.ENV_THRESHOLD, raising=False)
    path = tmp_path / "small.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    convert_file(path, tmp_path / "out")
    assert streamed_files == []
    assert stream.stream_threshold() == stream.STREAM_THRESHOLD == 64 * 2**20


def test_failure_leaves_no_output_and_no_spill(tmp_path, monkeypatch):
    monkeypatch.setenv(stream.ENV_THRESHOLD, "0")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = tmp_path / "in.csv"
    path.write_text("a,b\n" + "".join(f"{i},x{i}\n" for i in range(1000)), encoding="utf-8")

    calls = []

    def broken(texts):
        calls.append(1)
        if len(calls) > 1:
            raise OSError("disk full")
        return b"1,x\n"

    monkeypatch.setattr(stream, "CHUNK_BYTES", 1024)
    monkeypatch.setattr(stream, "_csv_lines", broken)
    with pytest.raises(OSError):
        convert_file(path, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert list((tmp_path / "tmp").iterdir()) == []

    monkeypatch.undo()
    monkeypatch.setenv(stream.ENV_THRESHOLD, "0")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    report = convert_file(path, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["in.csv", "in.parquet"]
    assert report.tables[0].rows_written == 1000
    assert list((tmp_path / "tmp").iterdir()) == []


# --- the vectorised twins of normalize.py ----------------------------------------------------------


def _random_cells(rng: random.Random, count: int) -> list[str]:
    pieces = ["0", "1", "9", "๑", "๙", "١", ",", ".", "-", "+", "/", " ", "ธ.ค.", "มกราคม", "พ.ศ.", "ค.ศ.",
              "25", "2567", "31", "02", "000", "e", "x", "\u00a0"]
    cells = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.2:
            cells.append(f"{rng.randint(-10**6, 10**6):,}" if rng.random() < 0.5 else str(rng.randint(-10**20, 10**20)))
        elif kind < 0.35:
            cells.append(f"{rng.randint(0, 40)}/{rng.randint(0, 14)}/{rng.randint(0, 3000):04d}")
        elif kind < 0.45:
            cells.append(f"{rng.randint(0, 3000):04d}-{rng.randint(0, 14)}-{rng.randint(0, 40)}")
        elif kind < 0.55:
            cells.append(f"{rng.randint(0, 40)}{rng.choice(['', ' '])}{rng.choice(MONTHS)}{rng.choice(['', ' พ.ศ.'])} "
                         f"{rng.randint(1, 2999)}")
        elif kind < 0.65:
            cells.append(repr(rng.uniform(-1e6, 1e6)))
        else:
            cells.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))).strip() or "x")
    return cells


def assert_evidence_matches_normalize(cells: list[str]) -> tuple[dict, list[str]]:
    """stream._evidence counts what normalize's plain parsers find; returns the evidence and the present cells."""
    ev = stream._evidence(pa.array(cells))
    present = [c for c in cells if c != "-"]
    assert ev["present"] == len(present)
    assert ev["num"] == sum(parse_number(c) is not None for c in present)
    assert ev["int"] == sum(isinstance(parse_number(c), int) for c in present)
    assert ev["date"] == sum(parse_date(c) is not None for c in present)
    return ev, present


def test_evidence_matches_normalize(monkeypatch):
    rng = random.Random(11)
    for _ in range(20):
        assert_evidence_matches_normalize(_random_cells(rng, 300))


def test_date_cast_matches_parse_date():
    rng = random.Random(12)
    cells = [c for c in _random_cells(rng, 3000) if parse_date(c) is not None]
    assert len(cells) > 100
    typed, text = stream._cast(pa.array(cells), "date")
    assert typed.to_pylist() == [parse_date(c) for c in cells]
    assert text.to_pylist() == [parse_date(c).isoformat() for c in cells]


def test_short_be_years_cast_like_parse_date():
    cells = ["15 มกราคม 67", "15 ม.ค. 67", "1 ธ.ค. 2566", "๕ มี.ค. ๖๗", "31 ก.พ. 67"]
    translated = pa.array([c.translate(str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")) for c in cells])
    assert V.parse_dates(translated, distinct=False).to_pylist() == [parse_date(c) for c in cells]


def test_number_casts_match_parse_number():
    rng = random.Random(13)
    ints = [f"{rng.randint(-10**18, 10**18):,}" for _ in range(500)] + ["๑๒๓", "+5", "-0", "١٢", "9223372036854775807"]
    typed, text = stream._cast(pa.array(ints), "integer")
    assert typed.to_pylist() == [parse_number(c) for c in ints]
    assert text.to_pylist() == [str(parse_number(c)) for c in ints]
    decimals = ints + [repr(rng.uniform(-1e3, 1e3)) for _ in range(500)] + [
        f"{rng.randint(0, 10**25)}.{rng.randint(0, 999)}" for _ in range(200)] + [".5", "-.25", "0.0001", "1.0"]
    decimals = [d for d in decimals if "e" not in d]
    typed, text = stream._cast(pa.array(decimals), "decimal")
    assert typed.to_pylist() == [float(parse_number(c)) for c in decimals]
    assert text.to_pylist() == [format_number(float(parse_number(c))) for c in decimals]


def test_float_text_matches_format_number():
    rng = random.Random(14)
    values = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(5000)]
    values = [v for v in values if math.isfinite(v)] + [10.0 ** e for e in range(-30, 30)] + [-0.0, 0.1 + 0.2]
    assert V.decimal_csv_text(pa.array(values)).to_pylist() == [format_number(v) for v in values]


def test_csv_quoting_matches_csv_writer():
    values = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\ronly", " lead", "", "ไทย, ค่ะ"]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    assert ",".join(V.csv_quote(pa.array(values)).to_pylist()) + "\n" == buf.getvalue()


def test_whitespace_set_is_pythons():
    import sys

    expected = "".join(chr(c) for c in range(sys.maxunicode + 1) if re.match(r"\s", chr(c)))
    assert V.PY_WHITESPACE == expected


# --- the parts pass 1 and pass 2 run in workers, against their plain twins -----------------


def test_evidence_over_distinct_values_matches_normalize():
    # Many repeats: the evidence is counted over distinct values, weighted.
    rng = random.Random(21)
    for _ in range(5):
        pool = _random_cells(rng, 60) + ["1234567890123", "1-2345-67890-12-1", "๑๒๓", "١٢", "-"]
        cells = [rng.choice(pool) for _ in range(3000)]
        assert stream._repeats(pa.array(cells))
        ev, present = assert_evidence_matches_normalize(cells)
        by_value = [V.python_evidence(c) for c in present]
        assert (ev["id"], ev["id_valid"]) == (sum(e[3] for e in by_value), sum(e[4] for e in by_value))


def test_date_cast_over_distinct_values_matches_parse_date():
    rng = random.Random(22)
    pool = [c for c in _random_cells(rng, 3000) if parse_date(c) is not None][:200] + ["١/٢/٢٠٢٠"]
    cells = [rng.choice(pool) for _ in range(5000)] + [None] * 10
    typed, text = stream._cast(pa.array(cells, pa.string()), "date")
    assert typed.to_pylist() == [parse_date(c) if c else None for c in cells]
    translated = V.translate_thai_digits(pa.array(cells, pa.string()))
    exotic = V.exotic_mask(translated)
    assert V.parse_dates(translated, exotic).equals(V.parse_dates(translated, exotic, distinct=False))


def test_cp874_decoder_matches_the_codec():
    rng = random.Random(23)
    samples = [bytes([b]) for b in range(256)] + [b""]
    samples += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 50))) for _ in range(2000)]
    samples += ["ภาษาไทย “ทดสอบ” – ๑๒๓ €…".encode("cp874") * 50]
    for chunk in samples:
        try:
            expected = chunk.decode("cp874").encode("utf-8")
        except UnicodeDecodeError:
            with pytest.raises(stream.NotStreamable):
                stream._cp874_to_utf8(chunk)
        else:
            assert stream._cp874_to_utf8(chunk) == expected


def test_thai_statistics_match_looks_thai():
    from harvesters.convert import decode

    rng = random.Random(24)
    for _ in range(3000):
        pool = [rng.randrange(256) for _ in range(3)] + [10, 32, 65, 0xA1, 0xDA, 0xDF, 0xFB, 0xA0, 0xE0, 0xB4]
        data = bytes(rng.choice(pool) for _ in range(rng.randint(0, 60))) + b"\n"
        try:
            data.decode("cp874")
        except UnicodeDecodeError:
            continue
        for exact in (True, False):
            stats = stream._ThaiStats(exact)
            stats.add(data)
            if stats.decided():
                assert stats.looks_thai() == decode.looks_thai(data)
        assert stream._ThaiStats(True).decided()


def test_quick_quote_check_never_contradicts_the_regex():
    import numpy as np
    import pyarrow.compute as pc

    rng = random.Random(25)
    said_simple = 0
    for delim in ",\t |;":
        splitter = stream._Splitter(delim, '"')
        alphabet = ["a", "ก", '"', delim, delim, " ", "\n", "\r", "\r\n", "x", '"1,2"', '""']
        for _ in range(1500):
            data = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))).encode()
            a = np.frombuffer(data, np.uint8)
            breaks = np.flatnonzero(a == 10)
            cr = np.flatnonzero(a == 13)
            breaks = np.union1d(breaks, cr[a[np.minimum(cr + 1, len(a) - 1)] != 10])
            quotes = np.flatnonzero(a == ord('"'))
            if not len(quotes) or not stream._Splitter._surely_simple(a, breaks, quotes, ord(delim)):
                continue
            said_simple += 1
            lines = stream._string_array(pa.py_buffer(data), np.concatenate(([0], breaks + 1)))
            assert pc.all(pc.match_substring_regex(lines, splitter.simple)).as_py() is True, data
    assert said_simple > 100


def test_split_with_a_carried_record_matches_the_sequential_split():
    text = 'a,"one\ntwo",b\nc,d,e\n'.encode()
    first, second = text[:7], text[7:]  # the first chunk ends (on a line break) inside the quoted field
    splitter = stream._Splitter(",", '"')
    rows1, carried = splitter.split_from(first, False, b"")
    assert rows1 is None and carried == first
    rows2, carried = splitter.split_from(second, True, carried)
    assert carried == b""
    assert rows2.to_pylist() == [["a", "one\ntwo", "b"], ["c", "d", "e"]]
