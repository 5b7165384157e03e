"""Errors the pipeline tells apart, because Airflow must treat them differently.

- ``RetryableError``: the world may be better in a minute (network, HTTP 429/5xx,
  portal busy). Airflow retries the task with backoff.
- ``FinalError``: retrying cannot help (bad config, refused file, validation
  blocked a publish, portal refused the metadata). The task fails at once.
- ``SkipItem``: one file of many is unusable; the others go on.

Every message is one line that names the source and the file or URL, so a data
engineer understands the failure from the Airflow UI alone.
"""

from __future__ import annotations


class HarvestError(Exception):
    """Base class: ``str(err)`` is the one-line message shown to people."""

    def __init__(self, message: str, *, source: str | None = None, file: str | None = None):
        self.message = " ".join(str(message).split())  # always one line
        self.source = source
        self.file = file
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
    """A Great Expectations suite failed and the source says failures block publishing."""


class PortalRefused(FinalError):
    """The portal answered with a validation error (HTTP 409) or a permission error."""


class SkipItem(HarvestError):
    """This one item cannot be harvested; the rest of the run goes on."""


class BlockedDestination(FinalError):
    """A request would reach an address the deployment does not allow (loopback, private, metadata...)."""


class ConnectionUndefined(FinalError):
    """An Airflow Connection (or AIRFLOW_CONN_<ID>) the code asked for does not exist.

    Only this, "not defined", may let a caller fall back to other settings; any other
    failure to read a connection (secrets backend down, malformed value) is retryable.
    """
