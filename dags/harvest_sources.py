"""One Airflow DAG per harvest source config: gather → fetch → convert → validate → publish.

Publishing goes prepare → (approve) → publish: a new dataset, a schema change, or
a config that asks for it waits for the agency's approver (Airflow's
human-in-the-loop ApprovalOperator); other updates publish directly.

The factory reads ``include/sources/<agency>/<source>.yaml`` (found relative to
this file, or ``$HARVEST_SOURCES_DIR``). Parsing stays cheap: only the config
models (pydantic + YAML) are imported here; pandas, GX and the portal client
are imported inside the tasks. A config that fails validation becomes a
placeholder DAG named ``invalid__<agency>__<file>`` whose only task fails with
the validation message, so the problem shows in the UI and every other source
still loads.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param, dag, get_parsing_context, task

from harvesters.config import LoadedSource, discover, load_all
from harvesters.errors import ConfigError
from harvesters.kinds import pool_name

SOURCES_DIR = Path(os.environ.get("HARVEST_SOURCES_DIR") or Path(__file__).resolve().parent.parent / "include" / "sources")
START = datetime(2026, 1, 1)


def _doc(loaded: LoadedSource) -> str:
    cfg = loaded.config
    settings = cfg.source.model_dump(exclude_defaults=True, exclude={"kind"}, mode="json")
    where = "\n".join(f"- `{key}`: {value}" for key, value in settings.items())
    suite = f"`expectations/{cfg.validation.suite}.json` (on failure: **{cfg.validation.on_failure}**)" \
        if cfg.validation else "none"
    return (
        f"### {cfg.metadata.title}\n\n{cfg.description or cfg.metadata.notes}\n\n"
        f"| | |\n|---|---|\n| Source id | `{cfg.id}` |\n| Agency (portal organization) | `{cfg.agency}` |\n"
        f"| Kind | `{cfg.source.kind}` |\n| Schedule | `{cfg.schedule}` |\n| Expectation suite | {suite} |\n"
        f"| Portal dataset | `{cfg.dataset_name}` |\n| Config file | `{loaded.path}` |\n\n"
        f"**Source settings**\n\n{where}\n\nPreview without Airflow: `harvest run {cfg.id} --dry-run`"
    )


def _connection(conn_id: str):
    """An Airflow Connection as the plain record the harvesters use."""
    from airflow.sdk import Connection
    from harvesters.errors import FinalError
    from harvesters.kinds.base import ConnectionInfo

    try:
        c = Connection.get(conn_id)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException and friends
        raise FinalError(f"Airflow connection {conn_id!r} is not defined") from None
    return ConnectionInfo(conn_id, c.conn_type or "", c.host or "", c.port, c.login or "", c.password or "",
                          c.schema or "", c.extra_dejson or {})


def _airflow_errors(fn):
    """Map our error taxonomy onto Airflow: final errors fail at once, retryable ones retry."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from harvesters.errors import FinalError, SkipItem

        try:
            return fn(*args, **kwargs)
        except FinalError as exc:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(exc)) from None
        except SkipItem as exc:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(str(exc)) from None

    return wrapper


def _label(file_key: str) -> None:
    """Name a mapped task instance after its file, so the UI lists files, not indexes."""
    from airflow.sdk import get_current_context

    get_current_context()["file_key"] = file_key


def build_dag(loaded: LoadedSource):
    cfg = loaded.config
    config_path = str(loaded.path)

    def source_config():
        # Re-read at run time, so a task always runs the config its DAG was rendered from.
        from harvesters.config import load_source

        return load_source(Path(config_path), SOURCES_DIR).config

    # Per-host concurrency: every request to one agency server goes through that host's pool.
    pool = pool_name(cfg.source) or "default_pool"

    def context_for(cfg_now):
        from harvesters import stages

        return stages.context(cfg_now, connection=_connection)

    def run_staging(context_run_id: str):
        from harvesters.settings import Settings
        from harvesters.staging import RunStaging, run_key

        return RunStaging(Settings.from_env().staging_dir, cfg.id, run_key(context_run_id))

    @dag(
        dag_id=cfg.id,
        dag_display_name=f"{cfg.id} · {cfg.metadata.title}"[:200],
        description=cfg.metadata.title,
        schedule=cfg.schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["harvest", f"agency:{cfg.agency}", f"kind:{cfg.source.kind}"],
        doc_md=_doc(loaded),
        default_args={
            "owner": cfg.owner,
            "retries": cfg.retries,
            "retry_delay": timedelta(minutes=2),
            "retry_exponential_backoff": True,
            "execution_timeout": timedelta(hours=2),
        },
    )
    def harvest():
        @task(pool=pool)
        @_airflow_errors
        def gather() -> list[dict]:
            from harvesters import stages

            cfg_now = source_config()
            return [f.dump() for f in stages.gather(cfg_now, context_for(cfg_now))]

        @task(map_index_template="{{ file_key }}", pool=pool)
        @_airflow_errors
        def fetch(remote: dict, run_id: str | None = None) -> dict:
            from harvesters import stages
            from harvesters.results import RemoteFile

            _label(remote["key"])
            cfg_now = source_config()
            return stages.fetch(cfg_now, RemoteFile(**remote), run_staging(run_id), context_for(cfg_now)).dump()

        @task(map_index_template="{{ file_key }}")
        @_airflow_errors
        def convert(fetched: dict, run_id: str | None = None) -> dict:
            from harvesters import stages
            from harvesters.results import FetchedFile

            _label(fetched["remote"]["key"])
            return stages.convert(source_config(), FetchedFile(**fetched), run_staging(run_id)).dump()

        @task(map_index_template="{{ file_key }}")
        @_airflow_errors
        def validate(converted: dict, run_id: str | None = None) -> list[dict]:
            from harvesters import stages
            from harvesters.results import ConvertedFile

            _label(converted["fetched"]["remote"]["key"])
            cfg_now = source_config()
            summaries = stages.validate(cfg_now, ConvertedFile(**converted), run_staging(run_id))
            # The gate fails this task (red in the UI, with the failed expectations) when the suite blocks.
            return [s.dump() for s in stages.check_gate(cfg_now, summaries)]

        def inputs(converted: list[dict], validated: list[list[dict]]):
            from harvesters.results import ConvertedFile, ValidationSummary

            return ([ConvertedFile(**c) for c in converted],
                    [ValidationSummary(**s) for group in validated for s in group])

        def portal():
            from harvesters.portal import Portal, portal_settings

            return Portal(portal_settings(_connection))

        @task
        @_airflow_errors
        def prepare(converted: list[dict], validated: list[list[dict]]) -> dict:
            """Decide whether the agency must approve; stage a new dataset privately for the approver."""
            from harvesters import publishing

            files, summaries = inputs(converted, validated)
            return publishing.prepare(source_config(), files, summaries, portal()).dump()

        @task.branch
        def needs_approval(plan: dict) -> str:
            return "approve" if plan["needs_approval"] else "publish"

        approve = ApprovalOperator(
            task_id="approve",
            subject=f"Open {cfg.dataset_name} on the portal? ({cfg.metadata.title})"[:250],
            body="{{ ti.xcom_pull(task_ids='prepare')['summary_md'] }}",
            assigned_users=[{"id": a.id, "name": a.name or a.id} for a in cfg.approval.approvers] or None,
            response_timeout=timedelta(days=cfg.approval.timeout_days),
            # Optional, so approving needs no typing; a rejection should say why (the run keeps it).
            params={"reason": Param(None, type=["null", "string"],
                                    title="Reason (please give one when rejecting)")},
            retries=0,
        )

        @task(trigger_rule="none_failed_min_one_success")
        @_airflow_errors
        def publish(converted: list[dict], validated: list[list[dict]], plan: dict, **context) -> dict:
            from harvesters import publishing, stages
            from harvesters.results import PublishPlan

            cfg_now = source_config()
            files, summaries = inputs(converted, validated)
            plan = PublishPlan(**plan)
            approved_by = None
            if plan.needs_approval:
                answer = context["ti"].xcom_pull(task_ids="approve") or {}
                if answer.get("chosen_options") != [ApprovalOperator.APPROVE]:
                    from harvesters.errors import FinalError

                    raise FinalError(f"publish of {plan.dataset} reached without an approval", source=cfg_now.id)
                approved_by = answer.get("responded_by_user", {}).get("id") or "approver"
            result = publishing.publish(cfg_now, files, summaries, portal(), plan, approved_by)
            # Only now may a drop mark its files processed: a failed publish leaves them to the next run.
            stages.acknowledge(cfg_now, [f.fetched for f in files], context_for(cfg_now))
            return result.dump()

        files = gather()
        fetched = fetch.expand(remote=files)
        converted = convert.expand(fetched=fetched)
        validated = validate.expand(converted=converted)
        plan = prepare(converted, validated)
        route = needs_approval(plan)
        published = publish(converted, validated, plan)
        route >> [approve, published]
        approve >> published

    return harvest()


def build_error_dag(error: ConfigError):
    path = Path(error.file)
    agency = path.parent.name
    problems = "\n".join(f"- `{f or '(file)'}`: {m}" for f, m in error.problems)

    @dag(
        dag_id=f"invalid__{agency}__{path.stem}".replace(".", "_")[:200],
        dag_display_name=f"⚠ invalid config: {agency}/{path.name}",
        description=str(error)[:500],
        schedule="@once",  # runs (and fails) once when unpaused, so it shows in the failed-runs list
        start_date=START,
        catchup=False,
        tags=["harvest", "config-error", f"agency:{agency}"],
        doc_md=f"### This source's config is invalid\n\n`{error.file}`\n\n{problems}\n\n"
               f"Check it locally with `harvest sources validate {error.file}`.",
        default_args={"owner": agency, "retries": 0},
    )
    def invalid_config():
        @task
        def report_config_error():
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(error))

        report_config_error()

    return invalid_config()


def render_all(sources_dir: Path = SOURCES_DIR) -> dict:
    wanted = get_parsing_context().dag_id  # on a worker: build only the DAG being run
    paths = discover(sources_dir)
    loaded, errors = load_all(sources_dir, paths)
    dags = {}
    for source in loaded:
        if wanted is None or wanted == source.config.id:
            dags[source.config.id] = build_dag(source)
    for error in errors:
        d = build_error_dag(error)
        if wanted is None or wanted == d.dag_id:
            dags[d.dag_id] = d
    return dags


# Airflow finds DAGs among module globals.
globals().update({f"dag__{k.replace('-', '_')}": v for k, v in render_all().items()})
