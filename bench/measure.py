"""Run one command and report its wall time and peak RSS as one JSON line.

    python bench/measure.py [--timeout S] -- CMD [ARG...]

This wrapper is the only parent of CMD, so ``getrusage(RUSAGE_CHILDREN).ru_maxrss``
is the peak RSS of CMD (or of its largest descendant, e.g. a pipe's other end),
never of an earlier measurement. CMD's last stdout line, when it is JSON, is passed
on as ``out`` (tools report their own figures that way: rows, bytes, counters).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    timeout = None
    if argv[:1] == ["--timeout"]:
        timeout, argv = float(argv[1]), argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, stdout, stderr = "timeout", exc.stdout or "", (exc.stderr or "")
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
        stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out = None
    lines = stdout.strip().splitlines()
    if lines:
        try:
            out = json.loads(lines[-1])
        except json.JSONDecodeError:
            out = None
    tail = stderr.strip().splitlines()[-1][:300] if rc and stderr.strip() else None
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib, "rc": rc, "out": out, "error": tail}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
