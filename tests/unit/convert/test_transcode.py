"""cp874 -> UTF-8 through glibc's iconv (the GIL released) gives exactly what Python's codec gives."""

import os
import platform

import pytest

from harvesters.convert import transcode


def python_codec(data: bytes):
    try:
        return data.decode("cp874").encode("utf-8")
    except UnicodeDecodeError as exc:
        return ("refused", exc.start)


def ours(data: bytes):
    try:
        return transcode.cp874_to_utf8(data)
    except UnicodeDecodeError as exc:
        return ("refused", exc.start)


def test_iconv_is_used_on_glibc():
    # This machine and the production image run glibc with its CP874 module.
    assert platform.libc_ver()[0] == "glibc"
    assert transcode._usable() is not False


@pytest.mark.parametrize("data", [
    b"",
    bytes(range(0x80)),
    "รายงานปริมาณน้ำฝน “ปีงบประมาณ 2567” – ๑๒๓ …".encode("cp874") * 1000,
    b"abc,\x00,\xa1\xe0\xa1",
    b"\xa0no-break\xa0spaces\xa0\x80\x85\x91\x97",  # NBSP is two UTF-8 bytes, the rest three
    b"ok \xa1 then an undefined byte \xdb here",  # 0xDB has no cp874 character
    b"\xff",
])
def test_same_text_or_same_refusal_as_python(data):
    assert ours(data) == python_codec(data)


def test_the_count_of_high_bytes_may_come_from_the_caller():
    data = "ปริมาณฝน\u00a0(มม.) “ปี” …".encode("cp874")
    high = sum(b >= 0x80 for b in data)
    assert transcode.cp874_to_utf8(data, high_bytes=high) == data.decode("cp874").encode("utf-8")


def test_random_bytes_agree_with_python():
    rng = __import__("random").Random(874)
    for _ in range(200):
        data = bytes(rng.choice([rng.randrange(0x80), rng.randrange(0xA1, 0xDB), rng.randrange(256)])
                     for _ in range(rng.randrange(1, 300)))
        assert ours(data) == python_codec(data)


def test_a_big_chunk_leaves_no_garbage_behind():
    chunk = "สถานีตรวจวัด ปากเกร็ด,".encode("cp874") * 200_000  # 4.4 MB
    statm = lambda: int(open("/proc/self/statm").read().split()[1])  # noqa: E731
    transcode.cp874_to_utf8(chunk)
    before = statm()
    for _ in range(20):
        transcode.cp874_to_utf8(chunk)
    grown_mb = (statm() - before) * os.sysconf("SC_PAGE_SIZE") / 2**20
    assert grown_mb < 50, f"{grown_mb:.0f} MB kept after 20 chunks"
