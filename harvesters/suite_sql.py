"""Run a Great Expectations suite's expectations as DuckDB SQL over a table's Parquet.

Why not GX itself on every table: importing GX costs ~6 s of CPU per validate task
(12,000 datasets a night pay it for nothing), and GX runs one or two queries per
metric, each a scan of the Parquet. This module runs the expectation types our
suites use as one DuckDB scan that computes every count and sample at once (plus a
GROUP BY per uniqueness check), and returns each result in GX's own
validation-result JSON (``ExpectationValidationResult.to_json_dict()``, result format
SUMMARY), so reports, blocking rules and the run report read it unchanged. (GX on
pandas batches of the table would keep its import and cannot see duplicates across
batches; GX's own SQL engine is what we had: right, but slow to import and to run.)

GX stays the format and the reference:

* ``run`` leaves to GX each expectation it does not reproduce exactly (``Unsupported``):
  an unknown type, a kwarg it does not know (``row_condition``, ``result_format``,
  suite parameters...), a column it cannot find, a column type or bound whose
  semantics it has not been checked against. ``harvesters.validate`` runs those
  through GX on DuckDB as before (lazy import), so any GX suite still works; and if
  DuckDB refuses the scan (a regex RE2 cannot compile), the whole suite goes to GX,
  which reports such errors per expectation.
* Each handler reproduces what GX 1.24 computes on its SQL engine over DuckDB (the
  conditions in ``great_expectations/expectations/metrics/*`` and the result shaping
  in ``expectation.py``: ``_format_map_output``, ``_mostly_success``,
  ``_validate_metric_value_between``, ``type_comparison``); comments name the GX
  behaviour each line copies. ``tests/unit/test_suite_sql_conformance.py`` runs every
  type implemented here through both GX and this module on the same small Parquet
  tables (passing and failing rows, nulls, NaN, Thai text, ``mostly``, an empty table)
  and asserts identical results; that test is what makes this hand-written SQL
  trustworthy, and a type is only added here together with its cases there.

Why SQL written by hand rather than a library: no library executes GX suites
outside GX (GX's own SQL engine is what costs the import), and DuckDB is already
the engine GX used here; what is hand-written is the mapping from an expectation's
kwargs to a SQL condition, a few lines per type.

Memory and time: DuckDB streams the Parquet with aggregates of fixed size per
expectation (counts, and ``arg_min(value, row number, 20)`` for the first 20 unexpected
values in file order). Uniqueness is the costly check: it groups by a 64-bit hash of
the key first and runs the exact GROUP BY only when a hash repeats (``_duplicates``);
both spill to disk past ``memory_limit``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

PARTIAL = 20  # GX SUMMARY result format: partial_unexpected_count
SOURCE = "src"
ROW = "file_row_number"  # read_parquet's row number: samples come in file order, as GX's did
SEVERITIES = ("critical", "warning", "info")

# DuckDB column types (DESCRIBE, base name) -> the SQLAlchemy type GX sees for them through
# harvesters.gx_duckdb (its observed_value), and every top-level ``sqlalchemy`` name whose class
# that type is an instance of: GX's type expectations on this dialect resolve each expected name
# with ``getattr(sqlalchemy, name)`` and test ``isinstance`` (type_comparison.py). Kept as data so a
# validate task needs no SQLAlchemy import; test_suite_sql_conformance recomputes it from SQLAlchemy
# and the dialect and fails when they drift. Types not listed go to GX.
TYPE_NAMES: dict[str, tuple[str, frozenset[str]]] = {
    "BOOLEAN": ("BOOLEAN", frozenset({"BOOLEAN", "Boolean", "Visitable"})),
    "TINYINT": ("TinyInteger", frozenset({"Integer", "Visitable"})),
    "SMALLINT": ("SMALLINT", frozenset({"Integer", "SMALLINT", "SmallInteger", "Visitable"})),
    "INTEGER": ("INTEGER", frozenset({"INT", "INTEGER", "Integer", "Visitable"})),
    "BIGINT": ("BIGINT", frozenset({"BIGINT", "BigInteger", "Integer", "Visitable"})),
    "HUGEINT": ("HugeInteger", frozenset({"Integer", "Visitable"})),
    "UTINYINT": ("UTinyInteger", frozenset({"Integer", "Visitable"})),
    "USMALLINT": ("USmallInteger", frozenset({"Integer", "Visitable"})),
    "UINTEGER": ("UInteger", frozenset({"Integer", "Visitable"})),
    "UBIGINT": ("UBigInteger", frozenset({"Integer", "Visitable"})),
    "FLOAT": ("REAL", frozenset({"Float", "NumericCommon", "REAL", "Visitable"})),
    "DOUBLE": ("DOUBLE_PRECISION", frozenset({"DOUBLE_PRECISION", "Double", "Float", "NumericCommon", "Visitable"})),
    "VARCHAR": ("String", frozenset({"String", "Visitable"})),
    "DATE": ("DATE", frozenset({"DATE", "Date", "Visitable"})),
    "TIME": ("TIME", frozenset({"TIME", "Time", "Visitable"})),
    "TIMESTAMP": ("TIMESTAMP", frozenset({"DateTime", "TIMESTAMP", "Visitable"})),
}
NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
           "FLOAT", "DOUBLE"}
TEMPORAL = {"DATE", "TIMESTAMP"}
VALUE_TYPES = set(TYPE_NAMES)  # columns whose values come back as plain Python values (samples)


class Unsupported(Exception):
    """This module does not run the expectation exactly as GX would: GX runs it."""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def base_type(duck_type: str) -> str:
    return duck_type.upper().split("(")[0].strip()


# ---------------------------------------------------------------------------------------- kwargs

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unsupported(f"not a number: {value!r}")
    return float(value)


def _comparable(value: Any) -> float | dt.date | None:
    """GX's ``Comparable`` (float | date | datetime): numbers become floats, an ISO date string a date."""
    if value is None:
        return None
    if isinstance(value, str):
        if _ISO_DATE.fullmatch(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise Unsupported(f"bound {value!r} is not an ISO date")  # GX would try float, then datetime
    return _number(value)


def _kind(kind: str, value: Any) -> Any:
    """One kwarg, coerced as GX's pydantic model coerces it (only the shapes checked against GX)."""
    if kind == "str":
        if isinstance(value, str) and value:
            return value
    elif kind == "strs":
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return list(value)
    elif kind == "strs?":
        if value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return value
    elif kind == "mostly":
        number = _number(value)
        if 0.0 <= number <= 1.0:
            return number
    elif kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind == "bool?":
        if value is None or isinstance(value, bool):
            return value
    elif kind == "int?":
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
    elif kind == "float?":
        return None if value is None else _number(value)
    elif kind == "comparable?":
        return _comparable(value)
    elif kind == "values":
        if isinstance(value, list) and all(v is None or isinstance(v, (str, int, float, bool)) for v in value):
            return list(value)
    elif kind.startswith("one of "):
        if value in kind[7:].split("|"):
            return value
    raise Unsupported(f"{value!r} is not {kind}")


_MAP = (("column", "str", ...), ("mostly", "mostly", 1))
_BETWEEN = (("min_value", "comparable?", None), ("max_value", "comparable?", None),
            ("strict_min", "bool", False), ("strict_max", "bool", False))

# Each implemented type's kwargs, in the order GX's model declares them: (name, kind, default);
# ``...`` marks a required kwarg. GX's result repeats the kwargs minus those equal to their default.
FIELDS: dict[str, tuple[tuple[str, str, Any], ...]] = {
    "expect_column_to_exist": (("column", "str", ...), ("column_index", "int?", None)),
    "expect_table_columns_to_match_set": (("column_set", "strs", ...), ("exact_match", "bool?", True)),
    "expect_table_row_count_to_be_between": (("min_value", "int?", None), ("max_value", "int?", None),
                                             ("strict_min", "bool", False), ("strict_max", "bool", False)),
    "expect_column_values_to_not_be_null": _MAP,
    "expect_column_values_to_be_of_type": (*_MAP, ("type_", "str", ...)),
    "expect_column_values_to_be_in_type_list": (*_MAP, ("type_list", "strs?", None)),
    "expect_column_values_to_be_between": (*_MAP, *_BETWEEN),
    "expect_column_values_to_be_in_set": (*_MAP, ("value_set", "values", ...)),
    "expect_column_values_to_be_unique": _MAP,
    "expect_column_values_to_match_regex": (*_MAP, ("regex", "str", ...)),
    "expect_column_proportion_of_non_null_values_to_be_between": (
        ("column", "str", ...), ("min_value", "float?", None), ("max_value", "float?", None),
        ("strict_min", "bool", False), ("strict_max", "bool", False)),
    "expect_compound_columns_to_be_unique": (
        ("column_list", "strs", ...), ("mostly", "mostly", 1),
        ("ignore_row_if", "one of all_values_are_missing|any_value_is_missing|never", "all_values_are_missing")),
    "expect_column_pair_values_a_to_be_greater_than_b": (
        ("column_A", "str", ...), ("column_B", "str", ...), ("mostly", "mostly", 1),
        ("or_equal", "bool?", None),
        ("ignore_row_if", "one of both_values_are_missing|either_value_is_missing|neither", "both_values_are_missing")),
}


def normalize(entry: dict, batch_id: str) -> tuple[dict, dict]:
    """(the expectation_config GX reports, every kwarg with its default) for one suite entry."""
    kind = entry.get("type")
    fields = FIELDS.get(kind)
    if fields is None:
        raise Unsupported(f"{kind} is not implemented here")
    if set(entry) - {"type", "kwargs", "meta", "notes", "description", "id", "severity"}:
        raise Unsupported("entry keys")
    raw = entry.get("kwargs") or {}
    names = [name for name, _, _ in fields]
    if set(raw) - set(names):
        raise Unsupported(f"kwargs {sorted(set(raw) - set(names))}")
    values, shown = {}, {"batch_id": batch_id}
    for name, kind_, default in fields:
        if name not in raw:
            if default is ...:
                raise Unsupported(f"missing {name}")
            values[name] = default
            continue
        values[name] = _kind(kind_, raw[name])
        if values[name] != default or default is ...:  # pydantic's exclude_defaults
            shown[name] = values[name]
    config: dict[str, Any] = {"type": kind, "kwargs": shown, "meta": entry.get("meta") or {}}
    for key in ("notes", "id", "description"):
        if entry.get(key) is not None:
            if not isinstance(entry[key], str):
                raise Unsupported(key)
            config[key] = entry[key]
    severity = entry.get("severity", "critical")
    if severity not in SEVERITIES:
        raise Unsupported("severity")
    config["severity"] = severity
    if not isinstance(config["meta"], dict):
        raise Unsupported("meta")
    return config, values


# ---------------------------------------------------------------------------------------- the scan

@dataclass
class Scan:
    """The aggregates of one pass over the Parquet, and the queries that need a pass of their own."""

    columns: dict[str, str]  # name -> DuckDB base type, in file order
    source: str  # SQL relation: read_parquet(...) with the row number column, aliased SOURCE
    aggregates: dict[str, str] = field(default_factory=dict)  # SQL -> alias
    params: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # alias -> value, once run

    def agg(self, sql: str) -> str:
        if sql not in self.aggregates:
            self.aggregates[sql] = f"a{len(self.aggregates)}"
        return self.aggregates[sql]

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return "$" + name

    def column(self, name: str, types: set[str] | None = None) -> str:
        """The quoted column, if the table has it (exactly) with one of ``types``."""
        if name not in self.columns:
            raise Unsupported(f"no column {name!r}")  # GX reports the error in its own words
        if types is not None and self.columns[name] not in types:
            raise Unsupported(f"column {name!r} is {self.columns[name]}")
        return quote(name)

    def first(self, expr: str, condition: str) -> str:
        """Aggregate: the first PARTIAL values of ``expr`` (never NULL) where ``condition`` holds, in file order."""
        return self.agg(f"arg_min({expr}, {ROW}, {PARTIAL}) FILTER (WHERE {condition})")

    def run(self, con) -> None:
        select = ", ".join(f"{sql} AS {alias}" for sql, alias in self.aggregates.items())
        row = con.execute(f"SELECT {select} FROM {self.source}", self.params).fetchone()
        self.values = dict(zip(self.aggregates.values(), row))


Finish = Callable[[Scan, Any], dict]  # (scan after run, connection) -> {"success", "result"}


def plan(kind: str, kw: dict, scan: Scan) -> Finish:
    """The aggregates an expectation needs (added to ``scan``) and how to turn them into GX's result."""
    return HANDLERS[kind](kw, scan)


# ---------------------------------------------------------------------------------------- results as GX shapes them

def _between(value: Any, kw: dict) -> bool:
    """``Expectation._validate_metric_value_between`` for int/float metrics."""
    low, high = kw["min_value"], kw["max_value"]
    above = True if low is None else (value > low if kw["strict_min"] else value >= low)
    below = True if high is None else (value < high if kw["strict_max"] else value <= high)
    return bool(above and below)


def _mostly(considered: int, unexpected: int, mostly: float) -> bool:
    """``expectation._mostly_success``."""
    return (float(considered) - float(unexpected)) / float(considered) >= mostly


def map_output(success: bool, element_count: int, nonnull_count: int | None, unexpected_count: int | None,
               unexpected_list: list) -> dict:
    """``expectation._format_map_output`` for the SUMMARY result format."""
    missing_count = None if nonnull_count is None else element_count - nonnull_count
    missing_percent = percent_total = percent_nonmissing = None
    if unexpected_count is not None and element_count > 0:
        percent_total = unexpected_count / element_count * 100
        if nonnull_count is not None:
            missing_percent = missing_count / element_count * 100
            percent_nonmissing = unexpected_count / nonnull_count * 100 if nonnull_count > 0 else None
        else:
            percent_nonmissing = percent_total
    result: dict[str, Any] = {"element_count": element_count, "unexpected_count": unexpected_count,
                              "unexpected_percent": percent_nonmissing,
                              "partial_unexpected_list": unexpected_list[:PARTIAL]}
    if nonnull_count is not None:
        result.update(missing_count=missing_count, missing_percent=missing_percent,
                      unexpected_percent_total=percent_total, unexpected_percent_nonmissing=percent_nonmissing)
    hashable = ([tuple(item.values()) for item in unexpected_list]
                if unexpected_list and isinstance(unexpected_list[0], dict) else unexpected_list)
    try:  # GX leaves the counts out when values do not sort together (None beside numbers)
        result["partial_unexpected_counts"] = [
            {"value": value, "count": count}
            for value, count in sorted(Counter(hashable).most_common(PARTIAL), key=lambda x: (-x[1], x[0]))
        ]
    except TypeError:
        pass
    return {"success": success, "result": result}


def _column_map(nonnull: int, unexpected: int | None, rows: int, sample: list, mostly: float) -> dict:
    """``ColumnMapExpectation._validate``: rows with a null value are not considered."""
    success = True if rows == 0 or nonnull == 0 else _mostly(nonnull, unexpected, mostly)
    return map_output(success, rows, nonnull, unexpected, sample)


def _multicolumn_map(filtered: int, unexpected: int, rows: int, sample: list, mostly: float) -> dict:
    """``ColumnPairMapExpectation`` / ``MulticolumnMapExpectation._validate``: rows left by ignore_row_if."""
    success = True if rows == 0 or filtered == 0 else _mostly(filtered, unexpected, mostly)
    return map_output(success, rows, filtered, unexpected, sample)


# ---------------------------------------------------------------------------------------- handlers

HANDLERS: dict[str, Callable[[dict, Scan], Finish]] = {}


def handles(kind: str):
    def register(fn):
        HANDLERS[kind] = fn
        return fn
    return register


@handles("expect_table_row_count_to_be_between")
def _row_count(kw: dict, scan: Scan) -> Finish:
    rows = scan.agg("count(*)")

    def finish(scan: Scan, con) -> dict:
        return {"success": _between(scan.values[rows], kw), "result": {"observed_value": scan.values[rows]}}
    return finish


@handles("expect_table_columns_to_match_set")
def _columns_match_set(kw: dict, scan: Scan) -> Finish:
    # GX's SQL path matches names case-insensitively (casefold), and exactly when quoted ("Name").
    # Only the unambiguous case is done here: no quoted names, no two names equal once casefolded.
    expected, actual = kw["column_set"], list(scan.columns)
    if any(c.startswith('"') and c.endswith('"') for c in expected):
        raise Unsupported("quoted column names")
    if len({c.casefold() for c in actual}) < len(actual) or len({c.casefold() for c in expected}) < len(set(expected)):
        raise Unsupported("column names equal but for case")
    folded_expected, folded_actual = {c.casefold() for c in expected}, {c.casefold() for c in actual}
    unexpected = sorted(c for c in actual if c.casefold() not in folded_expected)
    missing = sorted(c for c in set(expected) if c.casefold() not in folded_actual)

    def finish(scan: Scan, con) -> dict:
        # expect_table_columns_to_match_set._validate_result
        observed = sorted(actual)
        if not unexpected and not missing:
            return {"success": True, "result": {"observed_value": observed}}
        mismatched = {**({"unexpected": unexpected} if unexpected else {}), **({"missing": missing} if missing else {})}
        success = not kw["exact_match"] and not missing
        return {"success": success, "result": {"observed_value": observed, "details": {"mismatched": mismatched}}}
    return finish


@handles("expect_column_to_exist")
def _column_to_exist(kw: dict, scan: Scan) -> Finish:
    name, index, actual = kw["column"], kw["column_index"], list(scan.columns)
    if name not in actual and name.casefold() in {c.casefold() for c in actual}:
        raise Unsupported("column named but for case")

    def finish(scan: Scan, con) -> dict:
        if index:  # as GX: an index of 0 means "anywhere"; a negative one counts from the end
            try:
                return {"success": actual[index] == name, "result": {}}
            except IndexError:
                return {"success": False, "result": {}}
        return {"success": name in actual, "result": {}}
    return finish


@handles("expect_column_values_to_not_be_null")
def _not_null(kw: dict, scan: Scan) -> Finish:
    column = scan.column(kw["column"])
    rows, nulls = scan.agg("count(*)"), scan.agg(f"count(*) FILTER (WHERE {column} IS NULL)")

    def finish(scan: Scan, con) -> dict:
        # ExpectColumnValuesToNotBeNull._validate: every row is considered; no missing_* fields.
        # GX sums a CASE per row: no rows, no sum (None).
        total = scan.values[rows]
        unexpected = scan.values[nulls] if total else None
        success = True if total == 0 else (total - unexpected) / total >= kw["mostly"]
        return map_output(success, total, None, unexpected, [None] * min(unexpected or 0, PARTIAL))
    return finish


def _condition_map(kw: dict, scan: Scan, column: str, condition: str) -> Finish:
    """A column map expectation whose unexpected rows are the non-null ones where ``condition`` is false."""
    unexpected_rows = f"{column} IS NOT NULL AND NOT ({condition})"
    rows, nonnull = scan.agg("count(*)"), scan.agg(f"count({column})")
    unexpected = scan.agg(f"count(*) FILTER (WHERE {unexpected_rows})")
    sample = scan.first(column, unexpected_rows)

    def finish(scan: Scan, con) -> dict:
        v = scan.values
        count = v[unexpected] if v[rows] else None  # GX sums a CASE per row: no rows, no sum
        return _column_map(v[nonnull], count, v[rows], v[sample] or [], kw["mostly"])
    return finish


@handles("expect_column_values_to_be_between")
def _values_between(kw: dict, scan: Scan) -> Finish:
    low, high = kw["min_value"], kw["max_value"]
    if low is None and high is None:
        raise Unsupported("no bounds")  # GX raises
    bounds = [b for b in (low, high) if b is not None]
    if all(isinstance(b, float) for b in bounds):
        types = NUMERIC
    elif all(isinstance(b, dt.date) for b in bounds):
        types = TEMPORAL
    else:
        raise Unsupported("mixed bounds")
    if low is not None and high is not None and low > high:
        raise Unsupported("min_value > max_value")  # GX raises
    column = scan.column(kw["column"], types)
    # column_values_between._sqlalchemy
    parts = []
    if low is not None:
        parts.append(f"{column} {'>' if kw['strict_min'] else '>='} {scan.param(low)}")
    if high is not None:
        parts.append(f"{column} {'<' if kw['strict_max'] else '<='} {scan.param(high)}")
    return _condition_map(kw, scan, column, " AND ".join(parts))


@handles("expect_column_values_to_be_in_set")
def _values_in_set(kw: dict, scan: Scan) -> Finish:
    # column_values_in_set._sqlalchemy_impl: None is dropped from the set, an empty set matches nothing.
    values = [v for v in kw["value_set"] if v is not None]
    if not kw["value_set"]:
        raise Unsupported("empty value_set")
    column_type = scan.columns.get(kw["column"])
    if column_type == "VARCHAR":
        fits = all(isinstance(v, str) for v in values)
    elif column_type in NUMERIC:
        fits = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    elif column_type == "BOOLEAN":
        fits = all(isinstance(v, bool) for v in values)
    else:
        fits = False
    if not fits:
        raise Unsupported("value_set does not fit the column's type")  # DuckDB would cast (or fail) as GX's SQL does
    column = scan.column(kw["column"])
    condition = f"{column} IN ({', '.join(scan.param(v) for v in values)})" if values else "false"
    return _condition_map(kw, scan, column, condition)


@handles("expect_column_values_to_match_regex")
def _values_match_regex(kw: dict, scan: Scan) -> Finish:
    # GX's PostgreSQL branch (chosen through gx_duckdb): ``column ~ regex``, a partial match in DuckDB.
    column = scan.column(kw["column"], {"VARCHAR"})
    return _condition_map(kw, scan, column, f"regexp_matches({column}, {scan.param(kw['regex'])})")


@handles("expect_column_proportion_of_non_null_values_to_be_between")
def _proportion_non_null(kw: dict, scan: Scan) -> Finish:
    column = scan.column(kw["column"])
    rows, nonnull = scan.agg("count(*)"), scan.agg(f"count({column})")

    def finish(scan: Scan, con) -> dict:
        total = scan.values[rows]
        if total == 0:
            raise Unsupported("empty table")
        observed = scan.values[nonnull] / total
        return {"success": _between(observed, kw), "result": {"observed_value": observed}}
    return finish


def _type_check(scan: Scan, name: str) -> tuple[str, frozenset[str]]:
    column_type = scan.columns.get(name)
    if column_type not in TYPE_NAMES:
        raise Unsupported(f"column {name!r} of type {column_type}")
    return TYPE_NAMES[column_type]


def _type_matches(accepted: frozenset[str], names: list[str]) -> bool:
    # type_comparison._include_floating_point_in_numeric: an expected "Numeric" also takes floats.
    return any(n in accepted for n in names) or ("Numeric" in names and "Float" not in names and "Float" in accepted)


@handles("expect_column_values_to_be_in_type_list")
def _in_type_list(kw: dict, scan: Scan) -> Finish:
    observed, accepted = _type_check(scan, kw["column"])
    names = kw["type_list"]

    def finish(scan: Scan, con) -> dict:
        success = True if names is None else _type_matches(accepted, names)
        return {"success": success, "result": {"observed_value": observed}}
    return finish


@handles("expect_column_values_to_be_of_type")
def _of_type(kw: dict, scan: Scan) -> Finish:
    observed, accepted = _type_check(scan, kw["column"])

    def finish(scan: Scan, con) -> dict:
        return {"success": _type_matches(accepted, [kw["type_"]]), "result": {"observed_value": observed}}
    return finish


@handles("expect_column_pair_values_a_to_be_greater_than_b")
def _pair_a_greater_than_b(kw: dict, scan: Scan) -> Finish:
    families = [t for t in (NUMERIC, TEMPORAL, {"VARCHAR"}) if scan.columns.get(kw["column_A"]) in t]
    a = scan.column(kw["column_A"], families[0] if families else set())
    b = scan.column(kw["column_B"], families[0] if families else set())
    # SqlAlchemyExecutionEngine.get_domain_records (ignore_row_if) and column_pair_values_greater._sqlalchemy
    keep = {"both_values_are_missing": f"NOT ({a} IS NULL AND {b} IS NULL)",
            "either_value_is_missing": f"NOT ({a} IS NULL OR {b} IS NULL)",
            "neither": "true"}[kw["ignore_row_if"]]
    condition = f"({a} >= {b} OR ({a} IS NULL AND {b} IS NULL))" if kw["or_equal"] else f"{a} > {b}"
    unexpected_rows = f"{keep} AND NOT {condition}"
    rows, filtered = scan.agg("count(*)"), scan.agg(f"count(*) FILTER (WHERE {keep})")
    unexpected = scan.agg(f"count(*) FILTER (WHERE {unexpected_rows})")
    sample = scan.first(f"row({a}, {b})", unexpected_rows)

    def finish(scan: Scan, con) -> dict:
        v = scan.values
        return _multicolumn_map(v[filtered], v[unexpected], v[rows], [tuple(p) for p in v[sample] or []],
                                kw["mostly"])
    return finish


def _duplicates(scan: Scan, con, keys: list[str]) -> tuple[int, list]:
    """How many rows have a key (every part non-null) that occurs more than once, and a sample.

    As GX counts them: a row with a null in its key never counts (GX joins each row to its
    group's count on equal keys), and NaN is a value like any other (GX's window for one
    column groups NaN together; for compound keys its count does too).

    First a GROUP BY on a 64-bit hash of the key, about five times cheaper than on the key
    itself: equal keys have equal hashes, so no hash repeated means no key repeated, the usual
    answer. Otherwise the exact GROUP BY runs on the rows whose hash repeats. (Float keys skip
    the first step: -0.0 equals 0.0 and we do not rely on their hashes being equal.)

    The sample lists the duplicated keys in order of first appearance, each as many times as it
    occurs, up to PARTIAL values: GX's own order for these two types is whatever its join or
    window yields, so any order is GX's; this one shows the first duplicates of the file."""
    cols = ", ".join(keys)
    nonnull = " AND ".join(f"{k} IS NOT NULL" for k in keys)
    where = nonnull
    if not any(scan.columns[_unquote(k)] in ("FLOAT", "DOUBLE") for k in keys):
        con.execute(f"CREATE OR REPLACE TEMP TABLE harvest_repeated AS SELECT hash({cols}) AS h FROM {scan.source} "
                    f"WHERE {nonnull} GROUP BY h HAVING count(*) > 1")
        if not con.execute("SELECT count(*) FROM harvest_repeated").fetchone()[0]:
            return 0, []
        where += f" AND hash({cols}) IN (SELECT h FROM harvest_repeated)"
    count, first = con.execute(
        f"SELECT sum(harvest_n), arg_min(row({cols}, harvest_n), harvest_first, {PARTIAL}) FROM ("
        f"SELECT {cols}, count(*) AS harvest_n, min({ROW}) AS harvest_first FROM {scan.source} WHERE {where} "
        f"GROUP BY ALL HAVING count(*) > 1)").fetchone()
    con.execute("DROP TABLE IF EXISTS harvest_repeated")
    sample = [_fresh(group[:-1] if len(keys) > 1 else group[0]) for group in first or [] for _ in range(group[-1])]
    return int(count or 0), sample[:PARTIAL]


def _fresh(value: Any) -> Any:
    """A copy of a sampled key for each row it stands for: NaN is unequal to itself unless it is the
    same object, and GX, which fetches each row, counts every NaN apart (partial_unexpected_counts)."""
    if isinstance(value, tuple):
        return tuple(_fresh(v) for v in value)
    return value + 0.0 if isinstance(value, float) else value


def _unquote(quoted: str) -> str:
    return quoted[1:-1].replace('""', '"')


@handles("expect_column_values_to_be_unique")
def _values_unique(kw: dict, scan: Scan) -> Finish:
    column = scan.column(kw["column"], VALUE_TYPES)
    rows, nonnull = scan.agg("count(*)"), scan.agg(f"count({column})")

    def finish(scan: Scan, con) -> dict:
        unexpected, sample = _duplicates(scan, con, [column])
        return _column_map(scan.values[nonnull], unexpected, scan.values[rows], sample, kw["mostly"])
    return finish


@handles("expect_compound_columns_to_be_unique")
def _compound_unique(kw: dict, scan: Scan) -> Finish:
    names = kw["column_list"]
    if len(set(names)) < len(names) or len(names) < 2:
        raise Unsupported("fewer than two distinct columns")  # GX refuses the suite
    keys = [scan.column(n, VALUE_TYPES) for n in names]
    missing = {"all_values_are_missing": " AND ", "any_value_is_missing": " OR "}.get(kw["ignore_row_if"])
    keep = f"NOT ({missing.join(f'{k} IS NULL' for k in keys)})" if missing else "true"
    rows, filtered = scan.agg("count(*)"), scan.agg(f"count(*) FILTER (WHERE {keep})")

    def finish(scan: Scan, con) -> dict:
        unexpected, sample = _duplicates(scan, con, keys)
        dicts = [dict(zip(names, s if isinstance(s, tuple) else (s,))) for s in sample]
        return _multicolumn_map(scan.values[filtered], unexpected, scan.values[rows], dicts, kw["mostly"])
    return finish


# ---------------------------------------------------------------------------------------- running a suite

EXCEPTION_INFO = {"raised_exception": False, "exception_traceback": None, "exception_message": None}


def run(con, parquet: str, entries: list[dict], batch_id: str) -> tuple[dict[int, dict], list[int]]:
    """Run what this module implements of ``entries`` (a suite's expectation dicts) on one Parquet file.

    Returns GX's result dict (``to_json_dict`` form) for each entry it ran, keyed by the entry's
    position, and the positions it left for GX. ``con`` is a DuckDB connection set up by the caller
    (memory limit, threads, spill folder)."""
    source = f"read_parquet('{parquet.replace(chr(39), chr(39) * 2)}', file_row_number = true) AS {SOURCE}"
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{parquet.replace(chr(39), chr(39) * 2)}')").fetchall()
    columns = {name: base_type(duck_type) for name, duck_type, *_ in described}
    if ROW in columns:
        return {}, list(range(len(entries)))  # the row number would shadow a column of that name
    scan = Scan(columns=columns, source=source)
    planned: dict[int, tuple[dict, Finish]] = {}
    delegated: list[int] = []
    for i, entry in enumerate(entries):
        try:
            config, kwargs = normalize(entry, batch_id)
            planned[i] = (config, plan(entry["type"], kwargs, scan))
        except Unsupported:
            delegated.append(i)
    if scan.aggregates:
        scan.run(con)
    results: dict[int, dict] = {}
    for i, (config, finish) in planned.items():
        try:
            outcome = finish(scan, con)
        except Unsupported:
            delegated.append(i)
            continue
        results[i] = jsonable({"success": outcome["success"], "expectation_config": config,
                               "result": outcome["result"], "meta": {}, "exception_info": dict(EXCEPTION_INFO)})
    return results, sorted(delegated)


# ---------------------------------------------------------------------------------------- JSON as GX writes it

def jsonable(value: Any) -> Any:
    """``great_expectations.util.convert_to_json_serializable`` for the values DuckDB hands back."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return str(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")
