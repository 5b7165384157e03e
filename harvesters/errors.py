"""Errors the pipeline tells apart, because Airflow must treat them differently.

- ``RetryableError``: the world may be better in a minute (network, HTTP 429/5xx,
  portal busy). Airflow retries the task with backoff.
- ``FinalError``: retrying cannot help (bad config, refused file, validation
  blocked a publish, portal refused the metadata). The task fails at once.
- ``SkipItem``: one file of many is unusable; the others go on.

Every message is one line that names the source and the file or URL, so a data
engineer understands the failure from the Airflow UI alone. What to do about it
is ``hint``: given where the error is raised when that place knows best, else
the default of its class (``explain.py`` words both into a failed task's last
log lines). The subclasses below exist so that each common failure gets its own
advice by class, never by matching message text.
"""

from __future__ import annotations


class HarvestError(Exception):
    """Base class: ``str(err)`` is the one-line message shown to people."""

    def __init__(self, message: str, *, source: str | None = None, file: str | None = None,
                 hint: str | None = None):
        self.message = " ".join(str(message).split())  # always one line
        self.source = source
        self.file = file
        self.hint = hint  # what to do, when the raiser knows better than the class's default (explain.py)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.source, self.file) if p)
        return f"{where}: {self.message}" if where else self.message

    def with_context(self, *, source: str | None = None, file: str | None = None) -> "HarvestError":
        """Fill in the source/file if the raiser did not know them."""
        self.source = self.source or source
        self.file = self.file or file
        self.args = (self.__str__(),)
        return self


class RetryableError(HarvestError):
    """Transient: worth another try later."""


class FinalError(HarvestError):
    """Permanent: fail the task now, do not retry."""


class ConfigError(FinalError):
    """A source config is invalid. ``problems`` holds (field, message) pairs."""

    def __init__(self, file: str, problems: list[tuple[str, str]]):
        self.problems = problems
        first = "; ".join(f"{f}: {m}" if f else m for f, m in problems[:3])
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"invalid source config: {first}{more}", file=file)


class RefusedFile(FinalError):
    """A file the converter will not turn into a table.

    ``reason`` is one of the reason words of ``conversion-rules.md``
    (pii, xxe, size, no table, corrupt, type mismatch, encrypted, empty).
    """

    def __init__(self, reason: str, detail: str = "", *, source: str | None = None, file: str | None = None):
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason, source=source, file=file)


class ValidationBlocked(FinalError):
    """A Great Expectations suite failed and the source says failures block publishing.

    ``result``: where the full GX result of the first failing table is kept.
    """

    def __init__(self, message: str, *, result: str | None = None, **kwargs):
        self.result = result
        super().__init__(message, **kwargs)


class PortalRefused(FinalError):
    """The portal answered with a validation error (HTTP 409) or a permission error.

    ``fields``: the portal's field keys it named (CKAN's ValidationError), for the advice.
    """

    def __init__(self, message: str, *, fields: list[str] | None = None, **kwargs):
        self.fields = fields or []
        super().__init__(message, **kwargs)


class PortalUnavailable(RetryableError):
    """The portal did not answer (refused, timed out, DNS, TLS) or answered 5xx."""


class SourceUnavailable(RetryableError):
    """The agency's server did not answer, or answered 429/5xx, after the client's own retries."""


class SourceHTTPError(FinalError):
    """The agency's server answered a 4xx (404 Not Found, 403, 410...) for a file or page we asked for."""

    def __init__(self, message: str, *, status: int, **kwargs):
        self.status = status
        super().__init__(message, **kwargs)


class StagingUnavailable(RetryableError):
    """The staging store (HARVEST_STAGING_DIR, a volume shared by the workers) cannot be written."""


class SkipItem(HarvestError):
    """This one item cannot be harvested; the rest of the run goes on."""


class ApprovalRejected(SkipItem):
    """The agency's approver answered Reject: the dataset stays private, who and why are recorded."""

    def __init__(self, dataset: str, *, by: str, reason: str | None, **kwargs):
        self.dataset, self.by, self.reason = dataset, by, reason
        super().__init__(f"{dataset} not published: rejected by {by} ({reason or 'no reason given'}); "
                         "it stays private on the portal", **kwargs)

    @classmethod
    def from_answer(cls, dataset: str, answer: dict, **kwargs) -> "ApprovalRejected":
        """From Airflow's human-in-the-loop answer (``responded_by_user`` {id, name}, ``params_input``)."""
        user = answer.get("responded_by_user") or {}
        who = user.get("id") or "the approver"
        if user.get("name") and user["name"] != who:
            who = f"{user['name']} ({who})"
        return cls(dataset, by=who, reason=(answer.get("params_input") or {}).get("reason"), **kwargs)


class BlockedDestination(FinalError):
    """A request would reach an address the deployment does not allow (loopback, private, metadata...)."""


class ConnectionUndefined(FinalError):
    """An Airflow Connection (or AIRFLOW_CONN_<ID>) the code asked for does not exist.

    Only this, "not defined", may let a caller fall back to other settings; any other
    failure to read a connection (secrets backend down, malformed value) is retryable.
    """
