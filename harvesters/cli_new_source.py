"""`harvest new-source`: scaffold a source config from flags, or by asking (see ``harvesters.scaffold``).

Each setting comes from its flag; a missing one is asked for when stdin is a
terminal (or with --interactive), else the command stops naming the flags it needs.
Agency-wide fields (maintainer, licence...) are asked only when the agency's
``_agency.yaml`` does not already give them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click

from .errors import HarvestError


@dataclass(frozen=True)
class Ask:
    param: str  # the command's parameter (and flag: --param-with-dashes)
    field: str  # the config's metadata field
    prompt: str
    default: str | None = None
    many: bool = False  # comma-separated list
    agency_wide: bool = False  # skipped when _agency.yaml gives it


METADATA = (
    Ask("title", "title", "Dataset title (as the portal shows it, usually Thai)"),
    Ask("notes", "notes", "Description of the dataset"),
    Ask("tags", "tags", "Tags, comma-separated", many=True),
    Ask("data_type", "data_type", "Data type (statistical, record, geospatial, multiple, other)", "statistical"),
    Ask("frequency", "update_frequency_unit",
        "Update frequency (year, quarter, month, week, day, hour, realtime, never, unknown...)"),
    Ask("geo_coverage", "geo_coverage", "Geographic coverage (country, region, province, district, none...)"),
    Ask("maintainer", "maintainer", "Maintainer (the agency's data team)", agency_wide=True),
    Ask("maintainer_email", "maintainer_email", "Maintainer e-mail", agency_wide=True),
    Ask("data_source", "data_source", "Data source (the agency's name)", agency_wide=True),
    Ask("data_category", "data_category", "Data category (public, personal, security, secret)", "public",
        agency_wide=True),
    Ask("license", "license_id", "Licence (odc, cc-by, cc-by-sa, not-specified...)", agency_wide=True),
    Ask("objective", "objective", "Objectives, comma-separated (public_service, agency_mission...)",
        "public_service", many=True, agency_wide=True),
)


def _flag(param: str) -> str:
    return "--" + param.replace("_", "-")


def _kinds() -> list[str]:
    from .kinds import SOURCE_KINDS

    return [k.model_fields["kind"].annotation.__args__[0] for k in SOURCE_KINDS]


class _KindChoice(click.Choice):
    """The source kinds, looked up when the option is used: importing every kind's config
    model (pydantic) would slow each `harvest` command down, `harvest convert` included."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self):
        return _kinds()

    @choices.setter
    def choices(self, _value) -> None:
        pass


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _settings_pairs(pairs: tuple[str, ...]) -> dict:
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise HarvestError(f"--set {pair!r}: write KEY=VALUE (e.g. --set table.caption=จำนวน)")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else value
    return out


@click.command("new-source", help="write a source config (and, from --sample, a starter expectation suite)")
@click.option("--id", "source_id", metavar="ID", help="source id: lower-case ASCII, digits, '-'; the dataset's URL name")
@click.option("--agency", metavar="NAME", help="the agency's portal organization (its folder under include/sources)")
@click.option("--kind", type=_KindChoice(), help="how the files are published (default http)")
@click.option("--url", help="the file's address (http), or the page, API or catalog address (other kinds)")
@click.option("--file-title", help="resource name of the file on the portal (http; default: the dataset title)")
@click.option("--schedule", help="cron expression or preset (default @daily)")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="another `source:` setting, e.g. --set table.caption=จำนวน or --set bucket=drops (repeatable)")
@click.option("--title", help=METADATA[0].prompt)
@click.option("--notes", help=METADATA[1].prompt)
@click.option("--tags", help=METADATA[2].prompt)
@click.option("--data-type", help="statistical, record, geospatial, multiple or other (or the Thai value)")
@click.option("--frequency", help="update frequency: year, month, week, day, hour... (or the Thai value)")
@click.option("--geo-coverage", help="country, region, province, district... (or the Thai value)")
@click.option("--maintainer", help="when the agency has no _agency.yaml giving it")
@click.option("--maintainer-email", help="when the agency has no _agency.yaml giving it")
@click.option("--data-source", help="when the agency has no _agency.yaml giving it")
@click.option("--data-category", help="public, personal, security or secret (when no _agency.yaml gives it)")
@click.option("--license", help="odc, cc-by, cc-by-sa... (when no _agency.yaml gives it)")
@click.option("--objective", help="comma-separated (when no _agency.yaml gives it)")
@click.option("--sample", type=click.Path(dir_okay=False, path_type=Path),
              help="a copy of the file: its converted table gives a starter suite expectations/<suite>.json")
@click.option("--suite", metavar="NAME", help="the suite's name (default: the id with '_' for '-')")
@click.option("--on-failure", type=click.Choice(["block", "warn"]), default="block", show_default=True,
              help="what a failed suite does to the publish")
@click.option("--force", is_flag=True, help="replace an existing config or suite of that name")
@click.option("--interactive/--no-interactive", default=None,
              help="ask for missing settings (default: when stdin is a terminal)")
@click.option("--sources-dir", metavar="DIR",
              help="root of the source configs (default: $HARVEST_SOURCES_DIR or include/sources)")
@click.option("--json", "json_output", is_flag=True, help="print what was written as JSON (see docs/cli.md)")
def new_source(source_id, agency, kind, url, file_title, schedule, settings, sample, suite, on_failure, force,
               interactive, sources_dir, json_output, **fields) -> int:
    from . import scaffold
    from .cli import _print_json, _settings, _shown

    env = _settings()
    root = Path(sources_dir) if sources_dir else env.sources_dir
    ask = sys.stdin.isatty() if interactive is None else interactive
    missing: list[str] = []

    def need(value, flag: str, prompt: str, default=None):
        if value not in (None, ""):
            return value
        if ask:
            return click.prompt(prompt, default=default, err=True)
        if default is not None:
            return default
        missing.append(flag)
        return None

    source_id = need(source_id, "--id", "Source id (e.g. pcd-pm25-hourly)")
    agency = need(agency, "--agency", "Agency (its portal organization, e.g. pcd)")
    kind = kind or (click.prompt("Kind", type=click.Choice(_kinds()), default="http", err=True) if ask else "http")
    if kind in scaffold.URL_KINDS:
        url = need(url, "--url", "File address (URL)" if kind == "http" else "Page, API or catalog address (URL)")
    given = scaffold.agency_defaults(root, agency).get("metadata", {}) if agency else {}
    metadata: dict = {}
    for a in METADATA:
        if a.agency_wide and a.field in given and fields.get(a.param) in (None, ""):
            continue
        value = need(fields.get(a.param), _flag(a.param), a.prompt, a.default)
        metadata[a.field] = _split(value) if a.many and isinstance(value, str) else value
    if sample is None and ask:
        answer = click.prompt("Sample file for a starter suite (empty: none)", default="", show_default=False,
                              err=True)
        sample = Path(answer) if answer else None
    if missing:
        raise HarvestError(f"new-source needs {', '.join(missing)} (or run it in a terminal to be asked)")

    new = scaffold.NewSource(id=source_id, agency=agency, kind=kind, url=url, file_title=file_title,
                             metadata=metadata, schedule=schedule or "@daily", settings=_settings_pairs(settings),
                             suite=suite, on_failure=on_failure)
    written = scaffold.write(new, root, env.expectations_dir, sample=sample, overwrite=force)
    if json_output:
        _print_json({"id": source_id, "config": str(written.config),
                     "suite": str(written.suite) if written.suite else None, "tables": written.tables})
        return 0
    click.echo(f"wrote {_shown(written.config)}")
    if written.suite:
        for t in written.tables:
            click.echo(f"sample table {t['name']}: {t['rows']:,} rows, {len(t['columns'])} columns: "
                       + ", ".join(f"{c['name']} ({c['type']})" for c in t["columns"]))
        click.echo(f"wrote {_shown(written.suite)}: a starter suite; review its bounds")
    click.echo(f"next: harvest sources validate {_shown(written.config)}")
    click.echo(f"      harvest run {source_id} --dry-run")
    return 0
