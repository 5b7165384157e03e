"""The Airflow glue of the harvest DAGs: one DAG per source config, gather → fetch → convert → validate → publish.

A mapped task group ``file`` runs once per file (fetch → convert → validate);
then a mapped task group ``dataset`` runs once per portal dataset the source
feeds (most sources: one): prepare → approve → publish. A new dataset, a schema change, or a config that
asks for it waits for the agency's approver (Airflow's human-in-the-loop
ApprovalOperator); other updates publish directly and the approval skips.
A file that fails, or a dataset that is rejected, holds back its own dataset only.

Change detection: fetch decides per file (new, changed, unchanged, deferred) and
labels its task instance with it (``pm25-hourly · unchanged``); an unchanged
file's fetch skips itself with the reason in its log, so the scheduler skips its
convert and validate without starting them (no work, the run stays green), and a
dataset with nothing changed publishes nothing (its publish
task succeeds with ``status: unchanged``, no portal activity). The DAG param
``force`` re-harvests everything. The ``missing`` task counts files the source
stopped offering and withdraws them after the grace period (``lifecycle``).

The DAG file (``harvest_sources.py``) decides which configs to render; this
module renders them. It is not a DAG file itself (``.airflowignore`` keeps the
DAG processor from parsing it); Airflow puts the DAG folder on ``sys.path``, so
the DAG file imports it by name. Only the config models (pydantic + YAML) are
imported here; pandas, GX and the portal client are imported inside the tasks.
"""

from __future__ import annotations

import inspect
import logging
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import Param, dag, task, task_group

from harvesters.config import LoadedSource
from harvesters.errors import ConfigError
from harvesters.kinds import acknowledges_remotely, pool_name
from harvest_notify import HarvestFailureNotifier
from harvest_runlog import final_tasks

START = datetime(2026, 1, 1)
log = logging.getLogger(__name__)
FORCE_PARAM = "force"
_SIGNATURES: dict = {}


def _task(**kwargs):
    """``@task`` as every harvest task uses it, built cheaply: a parse builds thousands of them.

    - ``multiple_outputs=False``: Airflow reads a ``-> dict`` annotation as "push every key as its
      own XCom too", which doubled each record's XCom bytes (and cost a type-hint evaluation per task).
    - The function's signature is computed once per function, not per DAG: Airflow's decorator asks
      ``inspect.signature`` about five times per task, through our ``functools.wraps`` wrapper
      (``__signature__`` is inspect's own hook for a known signature). The task functions' defaults
      are constants, so one signature per code object holds for every DAG.
    """
    def decorate(fn):
        code = inspect.unwrap(fn).__code__
        fn.__signature__ = _SIGNATURES.get(code) or _SIGNATURES.setdefault(code, inspect.signature(fn))
        return task(multiple_outputs=False, **kwargs)(fn)

    return decorate


def _doc(loaded: LoadedSource) -> str:
    cfg = loaded.config
    settings = cfg.source.model_dump(exclude_defaults=True, exclude={"kind"}, mode="json")
    where = "\n".join(f"- `{key}`: {value}" for key, value in settings.items())
    suite = f"`expectations/{cfg.validation.suite}.json` (on failure: **{cfg.validation.on_failure}**)" \
        if cfg.validation else "none"
    datasets = "several: one per file or remote dataset (each run's `dataset` tasks name them)" \
        if cfg.source.several_datasets() else f"`{cfg.dataset_name}`"
    return (
        f"### {cfg.metadata.title}\n\n{cfg.description or cfg.metadata.notes}\n\n"
        f"| | |\n|---|---|\n| Source id | `{cfg.id}` |\n| Agency (portal organization) | `{cfg.agency}` |\n"
        f"| Kind | `{cfg.source.kind}` |\n| Schedule | `{cfg.schedule}` |\n| Expectation suite | {suite} |\n"
        f"| Portal dataset | {datasets} |\n| Config file | `{loaded.path}` |\n\n"
        f"**Source settings**\n\n{where}\n\nPreview without Airflow: `harvest run {cfg.id} --dry-run`"
    )


def _connection(conn_id: str):
    """An Airflow Connection as the plain record the harvesters use ("not defined" vs unreadable: see there)."""
    from harvesters.kinds.base import airflow_connection

    return airflow_connection(conn_id)


def _airflow_errors(fn):
    """Map our error taxonomy onto Airflow: final errors fail at once, retryable ones retry.

    Every failure ends the task's log with ``harvesters.explain``'s block (what failed, which file
    or dataset, what to do) as the exception Airflow logs last, not a bare traceback.
    """
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from harvesters.errors import ApprovalRejected, FinalError, HarvestError, SkipItem

        from harvest_runlog import record_error

        from airflow.sdk.exceptions import AirflowSkipException

        try:
            return fn(*args, **kwargs)
        except AirflowSkipException:
            raise  # the task's own decision (e.g. an unchanged file), not an error for the report
        except FinalError as exc:
            from airflow.sdk.exceptions import AirflowFailException

            record_error(exc)
            raise AirflowFailException(_explained(exc)) from None
        except SkipItem as exc:
            record_error(exc)  # e.g. a rejection: the report says who and why
            if isinstance(exc, ApprovalRejected):  # held back, not merely nothing new: say so last
                for line in _explained(exc).splitlines():
                    log.warning("%s", line)
            raise AirflowSkipException(str(exc)) from None
        except Exception as exc:
            from airflow.sdk.exceptions import AirflowException

            record_error(exc)  # retryable or unexpected: the report names it if the last try fails too
            if not isinstance(exc, HarvestError):
                log.exception("unexpected error")  # the traceback, before the block that ends the log
            raise AirflowException(_explained(exc)) from None  # Airflow retries it while tries are left

    return wrapper


def _explained(exc: BaseException) -> str:
    """harvesters.explain's block for the running task (its stage, file or dataset, and try)."""
    from airflow.sdk import get_current_context
    from harvesters import explain

    try:
        context = get_current_context()
        ti = context["ti"]
        stage, item = ti.task_id.rsplit(".", 1)[-1], context.get("file_key")
        tries = (ti.try_number, ti.max_tries + 1) if isinstance(getattr(ti, "max_tries", None), int) else None
        source = ti.dag_id
    except Exception:  # noqa: BLE001 - outside a task (tests): the block without the task's details
        stage, item, tries, source = "task", None, None, None
    return explain.text(exc, stage=stage, item=item and item.split(" · ")[0], source=source, tries=tries)


def _label(file_key: str) -> None:
    """Name a mapped task instance after its file, so the UI lists files, not indexes."""
    from airflow.sdk import get_current_context

    get_current_context()["file_key"] = file_key


class ApprovalIfNeeded(ApprovalOperator):
    """The agency's approval of one dataset, asked only when prepare says it is needed.

    One instance per dataset (mapped): it skips itself when the update may go
    straight out, and shows the approver prepare's summary of that dataset.
    The publish task reads this instance's answer, so a rejection holds back
    only its own dataset (ApprovalOperator's own downstream skipping does not
    respect map indexes, hence ``execute_complete`` leaves that to publish).
    """

    template_fields = (*ApprovalOperator.template_fields, "plan")

    def __init__(self, *, plan, **kwargs):
        super().__init__(**kwargs)
        self.plan = plan

    def execute(self, context):
        from airflow.sdk.exceptions import AirflowSkipException

        context["file_key"] = self.plan["dataset"]
        if not self.plan["needs_approval"]:
            why = "nothing changed" if self.plan.get("action") == "unchanged" else \
                "an update of an approved dataset with the same table schema"
            raise AirflowSkipException(f"{self.plan['dataset']}: no approval needed ({why})")
        self.subject = f"Open {self.plan['dataset']} on the portal?"[:250]
        self.body = self.plan["summary_md"]
        return super().execute(context)

    def execute_complete(self, context, event):
        context["file_key"] = self.plan["dataset"]
        answer = HITLOperator.execute_complete(self, context, event)
        self.hitl_summary_extra["approved"] = answer["chosen_options"] == [self.APPROVE]
        if not self.hitl_summary_extra["approved"]:  # who rejected it and why: the last lines of this log
            from harvesters import explain
            from harvesters.errors import ApprovalRejected

            rejected = ApprovalRejected.from_answer(self.plan["dataset"], answer, source=context["ti"].dag_id)
            for line in explain.lines(rejected, stage="approve"):
                self.log.warning("%s", line)
        return answer


def build_dag(loaded: LoadedSource, sources_dir: Path):
    cfg = loaded.config
    config_path = str(loaded.path)

    def source_config():
        # Re-read at run time, so a task always runs the config its DAG was rendered from.
        from harvesters.config import load_source

        return load_source(Path(config_path), sources_dir).config

    # Per-host concurrency: every request to one agency server goes through that host's pool.
    pool = pool_name(cfg.source) or "default_pool"
    # Publishing a drop marks its files processed on the agency's server (stages.acknowledge).
    publish_pool = pool if acknowledges_remotely(cfg.source) else "default_pool"

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
        def portal():
            from harvesters.portal import Portal, portal_settings

            return Portal(portal_settings(_connection))

        @_task(pool=pool)
        @_airflow_errors
        def gather() -> list[dict]:
            """What the source offers, each file with what the portal holds of it (for change detection)."""
            from harvesters import stages

            cfg_now = source_config()
            return [f.dump() for f in stages.gather(cfg_now, context_for(cfg_now), portal())]

        @_task()
        @_airflow_errors
        def missing(files: list[dict], run_id: str | None = None) -> list[dict]:
            """Files the source stopped offering: counted, withdrawn on the portal after the grace period."""
            from harvesters import lifecycle
            from harvesters.results import RemoteFile
            from harvesters.settings import Settings
            from harvesters.staging import run_key

            gone = lifecycle.track(source_config(), [RemoteFile(**f) for f in files], Settings.from_env().staging_dir,
                                   run_key(run_id), portal())
            return [m.dump() for m in gone]

        @_task(map_index_template="{{ file_key }}", pool=pool)
        @_airflow_errors
        def fetch(remote: dict, run_id: str | None = None, params: dict | None = None, ti=None) -> dict:
            """Download one file, or find it unchanged. An unchanged (or deferred) file ends here: this task
            skips, labelled with the reason, so the scheduler skips its convert and validate without
            starting them; its record still goes to prepare and the report."""
            from harvesters import stages
            from harvesters.results import RemoteFile

            _label(remote["key"])
            cfg_now = source_config()
            fetched = stages.fetch(cfg_now, RemoteFile(**remote), run_staging(run_id), context_for(cfg_now),
                                   force=bool((params or {}).get(FORCE_PARAM)))
            _label(f"{remote['key']} · {fetched.status}" + (" (forced)" if fetched.forced else ""))
            if not fetched.to_convert:
                from airflow.sdk.exceptions import AirflowSkipException

                ti.xcom_push(key="return_value", value=fetched.dump())  # a skipping task returns nothing itself
                raise AirflowSkipException(f"{remote['key']}: {fetched.status}: {fetched.change}; "
                                           "not converted, nothing uploaded")
            return fetched.dump()

        @_task(map_index_template="{{ file_key }}")
        @_airflow_errors
        def convert(fetched: dict, run_id: str | None = None) -> dict:
            from harvesters import stages
            from harvesters.results import FetchedFile

            _label(fetched["remote"]["key"])
            return stages.convert(source_config(), FetchedFile(**fetched), run_staging(run_id)).dump()

        @_task(map_index_template="{{ file_key }}")
        @_airflow_errors
        def validate(converted: dict, run_id: str | None = None) -> list[dict]:
            from harvesters import stages
            from harvesters.results import ConvertedFile

            _label(converted["fetched"]["remote"]["key"])
            cfg_now = source_config()
            summaries = stages.validate(cfg_now, ConvertedFile(**converted), run_staging(run_id))
            # The gate fails this task (red in the UI, with the failed expectations) when the suite blocks.
            return [s.dump() for s in stages.check_gate(cfg_now, summaries)]

        @_task()
        @_airflow_errors
        def datasets(files: list[dict]) -> list[dict]:
            """The portal datasets this run feeds (most sources: one), each with its files."""
            from harvesters import datasets as grouping
            from harvesters.results import RemoteFile

            return [g.dump() for g in grouping.group_files(source_config(), [RemoteFile(**f) for f in files])]

        @task_group(group_id="dataset", tooltip="prepare → approve → publish, once per portal dataset")
        def dataset(group: dict):
            # all_done: a file that failed upstream holds back its own dataset (prepare says which),
            # not every dataset of the source.
            @_task(map_index_template="{{ file_key }}", trigger_rule="all_done")
            @_airflow_errors
            def prepare(group: dict, **context) -> dict:
                """Decide whether the agency must approve; stage a new dataset privately for the approver."""
                from harvesters import datasets as grouping
                from harvesters import publishing
                from harvesters.errors import HarvestError
                from harvesters.results import ConvertedFile, DatasetGroup, FetchedFile, ValidationSummary

                _label(group["name"])
                group = DatasetGroup(**group)
                cfg_now = source_config()
                # Every file's results, pulled by list so one file still comes back as a list. Failed file
                # tasks leave none: select() then holds this dataset back if the file was one of its own.
                ti = context["ti"]
                fetched = [FetchedFile(**f) for f in ti.xcom_pull(task_ids=["file.fetch"]) if f]
                converted = [c for c in ti.xcom_pull(task_ids=["file.convert"]) if c]
                validated = [s for batch in ti.xcom_pull(task_ids=["file.validate"]) if batch for s in batch]
                try:
                    unchanged = grouping.left_alone(group, fetched)
                    files, checks = grouping.select(group, [ConvertedFile(**c) for c in converted],
                                                    [ValidationSummary(**s) for s in validated], unchanged)
                    dataset_cfg = grouping.config_for(cfg_now, group)
                except HarvestError as exc:
                    raise exc.with_context(source=cfg_now.id)
                plan = publishing.prepare(dataset_cfg, files, checks, portal(), unchanged)
                _label(f"{group.name} · {plan.action}")
                return plan.dump()

            plan = prepare(group)
            approve = ApprovalIfNeeded(
                task_id="approve",
                plan=plan,
                map_index_template="{{ file_key }}",
                subject=f"Open a dataset of {cfg.id} on the portal?",  # set per dataset at run time
                body="",
                assigned_users=[{"id": a.id, "name": a.name or a.id} for a in cfg.approval.approvers] or None,
                response_timeout=timedelta(days=cfg.approval.timeout_days),
                # Optional, so approving needs no typing; a rejection should say why (the run keeps it).
                params={"reason": Param(None, type=["null", "string"],
                                        title="Reason (please give one when rejecting)")},
                retries=0,
            )

            # Publish reads only the plan (which carries this dataset's files and checks), so other
            # datasets' failed files upstream cannot fail it. none_failed, not *_min_one_success: a skipped
            # approval lets it run, and Airflow judges "fast" rules in a mapped group across every
            # dataset before expanding (one held-back dataset would stop all publishes).
            @_task(map_index_template="{{ file_key }}", trigger_rule="none_failed", pool=publish_pool)
            @_airflow_errors
            def publish(group: dict, plan: dict, **context) -> dict:
                from harvesters import datasets as grouping
                from harvesters import publishing, stages
                from harvesters.errors import ApprovalRejected
                from harvesters.results import DatasetGroup, PublishPlan

                _label(group["name"])
                cfg_now = source_config()
                plan = PublishPlan(**plan)
                approved_by = None
                if plan.needs_approval:
                    ti = context["ti"]
                    answer = ti.xcom_pull(task_ids=f"{ti.task_id.rsplit('.', 1)[0]}.approve",
                                          map_indexes=ti.map_index) or {}
                    if answer.get("chosen_options") != [ApprovalOperator.APPROVE]:
                        raise ApprovalRejected.from_answer(plan.dataset, answer)
                    approved_by = answer.get("responded_by_user", {}).get("id") or "approver"
                dataset_cfg = grouping.config_for(cfg_now, DatasetGroup(**group))
                result = publishing.publish(dataset_cfg, plan.files, plan.checks, portal(), plan, approved_by)
                _label(f"{group['name']} · {result.status}")
                # Only now may a drop mark its files processed: a failed publish leaves them to the next run.
                stages.acknowledge(cfg_now, [f.fetched for f in plan.files] + plan.unchanged, context_for(cfg_now))
                return result.dump()

            published = publish(group, plan)
            approve >> published

        # A mapped task group per file, so a file that fails stops only its own later tasks
        # (plain task-over-task mapping would fail validate for every file when one convert fails).
        @task_group(group_id="file", tooltip="fetch → convert → validate, once per file")
        def per_file(remote: dict):
            return validate(convert(fetch(remote)))

        files = gather()
        missing(files)
        validated = per_file.expand(remote=files)
        # prepare pulls the file results itself (see there), so the dependency is set explicitly.
        published = dataset.expand(group=datasets(files))
        validated >> published
        # Last: asset events for the datasets that changed, then the run report (fails the run if anything did).
        published >> final_tasks(cfg, HarvestFailureNotifier.for_config(cfg), _task)[0]

    built = harvest()
    # Added once the tasks exist: a DAG param is deep-copied into every task Airflow builds while the DAG
    # has it (four times a task, a third of this DAG's construction cost as measured), and a task reads
    # the DAG's params at run time anyway (merged with the run's conf).
    built.params[FORCE_PARAM] = Param(False, type="boolean", title="Force a full re-harvest",
                                      description="Download, convert and publish every file even when unchanged")
    return built


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
            from harvesters import explain

            raise AirflowFailException(explain.text(error, stage="config"))

        report_config_error()

    return invalid_config()
