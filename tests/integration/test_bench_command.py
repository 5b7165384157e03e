"""bench/run --quick: the benchmark command runs every measurement end to end and prints its
one table (a smoke run on tiny inputs; no figure is asserted, timing belongs to the bench)."""

from __future__ import annotations

import re
import subprocess

import pytest

from harvesters.settings import REPO_ROOT

pytestmark = pytest.mark.integration


def test_bench_quick_runs_every_measurement_and_prints_the_table(services, services_state_dir):
    proc = subprocess.run([str(REPO_ROOT / "bench" / "run"), "--quick", "--services", str(services_state_dir)],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "| measurement | tool | median s | MB/s | peak RSS MiB | ratio | notes |" in lines
    rows = [line for line in lines if line.startswith("| ") and not line.startswith(("| measurement", "| ---"))]
    for measurement in (r"convert 3 MB cp874 CSV \| harvest convert", r"validate the 3 MB cp874 CSV output",
                        r"convert 3 MB cp874 CSV \| Polars", r"convert 3 MB cp874 CSV \| DuckDB",
                        r"convert 6 MB cp874 CSV", r"read/convert [0-9.]+ MB XLSX \| python-calamine",
                        r"read/convert [0-9.]+ MB XLS \| pandas", r"read/convert [0-9.]+ MB HTML \| harvest convert",
                        r"DAG parse, 20 configs \| task start",
                        r"publish one dataset, 0.1 MB CSV", r"harvest run, 20-file source .* \| unchanged re-run",
                        r"unchanged source through the scheduler, 1 source\(s\) \| Airflow LocalExecutor"):
        assert any(re.match(rf"\| {measurement}", row) for row in rows), measurement
    assert len(rows) == 21
    assert not [row for row in rows if "failed" in row or "cap" in row or "NOT ALL SUCCESSFUL" in row]
    # An unchanged re-run changes nothing on the portal; through the scheduler it downloads nothing either.
    rerun = next(row for row in rows if "unchanged re-run" in row)
    assert "bytes down 0," in rerun and "portal activities 0" in rerun
    scheduled = next(row for row in rows if "through the scheduler" in row)
    assert "bytes down 0" in scheduled and "task instances started" in scheduled
