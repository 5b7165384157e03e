"""Throughput and peak memory of `harvest convert` next to pyarrow alone, on one big CSV.

    python bench/generate_large_csv.py --size 1G            # /tmp/thai_large_cp874.csv
    python bench/convert_throughput.py [/tmp/thai_large_cp874.csv] [--runs 3]

(a) pyarrow alone: ``pyarrow.csv.open_csv`` streaming with its own cp874
    decoding (``ReadOptions(encoding="cp874")``), every batch written with
    ``pyarrow.parquet.ParquetWriter`` (zstd, as the converter) and
    ``pyarrow.csv.CSVWriter``; no cleaning, no type rules. The title and blank
    lines above the header are skipped and rows with the wrong field count (the
    ที่มา footer) dropped, which pyarrow needs to read the file at all.
(b) ``harvesters.convert.convert_file``, the real converter (it streams every file).

Each run is its own subprocess; the table shows the median of the runs: wall
time, MB/s of input, and the peak RSS of the child (``ru_maxrss`` of
/proc/self/status VmHWM reported by the child as it ends).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PYARROW_ALONE = r"""
import sys
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
src, out = sys.argv[1], sys.argv[2]
reader = pacsv.open_csv(
    src,
    read_options=pacsv.ReadOptions(encoding="cp874", skip_rows=2),
    parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: "skip"),
)
parquet = pq.ParquetWriter(out + "/pyarrow.parquet", reader.schema, compression="zstd")
csv = pacsv.CSVWriter(out + "/pyarrow.csv", reader.schema)
for batch in reader:
    parquet.write_batch(batch)
    csv.write_batch(batch)
parquet.close()
csv.close()
"""

HARVEST = r"""
import sys
from pathlib import Path
from harvesters.convert import convert_file
report = convert_file(Path(sys.argv[1]), Path(sys.argv[2]))
table = report.tables[0]
print(f"{table.rows_written} rows, types " + ", ".join(c.type for c in table.columns), file=sys.stderr)
"""


def run_once(code: str, src: Path) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of one child process.

    The child reports its own VmHWM; RUSAGE_CHILDREN's ru_maxrss is the max over
    all children so far, so it only serves when the child could not report."""
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    try:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code, str(src), str(out)], cwd=ROOT,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode:
            raise SystemExit(f"child failed:\n{proc.stderr}")
        own = _child_peak(proc.stderr)
        return seconds, own if own is not None else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _wrap(code: str) -> str:
    """Make the child print its own peak RSS (VmHWM) as its last stderr line."""
    return code + (
        "\nimport sys\n"
        "print('VMHWM ' + next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')),"
        " file=sys.stderr)\n"
    )


def _child_peak(stderr: str) -> float | None:
    for line in reversed(stderr.splitlines()):
        if line.startswith("VMHWM "):
            return int(line.split()[1]) / 1024
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="?", type=Path, default=Path("/tmp/thai_large_cp874.csv"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.src.exists():
        raise SystemExit(f"{args.src} not found: run bench/generate_large_csv.py first")
    size_mb = args.src.stat().st_size / 1e6
    rows = []
    for label, code in (("pyarrow alone", PYARROW_ALONE), ("harvest convert", HARVEST)):
        times, peaks = [], []
        for _ in range(args.runs):
            seconds, peak = run_once(_wrap(code), args.src)
            times.append(seconds)
            peaks.append(peak)
            print(f"  {label}: {seconds:.2f} s, peak RSS {peak:.0f} MiB", file=sys.stderr)
        rows.append((label, statistics.median(times), statistics.median(peaks), max(peaks)))
    print(f"input: {args.src} ({size_mb:.0f} MB), median of {args.runs} runs, each in its own process")
    print(f"{'':16} {'wall s':>8} {'MB/s':>8} {'peak RSS MiB (median/max)':>26}")
    for label, seconds, peak, top in rows:
        print(f"{label:16} {seconds:8.2f} {size_mb / seconds:8.1f} {peak:17.0f} / {top:.0f}")
    ratio = rows[0][1] / rows[1][1]
    print(f"harvest convert throughput = {ratio:.2f} x pyarrow alone")
    print(json.dumps({"input_mb": round(size_mb), "pyarrow_s": round(rows[0][1], 2),
                      "harvest_s": round(rows[1][1], 2), "ratio": round(ratio, 3),
                      "harvest_peak_rss_mib": round(rows[1][3])}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
