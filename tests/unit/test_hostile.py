"""Hostile servers, bad settings and slow creates: every answer bounded, the token never echoed, one run."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import tracemalloc
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_drpipelines.client import wire
from airflow_provider_drpipelines.client.async_client import DataRobotPipelinesAsyncClient, shared_session
from airflow_provider_drpipelines.client.wire import MAX_JSON_BYTES, RetryPolicy, parse_retry_after
from airflow_provider_drpipelines.connection import ConnectionSettings
from airflow_provider_drpipelines.exceptions import (
    ApiAuthError,
    ApiConnectionError,
    ApiResponseError,
    ApiTransientError,
    DataRobotConfigError,
)
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from airflow_provider_drpipelines.operators import DataRobotCancelPipelineRunOperator, DataRobotRunPipelineOperator
from airflow_provider_drpipelines.triggers import DataRobotPipelineRunTrigger
from tests.unit.conftest import EMU_TOKEN, FakeTI, collect_events
from tests.unit.scripted_server import ScriptedServer, Stream, reply, trickle

TOKEN = "tok-0123456789abcdefghijklmnopqrstuvwxyz-secret"
RUN = {"id": "r1", "status": "RUNNING"}


def settings(url: str, token: str = TOKEN, **extra: Any) -> ConnectionSettings:
    return ConnectionSettings.from_connection("c", url, token, None, {"timeout": "3", **extra})


def sync_hook(config: ConnectionSettings, **retry: Any) -> DataRobotPipelinesHook:
    hook = DataRobotPipelinesHook(retry_limit=1, **retry)
    hook.__dict__["settings"] = config
    return hook


def poll_sync(config: ConnectionSettings) -> Any:
    return sync_hook(config).get_run_status("p1", "r1")


def poll_async(config: ConnectionSettings) -> Any:
    async def main() -> Any:
        client = DataRobotPipelinesAsyncClient(config, await shared_session(config), RetryPolicy(max_attempts=1))
        return await client.get_run_status("p1", "r1")

    return asyncio.run(main())


BOTH = pytest.mark.parametrize("poll", [poll_async, poll_sync], ids=["aiohttp", "requests"])


def token_forms(token: str = TOKEN) -> list[str]:
    header = f"Authorization: Bearer {token}".encode()
    return [
        token,
        repr(token)[1:-1],
        json.dumps(token)[1:-1],
        quote(token, safe=""),
        base64.b64encode(header).decode()[12:40],
        token[10:30],
    ]


def assert_no_token(*texts: str, token: str = TOKEN) -> None:
    for text in texts:
        leaked = [form for form in token_forms(token) if form in text]
        assert not leaked, f"token leaked as {leaked} in {text!r}"


# --- secrets --------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["tok\r\nX-Injected: 1", "tok\nsecret", "tok\x00abc", "tökén-ünicode-€", "   "])
def test_an_unsendable_or_blank_token_is_refused_at_parsing_without_quoting_it(token):
    with pytest.raises(DataRobotConfigError, match="password field") as info:
        settings("https://dr.example.com", token=token)
    assert token.strip() == "" or token not in str(info.value)
    assert repr(token)[1:-1] not in str(info.value) or token.strip() == ""


def test_test_connection_never_shows_an_unsendable_token(conn_env):
    conn_env(host="https://dr.example.com", password="tok\r\nsecret-value")
    ok, message = DataRobotPipelinesHook().test_connection()
    assert not ok
    assert "secret-value" not in message and "password field" in message


@pytest.mark.parametrize("host", ["https://user:hunter2-pass@dr.example.com", "user:hunter2-pass@dr.example.com:8443"])
def test_credentials_in_the_host_are_refused_and_never_quoted(host):
    with pytest.raises(DataRobotConfigError, match="user name or password before '@'") as info:
        settings(host)
    assert "hunter2" not in str(info.value)


@BOTH
@pytest.mark.parametrize(
    "answer",
    [
        reply({"detail": f"bad credentials {quote(TOKEN, safe='')}"}, status=401),
        reply({"detail": f"echo {json.dumps(TOKEN)}"}, status=401),
        reply({"headers": {"Authorization": f"Bearer {TOKEN}"}}, status=200),
        reply(raw=f"GET / HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n".encode(), status=200),
        reply(raw=base64.b64encode(f"Authorization: Bearer {TOKEN}".encode()), status=200),
    ],
    ids=["401-url-encoded", "401-json-escaped", "2xx-echo-json", "2xx-echo-text", "2xx-base64"],
)
def test_echoed_token_in_any_form_is_scrubbed(poll, answer):
    with ScriptedServer([answer]) as server, pytest.raises((ApiAuthError, ApiResponseError)) as info:
        poll(settings(server.url))
    assert_no_token(str(info.value), str(info.value.detail))


def test_trigger_event_from_an_echo_server_carries_no_token(conn_env):
    echo = reply({"headers": {"Authorization": f"Bearer {TOKEN}"}})  # a 2xx without 'status'
    with ScriptedServer([echo]) as server:
        conn_env(host=server.url, password=TOKEN)
        trigger = DataRobotPipelineRunTrigger(pipeline_id="p", run_id="r", version=1, poll_interval=0.01)
        events = asyncio.run(collect_events(trigger))
    assert [event["status"] for event in events] == ["error"]
    assert_no_token(json.dumps(events))


# --- bounded answers ------------------------------------------------------------------------------
HUNDRED_MB = 100


@BOTH
@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (HUNDRED_MB << 20),
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
    ],
    ids=["declared", "undeclared"],
)
def test_a_huge_success_answer_is_refused_within_bounded_memory(poll, head):
    with ScriptedServer([Stream(head, b"x" * (1 << 20), HUNDRED_MB)]) as server:
        tracemalloc.start()
        try:
            with pytest.raises(ApiResponseError, match=f"more than {MAX_JSON_BYTES:,} bytes"):
                poll(settings(server.url))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 4 * MAX_JSON_BYTES, f"peak {peak / 2**20:.0f} MiB"


@BOTH
def test_a_huge_error_page_is_cut_not_read(poll):
    head = b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n"
    with ScriptedServer([Stream(head, b"<p>" + b"y" * (1 << 20) + b"</p>", HUNDRED_MB)]) as server:
        tracemalloc.start()
        try:
            with pytest.raises(ApiTransientError, match="HTTP 502"):
                poll(settings(server.url))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak / 2**20:.0f} MiB"


@BOTH
def test_a_trickling_server_cannot_stretch_the_request_past_its_timeout(poll):
    answer = trickle(reply(RUN), every=0.3)  # about 80 bytes: 24 s if each byte reset the timeout
    with ScriptedServer([answer]) as server:
        started = time.monotonic()
        with pytest.raises(ApiConnectionError, match="timed out"):
            poll(settings(server.url, timeout="1"))
        elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"took {elapsed:.1f} s with a 1 s timeout"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("315360000", 3600.0),
        ("1e400", 3600.0),
        ("-5", 0.0),
        ("nan", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 -0000", 0.0),
        ("Wed, 21 Oct 2125 07:28:00 -0000", 3600.0),
    ],
)
def test_retry_after_is_bounded_and_never_crashes(value, expected):
    assert parse_retry_after(value) == expected


def test_the_trigger_never_pauses_past_its_longest_poll_interval_for_retry_after(conn_env, monkeypatch):
    from tests._support.sleeps import record_trigger_pauses

    pauses = record_trigger_pauses(monkeypatch)
    answers = [reply({"detail": "busy"}, status=503, headers={"Retry-After": "1e400"}), reply({"status": "COMPLETED"})]
    with ScriptedServer(answers) as server:
        conn_env(host=server.url, password=TOKEN)
        trigger = DataRobotPipelineRunTrigger(
            pipeline_id="p", run_id="r", version=1, poll_interval=1.0, max_poll_interval=7.0
        )
        events = asyncio.run(collect_events(trigger))
    assert [event["status"] for event in events] == ["COMPLETED"]
    assert pauses and max(pauses) <= 7.0


def _page(items: list[dict[str, Any]]) -> bytes:
    return reply({"data": items, "next": "https://elsewhere.example/next", "count": len(items)})


def test_a_listing_that_ignores_offset_stops_with_a_clear_error():
    with ScriptedServer([_page([{"id": "a"}, {"id": "b"}])]) as server:
        hook = sync_hook(settings(server.url))
        with pytest.raises(ApiResponseError, match="repeated a page"):
            list(hook.iterate(hook.list_runs, "p1", 1, page_size=2))
    assert len(server.requests) == 2


def test_a_listing_whose_pages_never_end_stops_at_the_maximum(monkeypatch):
    monkeypatch.setattr(wire, "MAX_PAGES", 5)
    counter = iter(range(10**6))
    with ScriptedServer([lambda request: _page([{"id": f"r{next(counter)}"}])]) as server:
        hook = sync_hook(settings(server.url))
        with pytest.raises(ApiResponseError, match="went on past 5 pages"):
            list(hook.iterate(hook.list_runs, "p1", 1, page_size=1))
    assert len(server.requests) == 6


# --- answers that break the contract -------------------------------------------------------------
@BOTH
@pytest.mark.parametrize(
    "answer",
    [reply(status=200), reply(raw=b"[]"), reply(raw=b'"RUNNING"'), reply(raw=b"null")],
    ids=["empty", "array", "string", "null"],
)
def test_a_success_that_is_not_an_object_is_an_error_never_none(poll, answer):
    with ScriptedServer([answer]) as server, pytest.raises(ApiResponseError):
        poll(settings(server.url))


def test_the_trigger_turns_an_empty_answer_into_an_error_event(conn_env):
    with ScriptedServer([reply(status=200)]) as server:
        conn_env(host=server.url, password=TOKEN)
        events = asyncio.run(collect_events(DataRobotPipelineRunTrigger(pipeline_id="p", run_id="r", version=1)))
    assert [event["status"] for event in events] == ["error"]
    assert "empty body" in events[0]["message"]


def test_the_trigger_turns_any_unexpected_exception_into_an_error_event(conn_env, monkeypatch):
    async def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"library bug holding {TOKEN}")

    monkeypatch.setattr(DataRobotPipelinesAsyncClient, "get_run_status", broken)
    conn_env(host="https://dr.example.com", password=TOKEN)
    events = asyncio.run(collect_events(DataRobotPipelineRunTrigger(pipeline_id="p", run_id="r", version=1)))
    assert [event["status"] for event in events] == ["error"]
    assert "RuntimeError" in events[0]["message"]
    assert_no_token(events[0]["message"])


def test_the_sync_client_follows_no_redirect_and_resends_nothing():
    answer = reply(status=307, headers={"Location": "http://127.0.0.1:9/steal"})
    with ScriptedServer([answer]) as server:
        hook = sync_hook(settings(server.url))
        with pytest.raises(ApiResponseError, match=r"HTTP 307 redirecting to http://127.0.0.1:9/steal"):
            hook.create_input("p1", {"a": 1}, 1)
    assert len(server.requests) == 1


# --- exactly once against a server slower than the client's timeout ---------------------------------
@pytest.fixture
def slow_hook(emu, conn_env, pipeline):
    """A hook with a 1 s timeout on the emulator; its next create commits 3 s after it arrives."""
    conn_env(host=emu.base_url, password=EMU_TOKEN, extra={"timeout": 1})
    return DataRobotPipelinesHook(retry_delay=0.01, retry_max_delay=0.05)


def test_a_slow_committed_run_create_is_adopted_not_duplicated(slow_hook, emu, pipeline):
    input_id = slow_hook.create_input(pipeline, {"n": 1}, 1)["id"]
    emu.add_fault(method="POST", path=r"/dispatches/?$", delay=3, commit=True)

    run = slow_hook.create_run_exactly_once(pipeline, input_id, 1, known_run_ids=set())

    runs = list(slow_hook.iterate(slow_hook.list_runs, pipeline, 1))
    assert [r["id"] for r in runs] == [run["id"]]
    assert len(emu.request_log(path=r"/dispatches/?$", method="POST")) == 1


@pytest.mark.parametrize("payload", [{"n": 1}, {1: "a"}, {"pair": (1, 2)}], ids=["plain", "int-key", "tuple"])
def test_a_slow_committed_input_create_is_adopted_not_duplicated(slow_hook, emu, pipeline, payload):
    emu.add_fault(method="POST", path=r"/inputs/?$", delay=3, commit=True)

    created, fresh = slow_hook.create_input_exactly_once(pipeline, payload, 1)

    inputs = list(slow_hook.iterate(slow_hook.list_inputs, pipeline, 1))
    assert [i["id"] for i in inputs] == [created["id"]]
    assert fresh is False
    assert len(emu.request_log(path=r"/inputs/?$", method="POST")) == 1


# --- settings and arguments ----------------------------------------------------------------------
@pytest.mark.parametrize("timeout", ["nan", "inf", "-inf", True, 0, "-1"])
def test_a_timeout_that_is_not_a_finite_positive_number_is_refused(timeout):
    with pytest.raises(DataRobotConfigError, match="'timeout' must be a positive number"):
        ConnectionSettings.from_connection("c", "https://dr.example.com", TOKEN, None, {"timeout": timeout})


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("http://[::1", "is not an http(s) URL"),
        ("https://dr.example.com/api/v2/../../", "'.' or '..' segments"),
        ("https://dr.example.com/./api", "'.' or '..' segments"),
        ("https://dr.example.com/?q=1", "is not an http(s) URL"),
    ],
)
def test_malformed_endpoints_are_refused(host, message):
    with pytest.raises(DataRobotConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        settings(host)


def test_a_deeply_nested_payload_is_a_clear_error_not_a_recursion_error():
    payload: dict[str, Any] = {}
    leaf = payload
    for _ in range(700):
        leaf["a"] = {}
        leaf = leaf["a"]
    with pytest.raises(DataRobotConfigError, match="nested more than 100 levels"):
        DataRobotPipelinesHook().create_input("p1", payload, 1)


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_ids_are_refused_before_any_call(emu, emu_conn, pipeline, blank):
    emu.reset()
    run = DataRobotRunPipelineOperator(task_id="run", pipeline_id=pipeline, version=1, input_id=blank)
    cancel = DataRobotCancelPipelineRunOperator(task_id="cancel", pipeline_id=pipeline, run_id=blank, version=1)
    for operator, name in ((run, "input_id"), (cancel, "run_id")):
        with pytest.raises(DataRobotConfigError, match=f"{name} must be a non-empty string"):
            operator.execute({"ti": FakeTI()})
    assert emu.request_log() == []


def test_the_readiness_trigger_turns_any_unexpected_exception_into_an_error_event(conn_env, monkeypatch):
    from airflow_provider_drpipelines.readiness import DataRobotReadinessTrigger

    async def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"library bug holding {TOKEN}")

    monkeypatch.setattr(DataRobotPipelinesAsyncClient, "get_version", broken)
    conn_env(host="https://dr.example.com", password=TOKEN)
    trigger = DataRobotReadinessTrigger(kind="pipeline_version", resource_id="p", version=1)
    events = asyncio.run(collect_events(trigger))
    assert [event["status"] for event in events] == ["error"]
    assert "RuntimeError" in events[0]["message"]
    assert_no_token(events[0]["message"])
