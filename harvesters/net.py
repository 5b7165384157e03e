"""One polite, guarded HTTP client for every source kind.

Polite: a clear User-Agent naming the harvester and a contact address, timeouts,
and a retry split: 429/5xx and connection errors are retried (honouring
Retry-After) and finally raise ``RetryableError`` so Airflow retries the task
later; other 4xx are final. Retrying uses tenacity rather than hand-rolled loops.

Guarded, because source configs and the pages they point at are untrusted:

- Destinations: every connection, redirect hops included, is checked at connect
  time against the address it actually connects to (so DNS rebinding and IP
  literals in any spelling, ``2130706433``, ``0177.0.0.1``, ``::ffff:127.0.0.1``,
  resolve to what they are). Loopback, private, link-local (cloud metadata),
  multicast, reserved and unspecified addresses are refused unless the
  deployment allowlists them (``HARVEST_ALLOW_HOSTS`` / ``HARVEST_ALLOW_NETWORKS``).
  Redirects are limited and must stay http(s). Proxies and ~/.netrc from the
  environment are ignored (``trust_env = False``): a proxy would hide the real
  destination, and .netrc would add credentials nobody configured.
- Credentials: on a redirect to another origin, and for a URL of another origin
  than the one they were configured for (``credentials_for``), only the
  harvester's own harmless headers are sent: no Authorization, API-key header,
  cookie or basic auth.
- Limits (``settings.Limits``), enforced while streaming: bytes (Content-Length
  first, then counted after Content-Encoding decoding), the decoding ratio, the
  whole request's duration, and a minimum rate (a server trickling a byte a
  second is cut off). A watchdog thread shuts the socket down when time is up,
  because a socket timeout alone never fires while bytes keep trickling in.
  Over a limit the file is refused (``RefusedFile``, reason ``size``, naming the
  limit) and no ``.part`` file is left.

The connect-time check is hand-written on urllib3's connection class: requests
has no hook between name resolution and connect, and the libraries that offer
one wrap requests in ways that hide the limits and the redirect handling above.
"""

from __future__ import annotations

import contextvars
import email.utils
import ipaddress
import socket
import ssl
import threading
import time
import urllib.robotparser
import weakref
from collections import deque
from pathlib import Path
from typing import Callable
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from . import __version__, progress
from .errors import (BlockedDestination, FinalError, RefusedFile, RetryableError, SourceHTTPError,  # noqa: F401
                     SourceUnavailable)
from .settings import LIMIT_VARS, Limits, Settings

RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 120.0  # seconds; a longer wait belongs to Airflow's task retry, not a sleeping worker
CHUNK = 1 << 16
RATIO_FLOOR = 1 << 20  # the decoding ratio is judged once this many bytes came out (tiny bodies compress oddly)

# Headers that carry no credential: the only ones sent to an origin the credentials were not configured for.
SAFE_HEADERS = {"user-agent", "accept", "accept-encoding", "accept-language", "connection", "range",
                "if-none-match", "if-modified-since", "cache-control"}

# Well-known cloud metadata endpoints, named in refusals (their ranges are refused anyway).
METADATA_ADDRESSES = {ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200",
                                                        "fd00:ec2::254")}


# --------------------------------------------------------------------------- destinations


def _unwrap(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo server), else the address itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in (ip.ipv4_mapped, ip.sixtofour, ip.teredo[0] if ip.teredo else None):
            if inner is not None:
                return inner
    return ip


def address_problem(ip) -> str | None:
    """Why ``ip`` is not a public destination ('loopback', 'private'...), or None when it is one."""
    ip = _unwrap(ip)
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    for label, test in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                        ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                        ("reserved", ip.is_reserved), ("private", ip.is_private)):
        if test:
            return label
    return None if ip.is_global else "not public"


class Destinations:
    """The deployment's allowlist of non-public destinations (settings.allow_hosts / allow_networks)."""

    def __init__(self, hosts: tuple[str, ...] = (), networks: tuple[str, ...] = ()):
        self.hosts: set[str] = set()
        self.networks = []
        for entry in hosts:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]")))
            except ValueError:
                self.hosts.add(_host_key(entry))
        for entry in networks:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise FinalError(f"deployment setting HARVEST_ALLOW_NETWORKS: {entry!r} is not a network "
                                 f"(e.g. 10.20.0.0/16)") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Destinations":
        return cls(settings.allow_hosts, settings.allow_networks)

    def check(self, host: str, ip) -> None:
        """Raise BlockedDestination unless ``ip`` (what ``host`` resolved to) may be reached."""
        problem = address_problem(ip)
        if problem is None or _host_key(host) in self.hosts:
            return
        candidates = {ip, _unwrap(ip)}
        if any(c in n for c in candidates for n in self.networks if c.version == n.version):
            return
        shown = host if host.strip("[]") == str(ip) else f"{host} ({ip})"
        raise BlockedDestination(f"refused to connect to {shown}: a {problem} address, not on the deployment's "
                                 f"allowlist (HARVEST_ALLOW_HOSTS / HARVEST_ALLOW_NETWORKS)")


def _host_key(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _connect(conn: HTTPConnection, destinations: Destinations) -> socket.socket:
    """Resolve, check every address, then connect to an allowed one (urllib3's create_connection, guarded)."""
    host = conn._dns_host  # noqa: SLF001 - the host urllib3 would resolve (brackets stripped)
    try:
        infos = socket.getaddrinfo(host, conn.port, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    # Every answer is checked: a name that resolves to one public and one internal address is refused.
    for *_, sockaddr in infos:
        destinations.check(conn.host, ipaddress.ip_address(sockaddr[0].split("%")[0]))
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            if conn.timeout is not None:
                sock.settimeout(conn.timeout)
            if conn.source_address:
                sock.bind(conn.source_address)
            sock.connect(sockaddr)
            return sock
        except socket.timeout as exc:
            sock.close()
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out "
                                            f"(connect timeout={conn.timeout})") from exc
        except OSError as exc:
            sock.close()
            error = exc
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}") from error


class _GuardedConnection:
    """Mixin for urllib3 connections: the guarded connect, and the watchdog learns every socket used."""

    destinations: Destinations

    def _new_conn(self) -> socket.socket:
        sock = _connect(self, self.destinations)  # type: ignore[arg-type]
        watchdog = _WATCHDOG.get()
        if watchdog is not None:
            watchdog.add(sock)
        return sock

    def request(self, *args, **kwargs):
        watchdog = _WATCHDOG.get()
        if watchdog is not None and getattr(self, "sock", None) is not None:
            watchdog.add(self.sock)  # a kept-alive connection: its socket was made for another request
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, destinations: Destinations, **kwargs):
        self.destinations = destinations
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        d = {"destinations": self.destinations}
        http_conn = type("GuardedHTTPConnection", (_GuardedConnection, HTTPConnection), d)
        https_conn = type("GuardedHTTPSConnection", (_GuardedConnection, HTTPSConnection), d)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
        }


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port or default
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").rstrip("."), port


def _safe_headers(headers) -> dict[str, str]:
    return {k: v for k, v in (headers or {}).items() if k.lower() in SAFE_HEADERS}


class GuardedSession(requests.Session):
    """A requests session whose every connection and redirect obeys the rules in the module doc."""

    def __init__(self, settings: Settings):
        super().__init__()
        self.trust_env = False
        self.limits: Limits = settings.limits
        self.max_redirects = settings.limits.max_redirects
        adapter = _GuardedAdapter(Destinations.from_settings(settings))
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def get_redirect_target(self, resp):
        target = super().get_redirect_target(resp)
        if target:
            scheme = urlsplit(urljoin(resp.url, target)).scheme.lower()
            if scheme not in ("http", "https"):
                raise BlockedDestination(f"refused a redirect from {resp.url} to a {scheme or 'schemeless'}: URL "
                                         f"(only http and https are followed)")
        return target

    def rebuild_auth(self, prepared_request, response):
        # requests drops only Authorization on a host change: drop every credential-bearing header
        # (API keys, cookies, Authorization) whenever the origin changes. Never read ~/.netrc.
        if origin(response.request.url) != origin(prepared_request.url):
            for name in list(prepared_request.headers):
                if name.lower() not in SAFE_HEADERS:
                    del prepared_request.headers[name]


def session(settings: Settings | None = None) -> requests.Session:
    settings = settings or Settings.from_env()
    s = GuardedSession(settings)
    s.headers["User-Agent"] = f"ogd-harvester/{__version__} (+{settings.contact})"
    return s


def _guarded(http: requests.Session) -> GuardedSession:
    """The rules hold for every client a kind passes: a plain session gets the guard mounted."""
    if isinstance(http, GuardedSession):
        return http
    if not getattr(http, "_harvest_guarded", False):
        settings = Settings.from_env()
        adapter = _GuardedAdapter(Destinations.from_settings(settings))
        http.mount("http://", adapter)
        http.mount("https://", adapter)
        http.trust_env = False
        http.max_redirects = settings.limits.max_redirects
        http.limits = settings.limits  # type: ignore[attr-defined]
        http.__class__ = type("GuardedPlainSession", (GuardedSession,), {})  # redirect rules too
        http._harvest_guarded = True  # type: ignore[attr-defined]
    return http  # type: ignore[return-value]


# --------------------------------------------------------------------------- limits: the watchdog

_WATCHDOG: contextvars.ContextVar["_Watchdog | None"] = contextvars.ContextVar("harvest_watchdog", default=None)


class _Watchdog:
    """Cuts one request off (shuts its sockets down) when it runs too long or too slowly."""

    def __init__(self, limits: Limits, grace: float = 0.0):
        self.limits = limits
        self.start = time.monotonic()
        # The rate rule waits for the request's own timeout first: a server may think before it answers.
        self.rate_from = self.start + max(limits.rate_window_seconds, grace)
        self.received = 0
        self.tripped: str | None = None  # the limit's name
        self._sockets: "weakref.WeakSet[socket.socket]" = weakref.WeakSet()
        self._samples: deque[tuple[float, int]] = deque([(self.start, 0)])
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a stopped watchdog never cuts: its socket may serve the next request
        self._thread = threading.Thread(target=self._run, name="harvest-download-watchdog", daemon=True)
        self._thread.start()

    def add(self, sock: socket.socket) -> None:
        self._sockets.add(sock)
        if self.tripped:
            self._cut()

    def body_started(self) -> None:
        """Headers are in: the server's thinking time is over, the rate rule applies a window from now."""
        self.rate_from = min(self.rate_from, time.monotonic() + self.limits.rate_window_seconds)

    def progress(self, n: int) -> None:
        self.received += n

    def stop(self) -> None:
        with self._lock:
            self._stop.set()

    def _run(self) -> None:
        lim = self.limits
        tick = max(0.05, min(1.0, lim.rate_window_seconds / 10, lim.max_download_seconds / 10))
        while not self._stop.wait(tick):
            now = time.monotonic()
            self._samples.append((now, self.received))
            while len(self._samples) > 1 and self._samples[1][0] <= now - lim.rate_window_seconds:
                self._samples.popleft()
            then, had = self._samples[0]
            with self._lock:
                if self._stop.is_set():
                    return
                if now - self.start > lim.max_download_seconds:
                    self.tripped = "max_download_seconds"
                elif now >= self.rate_from and then <= now - lim.rate_window_seconds and \
                        self.received - had < lim.min_download_rate * lim.rate_window_seconds:
                    self.tripped = "min_download_rate"
                if self.tripped:
                    self._cut()
                    return

    def _cut(self) -> None:
        for sock in list(self._sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv in the reading thread
            except OSError:
                pass

    def refusal(self, url: str) -> RefusedFile:
        lim = self.limits
        if self.tripped == "max_download_seconds":
            detail = (f"download took longer than max_download_seconds "
                      f"({LIMIT_VARS['max_download_seconds']}={lim.max_download_seconds:g} s); cut off")
        else:
            detail = (f"download slower than min_download_rate ({LIMIT_VARS['min_download_rate']}="
                      f"{lim.min_download_rate} bytes/s over {lim.rate_window_seconds:g} s); cut off after "
                      f"{self.received} bytes")
        return RefusedFile("size", detail, file=url)


def _over(limit: str, value, url: str, what: str) -> RefusedFile:
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return RefusedFile("size", f"{what} is over {limit} ({LIMIT_VARS[limit]}={shown})", file=url)


# --------------------------------------------------------------------------- failures in words


def _causes(exc: BaseException):
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [x for x in (e.__cause__, e.__context__, getattr(e, "reason", None), *getattr(e, "args", ()))
                 if isinstance(x, BaseException)]


def describe_failure(exc: BaseException) -> str:
    """The kind of a network failure in words (DNS, refused, timeout, TLS...), never a bare class name."""
    if isinstance(exc, requests.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout (no answer to the connection)"
    if isinstance(exc, requests.ReadTimeout):
        return "read timeout (the server stopped answering)"
    causes = list(_causes(exc))
    # Root causes first: urllib3's NewConnectionError is a ConnectTimeoutError even when the port refused.
    for e in causes:
        if isinstance(e, (socket.gaierror, NameResolutionError)):
            return "DNS lookup failed (no such host)"
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"TLS certificate rejected ({e.verify_message or e.reason})"
        if isinstance(e, ssl.SSLError):
            return f"TLS handshake failed ({e.reason or str(e)[:120]})"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused (nothing listens there)"
        if isinstance(e, ConnectionResetError):
            return "connection reset by the server"
    for e in causes:
        if isinstance(e, requests.exceptions.SSLError):
            return "TLS handshake failed"
        if isinstance(e, (socket.timeout, TimeoutError)) or type(e) is ConnectTimeoutError:
            return "timeout"
        if isinstance(e, (urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError)):
            return "connection broken mid-answer"
    first = str(exc).splitlines()[0][:160] if str(exc) else "no detail"
    return f"network error ({first})"


# --------------------------------------------------------------------------- requests


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
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time()) if when else None


def _wait(retry_state) -> float:
    exc = retry_state.outcome.exception()
    hinted = getattr(exc, "retry_after", None)
    if hinted is not None:
        return min(hinted, MAX_RETRY_AFTER)
    return wait_exponential(multiplier=1, min=1, max=30)(retry_state)


def _open(url: str, *, http: GuardedSession, timeout: float, watchdog: _Watchdog, **kwargs) -> requests.Response:
    """One streamed GET (redirects followed and checked), failures typed; the status is the caller's."""
    token = _WATCHDOG.set(watchdog)
    try:
        return http.get(url, timeout=timeout, stream=True, **kwargs)
    except BlockedDestination as exc:
        raise exc.with_context(file=url)
    except requests.TooManyRedirects:
        raise FinalError(f"more than max_redirects ({LIMIT_VARS['max_redirects']}={http.max_redirects}) "
                         f"redirects from {url}", file=url) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        if watchdog.tripped:
            raise watchdog.refusal(url) from None
        raise _Transient(f"cannot reach {url}: {describe_failure(exc)}") from exc
    except requests.RequestException as exc:  # InvalidURL, InvalidSchema, MissingSchema...
        raise FinalError(f"cannot request {url}: {describe_failure(exc)}", file=url) from None
    finally:
        _WATCHDOG.reset(token)


def _get(url: str, *, http: GuardedSession, timeout: float, attempts: int, **kwargs
         ) -> tuple[requests.Response, _Watchdog]:
    """GET with the retry split: 429/5xx and connection errors retried, then RetryableError; 4xx final.

    Returns the streamed response and its running watchdog: the caller reads the body, then stops it.
    """

    @retry(stop=stop_after_attempt(attempts), wait=_wait, retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
           reraise=True)
    def attempt() -> tuple[requests.Response, _Watchdog]:
        watchdog = _Watchdog(http.limits, grace=timeout)
        try:
            response = _open(url, http=http, timeout=timeout, watchdog=watchdog, **kwargs)
        except BaseException:
            watchdog.stop()
            raise
        if response.status_code >= 400:
            watchdog.stop()
            response.close()
            if response.status_code in RETRY_STATUS:
                raise _Transient(f"HTTP {response.status_code} {response.reason} from {response.url}",
                                 _retry_after(response))
            raise SourceHTTPError(f"HTTP {response.status_code} {response.reason} from {response.url}", file=url,
                                  status=response.status_code)
        return response, watchdog

    try:
        return attempt()
    except _Transient as exc:
        raise SourceUnavailable(str(exc), file=url) from None


def _read_body(response: requests.Response, watchdog: _Watchdog, url: str, limit: str,
               sink: Callable[[bytes], object]) -> int:
    """Stream the (decoded) body into ``sink`` under the limits; returns the bytes read."""
    lim: Limits = watchdog.limits
    max_bytes = getattr(lim, limit)
    watchdog.body_started()
    declared = response.headers.get("Content-Length", "").strip()
    try:
        if declared.isdigit() and int(declared) > max_bytes:
            raise _over(limit, max_bytes, url, f"Content-Length {int(declared)} bytes")
        total = 0
        try:
            for chunk in response.iter_content(CHUNK):
                total += len(chunk)
                watchdog.progress(len(chunk))
                if total > max_bytes:
                    raise _over(limit, max_bytes, url, "the body")
                wire = response.raw.tell() if response.raw is not None else 0
                if total > RATIO_FLOOR and wire and total / wire > lim.max_decompression_ratio:
                    raise _over("max_decompression_ratio", lim.max_decompression_ratio, url,
                                f"the {response.headers.get('Content-Encoding', '')} decoding ratio "
                                f"({total} bytes from {wire})")
                sink(chunk)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if watchdog.tripped:
                raise watchdog.refusal(url) from None
            raise SourceUnavailable(f"download of {url} broke off: {describe_failure(exc)}", file=url) from None
        if watchdog.tripped:
            raise watchdog.refusal(url)
        return total
    finally:
        watchdog.stop()
        response.close()


def _origin_scoped(url: str, credentials_for: str | None, headers: dict | None, auth):
    """Headers and auth for ``url``: credentials only when it is the origin they were configured for."""
    if credentials_for is not None and origin(credentials_for) != origin(url):
        return _safe_headers(headers), None
    return dict(headers or {}), auth


def _with_progress(sink: Callable[[bytes], object], item: str, response: requests.Response):
    """``sink`` that also reports the bytes written so far (``harvesters.progress``; a no-op without a hook)."""
    if not progress.active():
        return sink
    declared = response.headers.get("Content-Length", "").strip()
    # Content-Length counts the encoded bytes: no total for a compressed body.
    total = int(declared) if declared.isdigit() and not response.headers.get("Content-Encoding") else None
    done = 0

    def write(chunk: bytes) -> None:
        nonlocal done
        sink(chunk)
        done += len(chunk)
        progress.tick("download", item, done, total)

    return write


def download(url: str, dest: Path, *, http: requests.Session, timeout: float, attempts: int = 3,
             headers: dict[str, str] | None = None, robots: bool = False,
             credentials_for: str | None = None, limit: str = "max_download_bytes") -> requests.Response:
    """Stream ``url`` into ``dest`` (written under a temporary name, then renamed), under the limits.

    ``robots=True`` first checks the host's robots.txt (see ``check_robots``).
    ``credentials_for``: the URL the ``headers`` were configured for; sent elsewhere, they are dropped.
    ``limit``: which size limit applies (``max_page_bytes`` for a page the converter parses whole).
    A conditional request (``If-None-Match`` / ``If-Modified-Since`` in ``headers``)
    answered 304 Not Modified writes nothing: the caller reads ``response.status_code``.
    """
    http = _guarded(http)
    if robots:
        check_robots(url, http=http, timeout=timeout)
    headers, _ = _origin_scoped(url, credentials_for, headers, None)
    response, watchdog = _get(url, http=http, timeout=timeout, attempts=attempts, headers=headers)
    if response.status_code == 304:
        watchdog.stop()
        response.close()
        return response
    tmp = dest.with_name(dest.name + ".part")
    try:
        with tmp.open("wb") as out:
            _read_body(response, watchdog, url, limit, _with_progress(out.write, dest.name, response))
        tmp.replace(dest)
        progress.tick("download", dest.name, dest.stat().st_size, dest.stat().st_size, finished=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return response


def get(url: str, *, http: requests.Session, timeout: float, attempts: int = 3, params: dict | None = None,
        headers: dict[str, str] | None = None, auth=None, robots: bool = False,
        credentials_for: str | None = None) -> requests.Response:
    """GET a page or an API answer into memory (at most ``max_page_bytes``), with the same retry split.

    ``credentials_for``: the URL ``headers``/``auth`` were configured for (e.g. an API's endpoint while
    following its next-page links); to another origin they are not sent.
    """
    http = _guarded(http)
    if robots:
        check_robots(url, http=http, timeout=timeout)
    headers, auth = _origin_scoped(url, credentials_for, headers, auth)
    response, watchdog = _get(url, http=http, timeout=timeout, attempts=attempts, params=params, headers=headers,
                              auth=auth)
    body = bytearray()
    _read_body(response, watchdog, response.url, "max_page_bytes", body.extend)
    response._content = bytes(body)  # noqa: SLF001 - so .content/.text/.json() work as usual
    response._content_consumed = True  # noqa: SLF001
    return response


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
    http = _guarded(http)
    parts = urlsplit(url)
    origin_url = f"{parts.scheme}://{parts.netloc}"
    cache = _robots_cache.setdefault(http, {})
    if origin_url in cache:
        return cache[origin_url]
    robots_url = f"{origin_url}/robots.txt"
    parser = urllib.robotparser.RobotFileParser(robots_url)
    watchdog = _Watchdog(http.limits, grace=timeout)
    try:
        response = _open(robots_url, http=http, timeout=timeout, watchdog=watchdog)
    except _Transient as exc:
        watchdog.stop()
        raise SourceUnavailable(f"cannot reach {url} (reading {robots_url}): {str(exc).split(': ', 1)[-1]}",
                             file=url) from None
    except BaseException:
        watchdog.stop()
        raise
    if response.status_code >= 500 or response.status_code in (408, 429):
        watchdog.stop()
        response.close()
        raise SourceUnavailable(f"HTTP {response.status_code} for {robots_url}; not crawling {parts.netloc} until it "
                             f"answers", file=url)
    if response.status_code >= 400:
        watchdog.stop()
        response.close()
        parser.allow_all = True
    else:
        body = bytearray()
        _read_body(response, watchdog, robots_url, "max_page_bytes", body.extend)
        parser.parse(body.decode("utf-8", errors="replace").splitlines())
    cache[origin_url] = parser
    return parser


def check_robots(url: str, *, http: requests.Session, timeout: float) -> None:
    """Raise FinalError when the host's robots.txt disallows ``url`` for our agent."""
    parser = robots_for(url, http=http, timeout=timeout)
    if not parser.can_fetch(ROBOTS_AGENT, url):
        raise FinalError(f"robots.txt of {urlsplit(url).netloc} disallows {url} "
                         f"(set respect_robots: false only with the site owner's permission)", file=url)
