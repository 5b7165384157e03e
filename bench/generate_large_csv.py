"""Write a realistic Thai cp874 CSV of about a given size, for the converter benchmark.

    python bench/generate_large_csv.py [--size 1G] [--out /tmp/thai_large_cp874.csv] [--seed 1]

The file looks like what Thai agencies publish: a title line and a blank line
above the header, station and province names, Buddhist Era dates d/m/yyyy,
numbers with thousands separators (quoted, as CSV requires), some Thai digits,
"-" for no data, a leading-zero station code (stays text), a mixed column that
must stay text, CRLF line ends, and a blank line plus a ที่มา source line at the end.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

PROVINCES = [
    "กรุงเทพมหานคร", "เชียงใหม่", "เชียงราย", "ลำพูน", "ลำปาง", "แม่ฮ่องสอน", "น่าน", "พะเยา", "แพร่",
    "อุตรดิตถ์", "ตาก", "สุโขทัย", "พิษณุโลก", "ขอนแก่น", "อุดรธานี", "นครราชสีมา", "อุบลราชธานี",
    "ชลบุรี", "ระยอง", "จันทบุรี", "ตราด", "ภูเก็ต", "สงขลา", "ตรัง", "สุราษฎร์ธานี", "นครศรีธรรมราช",
    "ปัตตานี", "ยะลา", "นราธิวาส", "กาญจนบุรี", "ราชบุรี", "เพชรบุรี", "ประจวบคีรีขันธ์",
]
STATION_WORDS = ["สถานีตรวจวัด", "สถานีอุตุนิยมวิทยา", "ศูนย์อุตุฯ", "สถานีเกษตร", "จุดตรวจวัด"]
DISTRICTS = ["อำเภอเมือง", "สันทราย", "แม่ริม", "หางดง", "บางพลี", "หาดใหญ่", "ศรีราชา", "ปากเกร็ด"]
REMARKS = ["ปกติ", "ข้อมูล “เบื้องต้น”", "ซ่อมบำรุง – ชั่วคราว", "-", ""]
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")

HEADER = "รหัสสถานี,ชื่อสถานี,จังหวัด,วันที่ตรวจวัด,ปริมาณฝน (มม.),จำนวนครั้ง,ผู้ใช้น้ำ (ราย),อุณหภูมิ,สถานะ"


def parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower().rstrip("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _number(rng: random.Random, high: int) -> str:
    n = rng.randint(0, high)
    text = f"{n:,}"
    if "," in text:
        text = f'"{text}"'
    return text


def make_rows(rng: random.Random, count: int) -> list[str]:
    rows = []
    for _ in range(count):
        province = rng.choice(PROVINCES)
        code = f"{rng.randint(1, 99999):05d}"
        station = f"{rng.choice(STATION_WORDS)} {rng.choice(DISTRICTS)} {province}"
        date = f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.randint(2540, 2567)}"
        rain = "-" if rng.random() < 0.05 else f"{rng.uniform(0, 250):.1f}"
        times = str(rng.randint(0, 60))
        if rng.random() < 0.1:
            times = times.translate(THAI_DIGITS)
        users = "-" if rng.random() < 0.03 else _number(rng, 2_500_000)
        temp = f"{rng.uniform(12, 42):.2f}"
        status = rng.choice(REMARKS) if rng.random() < 0.3 else str(rng.randint(1, 9))
        rows.append(f"{code},{station},{province} ,{date},{rain},{times},{users},{temp},{status}\r\n")
    return rows


def generate(out: Path, size: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    written = 0
    with open(out, "wb") as fh:
        head = (
            "รายงานปริมาณน้ำฝนและผู้ใช้น้ำรายสถานี “ปีงบประมาณ 2540–2567” – กรมอุตุนิยมวิทยา\r\n"
            "\r\n" + HEADER + "\r\n"
        ).encode("cp874")
        fh.write(head)
        written += len(head)
        # A pool of distinct rows, reshuffled per block: realistic bytes at disk speed.
        # Encoded once; small files need no 200,000-row pool (rows are ~80 bytes).
        pool = [row.encode("cp874") for row in make_rows(rng, min(200_000, max(1_000, size // 60)))]
        footer = "\r\nที่มา: กรมอุตุนิยมวิทยา กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม\r\n".encode("cp874")
        while written < size - len(footer):
            rng.shuffle(pool)
            block = b"".join(pool)
            room = size - len(footer) - written
            if len(block) > room:
                cut = block.rfind(b"\r\n", 0, room)
                if cut < 0:
                    break
                block = block[: cut + 2]
            fh.write(block)
            written += len(block)
        fh.write(footer)
        written += len(footer)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="approximate size, e.g. 200M or 1G (default 1G)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/thai_large_cp874.csv"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    n = generate(args.out, parse_size(args.size), args.seed)
    print(f"wrote {args.out} ({n / 2**20:.1f} MiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
