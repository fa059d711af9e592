"""Transport rules of the pipelines API, written once for the sync (requests) and async (aiohttp) clients.

A client turns an :class:`ApiRequest` into an HTTP call with its library, hands the answer to
:func:`interpret_response`, and asks :class:`RetryPolicy` what to do about a failure. Nothing here
does I/O, so both clients share every rule: paths, status-to-exception mapping, JSON decoding, which
failures are retried and how long to wait.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import random
import re
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Final, Literal, ParamSpec, Protocol, TypeVar
from urllib.parse import quote, quote_plus

from airflow_provider_drpipelines import __version__
from airflow_provider_drpipelines.client.answers import objects
from airflow_provider_drpipelines.client.limits import MAX_JSON_BYTES
from airflow_provider_drpipelines.exceptions import (
    ApiAuthError,
    ApiConflictError,
    ApiConnectionError,
    ApiNotFoundError,
    ApiResponseError,
    ApiTransientError,
    ApiValidationError,
    DataRobotApiError,
    DataRobotConfigError,
    DataRobotPipelinesError,
)

QueryValue = str | int | float | bool

#: Largest answer of the endpoints that return logs or pipeline source.
MAX_TEXT_BYTES: Final = 64 * 1024 * 1024
#: How much of an error answer is read: enough for any ``detail``, never a whole HTML page of a proxy.
MAX_ERROR_BYTES: Final = 64 * 1024
#: Longest ``Retry-After`` honoured at all, before a retry policy's own cap applies.
MAX_RETRY_AFTER_SECONDS: Final = 3600.0
#: Most pages one listing may span; a server whose pages never end is an error, not a loop.
MAX_PAGES: Final = 1000
#: A create waits this many times the connection's timeout: a slow commit should answer, not look lost.
CREATE_TIMEOUT_FACTOR: Final = 2.0


@dataclass(frozen=True)
class UploadFile:
    filename: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class ApiRequest:
    """One call of the pipelines API; ``path`` is relative to ``.../api/v2`` and already percent-encoded."""

    method: str
    path: str
    params: Mapping[str, QueryValue] = field(default_factory=dict)
    json: Any = None
    form: Mapping[str, str] | None = None
    file: UploadFile | None = None
    #: Creating requests are never blindly re-sent: a lost answer may hide a created resource.
    creates: bool = False
    #: Keys a JSON object answer must carry; their absence means we are not talking to the API we think.
    required: tuple[str, ...] = ()
    timeout: float | None = None
    #: The answer's shape; a 2xx that breaks it is an :class:`ApiResponseError`, never a silent None.
    answer: Literal["object", "array", "none"] = "object"
    #: Bytes of a 2xx answer read at most; more is a non-retryable :class:`ApiResponseError`.
    max_bytes: int = MAX_JSON_BYTES

    def with_params(self, **params: QueryValue | None) -> ApiRequest:
        merged = {**self.params, **{k: v for k, v in params.items() if v is not None}}
        return replace(self, params=merged)

    def multipart(self) -> list[tuple[str, tuple[str | None, bytes | str] | tuple[str, bytes, str]]] | None:
        """Multipart parts in the tuple form both requests and httpx accept, or None for a JSON call."""
        if self.form is None and self.file is None:
            return None
        parts: list[tuple[str, tuple[str | None, bytes | str] | tuple[str, bytes, str]]] = [
            (name, (None, value)) for name, value in (self.form or {}).items()
        ]
        if self.file is not None:
            parts.append(("file", (self.file.filename, self.file.content, "text/x-python")))
        return parts

    def describe(self) -> str:
        return f"{self.method} {self.path}"

    def timeout_within(self, connection_timeout: float) -> float:
        """Seconds this request may take in all: its own, else the connection's (longer for a create)."""
        if self.timeout is not None:
            return self.timeout
        return connection_timeout * CREATE_TIMEOUT_FACTOR if self.creates else connection_timeout

    def query(self) -> list[tuple[str, str]]:
        """Query parameters as strings, encoded the same way by both clients."""
        return [(name, _query_text(value)) for name, value in self.params.items()]


def _query_text(value: QueryValue) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def answer_limit(request: ApiRequest, status: int) -> int:
    """How many bytes of this answer a client reads: the request's cap for a 2xx, a small one otherwise."""
    return request.max_bytes if 200 <= status < 300 else MAX_ERROR_BYTES


def too_large(request: ApiRequest, status: int, limit: int, secret: str = "") -> ApiResponseError:
    """A 2xx answer over its cap: not retried, since the same request would get the same answer."""
    return ApiResponseError(
        scrub(
            f"DataRobot pipelines API: {request.describe()} answered HTTP {status} with more than {limit:,} bytes; "
            "refusing to read it (a broken server, or an endpoint that is not the DataRobot API).",
            secret,
        ),
        method=request.method,
        path=request.path,
        status=status,
    )


_EXCEPTION_BY_STATUS: Final[dict[int, type[DataRobotApiError]]] = {
    400: ApiValidationError,
    401: ApiAuthError,
    403: ApiAuthError,
    404: ApiNotFoundError,
    409: ApiConflictError,
    422: ApiValidationError,
    429: ApiTransientError,
}


def interpret_response(
    request: ApiRequest, status: int, headers: Mapping[str, str], content: bytes, secret: str = ""
) -> Any:
    """Decode a 2xx answer, or raise the typed exception for any other; ``secret`` is scrubbed from messages."""
    if 200 <= status < 300:
        return _decode_success(request, status, headers, content, secret)
    if 300 <= status < 400:
        raise _redirect_error(request, status, headers, secret)
    detail = _error_detail(headers, content, secret)
    exc_class = _EXCEPTION_BY_STATUS.get(status) or (ApiTransientError if status >= 500 else DataRobotApiError)
    message = f"DataRobot pipelines API: {request.describe()} failed with HTTP {status}: {detail}"
    raise exc_class(
        scrub(message, secret),
        method=request.method,
        path=request.path,
        status=status,
        detail=detail,
        retry_after=parse_retry_after(headers.get("retry-after")),
    )


def _redirect_error(request: ApiRequest, status: int, headers: Mapping[str, str], secret: str) -> ApiResponseError:
    """Neither client follows redirects: the token (and a create's body) must not go to another address."""
    location = _shorten(scrub(headers.get("location", "(no Location)"), secret))
    return ApiResponseError(
        f"DataRobot pipelines API: {request.describe()} answered HTTP {status} redirecting to {location}; "
        "redirects are not followed. Set the connection's endpoint to the API's final address.",
        method=request.method,
        path=request.path,
        status=status,
    )


def _decode_success(request: ApiRequest, status: int, headers: Mapping[str, str], content: bytes, secret: str) -> Any:
    if request.answer == "none" and (status == 204 or not content.strip()):
        return None

    def broken(problem: str) -> ApiResponseError:
        return ApiResponseError(
            f"DataRobot pipelines API: {request.describe()} answered HTTP {status} {problem}: "
            f"{snippet(content, secret)!r}. Is the connection's endpoint a DataRobot API?",
            method=request.method,
            path=request.path,
            status=status,
        )

    if not content.strip():
        raise broken(f"with an empty body where a JSON {request.answer} was expected")
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        kind = headers.get("content-type", "unset")
        raise broken(f"with a body that is not JSON (Content-Type {scrub(kind, secret)!r})") from None
    if request.answer == "object" and not isinstance(body, dict):
        raise broken(f"with a JSON {type(body).__name__} where an object was expected")
    if request.answer == "array" and not isinstance(body, list):
        raise broken(f"with a JSON {type(body).__name__} where an array was expected")
    missing = [key for key in request.required if key not in body]
    if missing:
        raise broken(f"without the field(s) {', '.join(missing)}")
    return body


def _error_detail(headers: Mapping[str, str], content: bytes, secret: str) -> str:
    """The FastAPI ``detail`` when there is one, else a short text of whatever came back (a proxy's page)."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return _shorten(scrub(detail if isinstance(detail, str) else json.dumps(detail), secret), 1000)
    kind = scrub(headers.get("content-type", "no content type"), secret)
    return f"{snippet(content, secret) or '(empty body)'} [{_shorten(kind)}]"


def snippet(content: bytes, secret: str, limit: int = 200) -> str:
    """A short one-line text of an answer, scrubbed of the token before it is cut."""
    text = re.sub(r"<[^>]*>", " ", scrub(content.decode("utf-8", "replace"), secret))
    return _shorten(" ".join(text.split()), limit)


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def scrub(text: str, secret: str) -> str:
    """``text`` without ``secret`` in any form a server or library may echo it; scrub before truncating."""
    if not secret:
        return text
    for form in secret_forms(secret):
        text = text.replace(form, "***")
    return text


@cache
def secret_forms(secret: str) -> tuple[str, ...]:
    """The token raw, ``repr``-, JSON- and URL-escaped, and base64 of it and of its header forms.

    Escaped forms go two levels deep, with either quote escaped: a library's message may hold a repr inside a
    repr (aiohttp's ``ClientResponseError`` quotes its message, which quotes the bytes of a bad header line),
    and which quote a repr escapes depends on the whole text, not on the token. Base64 of a longer text
    holding the token depends on the token's offset, so each of the three alignments contributes the part of
    the encoding that only the token's bytes decide.
    """
    escaped = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    for _ in range(2):
        escaped |= {_backslash_escaped(form, quote_char) for form in escaped for quote_char in ("", "'", '"')}
    forms = {*escaped, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}
    raw = secret.encode("utf-8", "surrogateescape")
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        # Whole 3-byte groups of the token's bytes alone, whatever precedes or follows them.
        stable = encoded[4 * ((offset + 2) // 3) : 4 * ((offset + len(raw)) // 3)]
        if len(stable) >= 8:
            forms.add(stable)
    # Longest first, so a form that contains another is replaced whole.
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


def _backslash_escaped(text: str, quote_char: str) -> str:
    """``text`` as a ``repr`` or a JSON string writes it inside quotes: backslashes doubled, the quote escaped."""
    escaped = text.replace("\\", "\\\\")
    return escaped.replace(quote_char, "\\" + quote_char) if quote_char else escaped


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), within 0 and an hour.

    Anything unreadable (a bad date, ``nan``) is treated as absent: the policy's own backoff applies.
    """
    if not value:
        return None
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until_http_date(value)
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


def _seconds_until_http_date(value: str) -> float | None:
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with unknown local offset; email.utils leaves it naive
        when = when.replace(tzinfo=timezone.utc)
    return (when - datetime.now(timezone.utc)).total_seconds()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for retryable failures, honouring ``Retry-After``.

    Bounded twice: by ``max_attempts`` (the first try included) and by ``max_total_seconds`` across
    all attempts, so a task never hangs on a flapping API longer than it was told to.
    """

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_total_seconds: float = 180.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay < 0 or self.max_delay < 0 or self.max_total_seconds < 0:
            raise ValueError(f"Invalid retry policy {self}: attempts must be >= 1 and delays >= 0.")

    def delay_before_retry(self, error: DataRobotApiError, attempt: int, elapsed: float) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up and raise ``error``."""
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if error.retry_after is not None:
            delay = error.retry_after  # honoured as the server asks, within max_total_seconds below
        else:
            backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
            delay = backoff / 2 + random.uniform(0, backoff / 2)
        return delay if elapsed + delay <= self.max_total_seconds else None


@dataclass(frozen=True)
class RetryStep:
    """What a client does after a retryable failure: wait, maybe look for what the failed call created, retry."""

    delay: float
    reconcile: bool


def plan_retry(
    policy: RetryPolicy,
    request: ApiRequest,
    error: DataRobotApiError,
    attempt: int,
    elapsed: float,
    can_reconcile: bool,
) -> RetryStep | None:
    """The one retry rule of both clients; None means raise ``error``.

    A create whose failure leaves open whether the server acted on it is re-sent only by a caller that
    can first look for what the lost attempt created (``can_reconcile``); otherwise it raises.
    """
    delay = policy.delay_before_retry(error, attempt, elapsed)
    if delay is None:
        return None
    must_reconcile = request.creates and not error.request_not_processed
    if must_reconcile and not can_reconcile:
        return None
    return RetryStep(delay=delay, reconcile=must_reconcile)


def json_normalised(value: Any) -> Any:
    """``value`` as it comes back from a JSON round trip (``{1: "a"}`` -> ``{"1": "a"}``, tuples -> lists)."""
    return json.loads(json.dumps(value))


def page_items(what: str, page: Any) -> tuple[list[dict[str, Any]], bool]:
    """Items of one DataPage and whether another page follows; ``what`` names the listing in errors."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise ApiResponseError(
            f"DataRobot pipelines API: {what} did not answer a page with a 'data' list.", method="GET", path=what
        )
    items = objects(what, page["data"], "data")
    return items, bool(page.get("next")) and bool(items)


class PageGuard:
    """Stops a listing that would never end: a page seen before (``offset`` ignored) or too many pages."""

    def __init__(self, what: str, max_pages: int | None = None) -> None:
        self.what = what
        self.max_pages = MAX_PAGES if max_pages is None else max_pages
        self._pages = 0
        self._seen: set[str] = set()

    def check(self, items: list[dict[str, Any]]) -> None:
        self._pages += 1
        fingerprint = json.dumps([item.get("id") if isinstance(item, dict) else item for item in items], default=str)
        if fingerprint in self._seen or self._pages > self.max_pages:
            reason = "repeated a page" if fingerprint in self._seen else f"went on past {self.max_pages} pages"
            raise ApiResponseError(
                f"DataRobot pipelines API: listing {self.what} {reason}; stopped reading it "
                "(the server ignores 'offset' or its pages never end).",
                method="GET",
                path=self.what,
            )
        self._seen.add(fingerprint)


@cache
def user_agent() -> str:
    from airflow import __version__ as airflow_version

    python = ".".join(map(str, sys.version_info[:3]))
    return f"airflow-provider-drpipelines/{__version__} airflow/{airflow_version} python/{python}"


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": user_agent(), "Accept": "application/json"}


# --- errors that carry nothing of the exchange, for both clients -----------------------------------
_P = ParamSpec("_P")
_T = TypeVar("_T")


def sealed(send: Callable[_P, _T]) -> Callable[_P, _T]:
    """A client's one exchange, whose errors reach the caller with nothing of the request or answer behind them.

    ``raise ... from None`` only hides the library's exception from tracebacks: it stays the error's
    ``__context__``, and with it what the library kept of the request (aiohttp's ``RequestInfo`` and requests'
    ``PreparedRequest`` hold its headers, ``JSONDecodeError.doc`` the whole answer). The frames of the exchange
    hold the token (``secret``) and the raw answer, which an error tracker that records locals (Sentry) would
    show. So the chain is cut and those finished frames are cleared; the traceback still names every line, and
    our message already carries the library error's scrubbed text.
    """

    @functools.wraps(send)
    def exchange(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return send(*args, **kwargs)
        except DataRobotPipelinesError as error:
            _seal(error)
            raise

    return exchange


def sealed_async(send: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]:
    """:func:`sealed` for a coroutine function."""

    @functools.wraps(send)
    async def exchange(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await send(*args, **kwargs)
        except DataRobotPipelinesError as error:
            _seal(error)
            raise

    return exchange


def _seal(error: BaseException) -> None:
    error.__cause__ = error.__context__ = None
    traceback.clear_frames(error.__traceback__)  # the frames still running (this one, its callers) are kept


# --- failures without an HTTP answer, worded once for both clients --------------------------------
def connection_error(
    request: ApiRequest, api_url: str, secret: str, err: BaseException, connected: bool, malformed: bool = False
) -> ApiConnectionError:
    """No usable HTTP answer; ``connected`` (the request may have reached the server) decides whether a create
    may be re-sent. ``malformed``: the server answered bytes that are not HTTP (a bad status line, say)."""
    if malformed:
        what = "got an answer that is not valid HTTP after sending"
    else:
        what = "lost the connection or timed out after sending" if connected else "could not connect"
    reason = str(err) or "timed out"
    message = f"DataRobot pipelines API: {request.describe()} at {api_url} {what}: {type(err).__name__}: {reason}"
    return ApiConnectionError(scrub(message, secret), method=request.method, path=request.path, connected=connected)


def tls_error(request: ApiRequest, secret: str, err: BaseException) -> DataRobotApiError:
    message = (
        f"DataRobot pipelines API: {request.describe()}: TLS verification failed ({err}); "
        "set the connection's 'verify' extra to a CA bundle path, or false."
    )
    return DataRobotApiError(scrub(message, secret), method=request.method, path=request.path)


def unsendable(request: ApiRequest, api_url: str, secret: str, err: BaseException) -> DataRobotConfigError:
    """A request no client can send (a malformed URL or header): a configuration fault, never retried."""
    message = f"DataRobot pipelines API: {request.describe()} cannot be sent to {api_url}: {err}"
    return DataRobotConfigError(scrub(message, secret))


class DebugLogger(Protocol):
    def debug(self, event: Any, *args: Any) -> Any: ...


def request_started() -> float:
    """The start of one exchange, for :func:`log_request` (a clock of this module's own)."""
    return time.perf_counter()


def log_request(logger: DebugLogger, request: ApiRequest, status: object, started: float) -> None:
    """The one debug line per request, from a :func:`request_started` start."""
    logger.debug("%s %s -> %s in %.0f ms", request.method, request.path, status, (time.perf_counter() - started) * 1000)
