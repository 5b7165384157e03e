"""`harvest` output: --json documents for machines, text for people, progress only on a terminal."""

import json
import os
import pty
import shutil
import subprocess
import sys

from harvesters import progress
from harvesters.cli import main
from harvesters.settings import REPO_ROOT, Settings
from tests.loopback import serve_directory

SOURCES = REPO_ROOT / "include" / "sources"
PM25 = REPO_ROOT / "include" / "demo" / "site" / "pcd" / "pm25_hourly.csv"  # cp874, 480 rows after conversion


def test_sources_validate_json(tmp_path, capsys):
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES, sources)
    bad = sources / "gistda" / "hotspots.yaml"
    bad.write_text(bad.read_text(encoding="utf-8") + "foo: 1\n", encoding="utf-8")
    assert main(["sources", "validate", "--sources-dir", str(sources), "--json"]) == 1
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["counts"] == {"valid": 9, "invalid": 1}
    assert {"file": str(bad), "field": "foo", "message": data["problems"][0]["message"]} in data["problems"]
    assert "pcd-pm25-hourly" in {v["id"] for v in data["valid"]}
    assert out.err == ""  # nothing for people in JSON mode


def test_sources_list_json(capsys):
    assert main(["sources", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"id": "pcd-pm25-hourly", "agency": "pcd", "kind": "http",
            "path": str(SOURCES / "pcd" / "pm25-hourly.yaml")} in data["sources"]
    assert data["invalid"] == []


def test_convert_text_for_people_and_json_for_machines(tmp_path, capsys):
    assert main(["convert", str(PM25), "--out", str(tmp_path / "a")]) == 0
    text = capsys.readouterr().out
    assert "table pm25_hourly: 480 rows, 6 columns: วันที่ (date), เวลา (text)" in text
    assert f"csv: {tmp_path / 'a' / 'pm25_hourly.csv'}" in text
    assert main(["convert", str(PM25), "--out", str(tmp_path / "b"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["encoding"] == "cp874" and report["tables"][0]["rows_written"] == 480


def test_usage_errors_exit_2_with_the_usage_on_stderr(capsys):
    assert main(["run"]) == 2
    assert "Missing argument 'SOURCE_ID'" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "new-source" in capsys.readouterr().out


# --------------------------------------------------------------------------- progress

def test_progress_forced_shows_rows_read_and_written(tmp_path, capsys):
    assert main(["--progress", "convert", str(PM25), "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "convert: read pm25_hourly" in err
    assert "convert: write pm25_hourly" in err and "480 / 480 rows" in err


def test_progress_never_with_json_even_forced(tmp_path, capsys):
    assert main(["--progress", "convert", str(PM25), "--out", str(tmp_path), "--json"]) == 0
    assert "convert:" not in capsys.readouterr().err


def _convert_with_stderr(args, tmp_path, tty: bool) -> str:
    """Run `harvest convert` in a child whose stderr is a pseudo-terminal (tty) or a pipe; its stderr."""
    argv = [sys.executable, "-m", "harvesters.cli", "convert", str(PM25), "--out", str(tmp_path), *args]
    if not tty:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=slave, env={**os.environ, "COLUMNS": "120"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait() == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_appears_on_a_terminal_and_not_in_a_pipe(tmp_path):
    on_tty = _convert_with_stderr([], tmp_path / "tty", tty=True)
    assert "convert: write pm25_hourly" in on_tty and "480 / 480 rows" in on_tty
    assert "convert:" not in _convert_with_stderr([], tmp_path / "pipe", tty=False)  # e.g. a BashOperator's log
    assert "convert:" not in _convert_with_stderr(["--json"], tmp_path / "json", tty=True)


def test_download_ticks_bytes_of_each_file(tmp_path):
    from harvesters import net

    ticks = []
    with serve_directory(PM25.parent) as url, progress.reporting(ticks.append):
        net.download(f"{url}/pm25_hourly.csv", tmp_path / "pm25.csv", http=net.session(Settings.from_env()),
                     timeout=10)
    size = PM25.stat().st_size
    assert {(t.stage, t.item) for t in ticks} == {("download", "pm25.csv")}
    assert ticks[-1].done == size and ticks[-1].finished and all(t.total == size for t in ticks)
    assert [t.done for t in ticks] == sorted(t.done for t in ticks)


def test_no_hook_no_progress(tmp_path, capsys):
    """Airflow tasks install no hook: the stages tick into nothing and print nothing."""
    from harvesters.convert import convert_file

    assert not progress.active()
    convert_file(PM25, tmp_path)
    assert capsys.readouterr() == ("", "")
