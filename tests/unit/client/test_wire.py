"""The transport rules shared by the sync and async clients (no I/O)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from airflow import __version__ as airflow_version

from airflow_provider_drpipelines import __version__
from airflow_provider_drpipelines.client.wire import (
    ApiRequest,
    RetryPolicy,
    RetryStep,
    UploadFile,
    auth_headers,
    interpret_response,
    page_items,
    parse_retry_after,
    plan_retry,
    user_agent,
)
from airflow_provider_drpipelines.exceptions import (
    ApiAuthError,
    ApiConflictError,
    ApiConnectionError,
    ApiNotFoundError,
    ApiResponseError,
    ApiTransientError,
    ApiValidationError,
    DataRobotApiError,
)

GET = ApiRequest("GET", "/pipelines/p1", required=("id", "mode"))
CREATE = ApiRequest("POST", "/pipelines/p1/dispatches", json={"inputId": "i"}, creates=True, required=("id",))
JSON_HEADERS = {"content-type": "application/json"}


def _body(obj: object) -> bytes:
    return json.dumps(obj).encode()


# --- ApiRequest ------------------------------------------------------------------------------------


def test_with_params_drops_none_and_merges():
    request = ApiRequest("GET", "/x", params={"a": 1}).with_params(offset=0, limit=None, nodeId=3)
    assert dict(request.params) == {"a": 1, "offset": 0, "nodeId": 3}


def test_multipart_parts():
    assert ApiRequest("GET", "/x").multipart() is None
    request = ApiRequest("POST", "/p", form={"name": "n"}, file=UploadFile("flow.py", b"print(1)"))
    assert request.multipart() == [("name", (None, "n")), ("file", ("flow.py", b"print(1)", "text/x-python"))]
    assert ApiRequest("PATCH", "/p", form={"name": "n"}).multipart() == [("name", (None, "n"))]


def test_upload_file_repr_hides_content():
    assert "SECRET" not in repr(UploadFile("a.py", b"SECRET"))


# --- interpret_response ----------------------------------------------------------------------------


def test_success_decodes_json():
    assert interpret_response(GET, 200, JSON_HEADERS, _body({"id": "p1", "mode": "draft"})) == {
        "id": "p1",
        "mode": "draft",
    }


@pytest.mark.parametrize(("status", "content"), [(204, b""), (200, b""), (202, b"  \n")])
def test_empty_success_is_none_where_no_answer_is_expected(status, content):
    assert interpret_response(ApiRequest("DELETE", "/x", answer="none"), status, {}, content) is None


@pytest.mark.parametrize(("status", "content"), [(204, b""), (200, b""), (202, b"  \n")])
def test_empty_success_breaks_the_contract_where_an_object_is_expected(status, content):
    with pytest.raises(ApiResponseError, match="with an empty body where a JSON object was expected"):
        interpret_response(GET, status, {}, content)


@pytest.mark.parametrize(
    ("status", "exc_class"),
    [
        (400, ApiValidationError),
        (422, ApiValidationError),
        (401, ApiAuthError),
        (403, ApiAuthError),
        (404, ApiNotFoundError),
        (409, ApiConflictError),
        (429, ApiTransientError),
        (500, ApiTransientError),
        (502, ApiTransientError),
        (503, ApiTransientError),
        (504, ApiTransientError),
    ],
)
def test_error_status_mapping(status, exc_class):
    with pytest.raises(exc_class) as info:
        interpret_response(GET, status, JSON_HEADERS, _body({"detail": "boom"}))
    err = info.value
    assert (err.status, err.method, err.path, err.detail) == (status, "GET", "/pipelines/p1", "boom")
    assert str(err) == f"DataRobot pipelines API: GET /pipelines/p1 failed with HTTP {status}: boom"


def test_unmapped_4xx_is_plain_api_error():
    with pytest.raises(DataRobotApiError) as info:
        interpret_response(GET, 418, JSON_HEADERS, _body({"detail": "teapot"}))
    assert type(info.value) is DataRobotApiError
    assert not info.value.retryable


def test_non_string_detail_is_json():
    detail = [{"loc": ["body", "payload"], "msg": "field required", "type": "missing"}]
    with pytest.raises(ApiValidationError) as info:
        interpret_response(CREATE, 422, JSON_HEADERS, _body({"detail": detail}))
    assert json.loads(info.value.detail) == detail
    assert "field required" in str(info.value)


def test_proxy_html_page_gives_readable_message():
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
    with pytest.raises(ApiTransientError) as info:
        interpret_response(GET, 502, {"content-type": "text/html"}, page)
    assert info.value.detail == "502 Bad Gateway 502 Bad Gateway nginx [text/html]"
    assert "<" not in str(info.value)


def test_error_without_body():
    with pytest.raises(ApiTransientError) as info:
        interpret_response(GET, 503, {}, b"")
    assert info.value.detail == "(empty body) [no content type]"


def test_long_error_body_is_truncated():
    with pytest.raises(ApiTransientError) as info:
        interpret_response(GET, 500, {"content-type": "text/plain"}, b"x" * 5000)
    assert len(info.value.detail) < 300
    assert "..." in info.value.detail


def test_success_with_non_json_body():
    with pytest.raises(ApiResponseError, match=r"not JSON \(Content-Type 'text/html'\).*hello") as info:
        interpret_response(GET, 200, {"content-type": "text/html"}, b"<html><body>hello</body></html>")
    assert info.value.status == 200


def test_success_missing_required_fields():
    with pytest.raises(ApiResponseError, match="without the field") as info:
        interpret_response(GET, 200, JSON_HEADERS, _body({"name": "x"}))
    assert "id, mode" in str(info.value)


def test_required_fields_on_non_object_body():
    with pytest.raises(ApiResponseError, match="with a JSON list where an object was expected"):
        interpret_response(GET, 200, JSON_HEADERS, _body(["id", "mode"]))


def test_secret_is_scrubbed_from_message_and_detail():
    with pytest.raises(ApiAuthError) as info:
        interpret_response(GET, 401, JSON_HEADERS, _body({"detail": "bad token SECRET-1"}), secret="SECRET-1")
    assert "SECRET-1" not in str(info.value)
    assert info.value.detail == "bad token ***"


def test_retry_after_header_is_carried():
    with pytest.raises(ApiTransientError) as info:
        interpret_response(GET, 429, {"retry-after": "7"}, b"")
    assert info.value.retry_after == 7.0


# --- Retry-After -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [("5", 5.0), ("0.5", 0.5), ("-3", 0.0), (None, None), ("", None)])
def test_parse_retry_after_seconds(value, seconds):
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date():
    when = datetime.now(timezone.utc) + timedelta(seconds=120)
    assert 100 < parse_retry_after(format_datetime(when, usegmt=True)) <= 120
    past = datetime.now(timezone.utc) - timedelta(seconds=120)
    assert parse_retry_after(format_datetime(past, usegmt=True)) == 0.0


def test_parse_retry_after_garbage():
    assert parse_retry_after("soon") is None


# --- RetryPolicy and plan_retry --------------------------------------------------------------------


def _transient(status: int = 503, retry_after: float | None = None) -> ApiTransientError:
    return ApiTransientError("t", method="GET", path="/x", status=status, retry_after=retry_after)


def _conn_error(connected: bool) -> ApiConnectionError:
    return ApiConnectionError("c", method="POST", path="/x", connected=connected)


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base_delay": -1}, {"max_delay": -1}, {"max_total_seconds": -1}]
)
def test_retry_policy_validation(kwargs):
    with pytest.raises(ValueError, match="Invalid retry policy"):
        RetryPolicy(**kwargs)


def test_backoff_is_exponential_with_jitter_and_capped():
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=8.0, max_total_seconds=1000)
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        delays = {policy.delay_before_retry(_transient(), attempt, 0.0) for _ in range(30)}
        assert all(cap / 2 <= d <= cap for d in delays), (attempt, delays)
        assert len(delays) > 1  # jitter


def test_retry_after_overrides_backoff():
    policy = RetryPolicy(base_delay=1.0, max_delay=2.0)
    assert policy.delay_before_retry(_transient(retry_after=25.0), 1, 0.0) == 25.0


def test_attempts_bounded():
    policy = RetryPolicy(max_attempts=3, base_delay=0.0)
    assert policy.delay_before_retry(_transient(), 2, 0.0) == 0.0
    assert policy.delay_before_retry(_transient(), 3, 0.0) is None


def test_total_time_bounded():
    policy = RetryPolicy(max_total_seconds=10.0)
    assert policy.delay_before_retry(_transient(retry_after=4.0), 1, 6.0) == 4.0
    assert policy.delay_before_retry(_transient(retry_after=4.0), 1, 6.5) is None


@pytest.mark.parametrize(
    "error",
    [
        ApiValidationError("v", method="GET", path="/x", status=400),
        ApiAuthError("a", method="GET", path="/x", status=401),
        ApiNotFoundError("n", method="GET", path="/x", status=404),
        ApiConflictError("c", method="GET", path="/x", status=409),
        ApiResponseError("r", method="GET", path="/x", status=200),
    ],
)
def test_non_retryable_errors(error):
    assert RetryPolicy().delay_before_retry(error, 1, 0.0) is None
    assert plan_retry(RetryPolicy(), GET, error, 1, 0.0, True) is None


def test_request_not_processed():
    assert _transient(429).request_not_processed
    assert not _transient(502).request_not_processed
    assert _conn_error(connected=False).request_not_processed
    assert not _conn_error(connected=True).request_not_processed


POLICY = RetryPolicy(base_delay=0.0, max_delay=0.0)


@pytest.mark.parametrize(
    ("request_", "error", "can_reconcile", "expected"),
    [
        # Reads are retried plainly.
        (GET, _transient(502), False, RetryStep(0.0, reconcile=False)),
        (GET, _conn_error(connected=True), False, RetryStep(0.0, reconcile=False)),
        # A create the server certainly did not process is re-sent.
        (CREATE, _transient(429), False, RetryStep(0.0, reconcile=False)),
        (CREATE, _conn_error(connected=False), False, RetryStep(0.0, reconcile=False)),
        # An ambiguous create failure: raise, unless the caller can look for what it created.
        (CREATE, _transient(502), False, None),
        (CREATE, _conn_error(connected=True), False, None),
        (CREATE, _transient(502), True, RetryStep(0.0, reconcile=True)),
        (CREATE, _conn_error(connected=True), True, RetryStep(0.0, reconcile=True)),
    ],
)
def test_plan_retry(request_, error, can_reconcile, expected):
    assert plan_retry(POLICY, request_, error, 1, 0.0, can_reconcile) == expected


# --- pages and headers -----------------------------------------------------------------------------


def test_page_items():
    assert page_items(GET, {"data": [{"id": 1}], "next": "https://x/?offset=1"}) == ([{"id": 1}], True)
    assert page_items(GET, {"data": [{"id": 1}], "next": None}) == ([{"id": 1}], False)
    # A next link on an empty page would loop forever: stop.
    assert page_items(GET, {"data": [], "next": "https://x/?offset=1"}) == ([], False)


@pytest.mark.parametrize("page", [None, [], {"items": []}, {"data": None}, {"data": {"id": 1}}])
def test_page_without_data_list(page):
    with pytest.raises(ApiResponseError, match="did not answer a page with a 'data' list"):
        page_items(GET, page)


def test_user_agent():
    python = ".".join(map(str, sys.version_info[:3]))
    assert user_agent() == f"airflow-provider-drpipelines/{__version__} airflow/{airflow_version} python/{python}"


def test_auth_headers():
    assert auth_headers("tok") == {
        "Authorization": "Bearer tok",
        "User-Agent": user_agent(),
        "Accept": "application/json",
    }
