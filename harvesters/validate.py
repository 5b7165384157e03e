"""Validate converted tables with a Great Expectations 1.x suite.

The suite is a JSON file under ``expectations/`` (version-controlled, reviewed
like code), and the result is GX's validation-result JSON. The expectation types
``harvesters.suite_sql`` implements run there as DuckDB SQL without GX; any other
runs through GX itself (ephemeral context, SQL on DuckDB): GX is imported only
then, because the import alone costs seconds, which most validate tasks and DAG
parsing must not pay.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from pathlib import Path

from . import suite_sql
from .errors import FinalError, ValidationBlocked
from .results import ConvertedTable, ValidationSummary

log = logging.getLogger(__name__)

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


def _describe(result: dict) -> str:
    """One line for a failed expectation, from its result in GX's JSON form."""
    cfg = result["expectation_config"]
    kwargs = {k: v for k, v in cfg["kwargs"].items() if k not in ("batch_id",)}
    column = kwargs.pop("column", None)
    res = result.get("result") or {}
    bits = [cfg["type"] + (f"({column})" if column else "")]
    if "unexpected_count" in res:
        bits.append(f"{res['unexpected_count']} unexpected of {res.get('element_count', '?')}")
        sample = res.get("partial_unexpected_list") or []
        if sample:
            bits.append("e.g. " + ", ".join("null" if v is None else repr(v) for v in sample[:3]))
    elif "observed_value" in res:
        bits.append(f"observed {res['observed_value']!r}")
    elif raised := _raised_message(result.get("exception_info")):
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
    """Validate one converted table; the full result, in GX's JSON form, is written to ``result_path``.

    The expectations ``harvesters.suite_sql`` implements run there, as one DuckDB scan of the
    table's Parquet, without importing GX; the others run through GX on DuckDB (``_run_with_gx``).
    Either way memory stays bounded by ``HARVEST_VALIDATE_MEMORY`` whatever the table's size,
    and the results come in the order and shape GX gives them.
    """
    import duckdb

    suite_json = load_suite_json(suite_path)
    if not table.parquet:
        raise FinalError(f"table {table.key} has no Parquet output to validate (enable the parquet format)")
    entries = suite_json["expectations"]
    with tempfile.TemporaryDirectory(prefix="harvest-validate-") as work:
        with duckdb.connect(config=_duckdb_config(Path(work))) as con:
            try:
                results, delegated = suite_sql.run(con, table.parquet, entries, f"{DATASOURCE}-{table.key}")
            except duckdb.Error as exc:  # e.g. a regex RE2 refuses: GX reports such errors per expectation
                log.warning("suite %s on table %s: DuckDB SQL failed (%s); running it through GX",
                            suite_path.stem, table.key, str(exc).splitlines()[0])
                results, delegated = {}, list(range(len(entries)))
        if delegated:
            results.update(_run_with_gx(table, suite_path, entries, delegated, Path(work)))
    ordered = [results[i] for i in gx_order(entries) if i in results]
    in_gx = sum(1 for i in delegated if i in results)
    document = _suite_result(suite_json.get("name", suite_path.stem), table.key, ordered,
                             executed={"duckdb_sql": len(results) - in_gx, "great_expectations": in_gx})
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return ValidationSummary(
        table=table.key,
        suite=suite_path.stem,
        success=document["success"],
        evaluated=len(ordered),
        failed=[_describe(r) for r in ordered if not r["success"]],
        result=str(result_path),
        outcome="passed" if document["success"] else "failed",
    )


VIEW = "converted"
DATASOURCE = "harvest"
POSITION = "harvest_suite_position"  # meta key that carries an expectation's place through GX


def gx_order(entries: list[dict]) -> list[int]:
    """The order GX reports results in: grouped by ``column`` kwarg, groups in order of first use
    (``Validator.process_expectations_for_validation``), expectations without one as one group."""
    groups: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):
        column = (entry.get("kwargs") or {}).get("column")
        groups.setdefault(column if isinstance(column, str) else "_nocolumn", []).append(i)
    return [i for group in groups.values() for i in group]


def _suite_result(name: str, asset: str, results: list[dict], executed: dict[str, int]) -> dict:
    """``ExpectationSuiteValidationResult.to_json_dict()`` of a whole-table batch of our data source."""
    successful = sum(1 for r in results if r["success"])
    return {
        "success": successful == len(results),
        "results": results,
        "suite_name": name,
        "suite_parameters": {},
        "statistics": {
            "evaluated_expectations": len(results),
            "successful_expectations": successful,
            "unsuccessful_expectations": len(results) - successful,
            "success_percent": successful / len(results) * 100 if results else None,
        },
        "meta": {
            "great_expectations_version": _gx_version(),
            "batch_spec": {"type": "table", "data_asset_name": asset, "table_name": VIEW, "schema_name": None,
                           "batch_identifiers": {}},
            "batch_markers": {"ge_load_time": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")},
            "active_batch_definition": {"datasource_name": DATASOURCE, "data_connector_name": "fluent",
                                        "data_asset_name": asset, "batch_identifiers": {}},
            "harvest_executed_by": executed,  # how many expectations ran as DuckDB SQL, how many in GX
        },
        "id": None,
    }


def _gx_version() -> str:
    from importlib.metadata import version

    return version("great-expectations")


def _run_with_gx(table: ConvertedTable, suite_path: Path, entries: list[dict], positions: list[int],
                 work: Path) -> dict[int, dict]:
    """Run the expectations at ``positions`` through GX, executing SQL in DuckDB over the Parquet
    (``harvesters.gx_duckdb``); their results in ``to_json_dict`` form, keyed by position.

    For the expectation types ``harvesters.suite_sql`` does not implement: GX is imported here
    only, because the import alone costs seconds."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # GX logs hundreds of info lines per context; keep task logs readable.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # It warns on every type check that DuckDB has no dialect module of its own; types come
    # from SQLAlchemy's generic ones (Integer, Float, Date...), which is what the suites name.
    logging.getLogger("great_expectations.expectations.type_comparison").setLevel(logging.ERROR)
    import duckdb
    import great_expectations as gx  # lazy: ~5 s
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from . import gx_duckdb

    gx_duckdb.register()
    database = work / "validate.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute(f"CREATE VIEW {VIEW} AS SELECT * FROM read_parquet({_sql_string(table.parquet)})")
    context = gx.get_context(mode="ephemeral")
    # Progress bars would flood task logs and the CLI's stderr.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_sql(
        DATASOURCE, connection_string=f"duckdb+harvest:///{database}",
        kwargs={"connect_args": {"config": _duckdb_config(work, memory="128MB")}},
    )
    batch = source.add_table_asset(table.key, table_name=VIEW).add_batch_definition_whole_table("whole").get_batch()
    # ExpectationSuite takes the JSON's expectation dicts ({"type", "kwargs", "meta"}) as they are; each
    # carries its suite position in meta, taken out again below.
    tagged = [{**entries[i], "meta": {**(entries[i].get("meta") or {}), POSITION: i}} for i in positions]
    try:
        suite = gx.ExpectationSuite(name=suite_path.stem, expectations=tagged)
    except Exception as exc:  # GX refuses an expectation its model cannot build (pydantic's error)
        raise FinalError(f"expectation suite {suite_path} is not a valid GX suite: "
                         f"{' '.join(str(exc).split())[:300]}") from None
    result = batch.validate(suite)
    source.get_execution_engine().close()
    out = {}
    for r in result.to_json_dict()["results"]:
        position = r["expectation_config"]["meta"].pop(POSITION)
        out[position] = json.loads(json.dumps(r, default=str))
    return out


def _sql_string(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _duckdb_config(work: Path, memory: str = "256MB") -> dict:
    """DuckDB's memory cap (it spills to ``work`` beyond it) and threads, from the environment.

    ``HARVEST_VALIDATE_MEMORY`` sets the cap for both paths. Unset, the SQL executor gets 256 MB
    (the task holds ~100 MiB besides, ~190 MiB peak on a 1 GB CSV's output, and below 256 MB
    its uniqueness GROUP BY spills enough to cost 40 % more time), and the GX path 128 MB:
    GX with its imports holds ~345 MiB before any data, and a validate task must stay under
    600 MiB (issue 10) whatever the table's size."""
    return {
        "memory_limit": os.environ.get("HARVEST_VALIDATE_MEMORY", memory),
        "threads": int(os.environ.get("HARVEST_VALIDATE_THREADS", "2")),
        "temp_directory": str(work / "spill"),
        # GX's sample values (partial_unexpected_list) come in file order, as they did from pandas.
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
