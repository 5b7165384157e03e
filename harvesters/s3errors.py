"""boto3 errors as the pipeline's error classes: one rule for every S3 client (drops, the archive).

Throttling, 5xx, 429 and an unreachable endpoint are retryable; missing credentials and any
other answer (403, 404, a bad request) are final. Callers choose the words of the message.
"""

from __future__ import annotations

from .errors import FinalError, HarvestError, RetryableError

RETRY_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500", "502", "504"}


def answer(exc) -> tuple[type[HarvestError], str, int]:
    """A botocore ClientError: (error class, "Code Message", HTTP status)."""
    err = exc.response.get("Error", {})
    code = str(err.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    retry = code in RETRY_CODES or status >= 500 or status == 429
    return (RetryableError if retry else FinalError), f"{code or status} {err.get('Message', '')}".strip(), status


def no_answer(exc) -> type[HarvestError]:
    """A botocore error without an answer: no credentials is final, anything else (unreachable) retries."""
    from botocore.exceptions import NoCredentialsError

    return FinalError if isinstance(exc, NoCredentialsError) else RetryableError
