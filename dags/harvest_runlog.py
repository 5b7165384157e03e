"""The end of every harvest DAG: asset events for the datasets that changed, then the run report.

    assets  (all_done) one Asset per portal dataset, through the source's AssetAlias: an
            event only for a dataset whose publish changed something, so downstream DAGs
            scheduled on it run on fresh data only. It succeeds whatever failed upstream:
            an asset event is recorded only for a task that succeeds.
    report  (all_done) builds the run report from the run's XComs, stores it in the archive,
            logs a summary table as its last lines, sets a rendered note on the DAG run, and
            fails when anything in the run failed, so the run ends failed and the agency's
            notifier (on_failure_callback) sends one message naming each file and reason.

A failed task leaves its error for the report as the XCom ``harvest_error``
(``record_error``, called by the factory's error wrapper): the report shows the
pipeline's own one-line message, not a log excerpt.

The run note: the Task SDK gives tasks no way to write a DAG run's note (its execution
API has none), so the report task sets it through Airflow's public REST API
(``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}``), logging in with the Airflow
connection ``airflow_api`` (host = the API server's base URL, login/password of a
user allowed to edit DAG runs). Without that connection the note is skipped and the
summary stays in the report task's log and in the archive.

Not a DAG file (see .airflowignore).
"""

from __future__ import annotations

import logging

from airflow.sdk import AssetAlias, task

log = logging.getLogger(__name__)

ERROR_KEY = "harvest_error"
AIRFLOW_API_CONN = "airflow_api"
FILE_TASKS = ("file.fetch", "file.convert", "file.validate")
DATASET_TASKS = ("dataset.prepare", "dataset.approve", "dataset.publish")
DATASET_STAGES = {t.rsplit(".", 1)[1] for t in DATASET_TASKS}


def alias_name(source_id: str) -> str:
    return f"harvest:{source_id}"


def record_error(exc: BaseException) -> None:
    """Leave a failing (or skipping) task's error for the report, just before the task ends."""
    try:
        from airflow.sdk import get_current_context
        from harvesters.report import FileError

        context = get_current_context()
        ti = context["ti"]
        error = FileError.of(exc, file=context.get("file_key"), stage=ti.task_id.rsplit(".", 1)[-1])
        ti.xcom_push(key=ERROR_KEY, value=error.model_dump(mode="json"))
    except Exception:  # noqa: BLE001 - the task's own error matters more than its record
        log.warning("could not record the error for the run report", exc_info=True)


def _pull_all(ti, task_id: str, key: str = "return_value") -> list:
    values = ti.xcom_pull(task_ids=[task_id], key=key)
    return [v for v in (values or []) if v is not None]


def collect(source: str, context) -> "RunReport":  # noqa: F821
    """The run report from the run's XComs."""
    from harvesters import archive
    from harvesters.report import FileError, build, now
    from harvesters.staging import run_key
    from harvesters.results import (ConvertedFile, DatasetGroup, FetchedFile, MissingFile, PublishPlan,
                                    PublishResult, RemoteFile, ValidationSummary)

    ti, run = context["ti"], context["dag_run"]
    gathered = [RemoteFile(**r) for batch in _pull_all(ti, "gather") for r in batch]
    groups = [DatasetGroup(**g) for batch in _pull_all(ti, "datasets") for g in batch]
    # Every task's recorded error or skip (dataset tasks name their dataset in ``file``).
    records = [FileError(**e) for task_id in ("gather", "missing", "datasets", *FILE_TASKS, *DATASET_TASKS)
               for e in _pull_all(ti, task_id, ERROR_KEY)]
    errors = [e for e in records if e.stage not in DATASET_STAGES and not e.skipped]
    dataset_errors = {e.file: e.message for e in records if e.stage in DATASET_STAGES and not e.skipped}
    rejected = {e.file: e.message for e in records if e.stage in DATASET_STAGES and e.skipped}
    plans = [PublishPlan(**p) for p in _pull_all(ti, "dataset.prepare")]
    published = [PublishResult(**p) for p in _pull_all(ti, "dataset.publish")]
    started = run.start_date.isoformat(timespec="seconds") if getattr(run, "start_date", None) else None
    fetched = [FetchedFile(**f) for f in _pull_all(ti, "file.fetch")]
    return build(
        source, run.run_id, started_at=started, finished_at=now(), gathered=gathered, groups=groups, fetched=fetched,
        converted=[ConvertedFile(**c) for c in _pull_all(ti, "file.convert")],
        checks=[ValidationSummary(**s) for batch in _pull_all(ti, "file.validate") for s in batch],
        plans=plans, published=published, errors=errors, dataset_errors=dataset_errors, rejected=rejected,
        missing=[MissingFile(**m) for batch in _pull_all(ti, "missing") for m in batch],
        archived=archive.locations(source, run_key(run.run_id), fetched, errors))


def set_note(dag_id: str, run_id: str, note: str) -> str:
    """Set the DAG run's note through the REST API; returns what happened, for the log."""
    import requests

    from airflow.sdk import Connection

    try:
        conn = Connection.get(AIRFLOW_API_CONN)
    except Exception:  # noqa: BLE001 - not defined: the note is optional
        return f"run note not set: no Airflow connection {AIRFLOW_API_CONN!r}"
    base = (conn.host or "").rstrip("/")
    if conn.port and base.count(":") < 2:
        base += f":{conn.port}"
    if "://" not in base:
        base = f"{conn.schema or 'http'}://{base}"
    try:
        token = requests.post(f"{base}/auth/token", json={"username": conn.login, "password": conn.password},
                              timeout=(5, 20))
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        from urllib.parse import quote

        resp = requests.patch(f"{base}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}",
                              params={"update_mask": "note"}, json={"note": note}, headers=headers, timeout=(5, 20))
        resp.raise_for_status()
    except (requests.RequestException, KeyError, ValueError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        return f"run note not set: Airflow API at {base} answered {status or type(exc).__name__}"
    return "run note set"


def final_tasks(cfg, notifier=None, make_task=None):
    """The ``assets`` and ``report`` tasks of a source's DAG (the factory puts them after everything).

    ``make_task(**kwargs)``: the factory's ``@task`` (see ``harvest_factory._task``)."""
    make_task = make_task or (lambda **kwargs: task(multiple_outputs=False, **kwargs))
    alias = AssetAlias(alias_name(cfg.id))
    source = cfg.id

    @make_task(trigger_rule="all_done", outlets=[alias], retries=0)
    def assets(**context) -> list[str]:
        """One asset event per portal dataset that this run really changed."""
        from airflow.sdk import Asset
        from harvesters.results import PublishResult

        ti, changed = context["ti"], []
        for result in (PublishResult(**r) for r in _pull_all(ti, "dataset.publish")):
            if not _changed(result):
                continue
            context["outlet_events"][alias].add(
                Asset(uri=result.url, name=result.dataset, group="gdc-dataset"),
                extra={"source": source, "change": result.status, "rows": result.rows,
                       "uploaded": result.uploaded, "resources": [r.id for r in result.resources]})
            changed.append(result.dataset)
        log.info("%s: asset events for %s", source, ", ".join(changed) or "no dataset (nothing changed)")
        return changed

    @make_task(trigger_rule="all_done", on_failure_callback=notifier)
    def report(**context) -> dict:
        from airflow.sdk.exceptions import AirflowFailException
        from harvesters import archive
        from harvesters.report import markdown, summary_lines

        built = collect(source, context)
        data = built.dump()
        where = archive.keep_report(data)
        outcome = set_note(context["dag_run"].dag_id, context["dag_run"].run_id, markdown(built))
        log.info("%s: report stored in the archive as %s; %s", source, where, outcome)
        for line in summary_lines(built):  # the last lines of the log: what the run did
            log.info("%s", line)
        if built.state == "failed":
            failed = [f"{f.key}: {f.error}" for f in built.files if f.error]
            failed += [f"{d.name}: {d.error}" for d in built.datasets if d.error] + built.errors
            exc = AirflowFailException(f"{source}: run failed: " + "; ".join(failed)[:1500])
            exc.harvest_report = data  # the notifier words its message from the report
            raise exc
        return {k: data[k] for k in ("state", "counts", "rows", "bytes_downloaded", "bytes_uploaded", "validation")}

    done = assets()
    summary = report()
    done >> summary
    return done, summary


def _changed(result) -> bool:
    """Whether a publish changed the dataset: created, files replaced, or metadata pushed (not "unchanged")."""
    return result.status != "unchanged"
