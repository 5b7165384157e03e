"""cp874 cells -> UTF-8 through glibc's iconv (the GIL released) give exactly what Python's codec gives."""

import os
import platform
import random

import pyarrow as pa
import pytest

from harvesters.convert import transcode


def python_codec(cells: list[bytes | None]):
    try:
        return [None if c is None else c.decode("cp874") for c in cells]
    except UnicodeDecodeError:
        return "refused"


def ours(cells: list[bytes | None]):
    try:
        return transcode.cp874_strings_to_utf8(pa.array(cells, pa.binary())).to_pylist()
    except UnicodeDecodeError:
        return "refused"


def test_iconv_is_used_on_glibc():
    # This machine and the production image run glibc with its CP874 module.
    assert platform.libc_ver()[0] == "glibc"
    assert transcode._usable() is not False


@pytest.mark.parametrize("cells", [
    [],
    [b"", None, b""],
    [bytes(range(1, 0x80))],  # ASCII: the same bytes
    ["รายงานปริมาณน้ำฝน “ปีงบประมาณ 2567” – ๑๒๓ …".encode("cp874")] * 1000,
    [b"abc", None, b"\xa1\xe0\xa1", b"", b"x"],
    [b"\xa0no-break\xa0spaces\xa0", b"\x80\x85\x91\x97"],  # NBSP is two UTF-8 bytes, the rest three
    [b"ok \xa1 then", b"an undefined byte \xdb here"],  # 0xDB has no cp874 character
    [b"\xff"],
])
def test_same_text_or_same_refusal_as_python(cells):
    assert ours(cells) == python_codec(cells)


def test_random_cells_agree_with_python_and_a_refusal_names_its_byte():
    rng = random.Random(874)
    for _ in range(200):
        cells = [None if rng.random() < 0.1 else
                 bytes(rng.choice([rng.randrange(0x80), rng.randrange(0xA1, 0xDB), rng.randrange(256)])
                       for _ in range(rng.randrange(0, 12)))
                 for _ in range(rng.randrange(1, 30))]
        assert ours(cells) == python_codec(cells)
    with pytest.raises(UnicodeDecodeError) as refused:
        transcode.cp874_strings_to_utf8(pa.array([b"\xa1\xa1", b"a\xdb"], pa.binary()))
    assert refused.value.start == 3  # in the column's text: the cells one after the other


def test_a_sliced_column_converts_its_own_cells():
    cells = pa.array([c.encode("cp874") if c else None for c in ["ก", "ข ค", None, "ง"]], pa.binary()).slice(1)
    assert transcode.cp874_strings_to_utf8(cells).to_pylist() == ["ข ค", None, "ง"]


def test_a_big_column_leaves_no_garbage_behind():
    cells = pa.array(["สถานีตรวจวัด ปากเกร็ด".encode("cp874")] * 200_000, pa.binary())  # 4.2 MB
    statm = lambda: int(open("/proc/self/statm").read().split()[1])  # noqa: E731
    transcode.cp874_strings_to_utf8(cells)
    before = statm()
    for _ in range(20):
        transcode.cp874_strings_to_utf8(cells)
    grown_mb = (statm() - before) * os.sysconf("SC_PAGE_SIZE") / 2**20
    assert grown_mb < 50, f"{grown_mb:.0f} MB kept after 20 columns"
