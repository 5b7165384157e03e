"""decode.py: BOMs, UTF-8, cp874 for Thai (never TIS-620), no C1 or U+FFFD."""

import re

import pytest

from harvesters.convert import decode

from harvesters.convert.decode import decode_bytes, detect_encoding, looks_thai, repair_c1

C1 = re.compile("[\u0080-\u009f]")
THAI_SENTENCE = "จังหวัดเชียงใหม่ มีจำนวนผู้ป่วย “ทั้งหมด” – รายงานประจำปี"


def test_valid_utf8_is_utf8():
    assert decode_bytes("ภาคเหนือ,1".encode()).encoding == "utf-8"


def test_utf8_bom_is_removed():
    decoded = decode_bytes(b"\xef\xbb\xbfkitten,win")
    assert decoded.encoding == "utf-8-sig"
    assert decoded.text == "kitten,win"


def test_utf16_with_bom():
    decoded = decode_bytes("a,b\nก,ข\n".encode("utf-16"))
    assert decoded.encoding == "utf-16"
    assert decoded.text == "a,b\nก,ข\n"


def test_utf16_without_bom_is_detected():
    assert detect_encoding("name,value\nabc,1\n".encode("utf-16-le")) == "utf-16-le"


def test_cp874_curly_quotes_and_dash_never_become_c1():
    data = THAI_SENTENCE.encode("cp874")
    assert b"\x93" in data and b"\x94" in data and b"\x96" in data
    decoded = decode_bytes(data)
    assert decoded.encoding == "cp874"
    assert decoded.text == THAI_SENTENCE
    assert "“" in decoded.text and "”" in decoded.text and "–" in decoded.text
    assert not C1.search(decoded.text)
    assert "\ufffd" not in decoded.text


def test_short_thai_file_is_cp874():
    assert detect_encoding("ชื่อ,จำนวน\nกรุงเทพ,10\n".encode("cp874")) == "cp874"


def test_latin_text_is_not_taken_for_thai():
    data = "Descripción,Año\nAdministración,España\n".encode("cp1252") * 20
    assert not looks_thai(data)
    decoded = decode_bytes(data)
    assert "Descripción" in decoded.text and "España" in decoded.text


def test_repair_c1_maps_tis620_damage_back_to_cp874():
    # What a TIS-620 reader produces: Thai letters right, 0x80-0x9F as C1 controls.
    damaged = "".join(
        chr(b) if 0x80 <= b <= 0x9F else bytes([b]).decode("cp874") for b in THAI_SENTENCE.encode("cp874")
    )
    assert C1.search(damaged)
    assert repair_c1(damaged) == THAI_SENTENCE


def test_utf8_text_with_c1_controls_is_repaired():
    decoded = decode_bytes("price \u0080 5, “q”".replace("“", "\u0093").encode())
    assert not C1.search(decoded.text)
    assert decoded.warnings


def test_replacement_characters_are_removed_with_a_warning():
    decoded = decode_bytes("a,b\nx\ufffd,1\n".encode())
    assert "\ufffd" not in decoded.text
    assert decoded.warnings


def test_thai_bytes_after_an_ascii_first_mebibyte_restart_the_stream_as_cp874(tmp_path):
    """The encoding is judged on the head and verified on every chunk: Thai
    cp874 bytes past the first MiB start the stream over, as cp874."""
    from harvesters.convert import convert_file

    ascii_rows = "".join(f"{i},row {i:07d}\n" for i in range(80_000))  # ~1.2 MB of ASCII
    path = tmp_path / "late_thai.csv"
    path.write_bytes(("id,name\n" + ascii_rows + "80000,สงขลา\n").encode("cp874"))
    report = convert_file(path, tmp_path / "out")
    assert report.encoding == "cp874"
    (table,) = report.tables
    assert table.rows_written == 80_001
    assert (tmp_path / "out" / "late_thai.csv").read_text(encoding="utf-8").endswith("80000,สงขลา\n")


@pytest.mark.parametrize("encode", [
    lambda t: ("\x82" + t).encode("utf-8"),  # C1 up front; the Thai further on makes it cp874 (dropped), not ‚
    lambda t: (t + "\ufffd" + t).encode("utf-8"),
    lambda t: t.encode("utf-16"),
    lambda t: t.encode("cp874"),
])
@pytest.mark.parametrize("chunk", [5, 1 << 20])
def test_html_text_read_in_chunks_is_the_whole_text_decoded_by_the_rules(tmp_path, monkeypatch, encode, chunk):
    monkeypatch.setattr(decode, "CHUNK_BYTES", chunk)
    data = encode("<p>" + THAI_SENTENCE * 3 + "</p>")
    path = tmp_path / "page.html"
    path.write_bytes(data)
    text = decode.html_text(path)
    whole = decode_bytes(data)
    assert (text.encoding, text.warnings) == (whole.encoding, whole.warnings)
    assert "".join(text.chunks()) == whole.text
    assert b"".join(text.utf8_chunks()).decode("utf-8") == whole.text
