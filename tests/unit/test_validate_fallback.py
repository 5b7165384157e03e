"""What validation does with what the DuckDB SQL executor does not run: GX runs it, as before."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harvesters.errors import FinalError
from harvesters.results import ConvertedTable
from harvesters.validate import run_suite


def _table(tmp_path: Path) -> ConvertedTable:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"รหัส": ["05t", "x9", None, "35t"], "n": [3, 2, 1, None]}), path)
    return ConvertedTable(key="t", title="t", csv=None, parquet=str(path), rows=4, columns=[], table_schema={})


def _run(tmp_path: Path, expectations: list[dict]) -> dict:
    suite = tmp_path / "s.json"
    suite.write_text(json.dumps({"name": "s", "expectations": expectations}), encoding="utf-8")
    summary = run_suite(_table(tmp_path), suite, tmp_path / "r.json")
    return json.loads(Path(summary.result).read_text(encoding="utf-8")) | {"summary": summary}


def test_a_regex_duckdb_refuses_is_reported_by_gx_and_the_rest_still_runs(tmp_path):
    stored = _run(tmp_path, [
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "รหัส", "regex": "^(?=0)"}},  # not RE2
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "n"}},
    ])
    regex, not_null = stored["results"]
    assert not regex["success"] and "invalid perl operator" in json.dumps(regex["exception_info"])
    assert (not_null["success"], not_null["result"]["unexpected_count"]) == (False, 1)
    assert stored["meta"]["harvest_executed_by"] == {"duckdb_sql": 0, "great_expectations": 2}
    assert stored["summary"].failed[0].startswith("expect_column_values_to_match_regex(รหัส) could not be evaluated: ")


def test_a_suite_gx_cannot_build_is_a_final_error_naming_it(tmp_path):
    with pytest.raises(FinalError, match=r"s\.json is not a valid GX suite: .*column_list"):
        _run(tmp_path, [{"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["n"]}}])
