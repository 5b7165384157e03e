"""The DuckDB SQL executor (``harvesters.suite_sql``) gives exactly the results GX gives.

Every expectation type the executor implements runs here through both GX (the path
validation took before, GX executing SQL on DuckDB through ``harvesters.gx_duckdb``) and
the executor, on the same small Parquet tables: passing and failing rows, nulls, NaN,
Thai text and column names, several row groups, ``mostly``, strict bounds, date bounds,
every ``ignore_row_if``, type names SQLAlchemy knows and does not. The whole result of
each expectation must be identical (success, counts, percentages, observed values,
sample values and their counts, the reported config). This test is what makes the
executor's hand-written SQL trustworthy: a type added to the executor needs its cases here.

Only one difference is allowed: which duplicated rows a uniqueness check samples. GX takes
them from a join or window whose row order DuckDB does not define; the executor takes the
first ones in file order. The cases keep duplicates under 20, so both samples hold the
same values, compared as multisets.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import math
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harvesters import suite_sql
from harvesters.results import ConvertedTable
from harvesters.validate import _duckdb_config, _run_with_gx, gx_order

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

ROWS = 30
NAME, CODE, DAY = "ชื่อสถานี", "รหัส", "วันที่"


def _table() -> pa.Table:
    """30 rows: nulls, NaN, duplicates, out-of-range values spread over row groups of 7."""
    i = range(ROWS)
    n = [v - 5 if v % 9 else None for v in i]  # -5..24, nulls at 0, 9, 18, 27
    n[20] = n[21] = 15  # a duplicated value
    x = [None if v % 11 == 3 else (math.nan if v % 13 == 5 else v / 2 - 3) for v in i]
    names = [None if v % 10 == 4 else f"สถานี{v % 12}" for v in i]  # duplicates and nulls
    codes = [f"{v:02d}t" if v % 7 else f"{v}T" for v in i]
    days = [None if v == 6 else dt.date(2024, 1, 1) + dt.timedelta(days=v * 40) for v in i]
    days[3] = dt.date(2567, 1, 1)  # an unconverted Buddhist-Era year
    return pa.table({
        "n": pa.array(n, pa.int64()),
        "x": pa.array(x, pa.float64()),
        NAME: pa.array(names, pa.string()),
        CODE: pa.array(codes, pa.string()),
        DAY: pa.array(days, pa.date32()),
        "ts": pa.array([dt.datetime(2024, 1, 1, v % 24) for v in i], pa.timestamp("us")),
        "flag": pa.array([v % 3 == 0 if v % 8 else None for v in i], pa.bool_()),
        "i32": pa.array([v % 4 for v in i], pa.int32()),
        "f32": pa.array([v / 4 for v in i], pa.float32()),
        "Region": pa.array(["ภาคเหนือ" if v % 5 else "ภาคใต้x" for v in i], pa.string()),
        "empty": pa.array([None] * ROWS, pa.string()),
        "total": pa.array([v * 2 for v in i], pa.int64()),
        "same": pa.array(["ก"] * ROWS, pa.string()),
        "station": pa.array([None if v in (2, 17) else f"ST{v % 26:02d}" for v in i], pa.string()),  # 26-29 repeat 0-3
        "part": pa.array([v if v % 6 else (None if v % 12 else v * 3) for v in i], pa.int64()),
    })


def e(kind: str, **kwargs) -> dict:
    return {"type": f"expect_{kind}", "kwargs": kwargs, "meta": {"notes": "ทดสอบ"}}


INTS = ["int64", "Int64", "int32", "Int32", "Integer"]
DATES = ["date", "datetime64[ns]", "Date", "DateTime"]
CASES = [
    # table shape
    e("table_columns_to_match_set", column_set=list(_table().column_names), exact_match=True),
    e("table_columns_to_match_set", column_set=["n", "x", NAME, "missing"]),
    e("table_columns_to_match_set", column_set=["n", "x", NAME], exact_match=False),
    e("table_columns_to_match_set", column_set=["n", "x", "missing"], exact_match=False),
    e("table_columns_to_match_set",  # GX's SQL path matches names case-insensitively
      column_set=[c.replace("Region", "region") for c in _table().column_names]),
    e("column_to_exist", column=NAME),
    e("column_to_exist", column="nope"),
    e("column_to_exist", column="n", column_index=0),
    e("column_to_exist", column="x", column_index=1),
    e("column_to_exist", column="x", column_index=2),
    e("column_to_exist", column="part", column_index=-1),
    e("column_to_exist", column="x", column_index=99),
    e("table_row_count_to_be_between", min_value=1, max_value=30),
    e("table_row_count_to_be_between", min_value=31),
    e("table_row_count_to_be_between", max_value=30, strict_max=True),
    e("table_row_count_to_be_between", min_value=30, strict_min=True),
    e("table_row_count_to_be_between"),
    # nulls
    e("column_values_to_not_be_null", column="n"),
    e("column_values_to_not_be_null", column="n", mostly=0.85),
    e("column_values_to_not_be_null", column="n", mostly=0.9),
    e("column_values_to_not_be_null", column="x"),  # NaN is not null in SQL
    e("column_values_to_not_be_null", column=CODE),
    e("column_values_to_not_be_null", column="empty"),
    e("column_values_to_not_be_null", column="flag", mostly=1),
    e("column_proportion_of_non_null_values_to_be_between", column="n", min_value=0.8),
    e("column_proportion_of_non_null_values_to_be_between", column="n", min_value=0.2, max_value=0.5),
    e("column_proportion_of_non_null_values_to_be_between", column="empty", max_value=0, strict_max=False),
    e("column_proportion_of_non_null_values_to_be_between", column=NAME, min_value=0.9, max_value=1),
    # types
    e("column_values_to_be_in_type_list", column="n", type_list=INTS),
    e("column_values_to_be_in_type_list", column="i32", type_list=INTS),
    e("column_values_to_be_in_type_list", column="x", type_list=["float64", "Float64", "float32", "int64", "Float"]),
    e("column_values_to_be_in_type_list", column="x", type_list=["Numeric"]),
    e("column_values_to_be_in_type_list", column="f32", type_list=["Numeric", "Integer"]),
    e("column_values_to_be_in_type_list", column="x", type_list=INTS),
    e("column_values_to_be_in_type_list", column=DAY, type_list=DATES),
    e("column_values_to_be_in_type_list", column="ts", type_list=DATES),
    e("column_values_to_be_in_type_list", column=NAME, type_list=DATES),
    e("column_values_to_be_in_type_list", column=NAME, type_list=["str", "string", "VARCHAR", "TEXT"]),
    e("column_values_to_be_in_type_list", column="flag", type_list=None),
    e("column_values_to_be_in_type_list", column="flag", type_list=["bool", "Boolean"]),
    e("column_values_to_be_of_type", column=NAME, type_="String"),
    e("column_values_to_be_of_type", column=NAME, type_="VARCHAR"),
    e("column_values_to_be_of_type", column="n", type_="BIGINT"),
    e("column_values_to_be_of_type", column="n", type_="INTEGER"),
    e("column_values_to_be_of_type", column="x", type_="DOUBLE"),
    e("column_values_to_be_of_type", column="f32", type_="Float", mostly=0.5),
    e("column_values_to_be_of_type", column=DAY, type_="DATE"),
    e("column_values_to_be_of_type", column="ts", type_="DateTime"),
    # ranges
    e("column_values_to_be_between", column="n", min_value=0),
    e("column_values_to_be_between", column="n", min_value=0, max_value=10),
    e("column_values_to_be_between", column="n", min_value=0, max_value=10, mostly=0.3),
    e("column_values_to_be_between", column="n", min_value=0, max_value=10, mostly=0.6),
    e("column_values_to_be_between", column="n", min_value=-5, max_value=24, strict_min=True, strict_max=True),
    e("column_values_to_be_between", column="n", max_value=15, strict_max=True),
    e("column_values_to_be_between", column="n", min_value=-100, max_value=100),
    e("column_values_to_be_between", column="x", min_value=-1.5, max_value=5.5),  # NaN sorts above every number
    e("column_values_to_be_between", column="x", min_value=0),
    e("column_values_to_be_between", column="f32", min_value=0.25, max_value=7),
    e("column_values_to_be_between", column="i32", min_value=1, max_value=2, strict_max=True),
    e("column_values_to_be_between", column=DAY, min_value="2024-01-01", max_value="2100-12-31"),
    e("column_values_to_be_between", column=DAY, min_value="2025-01-01"),
    e("column_values_to_be_between", column="ts", min_value="2024-01-01", max_value="2024-01-01"),
    e("column_values_to_be_between", column="part", min_value=0, max_value=20),
    # sets and patterns
    e("column_values_to_be_in_set", column="Region", value_set=["ภาคเหนือ", "ภาคใต้"]),
    e("column_values_to_be_in_set", column="Region", value_set=["ภาคเหนือ", "ภาคใต้", None]),
    e("column_values_to_be_in_set", column="Region", value_set=[None]),
    e("column_values_to_be_in_set", column=NAME, value_set=[f"สถานี{k}" for k in range(6)], mostly=0.5),
    e("column_values_to_be_in_set", column="i32", value_set=[0, 1, 2]),
    e("column_values_to_be_in_set", column="x", value_set=[-3, -2.5, 0.5]),
    e("column_values_to_be_in_set", column="flag", value_set=[True]),
    e("column_values_to_match_regex", column=CODE, regex="^[0-9]{2}[a-z]$"),
    e("column_values_to_match_regex", column=CODE, regex="t"),  # a partial match, as GX's
    e("column_values_to_match_regex", column=NAME, regex="สถานี1", mostly=0.2),
    e("column_values_to_match_regex", column=NAME, regex="^สถานี[0-9]$"),
    e("column_values_to_match_regex", column="empty", regex="x"),
    # uniqueness
    e("column_values_to_be_unique", column="n"),
    e("column_values_to_be_unique", column=CODE),
    e("column_values_to_be_unique", column="station", mostly=0.5),
    e("column_values_to_be_unique", column=NAME),  # more than 20 duplicates
    e("column_values_to_be_unique", column="x"),  # NaN twice: a duplicate
    e("column_values_to_be_unique", column="empty"),
    e("compound_columns_to_be_unique", column_list=["station", "i32"]),
    e("compound_columns_to_be_unique", column_list=["station", "flag"]),
    e("compound_columns_to_be_unique", column_list=["station", "flag"], ignore_row_if="any_value_is_missing"),
    e("compound_columns_to_be_unique", column_list=["station", "flag"], ignore_row_if="never", mostly=0.5),
    e("compound_columns_to_be_unique", column_list=[DAY, CODE, "n"]),
    e("compound_columns_to_be_unique", column_list=["i32", "Region"]),  # more than 20 duplicates
    # pairs
    e("column_pair_values_a_to_be_greater_than_b", column_A="total", column_B="part", or_equal=True),
    e("column_pair_values_a_to_be_greater_than_b", column_A="total", column_B="part"),
    e("column_pair_values_a_to_be_greater_than_b", column_A="n", column_B="x", or_equal=True),
    e("column_pair_values_a_to_be_greater_than_b", column_A="n", column_B="part",
      ignore_row_if="either_value_is_missing"),
    e("column_pair_values_a_to_be_greater_than_b", column_A="n", column_B="part", ignore_row_if="neither",
      or_equal=True),
    e("column_pair_values_a_to_be_greater_than_b", column_A="total", column_B="part", mostly=0.8),
]
UNIQUENESS = {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}
EMPTY_TABLE_IN_GX = {"expect_column_proportion_of_non_null_values_to_be_between"}  # GX divides by 0 rows


def _parquet(tmp_path: Path, table: pa.Table) -> ConvertedTable:
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=7)
    return ConvertedTable(key="t", title="t", csv=None, parquet=str(path), rows=table.num_rows, columns=[],
                          table_schema={})


def _both(tmp_path: Path, table: ConvertedTable, entries: list[dict]) -> tuple[dict, list, dict]:
    with duckdb.connect(config=_duckdb_config(tmp_path)) as con:
        fast, delegated = suite_sql.run(con, table.parquet, entries, "harvest-t")
    gx = _run_with_gx(table, Path("conformance.json"), entries, list(range(len(entries))), tmp_path)
    return fast, delegated, gx


def _comparable(result: dict) -> dict:
    """A uniqueness check's sample as a multiset, or only its size past 20 (see the module docstring)."""
    if result["expectation_config"]["type"] not in UNIQUENESS:
        return result
    inner = dict(result["result"])
    sample = inner["partial_unexpected_list"]
    assert len(sample) == min(inner["unexpected_count"], suite_sql.PARTIAL)
    if inner["unexpected_count"] > suite_sql.PARTIAL:
        inner["partial_unexpected_list"] = inner["partial_unexpected_counts"] = "20 of them"
    else:
        inner["partial_unexpected_list"] = sorted(sample, key=repr)
    return {**result, "result": inner}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    out = {}
    for name, table in (("full", _table()), ("empty", _table().slice(0, 0))):
        work = tmp_path_factory.mktemp(name)
        out[name] = _both(work, _parquet(work, table), CASES)
    return out


def test_every_implemented_type_has_cases_here():
    assert {c["type"] for c in CASES} == set(suite_sql.HANDLERS) == set(suite_sql.FIELDS)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[
    f"{c['type'][7:]}-{'-'.join(str(v)[:12] for v in c['kwargs'].values())}" for c in CASES])
def test_the_executor_gives_the_result_gx_gives(outcomes, i):
    fast, delegated, gx = outcomes["full"]
    assert i not in delegated, "the executor left this case to GX"
    assert _comparable(fast[i]) == _comparable(gx[i])


def test_nan_in_a_compound_key_counts_as_gx_counts_it(tmp_path):
    """GX contradicts itself here: its count joins NaN to NaN (2 duplicates), the query for its
    sample does not (an empty list). The executor keeps GX's count and shows the two rows."""
    entries = [e("compound_columns_to_be_unique", column_list=["x", "same"])]
    fast, delegated, gx = _both(tmp_path, _parquet(tmp_path, _table()), entries)
    assert not delegated
    assert (fast[0]["success"], fast[0]["result"]["unexpected_count"]) == (gx[0]["success"], 2) == (False, 2)
    assert gx[0]["result"]["partial_unexpected_list"] == []
    assert fast[0]["result"]["partial_unexpected_list"] == [{"x": None, "same": "ก"}] * 2


def test_on_an_empty_table_too(outcomes):
    fast, delegated, gx = outcomes["empty"]
    assert {CASES[i]["type"] for i in delegated} == EMPTY_TABLE_IN_GX
    for i in fast:
        assert _comparable(fast[i]) == _comparable(gx[i]), CASES[i]


def test_results_come_in_gx_order(tmp_path):
    """GX groups results by column; the merged result keeps its order."""
    from harvesters.validate import run_suite

    table = _parquet(tmp_path, _table())
    entries = CASES[:30] + [e("column_max_to_be_between", column="n", max_value=100)]  # GX runs this one
    suite = tmp_path / "s.json"
    suite.write_text(json.dumps({"name": "s", "expectations": entries}), encoding="utf-8")
    stored = json.loads(Path(run_suite(table, suite, tmp_path / "r.json").result).read_text(encoding="utf-8"))
    gx = _run_with_gx(table, Path("conformance.json"), entries, list(range(len(entries))), tmp_path)
    gx_sequence = [(r["expectation_config"]["type"], r["expectation_config"]["kwargs"]) for r in gx.values()]
    assert [(r["expectation_config"]["type"], r["expectation_config"]["kwargs"]) for r in stored["results"]] == gx_sequence
    assert [entries[i]["type"] for i in gx_order(entries)] == [t for t, _ in gx_sequence]
    assert stored["meta"]["harvest_executed_by"] == {"duckdb_sql": 30, "great_expectations": 1}


def test_the_type_table_is_what_sqlalchemy_and_the_dialect_say():
    """TYPE_NAMES is data so that validation needs no SQLAlchemy import; it must match the source."""
    import sqlalchemy as sa

    from harvesters import gx_duckdb

    dialect = gx_duckdb.ReadOnlyDuckDBDialect()
    classes = {n: c for n in dir(sa) if inspect.isclass(c := getattr(sa, n))}
    for duck_type, (observed, accepted) in suite_sql.TYPE_NAMES.items():
        actual = type(dialect._sqla_type(duck_type))
        assert (observed, accepted) == (actual.__name__, frozenset(n for n, c in classes.items()
                                                                   if issubclass(actual, c))), duck_type


def test_the_project_suites_use_only_implemented_types():
    """So no validate task of the project imports GX (test_validate_large runs two of them)."""
    from harvesters.settings import REPO_ROOT

    suites = [*sorted((REPO_ROOT / "expectations").glob("*.json")), REPO_ROOT / "bench" / "rain_suite.json"]
    used = {x["type"] for path in suites for x in json.loads(path.read_text(encoding="utf-8"))["expectations"]}
    assert used <= set(suite_sql.HANDLERS)


def test_validation_imports_neither_gx_nor_sqlalchemy(tmp_path):
    import subprocess
    import sys

    table = _parquet(tmp_path, _table())
    suite = tmp_path / "s.json"
    suite.write_text(json.dumps({"name": "s", "expectations": CASES}), encoding="utf-8")
    script = (
        "import sys, json; from pathlib import Path\n"
        "from harvesters.results import ConvertedTable; from harvesters.validate import run_suite\n"
        f"t = ConvertedTable(key='t', title='t', csv=None, parquet={table.parquet!r}, rows=30, columns=[], table_schema={{}})\n"
        f"s = run_suite(t, Path({str(suite)!r}), Path({str(tmp_path / 'r.json')!r}))\n"
        "print(json.dumps([s.evaluated, [m for m in ('great_expectations', 'sqlalchemy', 'pandas') if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == [len(CASES), []]
