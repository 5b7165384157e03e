"""One polite HTTP client for every source kind.

A clear User-Agent naming the harvester and a contact address, timeouts, and a
retry split: 429/5xx and connection errors are retried (honouring
Retry-After) and finally raise ``RetryableError`` so Airflow retries the task
later; other 4xx are final. Retrying uses tenacity rather than hand-rolled loops.
"""

from __future__ import annotations

import email.utils
import time
import urllib.robotparser
import weakref
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from . import __version__
from .errors import FinalError, RetryableError
from .settings import Settings

if TYPE_CHECKING:  # imported where used: DAG files import the source kinds, which import this module
    import requests

RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 120.0  # seconds; a longer wait belongs to Airflow's task retry, not a sleeping worker


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    when = email.utils.parsedate_to_datetime(value)
    return max(0.0, when.timestamp() - time.time()) if when else None


def _wait(retry_state) -> float:
    exc = retry_state.outcome.exception()
    hinted = getattr(exc, "retry_after", None)
    if hinted is not None:
        return min(hinted, MAX_RETRY_AFTER)
    return wait_exponential(multiplier=1, min=1, max=30)(retry_state)


def session(settings: Settings | None = None) -> requests.Session:
    import requests

    settings = settings or Settings.from_env()
    s = requests.Session()
    s.headers["User-Agent"] = f"ogd-harvester/{__version__} (+{settings.contact})"
    return s


def _get(url: str, *, http: requests.Session, timeout: float, attempts: int, **kwargs) -> requests.Response:
    """GET with the retry split: 429/5xx and connection errors retried, then RetryableError; 4xx final."""
    import requests

    @retry(stop=stop_after_attempt(attempts), wait=_wait, retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
           reraise=True)
    def attempt() -> requests.Response:
        try:
            response = http.get(url, timeout=timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(f"cannot reach {url}: {type(exc).__name__}") from exc
        if response.status_code in RETRY_STATUS:
            raise _Transient(f"HTTP {response.status_code} from {response.url}", _retry_after(response))
        if response.status_code >= 400:
            raise FinalError(f"HTTP {response.status_code} {response.reason} from {response.url}")
        return response

    try:
        return attempt()
    except _Transient as exc:
        raise RetryableError(str(exc), file=url) from None


def download(url: str, dest: Path, *, http: requests.Session, timeout: float, attempts: int = 3,
             headers: dict[str, str] | None = None, robots: bool = False) -> requests.Response:
    """Stream ``url`` into ``dest`` (written under a temporary name, then renamed).

    ``robots=True`` first checks the host's robots.txt (see ``check_robots``).
    """
    if robots:
        check_robots(url, http=http, timeout=timeout)
    response = _get(url, http=http, timeout=timeout, attempts=attempts, stream=True, headers=headers or {})
    tmp = dest.with_name(dest.name + ".part")
    with tmp.open("wb") as out:
        for chunk in response.iter_content(1 << 20):
            out.write(chunk)
    tmp.replace(dest)
    return response


def get(url: str, *, http: requests.Session, timeout: float, attempts: int = 3, params: dict | None = None,
        headers: dict[str, str] | None = None, auth=None, robots: bool = False) -> requests.Response:
    """GET a page or an API answer into memory, with the same retry split as ``download``."""
    if robots:
        check_robots(url, http=http, timeout=timeout)
    return _get(url, http=http, timeout=timeout, attempts=attempts, params=params, headers=headers or {}, auth=auth)


# --------------------------------------------------------------------------- robots.txt

ROBOTS_AGENT = "ogd-harvester"  # the product token of our User-Agent, matched against robots.txt groups

# One cache per client: a run (one HarvestContext, one session) asks each host once.
_robots_cache: "weakref.WeakKeyDictionary[requests.Session, dict[str, urllib.robotparser.RobotFileParser]]" = \
    weakref.WeakKeyDictionary()


def robots_for(url: str, *, http: requests.Session, timeout: float) -> urllib.robotparser.RobotFileParser:
    """The parsed robots.txt of ``url``'s host, fetched once per client (run).

    As RFC 9309 says: a 4xx answer (no robots.txt) allows everything; a 5xx
    answer or an unreachable host is retryable (a crawler must then not crawl).
    """
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    cache = _robots_cache.setdefault(http, {})
    if origin in cache:
        return cache[origin]
    robots_url = f"{origin}/robots.txt"
    import requests

    parser = urllib.robotparser.RobotFileParser(robots_url)
    try:
        response = http.get(robots_url, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise RetryableError(f"cannot reach {url} (reading {robots_url}): {type(exc).__name__}", file=url) from None
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise RetryableError(f"HTTP {response.status_code} for {robots_url}; not crawling {parts.netloc} until it "
                             f"answers", file=url)
    if response.status_code >= 400:
        parser.allow_all = True
    else:
        parser.parse(response.content.decode("utf-8", errors="replace").splitlines())
    cache[origin] = parser
    return parser


def check_robots(url: str, *, http: requests.Session, timeout: float) -> None:
    """Raise FinalError when the host's robots.txt disallows ``url`` for our agent."""
    parser = robots_for(url, http=http, timeout=timeout)
    if not parser.can_fetch(ROBOTS_AGENT, url):
        raise FinalError(f"robots.txt of {urlsplit(url).netloc} disallows {url} "
                         f"(set respect_robots: false only with the site owner's permission)", file=url)
