"""Validate converted tables with a Great Expectations 1.x suite.

The suite is a JSON file under ``expectations/`` (version-controlled, reviewed
like code). The context is ephemeral and built inside the call: GX is imported
lazily because the import alone costs seconds, which DAG parsing must not pay.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from .errors import FinalError, ValidationBlocked
from .results import ConvertedTable, ValidationSummary

MAX_FAILED_LINES = 5


def load_suite_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FinalError(f"expectation suite not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise FinalError(f"expectation suite {path} is not valid JSON: {exc}") from None
    if not isinstance(data.get("expectations"), list):
        raise FinalError(f"expectation suite {path} has no 'expectations' list")
    return data


def _describe(expectation_result) -> str:
    cfg = expectation_result.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
    column = kwargs.pop("column", None)
    res = expectation_result.result or {}
    bits = [cfg.type + (f"({column})" if column else "")]
    if "unexpected_count" in res:
        bits.append(f"{res['unexpected_count']} unexpected of {res.get('element_count', '?')}")
        sample = res.get("partial_unexpected_list") or []
        if sample:
            bits.append("e.g. " + ", ".join("null" if v is None or v != v else repr(v) for v in sample[:3]))
    elif "observed_value" in res:
        bits.append(f"observed {res['observed_value']!r}")
    elif raised := _raised_message(expectation_result.exception_info):
        bits.append(f"could not be evaluated: {raised}")
    limits = {k: v for k, v in kwargs.items() if k in ("min_value", "max_value", "value_set", "column_set")}
    if limits:
        bits.append("expected " + ", ".join(f"{k}={v}" for k, v in limits.items()))
    return " ".join(bits)


def _raised_message(info) -> str | None:
    """The error GX caught while evaluating an expectation (its info is flat, or keyed by metric)."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception"):
            return str(entry.get("exception_message") or "error").splitlines()[0]
    return None


def run_suite(table: ConvertedTable, suite_path: Path, result_path: Path) -> ValidationSummary:
    """Validate one converted table; the full GX result is written to ``result_path``.

    GX executes the suite as SQL in DuckDB over the table's Parquet (see
    ``harvesters.gx_duckdb``): memory stays bounded by ``HARVEST_VALIDATE_MEMORY``
    whatever the table's size, where a pandas DataFrame would hold all of it.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # GX logs hundreds of info lines per context; keep task logs readable.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # It warns on every type check that DuckDB has no dialect module of its own; types come
    # from SQLAlchemy's generic ones (Integer, Float, Date...), which is what the suites name.
    logging.getLogger("great_expectations.expectations.type_comparison").setLevel(logging.ERROR)
    import duckdb
    import great_expectations as gx  # lazy: ~5 s

    from . import gx_duckdb

    suite_json = load_suite_json(suite_path)
    if not table.parquet:
        raise FinalError(f"table {table.key} has no Parquet output to validate (enable the parquet format)")

    from great_expectations.data_context.types.base import ProgressBarsConfig

    gx_duckdb.register()
    with tempfile.TemporaryDirectory(prefix="harvest-validate-") as work:
        database = Path(work) / "validate.duckdb"
        with duckdb.connect(str(database)) as con:
            con.execute(f"CREATE VIEW {VIEW} AS SELECT * FROM read_parquet({_sql_string(table.parquet)})")
        context = gx.get_context(mode="ephemeral")
        # Progress bars would flood task logs and the CLI's stderr.
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        source = context.data_sources.add_sql(
            "harvest", connection_string=f"duckdb+harvest:///{database}",
            kwargs={"connect_args": {"config": _duckdb_config(Path(work))}},
        )
        batch = source.add_table_asset(table.key, table_name=VIEW).add_batch_definition_whole_table("whole").get_batch()
        # ExpectationSuite takes the JSON's expectation dicts ({"type", "kwargs", "meta"}) as they are.
        suite = gx.ExpectationSuite(name=suite_json.get("name", suite_path.stem), expectations=suite_json["expectations"])
        result = batch.validate(suite)
        source.get_execution_engine().close()

    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(result.to_json_dict(), ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    failed = [_describe(r) for r in result.results if not r.success]
    return ValidationSummary(
        table=table.key,
        suite=suite_path.stem,
        success=bool(result.success),
        evaluated=len(result.results),
        failed=failed,
        result=str(result_path),
        outcome="passed" if result.success else "failed",
    )


VIEW = "converted"


def _sql_string(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _duckdb_config(work: Path) -> dict:
    """DuckDB's memory cap (it spills to ``work`` beyond it) and threads, from the environment.

    128 MB by default: GX with its imports holds ~345 MiB before any data, and a validate
    task must stay under 600 MiB (issue 10) whatever the table's size."""
    return {
        "memory_limit": os.environ.get("HARVEST_VALIDATE_MEMORY", "128MB"),
        "threads": int(os.environ.get("HARVEST_VALIDATE_THREADS", "2")),
        "temp_directory": str(work / "spill"),
        # Sample values (partial_unexpected_list) come in file order, as they did from pandas.
        "preserve_insertion_order": True,
    }


def gate(summaries: list[ValidationSummary], *, on_failure: str, source: str) -> list[ValidationSummary]:
    """Apply the source's failure policy: block raises, warn marks the summaries and lets publishing go on."""
    failing = [s for s in summaries if not s.success]
    if not failing:
        return summaries
    if on_failure == "warn":
        return [s.model_copy(update={"outcome": "warned"}) if not s.success else s for s in summaries]
    first = failing[0]
    lines = "; ".join(first.failed[:MAX_FAILED_LINES])
    more = len(first.failed) - MAX_FAILED_LINES
    raise ValidationBlocked(
        f"publish blocked: suite {first.suite} failed {len(first.failed)} of {first.evaluated} expectations "
        f"on table {first.table}: {lines}" + (f" (+{more} more)" if more > 0 else "")
        + (f"; {len(failing) - 1} more table(s) failed" if len(failing) > 1 else ""),
        source=source, result=first.result,
    )
