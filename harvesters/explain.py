"""The last lines of a failed task's log: what failed, for which file or dataset, and what to do.

A data engineer reads a failure in the Airflow UI, from the end of the task's log. Every task
of a harvest DAG ends a failure (or a held-back dataset) with this short block::

    HARVEST FAILED · convert · pcd-pm25-hourly
    What failed : the converter refused the file (no table): no header row found ...
    File        : https://agency.go.th/data/pm25.csv
    What to do  : the agency seems to have changed the file's layout: ...

The advice is chosen by the error's class (``errors.py``), never by its message text: the
error's own ``hint`` when the code that raised it knew better, else its class's default below
(the most specific class wins), a converter refusal by its reason word, a portal refusal by the
field keys CKAN named. This module is the one place where these words live.
"""

from __future__ import annotations

from .errors import (ApprovalRejected, BlockedDestination, ConfigError, ConnectionUndefined, FinalError,
                     HarvestError, PortalRefused, PortalUnavailable, RefusedFile, RetryableError, SkipItem,
                     SourceHTTPError, SourceUnavailable, StagingUnavailable, ValidationBlocked)

# The stages whose item is a portal dataset (the others work on one source file).
DATASET_STAGES = {"prepare", "approve", "publish", "datasets"}
VALIDATE_CMD = "harvest sources validate"

# What to do, by class; the first class of the error's MRO listed here wins. {source} is filled in.
CLASS_HINTS: dict[type, str] = {
    ConfigError: "fix the fields above in this file, then check it with `" + VALIDATE_CMD + " {file}`; "
                 "the DAG comes back by itself on the next parse (about 30 s)",
    SourceHTTPError: "the agency's server refused the request: check the URL in a browser and on the agency's "
                     "site; update the URL in the source config of {source}, or ask the agency to restore it",
    SourceUnavailable: "the agency's site did not answer (Airflow retries this task by itself); if every try "
                       "fails, check the site in a browser and from a worker, then clear this task",
    BlockedDestination: "the source points at an address this deployment does not allow; if the server really "
                        "is the agency's, add it to HARVEST_ALLOW_HOSTS or HARVEST_ALLOW_NETWORKS (a deployment "
                        "setting), else fix the URL in the source config of {source}",
    ValidationBlocked: "the data broke the expectation suite, so nothing was published: read the failed "
                       "expectations above and the full result; ask the agency to correct the data, or, if the "
                       "file changed on purpose, update the suite (or set `validation.on_failure: warn`), "
                       "then clear this task",
    PortalRefused: "the portal refused what was sent: fix the named fields in the source config of {source}, "
                   "check it with `" + VALIDATE_CMD + " --portal`, then clear this task",
    PortalUnavailable: "the portal did not answer (Airflow retries this task by itself); if every try fails, "
                       "check that the portal (connection `gdc_portal`) is up and reachable from the workers, "
                       "then clear this task",
    StagingUnavailable: "the staging store (HARVEST_STAGING_DIR) cannot be written: check that its volume is "
                        "mounted, writable by the Airflow user and not full on every worker, then clear this task",
    ConnectionUndefined: "define the Airflow connection named above (Admin → Connections, or AIRFLOW_CONN_<ID>), "
                         "then clear this task",
    ApprovalRejected: "nothing was published and the dataset stays private; once the agency has dealt with the "
                      "approver's reason, trigger the DAG again: it asks for approval again",
    SkipItem: "nothing to do: this item was left out on purpose",
    RetryableError: "a passing fault: Airflow retries this task by itself; if every try fails, fix the cause "
                    "named above, then clear this task",
    FinalError: "retrying cannot help: fix the cause named above (in the source config of {source}, or with "
                "the agency), then clear this task",
}

# A converter refusal, by its reason word (../shared/conversion-rules.md).
REFUSAL_HINTS = {
    "no table": "the agency seems to have changed the file's layout (no header row or table where one was "
                "found before): open the file, compare it with the last good raw copy in the archive, then "
                "adjust the source config of {source} (sheet, header or file options) or ask the agency",
    "type mismatch": "the file's columns no longer match what was published before: the agency changed its "
                     "layout; compare with the last good raw copy in the archive and update the config or suite",
    "pii": "the file holds personal data; it was quarantined and nothing was published. Ask the agency for a "
           "file without it, or allow the column (`outputs.allow_personal_data_columns`, category "
           "ข้อมูลส่วนบุคคล) if publishing it is lawful",
    "size": "the file is over a limit named above: ask the agency for a smaller file, or raise that limit "
            "in the deployment if the file is legitimate",
    "corrupt": "the file cannot be read (broken or truncated): open it yourself; if it is broken at the "
               "source, ask the agency to publish it again",
    "encrypted": "the file is password-protected: ask the agency to publish it without a password",
    "xxe": "the file holds an XML entity attack and was refused: report it to the agency",
    "empty": "the file has no data rows: ask the agency whether it was published by mistake",
}

PORTAL_AUTH_HINT = ("the portal's API token (connection `gdc_portal`) may not write here: check the token and "
                    "that its user is an editor of the agency's organization, then clear this task")
# Portal fields the source config sets under another key, or that the pipeline fills itself.
CONFIG_KEYS = {"tag_string": "metadata.tags", "title": "metadata.title", "notes": "metadata.notes",
               "name": "`id:` (or `dataset:`)", "owner_org": "the agency's folder name (its portal organization)"}
PIPELINE_FIELDS = {"data_format", "allow_harvest"}


def what_to_do(exc: BaseException) -> str:
    """The advice for this error (its own hint, else its reason's or its class's)."""
    source = getattr(exc, "source", None) or "this source"
    hint = getattr(exc, "hint", None)
    if not hint and isinstance(exc, RefusedFile):
        hint = REFUSAL_HINTS.get(exc.reason)
    if not hint and isinstance(exc, PortalRefused):
        hint = _portal_hint(exc)
    if not hint:
        hint = next((CLASS_HINTS[c] for c in type(exc).__mro__ if c in CLASS_HINTS), None)
    if not hint:  # not one of ours: a bug or an answer nobody foresaw
        hint = ("an unexpected error (the traceback above shows where): clear the task once; if it fails "
                "the same way, report it with this log")
    return hint.format(source=source, file=getattr(exc, "file", None) or "")


def _portal_hint(exc: PortalRefused) -> str | None:
    if not exc.fields:
        return PORTAL_AUTH_HINT
    from .gdc import fields as gdc
    from .settings import portal_profile

    changes = []
    for field in exc.fields:
        if field in PIPELINE_FIELDS:
            changes.append(f"{gdc.label(field, english=True)} is filled by the pipeline: report it")
        else:
            changes.append(f"{CONFIG_KEYS.get(field, f'metadata.{field}')} (the portal's "
                           f"{gdc.label(field, english=True)})")
    return (f"in the source config of {{source}}, change {'; '.join(changes)} to a value the portal takes "
            f"(its words above); then `{VALIDATE_CMD} --portal` and clear this task. If that check passes "
            f"while the portal refuses, HARVEST_PORTAL_PROFILE ({portal_profile()}) does not match the "
            "GD Catalog version the portal runs")


def lines(exc: BaseException, *, stage: str, item: str | None = None, source: str | None = None,
          tries: tuple[int, int] | None = None) -> list[str]:
    """The block: what failed, which file or dataset, what to do. ``tries``: (this try, of how many)."""
    source = getattr(exc, "source", None) or source
    item = getattr(exc, "file", None) or item
    if isinstance(exc, HarvestError):
        message = exc.message
    else:
        message = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    headline = "HELD BACK" if isinstance(exc, SkipItem) else "FAILED"
    out = [f"HARVEST {headline} · {stage}" + (f" · {source}" if source else "")]
    if isinstance(exc, RefusedFile):
        message = f"the converter refused the file ({exc.reason}): {message.removeprefix(exc.reason + ': ')}"
    if isinstance(exc, ConfigError):
        message = f"the source config is invalid ({len(exc.problems)} problem(s)), so its DAG cannot be built"
    out.append(f"What failed : {message}")
    if isinstance(exc, ConfigError):
        out.append(f"Config file : {exc.file}")
        out += [f"  {field or '(file)'}: {problem}" for field, problem in exc.problems]
    elif isinstance(exc, ApprovalRejected):
        out.append(f"Dataset     : {exc.dataset}")
        out.append(f"Rejected by : {exc.by}, because: {exc.reason or 'no reason given'}")
    elif item:
        out.append(f"{'Dataset' if stage in DATASET_STAGES else 'File':<12}: {item}")
    if isinstance(exc, ValidationBlocked) and exc.result:
        out.append(f"Result      : {exc.result}")
    if isinstance(exc, RetryableError) and tries and tries[0] < tries[1]:
        out.append(f"Retry       : try {tries[0]} of {tries[1]} failed; Airflow tries again")
    out.append(f"What to do  : {what_to_do(exc)}")
    return out


def text(exc: BaseException, **kwargs) -> str:
    return "\n".join(lines(exc, **kwargs))
