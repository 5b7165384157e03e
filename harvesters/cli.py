"""`harvest`: the pipeline's stages from the command line.

    harvest sources validate [PATH...]   check source configs (file: field: message)
    harvest sources schema [--out FILE]  JSON Schema of a source config, for editors
    harvest sources list                 the sources found, one per line
    harvest sources pools                per-host Airflow pools, as `airflow pools import` reads them
    harvest new-source --id ... [--sample FILE]   write a source config (and a starter suite)
    harvest run SOURCE_ID [--dry-run] [--force]   run every stage without Airflow
    harvest withdraw SOURCE_ID --reason  withdraw a dataset by marking it (never deleted)
    harvest report SOURCE_ID             the source's last run reports, from the archive
    harvest convert INPUT --out DIR      convert one local file

Every command that prints results takes --json: one JSON document on stdout, its
shape documented in docs/cli.md; without it, text for people. Errors are one line
on stderr with exit code 1 (HARVEST_DEBUG=1 shows tracebacks). Long work (downloads,
conversion) shows progress on stderr when it is a terminal (`harvest --progress`
forces it, `--no-progress` turns it off; never with --json).

Built on Click (8.5, already installed with Airflow and Celery): explicit commands and
options, its own testing runner, and `standalone_mode=False`, which leaves errors to
`main` (one line, no traceback). Typer adds type-hint declarations on top of Click but
installs rich tracebacks of its own, which this command's one-line rule would fight.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import click

from .errors import ConfigError, HarvestError, SkipItem


def _print_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _err(text: str) -> None:
    click.echo(text, err=True)


def _shown(path) -> str:
    """A path as people read it: relative to the current folder when it lies below it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _settings():
    from .settings import Settings

    return Settings.from_env()


def _sources_dir(value: str | None) -> Path:
    return Path(value) if value else _settings().sources_dir


def _source_paths(paths: tuple[str, ...], sources_dir: Path) -> list[Path]:
    from .config import AGENCY_DEFAULTS, discover

    if not paths:
        return discover(sources_dir)
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            # A folder of agency folders, or one agency's folder.
            out.extend(discover(p) or [q for q in sorted(p.glob("*.yaml")) if q.name != AGENCY_DEFAULTS])
        elif p.exists():
            out.append(p)
        else:
            raise HarvestError(f"no such file or folder: {p}")
    return out


def _progress_shown(json_output: bool):
    from .cli_progress import shown, wanted

    ctx = click.get_current_context()
    return shown(wanted((ctx.find_root().obj or {}).get("progress"), json_output))


sources_dir_option = click.option("--sources-dir", metavar="DIR",
                                  help="root of the source configs (default: $HARVEST_SOURCES_DIR or include/sources)")
json_option = click.option("--json", "json_output", is_flag=True, help="print one JSON document (see docs/cli.md)")


@click.group(help=__doc__.split("\n\n")[0], context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--progress/--no-progress", default=None,
              help="show progress of downloads and conversion on stderr (default: when stderr is a terminal)")
@click.pass_context
def cli(ctx: click.Context, progress: bool | None) -> None:
    ctx.obj = {"progress": progress}


@cli.group(help="check and describe source configs")
def sources() -> None:
    pass


# --------------------------------------------------------------------------- sources validate

@sources.command("validate", help="check source configs; exit 1 on any problem")
@click.argument("paths", nargs=-1)
@sources_dir_option
@click.option("--portal", is_flag=True,
              help="also ask the target portal whether another live dataset already uses each title")
@json_option
def sources_validate(paths: tuple[str, ...], sources_dir: str | None, portal: bool, json_output: bool) -> int:
    from .config import load_all

    settings = _settings()
    root = Path(sources_dir) if sources_dir else settings.sources_dir
    loaded, errors = load_all(root, _source_paths(paths, root))
    problems = [{"file": str(err.file), "field": field_name or None, "message": message}
                for err in errors for field_name, message in err.problems]
    suites = settings.expectations_dir
    bad_files = {str(err.file) for err in errors}
    for source in loaded:
        v = source.config.validation
        if v and not (suites / f"{v.suite}.json").exists():
            bad_files.add(str(source.path))
            problems.append({"file": str(source.path), "field": "validation.suite",
                             "message": f"no suite file {suites / (v.suite + '.json')}"})
    if portal:
        for path, message in _titles_taken(loaded):
            bad_files.add(path)
            problems.append({"file": path, "field": None, "message": message})
    valid = [s for s in loaded if str(s.path) not in bad_files]
    # Counts as before: a taken title counts once more, beside the file's own problems.
    invalid = len(errors) + (len(loaded) - len(valid))
    if json_output:
        _print_json({"valid": [{"id": s.config.id, "path": str(s.path)} for s in valid],
                     "problems": problems, "counts": {"valid": len(valid), "invalid": invalid}})
    else:
        for p in problems:
            click.echo(f"{p['file']}: {p['field']}: {p['message']}" if p["field"] else f"{p['file']}: {p['message']}")
        _err(f"{len(valid)} valid, {invalid} invalid")
    return 1 if invalid else 0


def _titles_taken(loaded) -> list[tuple[str, str]]:
    """`validate --portal`: each single-dataset source's title against the live datasets of the target portal."""
    from .errors import FinalError
    from .portal import Portal, portal_settings
    from .titles import check_title_free

    portal = Portal(portal_settings())
    taken = []
    for source in loaded:
        cfg = source.config
        if cfg.source.several_datasets():  # their titles come from the remote side, checked in prepare
            continue
        try:
            check_title_free(portal, cfg.metadata.title, cfg.dataset_name)
        except FinalError as exc:
            taken.append((str(source.path), str(exc)))
    return taken


# --------------------------------------------------------------------------- sources schema / list / pools

@sources.command("schema", help="print the JSON Schema of a source config (always JSON)")
@click.option("--out", metavar="FILE", help="write to this file instead of stdout")
def sources_schema(out: str | None) -> int:
    from .config import json_schema

    text = json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    return 0


@sources.command("list", help="list the sources found")
@sources_dir_option
@json_option
def sources_list(sources_dir: str | None, json_output: bool) -> int:
    from .config import load_all

    loaded, errors = load_all(_sources_dir(sources_dir))
    if json_output:
        _print_json({
            "sources": [{"id": s.config.id, "agency": s.config.agency, "kind": s.config.source.kind,
                         "path": str(s.path)} for s in loaded],
            "invalid": [{"file": str(err.file), "problems": [{"field": f or None, "message": m}
                                                               for f, m in err.problems]} for err in errors],
        })
        return 0
    for s in loaded:
        click.echo(f"{s.config.id}\t{s.config.agency}\t{s.config.source.kind}\t{s.path}")
    for err in errors:
        click.echo(f"(invalid)\t\t\t{err.file}")
    return 0


@sources.command("pools", help="print the per-host pools for `airflow pools import` (always JSON)")
@sources_dir_option
def sources_pools(sources_dir: str | None) -> int:
    from .config import load_all
    from .kinds import pools

    loaded, _ = load_all(_sources_dir(sources_dir))
    _print_json({name: {"slots": slots, "description": "harvest: concurrent requests to one agency server",
                        "include_deferred": False}
                 for name, slots in sorted(pools(loaded).items())})
    return 0


# --------------------------------------------------------------------------- new-source

from .cli_new_source import new_source  # noqa: E402 - the command's module imports the helpers above

cli.add_command(new_source)


# --------------------------------------------------------------------------- run

@cli.command(help="run one source's stages without Airflow")
@click.argument("source_id")
@click.option("--dry-run", is_flag=True, help="stop before publishing; print what would be pushed")
@click.option("--force", is_flag=True, help="re-harvest every file: download, convert and publish even when unchanged")
@click.option("--approved-by", metavar="NAME",
              help="record that NAME (the agency's approver) approved opening this dataset")
@sources_dir_option
@json_option
def run(source_id: str, dry_run: bool, force: bool, approved_by: str | None, sources_dir: str | None,
        json_output: bool) -> int:
    from .config import find_source
    from .runner import run_source

    settings = _settings()
    loaded = find_source(Path(sources_dir) if sources_dir else settings.sources_dir, source_id)
    with _progress_shown(json_output):
        report = run_source(loaded, dry_run=dry_run, settings=settings, approved_by=approved_by, force=force)
    for f in report.fetched:
        _err(f"{f['remote']['key']}: {f['status']}: {f['change']}")
    for m in report.missing:
        _err(f"{m['key']}: {m['status']} (not offered since {m['missing_since']}, {m['missing_runs']} run(s))")
    if json_output:
        _print_json(asdict(report))
    else:
        click.echo("\n".join(_run_lines(report, dry_run)))
    if report.summary:  # also stored in the archive: `harvest report SOURCE_ID`
        from .report import RunReport, summary_lines

        _err("\n".join(summary_lines(RunReport.load(report.summary))))
    for entry in report.datasets:
        if entry.awaiting_approval:
            _err(f"{entry.name}: staged privately at {entry.prepared['url']}, awaiting approval: "
                 f"{'; '.join(entry.awaiting_approval)} (approve in Airflow, or rerun with --approved-by NAME)")
        if entry.error:
            _err(f"error: {entry.error}")
    return 1 if any(entry.error for entry in report.datasets) else 0


def _run_lines(report, dry_run: bool) -> list[str]:
    """`harvest run` for people: where the converted tables and validation results are, what the portal gets."""
    lines = [f"{report.source}: {'dry run, nothing sent to the portal' if dry_run else 'run'}; "
             f"files in {_shown(report.staging)}"]
    results = {v["table"]: v for v in report.validation}
    for file in report.files:
        for t in file["tables"]:
            lines.append(f"table {t['key']}: {t['rows']:,} rows, {len(t['columns'])} columns")
            lines += [f"  {fmt}: {_shown(t[fmt])}" for fmt in ("csv", "parquet") if t.get(fmt)]
            v = results.get(t["key"])
            if v:
                lines.append(f"  validation: {v['outcome']}"
                             + (f" (suite {v['suite']}, {v['evaluated']} expectations)" if v["suite"] else "")
                             + (f": {_shown(v['result'])}" if v.get("result") else ""))
                lines += [f"    failed: {line}" for line in v["failed"]]
    for key, error in report.failed_files.items():
        lines.append(f"file {key}: failed: {error}")
    for entry in report.datasets:
        if entry.published:
            lines.append(f"dataset {entry.name}: {entry.published['status']}: {entry.published['url']}")
        elif entry.awaiting_approval:
            lines.append(f"dataset {entry.name}: awaiting approval")
        elif entry.error:
            lines.append(f"dataset {entry.name}: held back: {entry.error}")
        elif entry.plan:
            ds = entry.plan["dataset"]
            lines.append(f"dataset {entry.name}: would publish {ds.get('title', '')!r} with "
                         f"{len(entry.plan['resources'])} resource(s): "
                         + ", ".join(str(r.get("name", "")) for r in entry.plan["resources"]))
    return lines


# --------------------------------------------------------------------------- withdraw / report / convert

@cli.command(help="withdraw a published dataset: private and not harvestable, never deleted")
@click.argument("source_id")
@click.option("--reason", required=True)
@click.option("--dataset", metavar="NAME",
              help="which of the source's datasets (sources that feed several); default: the source's own")
@sources_dir_option
@json_option
def withdraw(source_id: str, reason: str, dataset: str | None, sources_dir: str | None, json_output: bool) -> int:
    from .config import find_source
    from .portal import Portal, portal_settings
    from .publishing import withdraw as withdraw_dataset

    loaded = find_source(_sources_dir(sources_dir), source_id)
    name = dataset or loaded.config.dataset_name
    withdraw_dataset(Portal(portal_settings()), name, reason, agency=loaded.config.agency)
    if json_output:
        _print_json({"source": source_id, "dataset": name, "withdrawn": True, "reason": reason})
    _err(f"{name}: withdrawn (private, allow_harvest False): {reason}")
    return 0


@cli.command(help="print a source's last run reports (from the archive)")
@click.argument("source_id")
@click.option("--json", "json_output", is_flag=True, help="the stored JSON reports, newest first")
@click.option("--last", type=int, default=5, metavar="N", show_default=True, help="how many runs")
def report(source_id: str, json_output: bool, last: int) -> int:
    from . import archive
    from .config import ID_RE
    from .report import RunReport, summary_lines

    if not ID_RE.match(source_id):
        raise HarvestError(f"{source_id!r} is not a source id")
    store = archive.backend(_settings())
    reports = archive.load_reports(store, source_id, last=last)
    if not reports:
        raise HarvestError(f"no run reports for {source_id} in the archive {store.location}")
    if json_output:
        _print_json(reports)
        return 0
    for i, data in enumerate(reports):
        if i:
            click.echo()
        click.echo("\n".join(summary_lines(RunReport.load(data))))
    return 0


@cli.command(help="convert one local file to CSV + Parquet")
@click.argument("input_path", metavar="INPUT")
@click.option("--out", required=True, metavar="DIR", help="output folder")
@click.option("--bom", is_flag=True, help="write the CSV with a UTF-8 BOM (for Excel)")
@json_option
def convert(input_path: str, out: str, bom: bool, json_output: bool) -> int:
    from .convert import convert_file

    src = Path(input_path)
    if not src.is_file():
        raise HarvestError(f"{src}: no such file")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _progress_shown(json_output):
        result = convert_file(src, out_dir, csv_bom=bom)
    if json_output:
        _print_json(result.model_dump(mode="json"))
        return 0
    click.echo(f"{src}: {result.format}" + (f", {result.encoding}" if result.encoding else "")
               + f", {len(result.tables)} table(s)")
    for t in result.tables:
        click.echo(f"table {t.name}: {t.rows_written:,} rows, {len(t.columns)} columns: "
                   + ", ".join(f"{c.name} ({c.type})" for c in t.columns))
        click.echo("\n".join(f"  {fmt}: {_shown(path)}" for fmt, path in (("csv", t.csv), ("parquet", t.parquet)) if path))
    for w in result.warnings:
        click.echo(f"warning: {w}")
    return 0


# --------------------------------------------------------------------------- entry point

def entry() -> int:
    """The ``harvest`` command. ``harvest convert`` converts one file and exits, and the
    converter never uses pandas; but pyarrow imports pandas (about a second of CPU) the
    first time it turns a Python value into Arrow, only to ask whether it is a Series.
    In that process pyarrow is told there is no pandas, and the process ends without
    the interpreter's teardown (``main`` itself, called in process by tests and tools,
    does neither)."""
    if sys.argv[1:2] != ["convert"]:
        return main()
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())
    code = main()
    # Every output file is closed and renamed by now: skip the interpreter's teardown
    # (freeing every module's objects one by one costs a noticeable share of a conversion).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class _NoPandas:
    """A meta path finder that makes ``import pandas`` raise ImportError (pyarrow then does without)."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("harvest convert runs without pandas")
        return None


def main(argv: list[str] | None = None) -> int:
    try:
        code = cli.main(args=argv, prog_name="harvest", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:  # --help
        return exc.exit_code
    except click.ClickException as exc:  # usage errors (exit 2), bad option values
        exc.show()
        return exc.exit_code
    except click.Abort:  # Ctrl-C or end of input at a prompt
        _err("error: aborted")
        return 130
    except ConfigError as exc:
        for field_name, message in exc.problems:
            _err(f"{exc.file}: {field_name}: {message}" if field_name else f"{exc.file}: {message}")
        return 1
    except SkipItem as exc:  # e.g. a drop with nothing new: not a failure
        _err(f"nothing to do: {exc}")
        return 0
    except HarvestError as exc:
        _err(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `harvest convert ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - the CLI promises one line, never a traceback
        if os.environ.get("HARVEST_DEBUG"):
            raise
        message = " ".join(str(exc).split())
        _err(f"error: {type(exc).__name__}: {message} (HARVEST_DEBUG=1 for details)")
        return 1


if __name__ == "__main__":
    sys.exit(entry())
