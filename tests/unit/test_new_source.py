"""`harvest new-source`: a config that passes `harvest sources validate`, and a starter suite from a sample."""

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from harvesters.cli import cli, main
from harvesters.settings import REPO_ROOT
from harvesters.suite_profile import profile
from tests.loopback import serve_directory

SOURCES = REPO_ROOT / "include" / "sources"
REAL = REPO_ROOT.parent / "shared" / "fixtures" / "thai-real"
ALLOWED_TYPES = {"expect_table_columns_to_match_set", "expect_table_row_count_to_be_between",
                 "expect_column_values_to_be_in_type_list", "expect_column_values_to_not_be_null",
                 "expect_column_values_to_be_between", "expect_column_values_to_be_in_set"}
FLAGS = ["--title", "จำนวนผู้ป่วยยืนยันโควิด 19 ปี 2563", "--notes", "ผู้ป่วยยืนยันรายคนจากรายงานของกรมควบคุมโรค",
         "--tags", "โควิด 19,สุขภาพ", "--data-type", "statistical", "--frequency", "day", "--geo-coverage", "province"]


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    """A copy of the demo configs and suites, as HARVEST_SOURCES_DIR / HARVEST_EXPECTATIONS_DIR."""
    sources, suites = tmp_path / "sources", tmp_path / "expectations"
    shutil.copytree(SOURCES, sources)
    shutil.copytree(REPO_ROOT / "expectations", suites)
    monkeypatch.setenv("HARVEST_SOURCES_DIR", str(sources))
    monkeypatch.setenv("HARVEST_EXPECTATIONS_DIR", str(suites))
    monkeypatch.setenv("HARVEST_STAGING_DIR", str(tmp_path / "staging"))
    return sources, suites


def test_flags_write_a_config_that_validates(workspace, capsys):
    sources, _ = workspace
    assert main(["new-source", "--id", "ddc-covid-cases", "--agency", "ddc", "--no-interactive",
                 "--url", "https://ddc.example.go.th/covid.csv", *FLAGS]) == 0
    path = sources / "ddc" / "ddc-covid-cases.yaml"
    assert f"wrote {path}" in capsys.readouterr().out
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["source"] == {"kind": "http", "files": [{"url": "https://ddc.example.go.th/covid.csv",
                                                          "title": "จำนวนผู้ป่วยยืนยันโควิด 19 ปี 2563"}]}
    assert data["metadata"]["tags"] == ["โควิด 19", "สุขภาพ"] and "maintainer" not in data["metadata"]  # _agency.yaml
    assert "validation" not in data
    assert main(["sources", "validate", str(path)]) == 0
    assert main(["sources", "validate"]) == 0  # and the others still do
    # A second time: refused, the file left as it is.
    assert main(["new-source", "--id", "ddc-covid-cases", "--agency", "ddc", "--no-interactive",
                 "--url", "https://ddc.example.go.th/other.csv", *FLAGS]) == 1
    assert "already exists (--force to replace it)" in capsys.readouterr().err
    assert "covid.csv" in path.read_text(encoding="utf-8")


def test_missing_flags_are_named_and_nothing_is_written(workspace, capsys):
    sources, _ = workspace
    assert main(["new-source", "--id", "onep-water", "--agency", "onep", "--no-interactive",
                 "--url", "https://onep.example.go.th/water.csv", "--title", "คุณภาพน้ำ"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    # A new agency (no _agency.yaml): its agency-wide fields too; defaults (data type, category) are not asked.
    for flag in ("--notes", "--tags", "--frequency", "--geo-coverage", "--maintainer", "--maintainer-email",
                 "--data-source", "--license"):
        assert flag in err
    assert "--data-type" not in err and "--data-category" not in err
    assert not (sources / "onep").exists()


def test_a_config_the_checker_refuses_is_not_written(workspace, capsys):
    sources, _ = workspace
    args = ["new-source", "--id", "ddc-covid-cases", "--agency", "ddc", "--no-interactive",
            "--url", "https://ddc.example.go.th/covid.csv", *FLAGS]
    args[args.index("province")] = "moon"
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{sources / 'ddc' / 'ddc-covid-cases.yaml'}: metadata.geo_coverage" in err
    assert sorted(p.name for p in (sources / "ddc").iterdir()) == sorted(p.name for p in (SOURCES / "ddc").iterdir())


def test_interactive_asks_for_what_is_missing(workspace):
    sources, _ = workspace
    answers = ["คุณภาพน้ำผิวดิน รายเดือน", "ผลการตรวจวัดคุณภาพน้ำผิวดินรายเดือน", "คุณภาพน้ำ,แหล่งน้ำ",
               "",  # data type: the default (statistical)
               "month", "province", "กองจัดการคุณภาพน้ำ", "water@onep.example.go.th", "สำนักงานทรัพยากรน้ำ",
               "",  # data category: the default (public)
               "odc", "",  # objective: the default
               ""]  # no sample
    result = CliRunner().invoke(cli, ["new-source", "--interactive", "--id", "onep-water", "--agency", "onep",
                                      "--kind", "http", "--url", "https://onep.example.go.th/water.csv"],
                                input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output + result.stderr
    assert "Maintainer e-mail" in result.stderr and "Licence" in result.stderr
    path = sources / "onep" / "onep-water.yaml"
    meta = yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"]
    assert meta["maintainer_email"] == "water@onep.example.go.th" and meta["data_type"] == "statistical"
    assert meta["objective"] == ["public_service"] and meta["tags"] == ["คุณภาพน้ำ", "แหล่งน้ำ"]
    assert main(["sources", "validate", str(path)]) == 0


def test_suite_from_a_real_sample_passes_the_dry_run(workspace, capsys):
    """A real agency file (DDC's 2020 case list): new-source profiles it, and the dry run of the source,
    downloading the same file from a loopback "agency site", validates green with that suite."""
    sources, suites = workspace
    sample = REAL / "ddc_confirmed_cases_2020.csv"
    with serve_directory(REAL) as site:
        assert main(["new-source", "--id", "ddc-covid-cases", "--agency", "ddc", "--no-interactive",
                     "--url", f"{site}/{sample.name}", *FLAGS, "--sample", str(sample)]) == 0
        out = capsys.readouterr().out
        assert "sample table ddc_confirmed_cases_2020: 379 rows, 11 columns" in out
        suite = json.loads((suites / "ddc_covid_cases.json").read_text(encoding="utf-8"))
        types = {e["type"] for e in suite["expectations"]}
        assert types == ALLOWED_TYPES  # every kind of check, and no other
        by = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
        assert by[("expect_column_values_to_be_in_set", "sex")]["value_set"] == ["ชาย", "หญิง"]
        assert by[("expect_column_values_to_be_in_type_list", "age")]["type_list"] == ["Integer"]
        assert 0 < by[("expect_column_values_to_not_be_null", "nationality")]["mostly"] < 1
        assert by[("expect_column_values_to_be_between", "age")]["min_value"] >= 0
        assert main(["sources", "validate", str(sources / "ddc" / "ddc-covid-cases.yaml")]) == 0

        assert main(["--progress", "run", "ddc-covid-cases", "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "validation: passed (suite ddc_covid_cases, " in out.out
    assert "csv: " in out.out and "/converted/ddc-confirmed-cases-2020/ddc-confirmed-cases-2020.csv" in out.out
    assert "download ddc-confirmed-cases-2020.csv" in out.err  # the download's progress, forced


def _parquet(tmp_path: Path, name: str, table: pa.Table) -> Path:
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path)
    return path


def test_profile_bounds_are_widened(tmp_path):
    table = pa.table({
        "count": pa.array([10, 20, None, 30], pa.int64()),
        "delta": pa.array([-5.0, 5.0, 1.25, 0.0]),
        "day": pa.array([dt.date(2024, 1, 1), dt.date(2024, 3, 1), dt.date(2024, 2, 1), None]),
        "province": pa.array(["น่าน", "น่าน", "แพร่", "แพร่"]),
        "note": pa.array(["a", "b", "c", "d"]),  # every value different: no allowed set
    })
    suite = profile([_parquet(tmp_path, "t", table)], "s", "t.csv")
    by = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
    assert by[("expect_table_row_count_to_be_between", None)] == {"min_value": 2, "max_value": 40}
    assert by[("expect_column_values_to_be_between", "count")] == {"column": "count", "min_value": 8, "max_value": 32}
    assert by[("expect_column_values_to_be_between", "delta")] == {"column": "delta", "min_value": -6.0,
                                                                   "max_value": 6.0}
    assert by[("expect_column_values_to_be_between", "day")] == {"column": "day", "min_value": "2023-12-01",
                                                                 "max_value": "2025-03-02"}
    assert by[("expect_column_values_to_not_be_null", "count")]["mostly"] == 0.7  # 75% filled, less 5 points
    assert "mostly" not in by[("expect_column_values_to_not_be_null", "province")]
    assert by[("expect_column_values_to_be_in_set", "province")]["value_set"] == ["น่าน", "แพร่"]
    assert ("expect_column_values_to_be_in_set", "note") not in by
    assert by[("expect_column_values_to_be_in_type_list", "delta")]["type_list"] == ["Float", "Numeric"]


def test_profile_of_several_tables_writes_only_what_holds_on_each(tmp_path):
    a = _parquet(tmp_path, "a", pa.table({"x": [1, 2], "y": ["p", "q"]}))
    b = _parquet(tmp_path, "b", pa.table({"x": [5, 9, 7]}))
    suite = profile([a, b], "s", "book.xlsx")
    kinds = [(e["type"], e["kwargs"].get("column")) for e in suite["expectations"]]
    assert ("expect_table_columns_to_match_set", None) not in kinds  # the tables' columns differ
    assert all(column in (None, "x") for _, column in kinds)
    x = next(e["kwargs"] for e in suite["expectations"] if e["type"] == "expect_column_values_to_be_between")
    assert (x["min_value"], x["max_value"]) == (0, 10)  # over both tables: 1..9 widened by 0.8, never below 0


def test_a_terminal_on_stdin_is_asked(workspace):
    """Without --interactive: stdin is a (pseudo-)terminal, so the missing settings are asked for."""
    import os
    import pty
    import subprocess
    import sys

    sources, _ = workspace
    master, slave = pty.openpty()
    answers = ["",  # kind: the default (http)
               "ค่าฝุ่นรายวัน", "ค่าเฉลี่ยรายวัน", "PM2.5", "", "day", "province", ""]
    os.write(master, ("\n".join(answers) + "\n").encode())
    proc = subprocess.run([sys.executable, "-m", "harvesters.cli", "new-source", "--id", "pcd-pm25-daily-avg",
                           "--agency", "pcd", "--url", "https://pcd.example.go.th/daily.csv"],
                          stdin=slave, capture_output=True, text=True, timeout=120)
    os.close(slave)
    os.close(master)
    assert proc.returncode == 0, proc.stderr
    assert "Dataset title" in proc.stderr and "Update frequency" in proc.stderr
    assert "Maintainer" not in proc.stderr  # pcd's _agency.yaml gives it
    meta = yaml.safe_load((sources / "pcd" / "pcd-pm25-daily-avg.yaml").read_text(encoding="utf-8"))["metadata"]
    assert meta["title"] == "ค่าฝุ่นรายวัน" and meta["update_frequency_unit"] == "day"


def test_other_kinds_take_their_settings_with_set(workspace, capsys):
    sources, _ = workspace
    assert main(["new-source", "--id", "ddc-covid-table", "--agency", "ddc", "--no-interactive", "--kind", "html_table",
                 "--url", "https://ddc.example.go.th/stats.html", "--set", "table.caption=ผู้ป่วยยืนยัน", *FLAGS]) == 0
    source = yaml.safe_load((sources / "ddc" / "ddc-covid-table.yaml").read_text(encoding="utf-8"))["source"]
    assert source == {"kind": "html_table", "url": "https://ddc.example.go.th/stats.html",
                      "table": {"caption": "ผู้ป่วยยืนยัน"}}
    capsys.readouterr()
    assert main(["new-source", "--id", "ddc-covid-drop", "--agency", "ddc", "--no-interactive", "--kind", "s3_drop",
                 *FLAGS]) == 1
    err = capsys.readouterr().err
    assert "ddc-covid-drop.yaml: source.bucket: required but missing (give it with --set bucket=VALUE)" in err
