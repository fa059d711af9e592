"""Transport rules of the pipelines API, written once for the sync (requests) and async (httpx) clients.

A client turns an :class:`ApiRequest` into an HTTP call with its library, hands the answer to
:func:`interpret_response`, and asks :class:`RetryPolicy` what to do about a failure. Nothing here
does I/O, so both clients share every rule: paths, status-to-exception mapping, JSON decoding, which
failures are retried and how long to wait.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Final

from airflow_provider_drpipelines import __version__
from airflow_provider_drpipelines.exceptions import (
    ApiAuthError,
    ApiConflictError,
    ApiNotFoundError,
    ApiResponseError,
    ApiTransientError,
    ApiValidationError,
    DataRobotApiError,
)

QueryValue = str | int | float | bool


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
        return _decode_success(request, status, headers, content)
    detail = _error_detail(headers, content)
    exc_class = _EXCEPTION_BY_STATUS.get(status) or (ApiTransientError if status >= 500 else DataRobotApiError)
    message = f"DataRobot pipelines API: {request.describe()} failed with HTTP {status}: {detail}"
    raise exc_class(
        scrub(message, secret),
        method=request.method,
        path=request.path,
        status=status,
        detail=scrub(detail, secret),
        retry_after=parse_retry_after(headers.get("retry-after")),
    )


def _decode_success(request: ApiRequest, status: int, headers: Mapping[str, str], content: bytes) -> Any:
    if status == 204 or not content.strip():
        return None
    try:
        body = json.loads(content)
    except ValueError:
        raise ApiResponseError(
            f"DataRobot pipelines API: {request.describe()} answered HTTP {status} with a body that is not "
            f"JSON (Content-Type {headers.get('content-type', 'unset')!r}): {_snippet(content)!r}. "
            "Is the connection's endpoint a DataRobot API?",
            method=request.method,
            path=request.path,
            status=status,
        ) from None
    missing = [key for key in request.required if not isinstance(body, dict) or key not in body]
    if missing:
        raise ApiResponseError(
            f"DataRobot pipelines API: {request.describe()} answered without the field(s) "
            f"{', '.join(missing)}: {_snippet(content)!r}",
            method=request.method,
            path=request.path,
            status=status,
        )
    return body


def _error_detail(headers: Mapping[str, str], content: bytes) -> str:
    """The FastAPI ``detail`` when there is one, else a short text of whatever came back (a proxy's page)."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else json.dumps(detail)
    kind = headers.get("content-type", "no content type")
    return f"{_snippet(content) or '(empty body)'} [{kind}]"


def _snippet(content: bytes, limit: int = 200) -> str:
    text = re.sub(r"<[^>]*>", " ", content.decode("utf-8", "replace"))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import datetime, timezone

    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


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
            delay = error.retry_after
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


def page_items(request: ApiRequest, page: Any) -> tuple[list[dict[str, Any]], bool]:
    """Items of one DataPage and whether another page follows."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise ApiResponseError(
            f"DataRobot pipelines API: {request.describe()} did not answer a page with a 'data' list.",
            method=request.method,
            path=request.path,
        )
    items: list[dict[str, Any]] = page["data"]
    return items, bool(page.get("next")) and bool(items)


@cache
def user_agent() -> str:
    from airflow import __version__ as airflow_version

    python = ".".join(map(str, sys.version_info[:3]))
    return f"airflow-provider-drpipelines/{__version__} airflow/{airflow_version} python/{python}"


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": user_agent(), "Accept": "application/json"}
