"""DataRobotPipelinesAsyncClient (httpx) and the per-event-loop shared pool behind hook.aget_client()."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import httpx
import pytest

from airflow_provider_drpipelines import hooks
from airflow_provider_drpipelines._http1 import Http1Pool
from airflow_provider_drpipelines._wire import RetryPolicy, UploadFile, user_agent
from airflow_provider_drpipelines.connection import ConnectionSettings
from airflow_provider_drpipelines.exceptions import (
    ApiConflictError,
    ApiConnectionError,
    ApiNotFoundError,
    ApiTransientError,
    DataRobotApiError,
)
from airflow_provider_drpipelines.hooks import DataRobotPipelinesAsyncClient, DataRobotPipelinesHook

from .test_hook_support import API, HOST, TOKEN, install_clock

SETTINGS = ConnectionSettings.from_connection("c", HOST, TOKEN, None, {"timeout": "9"})
RUN_STATUS = {"id": "r1", "status": "RUNNING", "covalentDispatchId": "cov-1"}


@pytest.fixture
def clock(monkeypatch):
    return install_clock(monkeypatch)


class FakeApi:
    """An httpx.MockTransport handler answering from a script and recording every request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self, **retry) -> DataRobotPipelinesAsyncClient:
        policy = RetryPolicy(**{"max_attempts": 3, "base_delay": 0.5, "max_delay": 2.0, **retry})
        return DataRobotPipelinesAsyncClient(SETTINGS, httpx.AsyncClient(transport=httpx.MockTransport(self)), policy)


def ok(body=RUN_STATUS, status=200, **kwargs):
    return httpx.Response(status, json=body, **kwargs)


def run(coro):
    return asyncio.run(coro)


# --- requests --------------------------------------------------------------------------------------


def test_status_poll_path_and_headers(clock):
    api = FakeApi(ok())
    assert run(api.client().get_run_status("p1", "r1", 3)) == RUN_STATUS
    (sent,) = api.requests
    assert sent.method == "GET"
    assert str(sent.url) == f"{API}/pipelines/p1/versions/3/dispatches/r1/status"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["User-Agent"] == user_agent()
    assert sent.headers["Accept"] == "application/json"
    assert sent.extensions["timeout"]["read"] == 9.0
    assert sent.content == b""


def test_draft_status_poll_path(clock):
    api = FakeApi(ok())
    run(api.client().get_run_status("p1", "../r1"))
    assert api.requests[0].url.raw_path == b"/api/v2/pipelines/p1/dispatches/..%2Fr1/status"


def test_query_params(clock):
    api = FakeApi(ok({"logs": "x"}))
    run(api.client().get_task_execution_logs("p1", "r1", 2, tail_lines=5, verbosity="all", node_id=0))
    assert dict(api.requests[0].url.params) == {"tail_lines": "5", "verbosity": "all", "nodeId": "0"}


def test_json_body(clock):
    api = FakeApi(ok({"id": "r1", "status": "PENDING"}, status=201))
    run(api.client().create_run("p1", "i1", 2, image_id="img"))
    sent = api.requests[0]
    assert (sent.method, sent.url.path) == ("POST", "/api/v2/pipelines/p1/versions/2/dispatches")
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.content) == {"inputId": "i1", "imageId": "img"}


def test_multipart_upload(clock):
    api = FakeApi(ok({"id": "p1"}, status=201))
    run(api.client().create_pipeline(UploadFile("flow.py", b"x = 1\n"), name="Flow"))
    sent = api.requests[0]
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="name"\r\n\r\nFlow\r\n' in sent.content
    assert b'name="file"; filename="flow.py"' in sent.content
    assert b"x = 1\n" in sent.content
    assert sent.extensions["timeout"]["read"] == 60.0


def test_delete_204_is_none(clock):
    api = FakeApi(httpx.Response(204))
    assert run(api.client().cancel_run("p1", "r1")) is None


def test_debug_line_per_request(clock, caplog):
    caplog.set_level(logging.DEBUG, logger="airflow_provider_drpipelines.hooks")
    api = FakeApi(ok())
    run(api.client().get_run_status("p1", "r1"))
    lines = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_drpipelines.hooks"]
    assert len(lines) == 1
    assert re.fullmatch(r"GET /pipelines/p1/dispatches/r1/status -> 200 in \d+ ms", lines[0])


def test_repr_has_no_token():
    client = FakeApi(ok()).client()
    assert TOKEN not in repr(client)
    assert API in repr(client)


# --- errors and retries ----------------------------------------------------------------------------


def test_retry_on_503_with_retry_after(clock):
    api = FakeApi(ok({"detail": "busy"}, status=503, headers={"Retry-After": "4"}), ok())
    assert run(api.client().get_run_status("p1", "r1")) == RUN_STATUS
    assert len(api.requests) == 2
    assert clock.sleeps == [4.0]


def test_retries_bounded(clock):
    api = FakeApi(ok({"detail": "down"}, status=502))
    with pytest.raises(ApiTransientError, match="HTTP 502: down") as info:
        run(api.client().get_run_status("p1", "r1"))
    assert info.value.status == 502
    assert len(api.requests) == 3
    assert len(clock.sleeps) == 2
    assert all(0.25 <= s <= 1.0 for s in clock.sleeps)


def test_retries_bounded_by_total_time(clock):
    api = FakeApi(ok({}, status=503, headers={"Retry-After": "4"}))
    with pytest.raises(ApiTransientError):
        run(api.client(max_attempts=50, max_total_seconds=10).get_run_status("p1", "r1"))
    assert clock.sleeps == [4.0, 4.0]


@pytest.mark.parametrize(("status", "exc_class"), [(404, ApiNotFoundError), (409, ApiConflictError)])
def test_non_retryable(clock, status, exc_class):
    api = FakeApi(ok({"detail": "no"}, status=status))
    with pytest.raises(exc_class):
        run(api.client().get_run("p1", "r1"))
    assert len(api.requests) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("error", "connected"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), False),
        (httpx.ConnectTimeout("connect timed out"), False),
        (httpx.PoolTimeout("no free connection"), False),
        (httpx.ReadTimeout("read timed out"), True),
        (httpx.ReadError("connection reset"), True),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True),
        (httpx.WriteError("broken pipe"), True),
    ],
)
def test_transport_error_classification(clock, error, connected):
    api = FakeApi(error)
    with pytest.raises(ApiConnectionError) as info:
        run(api.client(max_attempts=1).get_run_status("p1", "r1"))
    assert info.value.connected is connected
    assert (info.value.method, info.value.path) == ("GET", "/pipelines/p1/dispatches/r1/status")
    assert ("could not connect" in str(info.value)) is not connected


def test_transport_errors_retried_for_reads(clock):
    api = FakeApi(httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), ok())
    assert run(api.client().get_run_status("p1", "r1")) == RUN_STATUS
    assert len(api.requests) == 3


@pytest.mark.parametrize(
    "failure",
    [
        ok({"detail": "bad gateway"}, status=502),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=["502", "read-timeout", "dropped"],
)
def test_create_not_resent_after_ambiguous_failure(clock, failure):
    api = FakeApi(failure, ok({"id": "r2", "status": "PENDING"}))
    with pytest.raises(DataRobotApiError):
        run(api.client().create_run("p1", "i1"))
    assert len(api.requests) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "failure", [ok({}, status=429, headers={"Retry-After": "1"}), httpx.ConnectError("refused")], ids=["429", "refused"]
)
def test_create_resent_when_not_processed(clock, failure):
    created = {"id": "r2", "status": "PENDING"}
    api = FakeApi(failure, ok(created, status=201))
    assert run(api.client().create_run("p1", "i1")) == created
    assert len(api.requests) == 2


def test_token_is_scrubbed_from_async_errors(clock, caplog):
    caplog.set_level(logging.DEBUG)
    api = FakeApi(
        ok({"detail": f"bad token {TOKEN}"}, status=503),
        httpx.ConnectError(f"proxy rejected Bearer {TOKEN}"),
        httpx.ConnectError(f"proxy rejected Bearer {TOKEN}"),
    )
    with pytest.raises(ApiConnectionError) as info:
        run(api.client().get_run_status("p1", "r1"))
    texts = [str(info.value)] + [r.getMessage() for r in caplog.records]
    assert any("bad token ***" in t for t in texts)  # the 503 was logged as a retry warning
    assert all(TOKEN not in t for t in texts)


@pytest.mark.parametrize(
    ("answer", "cancelled"),
    [
        (httpx.Response(204), True),
        (ok({"detail": "already terminal"}, status=409), False),
        (ok({"detail": "not found"}, status=404), False),
    ],
)
def test_cancel_run_if_active(clock, answer, cancelled):
    api = FakeApi(answer)
    assert run(api.client().cancel_run_if_active("p1", "r1", 2)) is cancelled
    assert (api.requests[0].method, api.requests[0].url.path) == (
        "DELETE",
        "/api/v2/pipelines/p1/versions/2/dispatches/r1",
    )


def test_cancel_run_if_active_raises_other_errors(clock):
    api = FakeApi(ok({"detail": "nope"}, status=403))
    with pytest.raises(DataRobotApiError, match="HTTP 403"):
        run(api.client().cancel_run_if_active("p1", "r1", None))


# --- the shared pool and async settings ------------------------------------------------------------


@pytest.fixture
def hook(conn_env):
    conn_env(host=HOST, password=TOKEN, extra={"timeout": "9"})
    return DataRobotPipelinesHook()


def test_aget_client_shares_one_pool_per_loop_and_settings(hook, conn_env):
    async def two_clients():
        first, second = await hook.aget_client(), await hook.aget_client()
        other_hook = DataRobotPipelinesHook()
        third = await other_hook.aget_client()
        return first, second, third

    first, second, third = run(two_clients())
    assert first is not second
    assert first._http is second._http is third._http  # same loop, equal settings: one pool
    assert first._gets is second._gets is third._gets
    assert isinstance(first._http, httpx.AsyncClient)
    assert isinstance(first._gets, Http1Pool)
    assert first.settings == SETTINGS
    assert first.retry_policy is hook.retry_policy

    (again, *_) = run(two_clients())
    assert again._http is not first._http  # another event loop gets its own pool
    assert again._gets is not first._gets

    conn_env("other_conn", host="https://other.example.com", password=TOKEN)

    async def other_settings():
        return (
            await DataRobotPipelinesHook("other_conn").aget_client(),
            await DataRobotPipelinesHook().aget_client(),
        )

    other, default = run(other_settings())
    assert other._http is not default._http
    assert other.settings.api_url == "https://other.example.com/api/v2"


def test_closed_pool_is_replaced(hook):
    async def main():
        first = await hook.aget_client()
        await first._http.aclose()
        second = await hook.aget_client()
        return first, second

    first, second = run(main())
    assert first._http.is_closed
    assert second._http is not first._http
    assert not second._http.is_closed
    assert second._gets is not first._gets
    assert first._gets._closed, "the replaced lean GET pool is closed with it"


def test_pooled_client_uses_connection_settings(conn_env):
    conn_env("proxied", host=HOST, password=TOKEN, extra={"timeout": "7", "proxies": {"https": "http://proxy:3128"}})

    async def main():
        return await DataRobotPipelinesHook("proxied").aget_client()

    client = run(main())
    assert client._http.timeout.read == 7.0
    assert client._http.timeout.pool is None
    mounts = {pattern.pattern: transport for pattern, transport in client._http._mounts.items()}
    proxy_url = mounts["https://"]._pool._proxy_url
    assert (proxy_url.scheme, proxy_url.host, proxy_url.port) == (b"http", b"proxy", 3128)
    assert client._gets is None, "with a proxy every request goes through httpx"


@pytest.mark.parametrize(
    ("environment", "lean_gets"),
    [
        ({}, True),
        ({"HTTPS_PROXY": "http://proxy:3128"}, False),
        ({"ALL_PROXY": "http://proxy:3128"}, False),
        ({"HTTP_PROXY": "http://proxy:3128"}, True),  # the API is https
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "dr.example.com"}, True),
    ],
    ids=["none", "https-proxy", "all-proxy", "http-proxy-only", "no-proxy-bypass"],
)
def test_environment_proxies_keep_gets_on_httpx(hook, monkeypatch, environment, lean_gets):
    for name in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    async def main():
        return await hook.aget_client()

    assert (run(main())._gets is not None) is lean_gets


def test_aget_settings_inside_running_loop_fills_the_settings_cache(hook):
    async def main():
        asyncio.get_running_loop()  # really inside a loop
        return await hook.aget_settings()

    settings = run(main())
    assert settings == SETTINGS
    assert hook.__dict__["settings"] is settings
    assert hook.settings is settings  # the sync property reads the same slot


def test_aget_settings_reuses_sync_settings(hook):
    sync = hook.settings

    async def main():
        return await hook.aget_settings()

    assert run(main()) is sync


def test_async_client_end_to_end_through_the_hook(hook, clock, monkeypatch):
    """aget_client's client sends through the pool: swap the pooled client's transport for a fake API."""
    api = FakeApi(ok())

    def pools(settings):
        return hooks._AsyncPools(httpx.AsyncClient(transport=httpx.MockTransport(api)), gets=None)

    monkeypatch.setattr(hooks, "_new_async_pools", pools)

    async def main():
        client = await hook.aget_client()
        return await client.get_run_status("p1", "r1")

    assert run(main()) == RUN_STATUS
    assert str(api.requests[0].url) == f"{API}/pipelines/p1/dispatches/r1/status"
