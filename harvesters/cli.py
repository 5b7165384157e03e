"""`harvest`: the pipeline's stages from the command line.

    harvest sources validate [PATH...]   check source configs (file: field: message)
    harvest sources schema [--out FILE]  JSON Schema of a source config, for editors
    harvest sources list                 the sources found, one per line
    harvest sources pools                per-host Airflow pools, as `airflow pools import` reads them
    harvest run SOURCE_ID [--dry-run] [--force]   run every stage without Airflow
    harvest withdraw SOURCE_ID --reason  withdraw a dataset by marking it (never deleted)
    harvest report SOURCE_ID [--json]    the source's last run reports, from the archive
    harvest convert INPUT --out DIR      convert one local file, print the JSON report

Errors are one line on stderr with exit code 1 (HARVEST_DEBUG=1 shows tracebacks).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from .errors import ConfigError, HarvestError, SkipItem


def _print_json(data) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _settings():
    from .settings import Settings

    return Settings.from_env()


def _source_paths(paths: list[str], sources_dir: Path) -> list[Path]:
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


def cmd_sources_validate(args) -> int:
    from .config import load_all

    settings = _settings()
    sources_dir = Path(args.sources_dir) if args.sources_dir else settings.sources_dir
    paths = _source_paths(args.paths, sources_dir)
    loaded, errors = load_all(sources_dir, paths)
    for err in errors:
        for field_name, message in err.problems:
            print(f"{err.file}: {field_name}: {message}" if field_name else f"{err.file}: {message}")
    suites = settings.expectations_dir
    missing_suites = 0
    for source in loaded:
        v = source.config.validation
        if v and not (suites / f"{v.suite}.json").exists():
            missing_suites += 1
            print(f"{source.path}: validation.suite: no suite file {suites / (v.suite + '.json')}")
    bad = len(errors) + missing_suites
    if args.portal:
        bad += _titles_taken(loaded)
    print(f"{len(loaded) - missing_suites} valid, {bad} invalid", file=sys.stderr)
    return 1 if bad else 0


def _titles_taken(loaded) -> int:
    """`validate --portal`: each single-dataset source's title against the live datasets of the target portal."""
    from .errors import FinalError
    from .portal import Portal, portal_settings
    from .titles import check_title_free

    portal = Portal(portal_settings())
    taken = 0
    for source in loaded:
        cfg = source.config
        if cfg.source.several_datasets():  # their titles come from the remote side, checked in prepare
            continue
        try:
            check_title_free(portal, cfg.metadata.title, cfg.dataset_name)
        except FinalError as exc:
            taken += 1
            print(f"{source.path}: {exc}")
    return taken


def cmd_sources_schema(args) -> int:
    from .config import json_schema

    text = json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_sources_list(args) -> int:
    from .config import load_all

    settings = _settings()
    loaded, errors = load_all(Path(args.sources_dir) if args.sources_dir else settings.sources_dir)
    for s in loaded:
        print(f"{s.config.id}\t{s.config.agency}\t{s.config.source.kind}\t{s.path}")
    for err in errors:
        print(f"(invalid)\t\t\t{err.file}")
    return 0


def cmd_sources_pools(args) -> int:
    from .config import load_all
    from .kinds import pools

    loaded, _ = load_all(Path(args.sources_dir) if args.sources_dir else _settings().sources_dir)
    _print_json({name: {"slots": slots, "description": "harvest: concurrent requests to one agency server",
                        "include_deferred": False}
                 for name, slots in sorted(pools(loaded).items())})
    return 0


def cmd_run(args) -> int:
    from .config import find_source
    from .runner import run_source

    settings = _settings()
    loaded = find_source(Path(args.sources_dir) if args.sources_dir else settings.sources_dir, args.source_id)
    report = run_source(loaded, dry_run=args.dry_run, settings=settings, approved_by=args.approved_by,
                        force=args.force)
    for f in report.fetched:
        print(f"{f['remote']['key']}: {f['status']}: {f['change']}", file=sys.stderr)
    for m in report.missing:
        print(f"{m['key']}: {m['status']} (not offered since {m['missing_since']}, {m['missing_runs']} run(s))",
              file=sys.stderr)
    _print_json(asdict(report))
    if report.summary:  # also stored in the archive: `harvest report SOURCE_ID`
        from .report import RunReport, summary_lines

        print("\n".join(summary_lines(RunReport.load(report.summary))), file=sys.stderr)
    for entry in report.datasets:
        if entry.awaiting_approval:
            print(f"{entry.name}: staged privately at {entry.prepared['url']}, awaiting approval: "
                  f"{'; '.join(entry.awaiting_approval)} (approve in Airflow, or rerun with --approved-by NAME)",
                  file=sys.stderr)
        if entry.error:
            print(f"error: {entry.error}", file=sys.stderr)
    return 1 if any(entry.error for entry in report.datasets) else 0


def cmd_withdraw(args) -> int:
    from .config import find_source
    from .portal import Portal, portal_settings
    from .publishing import withdraw

    loaded = find_source(Path(args.sources_dir) if args.sources_dir else _settings().sources_dir, args.source_id)
    name = args.dataset or loaded.config.dataset_name
    withdraw(Portal(portal_settings()), name, args.reason, agency=loaded.config.agency)
    print(f"{name}: withdrawn (private, allow_harvest False): {args.reason}", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from . import archive
    from .config import ID_RE
    from .report import RunReport, summary_lines

    if not ID_RE.match(args.source_id):
        raise HarvestError(f"{args.source_id!r} is not a source id")
    store = archive.backend(_settings())
    reports = archive.load_reports(store, args.source_id, last=args.last)
    if not reports:
        raise HarvestError(f"no run reports for {args.source_id} in the archive {store.location}")
    if args.json:
        _print_json(reports)
        return 0
    for i, data in enumerate(reports):
        if i:
            print()
        print("\n".join(summary_lines(RunReport.load(data))))
    return 0


def cmd_convert(args) -> int:
    from .convert import convert_file

    src = Path(args.input)
    if not src.is_file():
        raise HarvestError(f"{src}: no such file")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = convert_file(src, out, csv_bom=args.bom)
    _print_json(report.model_dump(mode="json"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harvest", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sources = sub.add_parser("sources", help="check and describe source configs")
    ssub = sources.add_subparsers(dest="sources_command", required=True)
    p = ssub.add_parser("validate", help="check source configs; exit 1 on any problem")
    p.add_argument("paths", nargs="*", help="config files or folders (default: every source)")
    p.add_argument("--sources-dir", help="root of the source configs (default: $HARVEST_SOURCES_DIR or include/sources)")
    p.add_argument("--portal", action="store_true",
                   help="also ask the target portal whether another live dataset already uses each title")
    p.set_defaults(func=cmd_sources_validate)
    p = ssub.add_parser("schema", help="print the JSON Schema of a source config")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_sources_schema)
    p = ssub.add_parser("list", help="list the sources found")
    p.add_argument("--sources-dir")
    p.set_defaults(func=cmd_sources_list)

    p = ssub.add_parser("pools", help="print the per-host pools for `airflow pools import`")
    p.add_argument("--sources-dir")
    p.set_defaults(func=cmd_sources_pools)

    p = sub.add_parser("run", help="run one source's stages without Airflow")
    p.add_argument("source_id")
    p.add_argument("--dry-run", action="store_true", help="stop before publishing; print what would be pushed")
    p.add_argument("--force", action="store_true",
                   help="re-harvest every file: download, convert and publish even when unchanged")
    p.add_argument("--approved-by", metavar="NAME",
                   help="record that NAME (the agency's approver) approved opening this dataset")
    p.add_argument("--sources-dir")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("withdraw", help="withdraw a published dataset: private and not harvestable, never deleted")
    p.add_argument("source_id")
    p.add_argument("--reason", required=True)
    p.add_argument("--dataset", help="which of the source's datasets (sources that feed several); "
                                     "default: the source's own")
    p.add_argument("--sources-dir")
    p.set_defaults(func=cmd_withdraw)

    p = sub.add_parser("report", help="print a source's last run reports (from the archive)")
    p.add_argument("source_id")
    p.add_argument("--json", action="store_true", help="the stored JSON reports, newest first")
    p.add_argument("--last", type=int, default=5, metavar="N", help="how many runs (default 5)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("convert", help="convert one local file to CSV + Parquet")
    p.add_argument("input")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--bom", action="store_true", help="write the CSV with a UTF-8 BOM (for Excel)")
    p.set_defaults(func=cmd_convert)
    return parser


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
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        for field_name, message in exc.problems:
            print(f"{exc.file}: {field_name}: {message}" if field_name else f"{exc.file}: {message}", file=sys.stderr)
        return 1
    except SkipItem as exc:  # e.g. a drop with nothing new: not a failure
        print(f"nothing to do: {exc}", file=sys.stderr)
        return 0
    except HarvestError as exc:
        print(f"error: {exc}", file=sys.stderr)
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
        print(f"error: {type(exc).__name__}: {message} (HARVEST_DEBUG=1 for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(entry())
