"""DataRobotPipelinesHook failure handling: typed errors, retries, creates never blindly re-sent, pagination,
token masking and test_connection()."""

from __future__ import annotations

import logging
import socket

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from airflow_provider_drpipelines.client import lost_creates
from airflow_provider_drpipelines.client.wire import RetryPolicy
from airflow_provider_drpipelines.exceptions import (
    ApiAuthError,
    ApiConnectionError,
    ApiNotFoundError,
    ApiResponseError,
    ApiTransientError,
    ApiValidationError,
    DataRobotApiError,
    DataRobotConfigError,
)
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests.unit.hooks.test_hook_support import API, HOOK_LOGGER, TOKEN, make_hook, query_of

PIPELINE = {"id": "p1", "mode": "draft", "name": "Flow"}
RUN = {"id": "r1", "status": "PENDING", "inputId": "i1"}
INPUT = {"id": "i1", "payload": {"a": 1}}


def refused() -> requests.exceptions.ConnectionError:
    """What requests raises when nothing listens on the port: the request never left the client."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/api/v2/x", reason))


def dropped() -> requests.exceptions.ConnectionError:
    """The server took the request and the connection died before an answer: it may have acted on it."""
    return requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104)))


def _page(items, next_url=None):
    return {"data": items, "count": len(items), "totalCount": len(items), "next": next_url, "previous": None}


# --- typed errors ----------------------------------------------------------------------------------


def test_an_error_answer_reaches_the_caller_as_the_typed_exception(conn_env, clock, requests_mock):
    """The status table itself is tested once, in test_wire; here, that the hook raises what it maps to."""
    hook = make_hook(conn_env, retry_limit=1)
    requests_mock.get(f"{API}/pipelines/p1/dispatches/r1", status_code=404, json={"detail": "Run r1: nope"})
    with pytest.raises(ApiNotFoundError) as info:
        hook.get_run("p1", "r1")
    err = info.value
    assert (err.status, err.method, err.path, err.detail) == (404, "GET", "/pipelines/p1/dispatches/r1", "Run r1: nope")
    assert str(err) == "DataRobot pipelines API: GET /pipelines/p1/dispatches/r1 failed with HTTP 404: Run r1: nope"
    assert requests_mock.call_count == 1


def test_validation_error_with_structured_detail(hook, requests_mock):
    detail = [{"loc": ["body", "inputId"], "msg": "Field required", "type": "missing"}]
    requests_mock.post(f"{API}/pipelines/p1/dispatches", status_code=422, json={"detail": detail})
    with pytest.raises(ApiValidationError, match="Field required") as info:
        hook.create_run("p1", "i1")
    assert info.value.detail == '[{"loc": ["body", "inputId"], "msg": "Field required", "type": "missing"}]'
    assert (info.value.method, info.value.path) == ("POST", "/pipelines/p1/dispatches")


def test_proxy_html_502_is_readable(conn_env, clock, requests_mock):
    hook = make_hook(conn_env, retry_limit=1)
    html = (
        "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
    )
    requests_mock.get(f"{API}/pipelines/p1", status_code=502, text=html, headers={"Content-Type": "text/html"})
    with pytest.raises(ApiTransientError) as info:
        hook.get_pipeline("p1")
    assert str(info.value) == (
        "DataRobot pipelines API: GET /pipelines/p1 failed with HTTP 502: 502 Bad Gateway 502 Bad Gateway [text/html]"
    )


def test_success_with_non_json_body(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1", text="<html>login</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(ApiResponseError, match=r"HTTP 200 with a body that is not JSON \(Content-Type 'text/html'\)"):
        hook.get_pipeline("p1")
    assert requests_mock.call_count == 1  # not retryable


def test_success_missing_required_fields(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1/dispatches/r1", json={"id": "r1"})
    with pytest.raises(
        ApiResponseError, match=r"GET /pipelines/p1/dispatches/r1 answered HTTP 200 without the field\(s\) status"
    ):
        hook.get_run("p1", "r1")


def test_connection_refused(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1", exc=refused())
    with pytest.raises(ApiConnectionError, match=f"GET /pipelines/p1 at {API} could not connect") as info:
        hook.get_pipeline("p1")
    assert info.value.connected is False
    assert info.value.status is None


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.InvalidURL("Failed to parse"),
        requests.exceptions.InvalidHeader("bad header"),
        requests.exceptions.MissingSchema("no schema"),
    ],
)
def test_a_request_that_cannot_be_sent_is_a_config_error_and_not_retried(hook, clock, requests_mock, exc):
    requests_mock.get(f"{API}/pipelines/p1", exc=exc)
    with pytest.raises(DataRobotConfigError, match="GET /pipelines/p1 cannot be sent"):
        hook.get_pipeline("p1")
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("exc", "connected"),
    [
        (refused(), False),
        (requests.exceptions.ConnectTimeout("connect timed out"), False),
        (requests.exceptions.ReadTimeout("read timed out"), True),
        (dropped(), True),
        (requests.exceptions.ChunkedEncodingError("broken"), True),
    ],
)
def test_connection_error_classification(conn_env, clock, requests_mock, exc, connected):
    hook = make_hook(conn_env, retry_limit=1)
    requests_mock.get(f"{API}/pipelines/p1", exc=exc)
    with pytest.raises(ApiConnectionError) as info:
        hook.get_pipeline("p1")
    assert info.value.connected is connected
    assert info.value.request_not_processed is (not connected)


def test_tls_failure_names_the_verify_extra(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1", exc=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(DataRobotApiError, match=r"TLS verification failed.*'verify' extra") as info:
        hook.get_pipeline("p1")
    assert not info.value.retryable
    assert requests_mock.call_count == 1


def test_real_refused_port_is_an_api_connection_error(conn_env, clock):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn_env(host=f"http://127.0.0.1:{port}", password=TOKEN)
    hook = DataRobotPipelinesHook(retry_limit=2, retry_delay=0.5)
    with pytest.raises(ApiConnectionError, match="could not connect") as info:
        hook.get_pipeline("p1")
    assert info.value.connected is False
    assert len(clock.sleeps) == 1  # retried once, without really sleeping


# --- retries ---------------------------------------------------------------------------------------


def test_5xx_retried_with_backoff(hook, clock, requests_mock):
    requests_mock.get(
        f"{API}/pipelines/p1",
        [{"status_code": 503, "json": {"detail": "busy"}}, {"status_code": 502, "text": "bad"}, {"json": PIPELINE}],
    )
    assert hook.get_pipeline("p1") == PIPELINE
    assert requests_mock.call_count == 3
    first, second = clock.sleeps
    assert 0.25 <= first <= 0.5  # retry_delay 0.5: jittered in [base/2, base]
    assert 0.5 <= second <= 1.0  # doubled


def test_backoff_capped_by_retry_max_delay(conn_env, clock, requests_mock):
    hook = make_hook(conn_env, retry_limit=6, retry_delay=1.0, retry_max_delay=2.0)
    requests_mock.get(f"{API}/pipelines/p1", [{"status_code": 500}] * 5 + [{"json": PIPELINE}])
    hook.get_pipeline("p1")
    assert len(clock.sleeps) == 5
    assert all(s <= 2.0 for s in clock.sleeps)
    assert all(s >= 1.0 for s in clock.sleeps[1:])


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(hook, clock, requests_mock, status):
    requests_mock.get(
        f"{API}/pipelines/p1",
        [{"status_code": status, "headers": {"Retry-After": "7"}}, {"json": PIPELINE}],
    )
    assert hook.get_pipeline("p1") == PIPELINE
    assert clock.sleeps == [7.0]


def test_connection_errors_retried(hook, clock, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1", [{"exc": refused()}, {"exc": dropped()}, {"json": PIPELINE}])
    assert hook.get_pipeline("p1") == PIPELINE
    assert requests_mock.call_count == 3
    assert len(clock.sleeps) == 2


def test_retries_bounded_by_retry_limit(hook, clock, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1", status_code=503, json={"detail": "down"})
    with pytest.raises(ApiTransientError, match="HTTP 503: down"):
        hook.get_pipeline("p1")
    assert requests_mock.call_count == 3  # retry_limit=3 attempts, the first included
    assert len(clock.sleeps) == 2


def test_retries_bounded_by_retry_timeout(conn_env, clock, requests_mock):
    hook = make_hook(conn_env, retry_limit=50, retry_timeout=10.0)
    requests_mock.get(f"{API}/pipelines/p1", status_code=503, headers={"Retry-After": "4"})
    with pytest.raises(ApiTransientError):
        hook.get_pipeline("p1")
    # 0 s: try, wait 4; 4 s: try, wait 4; 8 s: try, and another 4 s wait would pass 10 s in total.
    assert clock.sleeps == [4.0, 4.0]
    assert requests_mock.call_count == 3


def test_retry_after_longer_than_retry_timeout_is_not_waited(conn_env, clock, requests_mock):
    hook = make_hook(conn_env, retry_timeout=30.0)
    requests_mock.get(f"{API}/pipelines/p1", status_code=429, headers={"Retry-After": "3600"})
    with pytest.raises(ApiTransientError) as info:
        hook.get_pipeline("p1")
    assert info.value.retry_after == 3600.0
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_non_retryable_errors_not_retried(hook, clock, requests_mock, status):
    requests_mock.get(f"{API}/pipelines/p1", status_code=status, json={"detail": "no"})
    with pytest.raises(DataRobotApiError):
        hook.get_pipeline("p1")
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


def test_retry_warning_is_logged(hook, requests_mock, caplog):
    caplog.set_level(logging.DEBUG, logger=HOOK_LOGGER)
    requests_mock.get(f"{API}/pipelines/p1", [{"status_code": 503, "json": {"detail": "busy"}}, {"json": PIPELINE}])
    hook.get_pipeline("p1")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == HOOK_LOGGER]
    assert len(warnings) == 1
    assert "HTTP 503: busy; retrying in" in warnings[0]
    assert "(attempt 2)" in warnings[0]


# --- creates are never blindly re-sent -------------------------------------------------------------

AMBIGUOUS = [
    pytest.param({"status_code": 502, "text": "bad gateway"}, ApiTransientError, id="502"),
    pytest.param({"status_code": 500, "json": {"detail": "oops"}}, ApiTransientError, id="500"),
    pytest.param({"exc": requests.exceptions.ReadTimeout("read timed out")}, ApiConnectionError, id="read-timeout"),
    pytest.param({"exc": dropped()}, ApiConnectionError, id="dropped"),
]
NOT_PROCESSED = [
    pytest.param({"status_code": 429, "headers": {"Retry-After": "1"}}, id="429"),
    pytest.param({"exc": refused()}, id="refused"),
    pytest.param({"exc": requests.exceptions.ConnectTimeout("connect timed out")}, id="connect-timeout"),
]


@pytest.mark.parametrize(("failure", "exc_class"), AMBIGUOUS)
@pytest.mark.parametrize(
    ("call", "url"),
    [
        (lambda h: h.create_run("p1", "i1"), f"{API}/pipelines/p1/dispatches"),
        (lambda h: h.create_input("p1", {"a": 1}, 2), f"{API}/pipelines/p1/versions/2/inputs"),
        (lambda h: h.clone_pipeline("p1"), f"{API}/pipelines/p1/clone"),
    ],
)
def test_create_not_resent_after_ambiguous_failure(hook, clock, requests_mock, call, url, failure, exc_class):
    requests_mock.post(url, [failure, {"json": {**RUN, "id": "second"}}])
    with pytest.raises(exc_class):
        call(hook)
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("failure", NOT_PROCESSED)
def test_create_resent_when_server_did_not_process_it(hook, requests_mock, failure):
    requests_mock.post(f"{API}/pipelines/p1/dispatches", [failure, {"status_code": 201, "json": RUN}])
    assert hook.create_run("p1", "i1") == RUN
    assert requests_mock.call_count == 2


def test_create_input_resent_after_429(hook, requests_mock):
    requests_mock.post(f"{API}/pipelines/p1/inputs", [{"status_code": 429}, {"status_code": 201, "json": INPUT}])
    assert hook.create_input("p1", {"a": 1}) == INPUT
    assert requests_mock.call_count == 2


def test_cancel_resent_after_ambiguous_failure(hook, requests_mock):
    """Only creates are guarded: a cancel is idempotent, so it is re-sent after an ambiguous failure."""
    requests_mock.delete(f"{API}/pipelines/p1/dispatches/r1", [{"exc": dropped()}, {"status_code": 204}])
    assert hook.cancel_run("p1", "r1") is None
    assert requests_mock.call_count == 2


# --- create_run_exactly_once / create_input_exactly_once -----------------------------------------


def _history(requests_mock):
    return [(r.method, r.path) for r in requests_mock.request_history]


def test_run_exactly_once_adopts_the_run_the_lost_attempt_created(hook, requests_mock):
    old = {"id": "r0", "status": "COMPLETED", "inputId": "i1"}
    other = {"id": "r9", "status": "RUNNING", "inputId": "i2"}
    new = {"id": "r1", "status": "PENDING", "inputId": "i1"}
    requests_mock.get(
        f"{API}/pipelines/p1/versions/2/dispatches", [{"json": _page([old, other])}, {"json": _page([new, old, other])}]
    )
    posts = requests_mock.post(f"{API}/pipelines/p1/versions/2/dispatches", status_code=502, text="bad gateway")
    assert hook.create_run_exactly_once("p1", "i1", 2) == new
    assert posts.call_count == 1
    assert _history(requests_mock) == [
        ("GET", "/api/v2/pipelines/p1/versions/2/dispatches"),
        ("POST", "/api/v2/pipelines/p1/versions/2/dispatches"),
        ("GET", "/api/v2/pipelines/p1/versions/2/dispatches"),
    ]


def test_run_exactly_once_resends_when_nothing_was_created(hook, requests_mock):
    old = {"id": "r0", "status": "COMPLETED", "inputId": "i1"}
    requests_mock.get(f"{API}/pipelines/p1/dispatches", json=_page([old]))
    posts = requests_mock.post(
        f"{API}/pipelines/p1/dispatches", [{"exc": dropped()}, {"status_code": 201, "json": RUN}]
    )
    assert hook.create_run_exactly_once("p1", "i1", None, image_id="img1") == RUN
    assert posts.call_count == 2
    assert all(r.json() == {"inputId": "i1", "imageId": "img1"} for r in posts.request_history)


def test_run_exactly_once_with_known_runs_skips_the_first_listing(hook, requests_mock):
    new = {"id": "r1", "status": "PENDING", "inputId": "i1"}
    listing = requests_mock.get(f"{API}/pipelines/p1/dispatches", json=_page([new]))
    posts = requests_mock.post(f"{API}/pipelines/p1/dispatches", exc=requests.exceptions.ReadTimeout("slow"))
    assert hook.create_run_exactly_once("p1", "i1", None, known_run_ids=set()) == new
    assert (posts.call_count, listing.call_count) == (1, 1)


def test_run_exactly_once_does_not_look_after_a_429(hook, requests_mock):
    listing = requests_mock.get(f"{API}/pipelines/p1/dispatches", json=_page([]))
    posts = requests_mock.post(f"{API}/pipelines/p1/dispatches", [{"status_code": 429}, {"json": RUN}])
    assert hook.create_run_exactly_once("p1", "i1", None, known_run_ids=()) == RUN
    assert (posts.call_count, listing.call_count) == (2, 0)


def test_run_exactly_once_looks_back_over_the_window_then_resends_within_the_budget(hook, requests_mock, clock):
    listing = requests_mock.get(f"{API}/pipelines/p1/dispatches", json=_page([]))
    posts = requests_mock.post(f"{API}/pipelines/p1/dispatches", status_code=503)
    with pytest.raises(ApiTransientError):
        hook.create_run_exactly_once("p1", "i1", None, known_run_ids=())
    window = lost_creates.reconcile_pauses(60.0)  # a create waits twice the connection's 30 s timeout
    assert clock.sleeps == window, "one lookback per pause of the window, then the re-send"
    assert listing.call_count == len(window)
    assert posts.call_count == 2, "the window used the 60 s retry budget: no third attempt"


def test_an_interrupted_run_create_is_looked_for_as_long_as_the_server_may_carry_it_out(hook, requests_mock, clock):
    listing = requests_mock.get(f"{API}/pipelines/p1/dispatches", json=_page([]))
    sent_at = clock.now - 5.0  # the kill landed 5 s into the create
    assert hook.look_for_interrupted_run_create("p1", None, "i1", (), sent_at) is None
    # A create may take 60 s (twice the connection's timeout), then its lost answer is looked for over 60 s.
    assert clock.now == pytest.approx(sent_at + 120.0)
    assert clock.sleeps[:2] == [0.0, 1.0] and max(clock.sleeps) == 8.0, "at once, then as a lost answer's looks"
    assert listing.call_count == len(clock.sleeps), "one look after each pause"


def test_an_interrupted_run_create_is_looked_for_within_a_budget_and_found(hook, requests_mock, clock):
    made = {"id": "r9", "inputId": "i1", "status": "PENDING"}
    requests_mock.get(f"{API}/pipelines/p1/dispatches", [{"json": _page([RUN])}, {"json": _page([RUN, made])}])
    assert hook.look_for_interrupted_run_create("p1", None, "i1", {RUN["id"]}, clock.now, within=4.0) == made
    assert hook.look_for_interrupted_run_create("p1", None, "i9", (), clock.now - 200.0) is None
    assert sum(clock.sleeps) <= 4.0, "a look at once even past the server's window, and no wait"


def test_the_kill_path_hook_has_its_own_session_and_tighter_retries(hook):
    settings, session = hook.settings, hook.get_conn()
    twin = hook.with_own_session(retry_timeout=4.0)
    assert twin.settings is settings, "the connection is not read again (in a signal handler)"
    assert twin.get_conn() is not session
    assert twin.retry_policy.max_total_seconds == 4.0
    assert hook.retry_policy.max_total_seconds > 4.0 and hook.get_conn() is session


def test_run_exactly_once_success_needs_no_listing(hook, requests_mock):
    listing = requests_mock.get(f"{API}/pipelines/p1/dispatches", json=_page([]))
    requests_mock.post(f"{API}/pipelines/p1/dispatches", status_code=201, json=RUN)
    assert hook.create_run_exactly_once("p1", "i1", None, known_run_ids=frozenset()) == RUN
    assert listing.call_count == 0


def test_input_exactly_once_created(hook, requests_mock):
    listing = requests_mock.get(f"{API}/pipelines/p1/inputs", json=_page([]))
    requests_mock.post(f"{API}/pipelines/p1/inputs", status_code=201, json=INPUT)
    assert hook.create_input_exactly_once("p1", {"a": 1}, None) == (INPUT, True)
    assert listing.call_count == 0


def test_input_exactly_once_adopts_identical_payload(hook, requests_mock):
    same = {"id": "i7", "payload": {"a": 1, "b": [1, 2]}}
    requests_mock.get(f"{API}/pipelines/p1/versions/4/inputs", json=_page([{"id": "i6", "payload": {"a": 1}}, same]))
    posts = requests_mock.post(f"{API}/pipelines/p1/versions/4/inputs", status_code=502)
    assert hook.create_input_exactly_once("p1", {"b": [1, 2], "a": 1}, 4) == (same, False)
    assert posts.call_count == 1


def test_input_exactly_once_resends_when_no_identical_payload(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1/inputs", json=_page([{"id": "i6", "payload": {"a": 2}}]))
    posts = requests_mock.post(
        f"{API}/pipelines/p1/inputs", [{"status_code": 504}, {"status_code": 201, "json": INPUT}]
    )
    assert hook.create_input_exactly_once("p1", {"a": 1}, None) == (INPUT, True)
    assert posts.call_count == 2


# --- pagination ------------------------------------------------------------------------------------


def test_iterate_follows_offset_and_limit_never_the_next_host(hook, requests_mock):
    runs = [{"id": f"r{i}", "status": "COMPLETED"} for i in range(5)]
    evil = requests_mock.get("https://evil.example.com/steal", json=_page([{"id": "evil"}]))

    def page(request, context):
        offset, limit = int(query_of(request)["offset"]), int(query_of(request)["limit"])
        chunk = runs[offset : offset + limit]
        more = offset + limit < len(runs)
        return _page(chunk, "https://evil.example.com/steal?offset=999" if more else None)

    listing = requests_mock.get(f"{API}/pipelines/p1/versions/3/dispatches", json=page)
    assert [r["id"] for r in hook.iterate(hook.list_runs, "p1", 3, page_size=2)] == [r["id"] for r in runs]
    assert [query_of(r) for r in listing.request_history] == [
        {"offset": "0", "limit": "2"},
        {"offset": "2", "limit": "2"},
        {"offset": "4", "limit": "2"},
    ]
    assert evil.call_count == 0


def test_iterate_default_page_size(hook, requests_mock):
    listing = requests_mock.get(f"{API}/pipelines/p1/dispatches", json=_page([RUN]))
    assert list(hook.iterate(hook.list_runs, "p1", None)) == [RUN]
    assert query_of(listing.last_request) == {"offset": "0", "limit": "100"}


def test_iterate_passes_keyword_filters(hook, requests_mock):
    listing = requests_mock.get(f"{API}/pipelines", json=_page([PIPELINE]))
    assert list(hook.iterate(hook.list_pipelines, mode="locked")) == [PIPELINE]
    assert query_of(listing.last_request) == {"mode": "locked", "offset": "0", "limit": "100"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"items": []}, r"GET /pipelines/p1/dispatches answered HTTP 200 without the field\(s\) data"),
        ([RUN], r"GET /pipelines/p1/dispatches answered HTTP 200 with a JSON list where an object was expected"),
        ({"data": None}, r"list_runs\(\) did not answer a page with a 'data' list"),
    ],
)
def test_iterate_page_without_data_list(hook, requests_mock, body, message):
    requests_mock.get(f"{API}/pipelines/p1/dispatches", json=body)
    with pytest.raises(ApiResponseError, match=message):
        list(hook.iterate(hook.list_runs, "p1"))


# --- the token never leaks -------------------------------------------------------------------------


def test_token_never_leaks(hook, requests_mock, caplog):
    caplog.set_level(logging.DEBUG)
    errors: list[Exception] = []
    requests_mock.get(
        f"{API}/pipelines/p1",
        [
            {"status_code": 401, "json": {"detail": f"Invalid token {TOKEN}"}},
            {"status_code": 500, "text": f"<pre>Authorization: Bearer {TOKEN}</pre>", "headers": {"Retry-After": "0"}},
            {"status_code": 500, "text": f"<pre>Authorization: Bearer {TOKEN}</pre>"},
            {"status_code": 500, "text": f"<pre>Authorization: Bearer {TOKEN}</pre>"},
            {"exc": requests.exceptions.ConnectionError(f"proxy said: bad header Bearer {TOKEN}")},
            {"exc": requests.exceptions.ConnectionError(f"proxy said: bad header Bearer {TOKEN}")},
            {"exc": requests.exceptions.ConnectionError(f"proxy said: bad header Bearer {TOKEN}")},
            {"status_code": 422, "json": {"detail": [{"msg": f"echo {TOKEN}"}]}},
        ],
    )
    for _ in range(4):
        with pytest.raises(DataRobotApiError) as info:
            hook.get_pipeline("p1")
        errors.append(info.value)
    assert [type(e) for e in errors] == [ApiAuthError, ApiTransientError, ApiConnectionError, ApiValidationError]
    assert requests_mock.call_count == 8  # retried: the warnings carry the errors too
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in requests_mock.request_history)
    texts = [repr(hook), repr(hook.settings), str(hook.settings)]
    texts += [str(e) for e in errors] + [repr(e) for e in errors] + [str(e.detail) for e in errors]
    texts += [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    assert "***" in str(errors[0]) and "***" in str(errors[2])
    assert any("retrying" in t for t in texts)
    for text in texts:
        assert TOKEN not in text


# --- test_connection -------------------------------------------------------------------------------


def test_test_connection_ok(hook, requests_mock):
    listing = requests_mock.get(f"{API}/pipelines", json=_page([PIPELINE]))
    assert hook.test_connection() == (True, f"Connected to the DataRobot pipelines API at {API}.")
    assert query_of(listing.last_request) == {"limit": "1"}
    assert listing.last_request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("status", [401, 403])
def test_test_connection_bad_token(hook, requests_mock, status):
    requests_mock.get(f"{API}/pipelines", status_code=status, json={"detail": "Invalid API token"})
    ok, message = hook.test_connection()
    assert not ok
    assert message == f"The API token was refused (HTTP {status}): Invalid API token"
    assert requests_mock.call_count == 1


def test_test_connection_unreachable(hook, clock, requests_mock):
    requests_mock.get(f"{API}/pipelines", exc=refused())
    ok, message = hook.test_connection()
    assert not ok
    assert message.startswith(f"Cannot reach {API}: ")
    assert "Connection refused" in message
    assert requests_mock.call_count == 1
    assert clock.sleeps == []


def test_test_connection_real_refused_port(conn_env, clock):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn_env(host=f"http://127.0.0.1:{port}", password=TOKEN)
    ok, message = DataRobotPipelinesHook().test_connection()
    assert not ok
    assert message.startswith(f"Cannot reach http://127.0.0.1:{port}/api/v2: ")
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "answer",
    [
        {"status_code": 404, "json": {"detail": "Not Found"}},
        {"status_code": 200, "text": "<html><body>Welcome</body></html>", "headers": {"Content-Type": "text/html"}},
        {"status_code": 200, "json": {"hello": "world"}},
    ],
    ids=["404", "html", "json-not-a-page"],
)
def test_test_connection_foreign_host(hook, requests_mock, answer):
    requests_mock.get(f"{API}/pipelines", **answer)
    ok, message = hook.test_connection()
    assert not ok
    assert message.startswith(f"{API} does not look like a DataRobot pipelines API: ")
    assert requests_mock.call_count == 1


def test_test_connection_server_error_not_retried_and_policy_restored(hook, clock, requests_mock):
    policy = hook.retry_policy
    requests_mock.get(f"{API}/pipelines", status_code=503, json={"detail": "maintenance"})
    ok, message = hook.test_connection()
    assert not ok
    assert "HTTP 503: maintenance" in message
    assert requests_mock.call_count == 1
    assert hook.retry_policy is policy
    assert policy == RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=2.0, max_total_seconds=60.0)


def test_test_connection_bad_settings(conn_env, requests_mock):
    conn_env(password=None)
    ok, message = DataRobotPipelinesHook().test_connection()
    assert not ok
    assert "no API token" in message
    assert requests_mock.call_count == 0
