"""A starter expectation suite, profiled from a sample file's converted tables (`harvest new-source --sample`).

It uses only these expectation types (the ones the SQL validator runs fast, see
``harvesters.validate``): ``expect_table_columns_to_match_set``,
``expect_table_row_count_to_be_between``, ``expect_column_values_to_be_in_type_list``,
``expect_column_values_to_not_be_null`` (``mostly`` below 1 where the sample has
nulls), ``expect_column_values_to_be_between`` (numbers and dates, widened) and
``expect_column_values_to_be_in_set`` (text with few distinct values).

Every bound is what the sample shows, widened so the next file of the same kind passes:
row counts from half to ten times the sample's; number ranges by a tenth of their
span (never below 0 when the sample has no negative value); dates a month earlier
and a year later (later files bring later dates). A file of several tables is checked
table by table with the one suite, so only what holds on every table is written.
GX's profilers are not used: GX 1.x no longer ships them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SET_MAX = 20  # at most this many distinct texts make an allowed set
NULL_SLACK = 0.05  # `mostly` sits this far below the sample's share of non-null values

# SQLAlchemy's generic types, which the validator matches DuckDB's columns against (README: Expectation suites).
TYPE_NAMES = {"integer": ["Integer"], "float": ["Float", "Numeric"], "decimal": ["Numeric"], "date": ["Date"],
              "timestamp": ["DateTime"], "boolean": ["Boolean"], "text": ["String"]}


def _kind(t: pa.DataType) -> str | None:
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    return None


def _expectation(kind: str, note: str, **kwargs) -> dict[str, Any]:
    return {"type": f"expect_{kind}", "kwargs": kwargs, "meta": {"notes": note}}


def _widen_numbers(low: float, high: float, integer: bool) -> tuple[float, float]:
    span = high - low
    margin = span / 10 if span else max(abs(high) / 10, 1)
    lo, hi = low - margin, high + margin
    if low >= 0:
        lo = max(0, lo)  # counts and measures that cannot be negative stay so
    if integer:
        return math.floor(lo), math.ceil(hi)
    return math.floor(lo * 100) / 100, math.ceil(hi * 100) / 100


def _widen_dates(low: dt.date, high: dt.date) -> tuple[str, str]:
    return (low - dt.timedelta(days=31)).isoformat(), (high + dt.timedelta(days=366)).isoformat()


def profile(parquets: Sequence[Path], name: str, sample_label: str) -> dict[str, Any]:
    """The suite ``name`` (a GX 1.x suite as JSON) for the tables in ``parquets``, converted from one sample."""
    tables = [pq.read_table(p) for p in parquets]
    if not tables:
        raise ValueError("no table to profile")
    rows = [t.num_rows for t in tables]
    column_lists = [t.column_names for t in tables]
    common = [c for c in column_lists[0] if all(c in cols for cols in column_lists[1:])]
    where = f"profiled from the sample {sample_label}"
    out: list[dict[str, Any]] = []
    if all(sorted(cols) == sorted(column_lists[0]) for cols in column_lists):
        out.append(_expectation("table_columns_to_match_set", f"{where}: exactly its columns, in any order",
                                column_set=column_lists[0], exact_match=True))
    low, high = min(rows), max(rows)
    out.append(_expectation("table_row_count_to_be_between",
                            f"{where} ({', '.join(map(str, rows))} rows): from half to ten times as many",
                            min_value=max(1, low // 2), max_value=max(high * 10, 10)))
    for column in common:
        out += _column_expectations(column, [t.column(column) for t in tables], where)
    return {"name": name, "expectations": out,
            "meta": {"notes": f"Starter suite {where} by `harvest new-source`; review every bound before "
                              f"publishing (see docs/onboarding.en.md)."}}


def _column_expectations(column: str, parts: list[pa.ChunkedArray], where: str) -> list[dict[str, Any]]:
    kinds = {_kind(p.type) for p in parts}
    kind = kinds.pop() if len(kinds) == 1 else None
    values = pa.chunked_array([c for p in parts for c in p.chunks], type=parts[0].type) if kind else None
    total = sum(len(p) for p in parts)
    nulls = sum(p.null_count for p in parts)
    out: list[dict[str, Any]] = []
    if kind is not None and kind in TYPE_NAMES:
        out.append(_expectation("column_values_to_be_in_type_list", f"{where}: {kind} values",
                                column=column, type_list=TYPE_NAMES[kind]))
    if total and nulls < total:
        share = (total - nulls) / total
        if nulls == 0:
            out.append(_expectation("column_values_to_not_be_null", f"{where}: never empty", column=column))
        elif (mostly := math.floor((share - NULL_SLACK) * 100) / 100) > 0:
            out.append(_expectation("column_values_to_not_be_null",
                                    f"{where}: {share:.0%} filled; at least {mostly:.0%} must be",
                                    column=column, mostly=mostly))
    if values is None or nulls == total:
        return out
    if kind in ("integer", "float", "decimal"):
        bounds = pc.min_max(values)
        lo, hi = _widen_numbers(float(bounds["min"].as_py()), float(bounds["max"].as_py()), kind == "integer")
        out.append(_expectation("column_values_to_be_between",
                                f"{where}: {bounds['min'].as_py()} to {bounds['max'].as_py()}, widened by a tenth",
                                column=column, min_value=lo, max_value=hi))
    elif kind == "date":
        bounds = pc.min_max(values)
        lo, hi = _widen_dates(bounds["min"].as_py(), bounds["max"].as_py())
        out.append(_expectation("column_values_to_be_between",
                                f"{where}: {bounds['min'].as_py()} to {bounds['max'].as_py()}; a month earlier and "
                                f"a year later allowed (raise max_value as the data goes on)",
                                column=column, min_value=lo, max_value=hi))
    elif kind == "text":
        distinct = pc.unique(values.drop_null())
        filled = total - nulls
        if len(distinct) <= SET_MAX and filled >= 2 * len(distinct):
            allowed = sorted(distinct.to_pylist())
            out.append(_expectation("column_values_to_be_in_set",
                                    f"{where}: {len(allowed)} distinct values; a new one fails the suite (add it "
                                    f"here when it is right)", column=column, value_set=allowed))
    return out
