"""A delimited text is written while it is read (engine._OnePass) when its head's
guess of layout and types holds for the whole file, and read again in two passes
when it does not. Either way the outputs are the ones the two-pass engine writes."""

import json

import pytest

from harvesters.convert import convert_file, engine
from harvesters.convert.readers import delimited

ROWS = 12_000
HEADER = "รหัส,ชื่อสถานี,วันที่,ปริมาณ"


def row(i: int) -> str:
    return f"{i},สถานี {i % 37},{1 + i % 28}/{1 + i % 12}/25{40 + i % 27},\"{i * 3 % 9000:,}.5\""


def write_csv(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="cp874")
    return path


CASES = {
    # name: (lines, read once?)
    "clean": ([HEADER] + [row(i) for i in range(ROWS)], True),
    "title and footer": (["รายงานปริมาณน้ำฝน", "", HEADER] + [row(i) for i in range(ROWS)]
                         + ["", "ที่มา: กรมอุตุนิยมวิทยา"], True),
    "marker late": ([HEADER] + [row(i) if i != 7000 else "7000,สถานี 7,1/1/2560,N/A" for i in range(ROWS)], True),
    "text late": ([HEADER] + [row(i) if i != 9000 else "9000,สถานี 9,1/1/2560,ไม่ทราบ" for i in range(ROWS)], False),
    "date column turns text": ([HEADER] + [row(i) if i != 8000 else "8000,สถานี 8,ปลายปี,1" for i in range(ROWS)], False),
    "note in the middle": ([HEADER] + [row(i) for i in range(6000)] + ["หมายเหตุ: ข้อมูลเบื้องต้น"]
                           + [row(i) for i in range(6000, ROWS)], False),
    "column filled late": ([HEADER + ","] + [row(i) + ("," if i < 8000 else ",x") for i in range(ROWS)], False),
    "wider rows late": ([HEADER] + [row(i) + (",extra" if i >= 8000 else "") for i in range(ROWS)], False),
}


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few KiB: the test files stream in dozens of blocks, past the head."""
    monkeypatch.setattr(delimited, "FIRST_CHUNK_BYTES", 8 * 1024)
    monkeypatch.setattr(delimited, "CHUNK_BYTES", 16 * 1024)


@pytest.fixture
def spill_writes(monkeypatch):
    """Counts the batches spilled for a second pass."""
    count = [0]
    original = engine._Spill.write

    def counted(self, cells, n):
        count[0] += 1
        return original(self, cells, n)

    monkeypatch.setattr(engine._Spill, "write", counted)
    return count


def outputs(out_dir):
    return {p.name: p.read_bytes() for p in sorted(out_dir.iterdir())}


@pytest.mark.parametrize("case", list(CASES))
def test_one_pass_writes_what_two_passes_write(case, tmp_path, small_chunks, spill_writes, monkeypatch):
    lines, read_once = CASES[case]
    src = write_csv(tmp_path / "data.csv", lines)
    report = convert_file(src, tmp_path / "once")
    assert (spill_writes[0] == 0) is read_once, f"{case}: spilled {spill_writes[0]} batches"

    def no_guess(self, *args):
        raise engine._Abandon

    monkeypatch.setattr(engine._OnePass, "add", no_guess)
    twice = convert_file(src, tmp_path / "twice")
    assert spill_writes[0] > 0
    assert outputs(tmp_path / "once") == outputs(tmp_path / "twice")
    strip = lambda r: json.loads(r.model_dump_json().replace(str(tmp_path / "once"), "").replace(str(tmp_path / "twice"), ""))  # noqa: E731
    assert strip(report) == strip(twice)
    assert not [p for p in (tmp_path / "once").iterdir() if p.name.startswith(".")]


def test_one_pass_results_read_as_the_rules_say(tmp_path, small_chunks, spill_writes):
    lines, _ = CASES["marker late"]
    report = convert_file(write_csv(tmp_path / "data.csv", lines), tmp_path / "out")
    table = report.tables[0]
    assert spill_writes[0] == 0
    assert table.rows_written == ROWS
    assert [(c.name, c.type) for c in table.columns] == [
        ("รหัส", "integer"), ("ชื่อสถานี", "text"), ("วันที่", "date"), ("ปริมาณ", "decimal")]
    assert table.columns[3].null_markers == ["N/A"]
    csv_lines = (tmp_path / "out" / "data.csv").read_text(encoding="utf-8").splitlines()
    assert csv_lines[1] == "0,สถานี 0,1997-01-01,0.5"
    assert csv_lines[7001] == "7000,สถานี 7,2017-01-01,"


def test_a_refused_file_read_once_leaves_nothing(tmp_path, small_chunks):
    lines = ["ชื่อ,โทรศัพท์"] + [f"คน {i},08{i % 10}-123-{i % 10000:04d}" for i in range(ROWS)]
    out = tmp_path / "out"
    with pytest.raises(Exception, match="mobile phone"):
        convert_file(write_csv(tmp_path / "people.csv", lines), out)
    assert not out.exists() or not list(out.iterdir())


def test_a_wide_head_does_not_wait_for_its_two_thousand_rows(tmp_path, small_chunks, spill_writes, monkeypatch):
    """Blocks waiting for the guess are bounded in cells, not only in rows: a file this wide
    is guessed from its first blocks, and read once all the same when the guess holds."""
    monkeypatch.setattr(engine, "BLOCK_CELLS", 2_000)
    guessed_at = []
    original = engine._OnePass._guess

    def spy(self, width, *args):
        guessed_at.append(len(width))
        return original(self, width, *args)

    monkeypatch.setattr(engine._OnePass, "_guess", spy)
    lines = [",".join(f"c{i}" for i in range(60))] + [",".join(str(r * i) for i in range(60)) for r in range(3000)]
    report = convert_file(write_csv(tmp_path / "wide.csv", lines), tmp_path / "out")
    assert guessed_at and guessed_at[0] < engine.HEAD_ROWS
    assert spill_writes[0] == 0 and report.tables[0].rows_written == 3000


def test_a_cp874_file_split_before_decoding_gives_what_its_utf8_twin_gives(tmp_path, small_chunks):
    """cp874 chunks are split as bytes and decoded by column; UTF-8 chunks are split as text. Quoted cells
    over several lines (carried from one chunk to the next), doubled quotes, NBSP and spaces to trim,
    blank cells and Thai digits must come out the same either way."""
    lines = ["รหัส,หมายเหตุ,จำนวน,สถานะ"]
    for i in range(3000):
        # Most line breaks sit inside quoted cells, so chunks end inside one and carry it over.
        many = "\n".join(f"บรรทัด {i}.{k}" for k in range(8))
        note = f"\"{many}\nต่อ, \"\"ยก\"\"\"" if i % 3 == 0 else f"\u00a0ข้อความ {i % 13} "
        lines.append(f"{i},{note},{'๑๒' if i % 5 == 0 else i % 50},{'' if i % 7 == 0 else 'ปกติ'}")
    text = "\n".join(lines) + "\n"
    (tmp_path / "thai.csv").write_bytes(text.encode("cp874"))
    (tmp_path / "utf8.csv").write_bytes(text.encode("utf-8"))
    report_cp874 = convert_file(tmp_path / "thai.csv", tmp_path / "out-cp874")
    report_utf8 = convert_file(tmp_path / "utf8.csv", tmp_path / "out-utf8")
    assert report_cp874.encoding == "cp874" and report_utf8.encoding == "utf-8"
    got = {k.replace("thai", "utf8"): v for k, v in outputs(tmp_path / "out-cp874").items()}
    assert got == outputs(tmp_path / "out-utf8")
    body = (tmp_path / "out-utf8" / "utf8.csv").read_text(encoding="utf-8")
    assert "\"บรรทัด 0.0\nบรรทัด 0.1\n" in body and "ต่อ, \"\"ยก\"\"\"" in body
    assert ",ข้อความ 1," in body and ",12," in body
