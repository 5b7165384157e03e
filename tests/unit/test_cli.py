"""`harvest` on the command line: exit codes, one-line errors, the config checker's format."""

import json
import shutil
import subprocess
import sys

import pytest

from harvesters.cli import main
from harvesters.settings import REPO_ROOT

SOURCES = REPO_ROOT / "include" / "sources"


def test_sources_validate_passes_on_the_demo_sources(capsys):
    assert main(["sources", "validate"]) == 0
    assert "10 valid, 0 invalid" in capsys.readouterr().err


def test_sources_validate_prints_file_field_message(tmp_path, capsys):
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES, sources)
    bad = sources / "gistda" / "hotspots.yaml"
    bad.write_text(bad.read_text(encoding="utf-8").replace("geo_coverage: province", "geo_coverage: moon") + "foo: 1\n",
                   encoding="utf-8")
    assert main(["sources", "validate", "--sources-dir", str(sources)]) == 1
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert f"{bad}: foo: unknown setting" in out.out
    assert any(line.startswith(f"{bad}: metadata.geo_coverage (ขอบเขตเชิงภูมิศาสตร์หรือเชิงพื้นที่): ") for line in lines)
    assert "9 valid, 1 invalid" in out.err
    # Naming only the good files checks only those.
    assert main(["sources", "validate", str(sources / "pcd")]) == 0


def test_sources_validate_reports_a_missing_suite(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARVEST_EXPECTATIONS_DIR", str(tmp_path))
    assert main(["sources", "validate", str(SOURCES / "pcd" / "pm25-hourly.yaml")]) == 1
    assert "validation.suite: no suite file" in capsys.readouterr().out


def test_sources_schema_is_json(capsys):
    assert main(["sources", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Harvest source config"
    assert "metadata" in schema["required"]


def test_errors_are_one_line_without_traceback(tmp_path):
    cases = [
        ["run", "no-such-source", "--dry-run"],
        ["convert", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "out")],
    ]
    for args in cases:
        proc = subprocess.run([sys.executable, "-m", "harvesters.cli", *args], capture_output=True, text=True)
        assert proc.returncode == 1, args
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr
    assert "no-such-source" in subprocess.run([sys.executable, "-m", "harvesters.cli", *cases[0]],
                                              capture_output=True, text=True).stderr


def test_run_without_a_portal_fails_fast(monkeypatch, capsys):
    monkeypatch.delenv("HARVEST_PORTAL_URL", raising=False)
    assert main(["run", "pcd-pm25-hourly"]) == 1
    assert "no portal configured" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["sources", "list"]])
def test_list(argv, capsys):
    assert main(argv) == 0
    assert "pcd-pm25-hourly\tpcd\thttp" in capsys.readouterr().out


def test_convert_process_runs_without_pandas(tmp_path):
    """`harvest convert` converts (types included) in a process that never imports pandas."""
    src = tmp_path / "rain.csv"
    src.write_text("สถานี,วันที่,ฝน\nเชียงใหม่,1/2/2567,\"1,200.5\"\nลำปาง,3/2/2567,-\n", encoding="cp874")
    probe = ("import os, sys; sys.argv = ['harvest', 'convert', sys.argv[1], '--out', sys.argv[2], '--json']\n"
             "def ended(code):\n"  # entry() ends the process with os._exit: check there
             "    assert 'pandas' not in sys.modules, 'pandas was imported'\n"
             "    sys.exit(code)\n"
             "os._exit = ended\n"
             "from harvesters.cli import entry\n"
             "entry()\n")
    proc = subprocess.run([sys.executable, "-c", probe, str(src), str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [(c["name"], c["type"]) for c in report["tables"][0]["columns"]] == [
        ("สถานี", "text"), ("วันที่", "date"), ("ฝน", "decimal")]
    assert (tmp_path / "out" / "rain.csv").read_text(encoding="utf-8").splitlines()[1:] == [
        "เชียงใหม่,2024-02-01,1200.5", "ลำปาง,2024-02-03,"]


def test_the_cli_imports_the_source_kinds_only_when_a_command_needs_them():
    """`harvest convert` (and --help) must not pay for every kind's config model; --kind still lists them."""
    code = "import sys, harvesters.cli; print('harvesters.kinds' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    from click.testing import CliRunner

    from harvesters.cli import cli
    from harvesters.kinds import SOURCE_KINDS

    out = CliRunner().invoke(cli, ["new-source", "--kind", "nope", "--id", "x"])
    assert out.exit_code != 0 and "'http'" in out.output and len(SOURCE_KINDS) >= 8
