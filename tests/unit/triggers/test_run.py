"""DataRobotPipelineRunTrigger against the emulator: events, polling, transient errors, deadlines, kills."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import time
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_drpipelines import version_compat
from airflow_provider_drpipelines.client import async_client
from airflow_provider_drpipelines.client.polling import WAKE_GRID
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from airflow_provider_drpipelines.triggers import USER_ACTION_CANCEL_MSG, DataRobotPipelineRunTrigger
from tests._support.sleeps import record_trigger_pauses
from tests.unit.conftest import EMU_TOKEN, collect_events, run_events, run_status, scripted, start_run
from tests.unit.scripted_server import ScriptedServer, reply

STATUS_GET = r"/dispatches/[^/]+/status$"
RUN_DELETE = r"/dispatches/[^/]+$"
EVENT_KEYS = {"status", "run_id", "pipeline_id", "version", "message"}


@pytest.fixture
def make_trigger(emu_conn: str, dr_hook: DataRobotPipelinesHook, pipeline: str):
    """Factory: start a scripted run on the locked pipeline and build a fast-polling trigger following it."""

    def make(payload: dict[str, Any] | None = None, run_id: str | None = None, **kwargs: Any):
        if run_id is None:
            run_id = start_run(dr_hook, pipeline, payload or scripted())
        arguments: dict[str, Any] = {
            "pipeline_id": pipeline,
            "run_id": run_id,
            "version": 1,
            "conn_id": emu_conn,
            "poll_interval": 0.05,
            "max_poll_interval": 0.05,
            "dag_id": "dag",
            "task_id": "task",
            "dag_run_id": "manual__1",
            "try_number": 1,
            **kwargs,
        }
        return DataRobotPipelineRunTrigger(**arguments)

    return make


def deletes(emu: Any) -> list[dict[str, Any]]:
    return emu.request_log(path=RUN_DELETE, method="DELETE")


# --- serialization -------------------------------------------------------------------------------
def test_serialize_round_trip_is_primitive_and_secret_free(make_trigger):
    trigger = make_trigger(
        run_id="r-1", end_time=time.time() + 60, execution_deadline=time.time() + 90, map_index=3, cancel_on_kill=False
    )
    classpath, kwargs = trigger.serialize()

    module_name, _, class_name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module_name), class_name) is DataRobotPipelineRunTrigger
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert all(value is None or isinstance(value, str | int | float | bool) for value in kwargs.values())
    assert EMU_TOKEN not in repr(kwargs)
    rebuilt = DataRobotPipelineRunTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["map_index"] == 3 and kwargs["cancel_on_kill"] is False


def test_serialize_carries_every_constructor_parameter(make_trigger):
    """An argument serialize() forgot would silently fall back to its default after a triggerer restart."""
    parameters = set(inspect.signature(DataRobotPipelineRunTrigger.__init__).parameters) - {"self"}
    _, kwargs = make_trigger(run_id="r-1").serialize()
    assert set(kwargs) == parameters
    # Non-default values survive the round trip one by one (a dropped key would come back as its default).
    changed = {
        "poll_interval": 1.5, "max_poll_interval": 2.5, "run_started_at": 123.0, "end_time": 456.0,
        "execution_deadline": 789.0, "cancel_on_timeout": False, "cancel_on_kill": False,
        "max_consecutive_errors": 4, "map_index": 7, "try_number": 9,
    }  # fmt: skip
    _, again = DataRobotPipelineRunTrigger(**{**kwargs, **changed}).serialize()
    assert {key: again[key] for key in changed} == changed


# --- one event per outcome -----------------------------------------------------------------------
@pytest.mark.parametrize("outcome", ["COMPLETED", "FAILED", "ERRORED"])
def test_run_yields_exactly_one_event_with_the_terminal_status(make_trigger, pipeline, outcome):
    trigger = make_trigger(scripted(outcome, seconds=0.3, failing_task="score" if outcome == "FAILED" else None))

    events = run_events(trigger)

    assert len(events) == 1
    (event,) = events
    assert set(event) == EVENT_KEYS
    assert event["status"] == outcome
    assert (event["run_id"], event["pipeline_id"], event["version"]) == (trigger.run_id, pipeline, 1)
    assert trigger.run_id in event["message"] and outcome in event["message"]


def test_run_reports_cancelled_when_the_run_is_cancelled_while_it_waits(make_trigger, emu, dr_hook, pipeline):
    trigger = make_trigger(scripted(seconds=5))

    async def scenario() -> list[dict[str, Any]]:
        waiting = asyncio.create_task(collect_events(trigger))
        await asyncio.sleep(0.2)  # real time on purpose: the trigger's own loop polls and enters its pause
        assert not waiting.done()
        client = await DataRobotPipelinesHook(trigger.conn_id).aget_client()
        await client.cancel_run(pipeline, trigger.run_id, 1)
        return await asyncio.wait_for(waiting, 5)

    events = asyncio.run(scenario())

    assert [e["status"] for e in events] == ["CANCELLED"]
    assert len(deletes(emu)) == 1  # ours; the trigger itself did not cancel


@pytest.fixture
def scripted_api(conn_env):
    """Point the trigger's connection at a local server answering a script of (HTTP status, JSON body, headers)."""
    servers: list[ScriptedServer] = []

    def script(*answers: tuple[int, Any, dict[str, str]]) -> tuple[str, list[Any]]:
        server = ScriptedServer([reply(body, status=code, headers=headers) for code, body, headers in answers])
        servers.append(server.__enter__())
        return conn_env(host=server.url, password=EMU_TOKEN), server.requests

    yield script
    for server in servers:
        server.__exit__()


def _scripted_trigger(conn_id: str, poll_interval: float = 0.01) -> DataRobotPipelineRunTrigger:
    return DataRobotPipelineRunTrigger(
        pipeline_id="p-1", run_id="r-1", version=2, conn_id=conn_id, poll_interval=poll_interval, max_poll_interval=0.01
    )


def test_unknown_status_ends_the_wait_with_that_status(scripted_api):
    conn_id, seen = scripted_api((200, {"id": "r-1", "status": "RUNNING"}, {}), (200, {"status": "SUSPENDED"}, {}))

    events = run_events(_scripted_trigger(conn_id))

    assert [e["status"] for e in events] == ["SUSPENDED"]
    status_polls = [request.path for request in seen if request.path.endswith("/status")]
    assert status_polls == ["/api/v2/pipelines/p-1/versions/2/dispatches/r-1/status"] * 2


@pytest.mark.parametrize("status", [None, {"nested": "RUNNING"}, 3])
def test_a_status_that_is_not_a_string_ends_the_wait_instead_of_polling_forever(scripted_api, status):
    conn_id, seen = scripted_api((200, {"id": "r-1", "status": status}, {}))

    events = run_events(_scripted_trigger(conn_id))

    assert [e["status"] for e in events] == [str(status)]
    assert len([request for request in seen if request.path.endswith("/status")]) == 1


def test_retry_after_zero_does_not_shorten_the_pause(scripted_api, monkeypatch):
    conn_id, _ = scripted_api(
        (503, {"detail": "busy"}, {"Retry-After": "0"}), (200, {"id": "r-1", "status": "COMPLETED"}, {})
    )
    pauses = record_trigger_pauses(monkeypatch)

    events = run_events(_scripted_trigger(conn_id, poll_interval=7.0))

    assert [e["status"] for e in events] == ["COMPLETED"]
    assert len(pauses) == 1
    assert 7.0 - WAKE_GRID <= pauses[0] <= 7.0, "the poll interval (on the wake grid), not Retry-After: 0"


# --- polling cost --------------------------------------------------------------------------------
def test_polls_the_status_and_reads_the_task_list_only_when_the_status_changes(make_trigger, emu):
    trigger = make_trigger(scripted(seconds=0.4))

    assert run_events(trigger)[0]["status"] == "COMPLETED"

    gets = emu.request_log(method="GET")
    polls = [entry for entry in gets if entry["path"].endswith(f"/versions/1/dispatches/{trigger.run_id}/status")]
    task_reads = [entry for entry in gets if entry["path"].endswith(f"/dispatches/{trigger.run_id}/tasks")]
    assert len(polls) >= 3 and len(polls) + len(task_reads) == len(gets)
    assert 1 <= len(task_reads) <= 2  # on RUNNING (if a poll saw it) and COMPLETED; none while PENDING or PREPARING
    assert {entry["method"] for entry in emu.request_log(path=trigger.run_id)} == {"GET"}


def test_concurrent_triggers_share_one_http_pool_and_few_connections(make_trigger, emu, monkeypatch):
    triggers_ = [make_trigger(scripted(seconds=1.5)) for _ in range(20)]
    sessions_made: list[Any] = []
    real_new_session = async_client.new_session

    def spy_new_session(settings: Any) -> Any:
        sessions_made.append(real_new_session(settings))
        return sessions_made[-1]

    connects = 0
    real_connect = asyncio.BaseEventLoop.create_connection

    async def counting_connect(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal connects
        connects += 1
        return await real_connect(self, *args, **kwargs)

    monkeypatch.setattr(async_client, "new_session", spy_new_session)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", counting_connect)
    polls_before = len(emu.request_log(path=STATUS_GET))

    async def scenario() -> tuple[list[list[dict[str, Any]]], int]:
        results = await asyncio.wait_for(asyncio.gather(*(collect_events(t) for t in triggers_)), 15)
        return results, len(async_client._SESSIONS[asyncio.get_running_loop()])

    results, pools_in_loop = asyncio.run(scenario())

    assert [events[0]["status"] for events in results] == ["COMPLETED"] * 20
    assert len(sessions_made) == 1, "one aiohttp session shared by every trigger"
    assert pools_in_loop == 1
    polls = len(emu.request_log(path=STATUS_GET)) - polls_before
    assert 1 <= connects <= len(triggers_)  # at most one per concurrent first poll, then reused
    assert polls >= 3 * connects, (polls, connects)


# --- transient and permanent errors --------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503, "retry_after": 0.05},
        {"status": 429},
        {"drop": True},
        {"status": 502, "html": True},
    ],
    ids=["503-retry-after", "429", "dropped", "502-html"],
)
def test_transient_poll_errors_are_survived(make_trigger, emu, fault):
    trigger = make_trigger(scripted(seconds=0.4))
    emu.add_fault(method="GET", path=STATUS_GET, times=3, **fault)

    events = run_events(trigger)

    assert [e["status"] for e in events] == ["COMPLETED"]
    statuses = [entry["status"] for entry in emu.request_log(path=STATUS_GET)]
    assert statuses[:3] == [fault.get("status", "dropped")] * 3
    assert statuses[-1] == 200


def test_unknown_run_is_an_error_event_at_once(make_trigger, emu):
    trigger = make_trigger(run_id="0123456789abcdef01234567")

    events = run_events(trigger)

    assert [e["status"] for e in events] == ["error"]
    assert "0123456789abcdef01234567" in events[0]["message"] and "404" in events[0]["message"]
    assert len(emu.request_log(path=STATUS_GET)) == 1


def test_too_many_consecutive_transient_errors_end_in_an_error_event(make_trigger, emu, dr_hook, pipeline):
    trigger = make_trigger(scripted(seconds=5), max_consecutive_errors=3)
    emu.add_fault(method="GET", path=STATUS_GET, status=503, times=0)  # times=0: unlimited

    events = run_events(trigger)

    assert [e["status"] for e in events] == ["error"]
    assert "503" in events[0]["message"]
    assert len(emu.request_log(path=STATUS_GET)) == 4  # the limit, plus the one that broke it
    emu.clear_faults()
    assert run_status(dr_hook, pipeline, trigger.run_id) != "CANCELLED"  # an error never cancels


def test_a_success_resets_the_consecutive_error_count(make_trigger, emu):
    trigger = make_trigger(scripted(seconds=1.5), max_consecutive_errors=2, poll_interval=0.02, max_poll_interval=0.02)
    for _ in range(3):  # 2 failures, 1 success, three times over: 6 failures in all, never 3 in a row
        emu.add_fault(method="GET", path=STATUS_GET, status=503, times=2)
        emu.add_fault(method="GET", path=STATUS_GET, delay=0.001, times=1)

    events = run_events(trigger)

    assert [e["status"] for e in events] == ["COMPLETED"]
    assert [e["status"] for e in emu.request_log(path=STATUS_GET)][:9] == [503, 503, 200] * 3


def test_a_bad_connection_is_an_error_event(conn_env):
    trigger = DataRobotPipelineRunTrigger(pipeline_id="p", run_id="r", version=1, conn_id="nowhere")
    events = run_events(trigger)
    assert [e["status"] for e in events] == ["error"]
    assert "nowhere" in events[0]["message"]


# --- deadlines -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("deadline", "why"),
    [("end_time", "the operator's timeout"), ("execution_deadline", "the task's execution_timeout")],
)
def test_past_deadline_cancels_the_run_and_says_why(make_trigger, emu, dr_hook, pipeline, deadline, why):
    trigger = make_trigger(scripted(seconds=5), **{deadline: time.time() - 1})

    events = run_events(trigger)

    assert [e["status"] for e in events] == ["timeout"]
    assert why in events[0]["message"] and "cancelled it" in events[0]["message"]
    assert run_status(dr_hook, pipeline, trigger.run_id) == "CANCELLED"
    assert len(deletes(emu)) == 1


def test_timeout_without_cancel_on_timeout_leaves_the_run_going(make_trigger, emu, dr_hook, pipeline):
    trigger = make_trigger(scripted(seconds=5), end_time=time.time() - 1, cancel_on_timeout=False)

    events = run_events(trigger)

    assert [e["status"] for e in events] == ["timeout"]
    assert "left it running" in events[0]["message"]
    assert run_status(dr_hook, pipeline, trigger.run_id) in {"PENDING", "PREPARING", "RUNNING"}
    assert deletes(emu) == []


def test_sleeps_no_longer_than_the_deadline(make_trigger, dr_hook, pipeline):
    trigger = make_trigger(scripted(seconds=5), poll_interval=30, max_poll_interval=30)
    trigger.end_time = time.time() + 0.3  # from now: starting the run above takes a load-dependent while

    started = time.monotonic()
    events = run_events(trigger)
    elapsed = time.monotonic() - started

    assert [e["status"] for e in events] == ["timeout"]
    assert 0.25 <= elapsed < 10, "woke at the 0.3 s deadline, not after the 30 s poll interval"
    assert run_status(dr_hook, pipeline, trigger.run_id) == "CANCELLED"


def test_the_earlier_deadline_wins(make_trigger):
    trigger = make_trigger(
        scripted(seconds=5), poll_interval=30, end_time=time.time() + 30, execution_deadline=time.time() + 0.2
    )
    events = run_events(trigger)
    assert "the task's execution_timeout" in events[0]["message"]


def test_a_terminal_status_beats_an_expired_deadline(make_trigger, dr_hook, pipeline, emu):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=0.05))
    emu.advance(1)  # the emulator's clock, past the run's scripted 0.05 s
    events = run_events(make_trigger(run_id=run_id, end_time=time.time() - 1))
    assert [e["status"] for e in events] == ["COMPLETED"]
    assert deletes(emu) == []


# --- on_kill, cleanup ----------------------------------------------------------------------------
def test_on_kill_cancels_the_run_once(make_trigger, emu, dr_hook, pipeline):
    trigger = make_trigger(scripted(seconds=5))

    async def scenario() -> None:
        await trigger.on_kill()
        await trigger.on_kill()

    asyncio.run(scenario())

    assert len(deletes(emu)) == 1
    assert run_status(dr_hook, pipeline, trigger.run_id) == "CANCELLED"


def test_on_kill_without_cancel_on_kill_leaves_the_run(make_trigger, emu, dr_hook, pipeline):
    trigger = make_trigger(scripted(seconds=5), cancel_on_kill=False)
    asyncio.run(trigger.on_kill())
    assert deletes(emu) == []
    assert run_status(dr_hook, pipeline, trigger.run_id) != "CANCELLED"


def test_on_kill_of_a_finished_run_is_quiet(make_trigger, emu, dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=0.05))
    emu.advance(1)  # the emulator's clock, past the run's scripted 0.05 s
    asyncio.run(make_trigger(run_id=run_id).on_kill())  # 409 from the API: logged, not raised
    assert [entry["status"] for entry in deletes(emu)] == [409]
    assert run_status(dr_hook, pipeline, run_id) == "COMPLETED"


def test_cleanup_never_cancels(make_trigger, emu, dr_hook, pipeline):
    trigger = make_trigger(scripted(seconds=5))

    async def scenario() -> None:
        waiting = asyncio.create_task(collect_events(trigger))
        await asyncio.sleep(0.15)  # real time on purpose: the trigger's own loop polls and enters its pause
        await trigger.cleanup()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await trigger.cleanup()

    asyncio.run(scenario())

    assert deletes(emu) == []
    assert run_status(dr_hook, pipeline, trigger.run_id) != "CANCELLED"


# --- cancellation of the trigger task: 3.3+ vs the legacy (< 3.3) path --------------------------
def cancel_while_waiting(trigger: DataRobotPipelineRunTrigger, message: str | None = None, kill_first=False) -> None:
    async def scenario() -> None:
        waiting = asyncio.create_task(collect_events(trigger))
        await asyncio.sleep(0.15)  # real time on purpose: the trigger's own loop polls and enters its pause
        if kill_first:
            await trigger.on_kill()
        waiting.cancel(message)
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(scenario())


@pytest.fixture
def legacy(monkeypatch):
    """Airflow < 3.3 behaviour, with the task instance read answering ``state`` (records its arguments)."""
    monkeypatch.setattr(version_compat, "TRIGGER_ON_KILL", False)
    reads: list[tuple[Any, ...]] = []

    def answer(state: tuple[str | None, int | None]) -> list[tuple[Any, ...]]:
        def read(*args: Any) -> tuple[str | None, int | None]:
            reads.append(args)
            return state

        monkeypatch.setattr(version_compat, "read_task_instance", read)
        return reads

    return answer


@pytest.mark.parametrize(
    ("state", "cancelled"),
    [
        (("failed", 1), True),
        (("success", None), True),
        (("deferred", 2), True),  # cleared: a new try of the task is deferred now
        (("deferred", 1), False),  # a triggerer restart: the same try is still deferred
        (("deferred", None), False),
    ],
)
def test_legacy_plain_cancel_cancels_only_when_the_task_is_no_longer_deferred(
    make_trigger, emu, dr_hook, pipeline, legacy, state, cancelled
):
    reads = legacy(state)
    trigger = make_trigger(scripted(seconds=5), map_index=4)

    cancel_while_waiting(trigger)

    assert reads == [("dag", "task", "manual__1", 4)]
    assert len(deletes(emu)) == (1 if cancelled else 0)
    assert (run_status(dr_hook, pipeline, trigger.run_id) == "CANCELLED") is cancelled


def test_legacy_path_leaves_a_user_action_to_on_kill(make_trigger, emu, legacy):
    reads = legacy(("failed", 1))
    trigger = make_trigger(scripted(seconds=5))

    cancel_while_waiting(trigger, USER_ACTION_CANCEL_MSG)

    assert reads == [] and deletes(emu) == []


def test_legacy_path_keeps_the_run_when_the_state_cannot_be_read(make_trigger, emu, monkeypatch):
    monkeypatch.setattr(version_compat, "TRIGGER_ON_KILL", False)

    def broken(*args: Any) -> None:
        raise RuntimeError("no supervisor comms")

    monkeypatch.setattr(version_compat, "read_task_instance", broken)
    cancel_while_waiting(make_trigger(scripted(seconds=5)))
    assert deletes(emu) == []


def test_legacy_path_respects_cancel_on_kill_false(make_trigger, emu, legacy):
    reads = legacy(("failed", 1))
    cancel_while_waiting(make_trigger(scripted(seconds=5), cancel_on_kill=False))
    assert reads == [] and deletes(emu) == []


def test_on_kill_then_legacy_cancel_cancels_once(make_trigger, emu, legacy):
    legacy(("failed", 1))
    cancel_while_waiting(make_trigger(scripted(seconds=5)), kill_first=True)
    assert len(deletes(emu)) == 1


@pytest.mark.parametrize("message", [None, USER_ACTION_CANCEL_MSG])
def test_on_airflow_3_3_a_cancel_alone_never_cancels_the_run(
    make_trigger, emu, dr_hook, pipeline, monkeypatch, message
):
    monkeypatch.setattr(version_compat, "TRIGGER_ON_KILL", True)
    monkeypatch.setattr(version_compat, "read_task_instance", lambda *a: ("failed", 1))
    trigger = make_trigger(scripted(seconds=5))

    cancel_while_waiting(trigger, message)

    assert deletes(emu) == []
    assert run_status(dr_hook, pipeline, trigger.run_id) != "CANCELLED"


@pytest.mark.parametrize(
    ("map_index", "states", "expected"),
    [
        (-1, {"manual__1": {"task": "deferred"}}, ("deferred", None)),
        (3, {"manual__1": {"task_3": "failed"}}, ("failed", None)),
        (3, {"manual__1": {"task_2": "deferred"}}, (None, None)),
        (-1, {}, (None, None)),
    ],
)
@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 2 reads the database (tested in tests/integration)")
def test_read_task_instance_on_airflow_3_0_to_3_2(monkeypatch, map_index, states, expected):
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    calls: list[dict[str, Any]] = []

    def get_task_states(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return states

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(get_task_states))

    assert version_compat.read_task_instance("dag", "task", "manual__1", map_index) == expected
    assert calls == [{"dag_id": "dag", "map_index": map_index, "task_ids": ["task"], "run_ids": ["manual__1"]}]


# --- the event loop ------------------------------------------------------------------------------
def test_never_blocks_the_event_loop(make_trigger, monkeypatch):
    """No blocking call runs on the loop while the trigger waits: sync sleeps and sync HTTP fail the test.

    Deterministic on purpose: how long the loop stalls is a benchmark's question (bench/triggerer_scale.py).
    """
    import requests

    trigger = make_trigger(scripted(seconds=0.5), poll_interval=0.02, max_poll_interval=0.02)
    blocking: list[str] = []

    def refuse(what: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> None:
            blocking.append(what)
            raise AssertionError(f"{what} called on the event loop")

        return call

    async def scenario() -> list[dict[str, Any]]:
        with monkeypatch.context() as patched:
            patched.setattr(time, "sleep", refuse("time.sleep"))
            patched.setattr(requests.Session, "request", refuse("requests"))
            return await asyncio.wait_for(collect_events(trigger), 10)

    events = asyncio.run(scenario())

    assert [e["status"] for e in events] == ["COMPLETED"]
    assert blocking == []
