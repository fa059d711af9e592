"""DataRobotPipelinesAsyncClient (aiohttp) against scripted local servers, and the per-loop shared session."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any

import aiohttp
import pytest

from airflow_provider_drpipelines.client import async_client
from airflow_provider_drpipelines.client.async_client import DataRobotPipelinesAsyncClient, shared_session
from airflow_provider_drpipelines.client.wire import RetryPolicy, UploadFile, user_agent
from airflow_provider_drpipelines.connection import ConnectionSettings
from airflow_provider_drpipelines.exceptions import (
    ApiConflictError,
    ApiConnectionError,
    ApiNotFoundError,
    ApiTransientError,
    DataRobotApiError,
)
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests.unit.hooks.test_hook_support import TOKEN, install_clock
from tests.unit.scripted_server import DROP, HANG, ScriptedServer, reply

RUN_STATUS = {"id": "r1", "status": "RUNNING", "covalentDispatchId": "cov-1"}


@pytest.fixture
def clock(monkeypatch):
    return install_clock(monkeypatch)


def settings_for(server: ScriptedServer, **extra: Any) -> ConnectionSettings:
    return ConnectionSettings.from_connection("c", server.url, TOKEN, None, {"timeout": "2", **extra})


def call(server: ScriptedServer, method: str, *args: Any, retry: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """One endpoint call on a client of its own loop and session (closed with the loop)."""
    policy = RetryPolicy(**{"max_attempts": 3, "base_delay": 0.5, "max_delay": 2.0, **(retry or {})})

    async def main() -> Any:
        settings = settings_for(server)
        client = DataRobotPipelinesAsyncClient(settings, await shared_session(settings), policy)
        return await getattr(client, method)(*args, **kwargs)

    return asyncio.run(main())


# --- requests --------------------------------------------------------------------------------------


def test_status_poll_path_and_headers(clock):
    with ScriptedServer([reply(RUN_STATUS)]) as server:
        assert call(server, "get_run_status", "p1", "r1", 3) == RUN_STATUS
    (sent,) = server.requests
    assert (sent.method, sent.target) == ("GET", "/api/v2/pipelines/p1/versions/3/dispatches/r1/status")
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["user-agent"] == user_agent()
    assert sent.headers["accept"] == "application/json"
    assert sent.body == b""


def test_ids_stay_percent_encoded(clock):
    with ScriptedServer([reply(RUN_STATUS)]) as server:
        call(server, "get_run_status", "p1", "../r1")
    assert server.requests[0].target == "/api/v2/pipelines/p1/dispatches/..%2Fr1/status"


def test_query_params(clock):
    with ScriptedServer([reply({"logs": "x"})]) as server:
        call(server, "get_task_execution_logs", "p1", "r1", 2, tail_lines=5, verbosity="all", node_id=0)
    assert server.requests[0].target.endswith("/tasks/2/logs?tail_lines=5&verbosity=all&nodeId=0")


def test_json_body(clock):
    with ScriptedServer([reply({"id": "r1", "status": "PENDING"}, status=201)]) as server:
        call(server, "create_run", "p1", "i1", 2, image_id="img")
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", "/api/v2/pipelines/p1/versions/2/dispatches")
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.body) == {"inputId": "i1", "imageId": "img"}


def test_multipart_upload(clock):
    with ScriptedServer([reply({"id": "p1"}, status=201)]) as server:
        call(server, "create_pipeline", UploadFile("flow.py", b"x = 1\n"), name="Flow")
    sent = server.requests[0]
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="name"\r\n\r\nFlow\r\n' in sent.body
    assert b'name="file"; filename="flow.py"' in sent.body
    assert b"x = 1\n" in sent.body


def test_delete_204_is_none(clock):
    with ScriptedServer([reply(status=204)]) as server:
        assert call(server, "cancel_run", "p1", "r1") is None


def test_debug_line_per_request(clock, caplog):
    caplog.set_level(logging.DEBUG, logger="airflow_provider_drpipelines.client.async_client")
    with ScriptedServer([reply(RUN_STATUS)]) as server:
        call(server, "get_run_status", "p1", "r1")
    lines = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_drpipelines.client.async_client"]
    assert len(lines) == 1
    assert re.fullmatch(r"GET /pipelines/p1/dispatches/r1/status -> 200 in \d+ ms", lines[0])


def test_repr_has_no_token():
    settings = ConnectionSettings.from_connection("c", "https://dr.example.com", TOKEN, None, {})
    client = DataRobotPipelinesAsyncClient(settings, None, RetryPolicy())  # type: ignore[arg-type]
    assert TOKEN not in repr(client)
    assert "https://dr.example.com/api/v2" in repr(client)


def test_redirects_are_not_followed(clock):
    with (
        ScriptedServer([reply({}, status=307, headers={"Location": f"http://elsewhere.example/?t={TOKEN}"})]) as server,
        pytest.raises(DataRobotApiError, match=r"HTTP 307 redirecting to http://elsewhere.example/\?t=\*\*\*"),
    ):
        call(server, "create_run", "p1", "i1")
    assert len(server.requests) == 1


# --- errors and retries ----------------------------------------------------------------------------


def test_retry_on_503_with_retry_after(clock):
    with ScriptedServer(
        [reply({"detail": "busy"}, status=503, headers={"Retry-After": "1"}), reply(RUN_STATUS)]
    ) as server:
        assert call(server, "get_run_status", "p1", "r1") == RUN_STATUS
    assert len(server.requests) == 2
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize("retry_after", ["315360000", "1e400", "Wed, 21 Oct 2125 07:28:00 -0000", "nan"])
def test_a_huge_or_odd_retry_after_never_parks_or_crashes_the_client(clock, retry_after):
    # Past the retry budget the error is raised at once instead of sleeping for years.
    with (
        ScriptedServer([reply({}, status=503, headers={"Retry-After": retry_after}), reply(RUN_STATUS)]) as server,
        contextlib.suppress(ApiTransientError),
    ):
        assert call(server, "get_run_status", "p1", "r1") == RUN_STATUS
    assert all(delay <= 180.0 for delay in clock.sleeps)


def test_retries_bounded(clock):
    with (
        ScriptedServer([reply({"detail": "down"}, status=502)]) as server,
        pytest.raises(ApiTransientError, match="HTTP 502: down") as info,
    ):
        call(server, "get_run_status", "p1", "r1")
    assert info.value.status == 502
    assert len(server.requests) == 3
    assert len(clock.sleeps) == 2
    assert all(0.25 <= s <= 1.0 for s in clock.sleeps)


@pytest.mark.parametrize(("status", "exc_class"), [(404, ApiNotFoundError), (409, ApiConflictError)])
def test_non_retryable(clock, status, exc_class):
    with ScriptedServer([reply({"detail": "no"}, status=status)]) as server, pytest.raises(exc_class):
        call(server, "get_run", "p1", "r1")
    assert len(server.requests) == 1
    assert clock.sleeps == []


def test_refused_connection_is_not_connected(clock):
    with ScriptedServer([reply(RUN_STATUS)]) as server:
        pass  # closed: its port now refuses
    with pytest.raises(ApiConnectionError, match="could not connect") as info:
        call(server, "create_run", "p1", "i1", retry={"max_attempts": 2})
    assert info.value.connected is False
    assert len(clock.sleeps) == 1, "a create that never reached the server is re-sent"


@pytest.mark.parametrize("failure", [DROP, HANG], ids=["dropped", "timed-out"])
def test_lost_answer_is_connected_and_a_create_is_not_resent(clock, failure):
    with ScriptedServer([failure, reply({"id": "r2", "status": "PENDING"})]) as server:
        settings = settings_for(server, timeout="0.3")

        async def main() -> Any:
            client = DataRobotPipelinesAsyncClient(settings, await shared_session(settings), RetryPolicy())
            return await client.create_run("p1", "i1")

        with pytest.raises(ApiConnectionError, match="lost the connection or timed out after sending") as info:
            asyncio.run(main())
    assert info.value.connected is True
    assert len(server.requests) == 1
    assert clock.sleeps == []


def test_reads_are_retried_after_a_lost_answer(clock):
    with ScriptedServer([DROP, reply(RUN_STATUS)]) as server:
        assert call(server, "get_run_status", "p1", "r1") == RUN_STATUS
    assert len(server.requests) == 2


def test_create_resent_after_429(clock):
    created = {"id": "r2", "status": "PENDING"}
    with ScriptedServer([reply({}, status=429, headers={"Retry-After": "1"}), reply(created, status=201)]) as server:
        assert call(server, "create_run", "p1", "i1") == created
    assert len(server.requests) == 2


def test_token_is_scrubbed_from_async_errors(clock, caplog):
    caplog.set_level(logging.DEBUG)
    with (
        ScriptedServer([reply({"detail": f"bad token {TOKEN}"}, status=503)]) as server,
        pytest.raises(ApiTransientError) as info,
    ):
        call(server, "get_run_status", "p1", "r1")
    texts = [str(info.value)] + [r.getMessage() for r in caplog.records]
    assert any("bad token ***" in t for t in texts)
    assert all(TOKEN not in t for t in texts)


@pytest.mark.parametrize(
    ("answer", "cancelled"),
    [
        (reply(status=204), True),
        (reply({"detail": "already terminal"}, status=409), False),
        (reply({"detail": "not found"}, status=404), False),
    ],
)
def test_cancel_run_if_active(clock, answer, cancelled):
    with ScriptedServer([answer]) as server:
        assert call(server, "cancel_run_if_active", "p1", "r1", 2) is cancelled
    assert (server.requests[0].method, server.requests[0].path) == (
        "DELETE",
        "/api/v2/pipelines/p1/versions/2/dispatches/r1",
    )


def test_cancel_run_if_active_raises_other_errors(clock):
    with (
        ScriptedServer([reply({"detail": "nope"}, status=403)]) as server,
        pytest.raises(DataRobotApiError, match="HTTP 403"),
    ):
        call(server, "cancel_run_if_active", "p1", "r1", None)


# --- the shared session and async settings --------------------------------------------------------


@pytest.fixture
def hook(conn_env):
    conn_env(host="https://dr.example.com", password=TOKEN, extra={"timeout": "9"})
    return DataRobotPipelinesHook()


def test_aget_client_shares_one_session_per_loop_and_settings(hook, conn_env):
    conn_env("other_conn", host="https://other.example.com", password=TOKEN)

    async def clients() -> list[DataRobotPipelinesAsyncClient]:
        return [
            await hook.aget_client(),
            await hook.aget_client(),
            await DataRobotPipelinesHook().aget_client(),
            await DataRobotPipelinesHook("other_conn").aget_client(),
        ]

    first, second, third, other = asyncio.run(clients())
    assert first is not second
    assert first.session is second.session is third.session  # same loop, equal settings: one session
    assert other.session is not first.session
    assert other.settings.api_url == "https://other.example.com/api/v2"
    assert first.retry_policy is hook.retry_policy
    assert first.session.closed and other.session.closed, "closed when their event loop shut down"

    (again, *_) = asyncio.run(clients())
    assert again.session is not first.session  # another event loop gets its own session


def test_closed_session_is_replaced(hook):
    async def main() -> tuple[aiohttp.ClientSession, aiohttp.ClientSession]:
        first = (await hook.aget_client()).session
        await first.close()
        return first, (await hook.aget_client()).session

    first, second = asyncio.run(main())
    assert second is not first


def test_session_uses_the_connection_settings(hook):
    async def main() -> tuple[Any, bool, str]:
        session = (await hook.aget_client()).session
        return session.connector, session.trust_env, session.headers["Authorization"]

    connector, trust_env, authorization = asyncio.run(main())
    assert isinstance(connector, aiohttp.TCPConnector)
    assert connector.limit == async_client.POOL_CONNECTIONS
    assert trust_env is False
    assert authorization == f"Bearer {TOKEN}"


def test_no_unclosed_session_warning_after_the_loop_ends(hook, recwarn):
    import gc

    async def main() -> None:
        await hook.aget_client()

    asyncio.run(main())
    gc.collect()
    assert not [w for w in recwarn if "Unclosed" in str(w.message)]


def test_aget_settings_inside_running_loop_fills_the_settings_cache(hook):
    async def main() -> ConnectionSettings:
        return await hook.aget_settings()

    settings = asyncio.run(main())
    assert hook.__dict__["settings"] is settings
    assert hook.settings is settings  # the sync property reads the same slot


def test_aget_settings_reuses_sync_settings(hook):
    sync = hook.settings

    async def main() -> ConnectionSettings:
        return await hook.aget_settings()

    assert asyncio.run(main()) is sync


def test_async_client_end_to_end_through_the_hook(conn_env, clock):
    with ScriptedServer([reply(RUN_STATUS)]) as server:
        conn_env(host=server.url, password=TOKEN)

        async def main() -> Any:
            client = await DataRobotPipelinesHook().aget_client()
            return await client.get_run_status("p1", "r1")

        assert asyncio.run(main()) == RUN_STATUS
    assert server.requests[0].target == "/api/v2/pipelines/p1/dispatches/r1/status"
