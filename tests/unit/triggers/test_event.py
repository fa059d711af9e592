"""DataRobotPipelineRunEventTrigger against the emulator: one event per run that ends after the watch started."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS

from airflow_provider_drpipelines.exceptions import DataRobotConfigError, DataRobotPipelinesError
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests.unit.conftest import EMU_TOKEN, run_status, scripted, start_run
from tests.unit.scripted_server import ScriptedServer, reply

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="event-driven scheduling needs Airflow >= 3.0")

LISTING = r"/dispatches$"
PAYLOAD_KEYS = {"run_id", "pipeline_id", "version", "status", "url", "ended_at"}


def event_trigger(**kwargs: Any) -> Any:
    from airflow_provider_drpipelines.triggers import DataRobotPipelineRunEventTrigger

    return DataRobotPipelineRunEventTrigger(**kwargs)


class AssetStore:
    """Airflow 3.3's ``asset_state_store`` of one watched asset, backed by a dict that outlives a trigger."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.data[key] = json.loads(json.dumps(value))  # stored as JSON, like the real store
        self.writes += 1


class Watch:
    """A trigger's ``run()`` consumed in the background; ``polls(n)`` waits for ``n`` more listing calls."""

    def __init__(self, trigger: Any, emu: Any) -> None:
        self.trigger, self.emu = trigger, emu
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    async def _consume(self) -> None:
        try:
            async for event in self.trigger.run():
                self.events.append(event.payload)
        except Exception as err:
            self.error = err

    def _listings(self) -> int:
        return len(self.emu.request_log(path=LISTING, method="GET"))

    async def polls(self, count: int = 1, timeout: float = 10.0) -> None:
        target = await asyncio.to_thread(self._listings) + count
        await asyncio.wait_for(self._until(target), timeout)

    async def _until(self, listings: int) -> None:
        while await asyncio.to_thread(self._listings) < listings:
            assert self.error is None, self.error
            await asyncio.sleep(0.02)  # the trigger's own loop polls in real time


@asynccontextmanager
async def watching(trigger: Any, emu: Any) -> AsyncIterator[Watch]:
    watch = Watch(trigger, emu)
    task = asyncio.create_task(watch._consume())
    try:
        yield watch
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def make_watch(emu_conn: str, pipeline: str):
    def make(**kwargs: Any) -> Any:
        arguments: dict[str, Any] = {
            "pipeline_id": pipeline,
            "version": 1,
            "poll_interval": 0.05,
            "datarobot_pipelines_conn_id": emu_conn,
            **kwargs,
        }
        return event_trigger(**arguments)

    return make


def finish_runs(emu: Any) -> None:
    emu.advance(3600)


# --- arguments and serialization -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({}, "pipeline_id and pipeline_name"),
        ({"pipeline_id": "p", "pipeline_name": "n"}, "pipeline_id and pipeline_name"),
        ({"pipeline_id": "p", "statuses": ["DONE"]}, "statuses"),
        ({"pipeline_id": "p", "statuses": "COMPLETED"}, "statuses"),
        ({"pipeline_id": "p", "statuses": []}, "statuses"),
        ({"pipeline_id": "p", "poll_interval": 0}, "poll_interval"),
        ({"pipeline_id": "p", "poll_interval": -5}, "poll_interval"),
        ({"pipeline_id": "p", "version": "latest"}, "version"),
        ({"pipeline_id": "p", "version": 0}, "version"),
    ],
)
def test_bad_arguments_fail_at_construction_naming_the_argument(kwargs, named):
    with pytest.raises(DataRobotConfigError, match=named):
        event_trigger(**kwargs)


def test_serialize_is_complete_stable_and_secret_free(make_watch):
    trigger = make_watch(statuses=["FAILED", "COMPLETED", "FAILED"], version="1")
    classpath, kwargs = trigger.serialize()

    module_name, _, class_name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module_name), class_name) is type(trigger)
    assert set(kwargs) == set(inspect.signature(type(trigger).__init__).parameters) - {"self"}
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert EMU_TOKEN not in repr(kwargs)
    assert kwargs["statuses"] == ["COMPLETED", "FAILED"] and kwargs["version"] == 1
    # Equal arguments, however spelled, serialize identically: the watcher keeps one identity across parses.
    assert make_watch(statuses=("COMPLETED", "FAILED")).serialize() == (classpath, kwargs)
    assert type(trigger)(**kwargs).serialize() == (classpath, kwargs)
    changed = {"pipeline_id": None, "pipeline_name": "n", "version": "draft", "statuses": ["ERRORED"],
               "poll_interval": 7.0, "datarobot_pipelines_conn_id": "other"}  # fmt: skip
    assert type(trigger)(**changed).serialize()[1] == changed


# --- firing on the change ------------------------------------------------------------------------
def test_fires_once_per_run_ending_in_the_chosen_statuses_never_for_runs_ended_before(
    make_watch, emu, dr_hook: DataRobotPipelinesHook, pipeline
):
    before = start_run(dr_hook, pipeline, scripted(seconds=1))
    finish_runs(emu)
    assert run_status(dr_hook, pipeline, before) == "COMPLETED"
    going_since_before = start_run(dr_hook, pipeline, scripted(seconds=60))
    trigger = make_watch(statuses=["COMPLETED"])

    async def scenario() -> list[dict[str, Any]]:
        async with watching(trigger, emu) as watch:
            await watch.polls(2)
            completed = start_run(dr_hook, pipeline, scripted(seconds=60))
            failed = start_run(dr_hook, pipeline, scripted("FAILED", seconds=60, failing_task="score"))
            await watch.polls(2)
            assert watch.events == []
            finish_runs(emu)
            await watch.polls(3)
            assert {e["run_id"] for e in watch.events} == {going_since_before, completed}
            assert failed not in {e["run_id"] for e in watch.events}
            return watch.events

    events = asyncio.run(scenario())

    assert len(events) == 2  # once each, after several more polls
    for event in events:
        assert set(event) == PAYLOAD_KEYS
        assert (event["pipeline_id"], event["version"], event["status"]) == (pipeline, 1, "COMPLETED")
        assert event["url"] == dr_hook.run_url(pipeline, event["run_id"])
        assert event["ended_at"] == dr_hook.get_run(pipeline, event["run_id"], 1)["updatedAt"]


def test_failed_statuses_fire_for_every_locked_version(make_watch, emu, dr_hook, pipeline):
    trigger = make_watch(version=None, statuses=["FAILED", "COMPLETED"])

    async def scenario() -> list[dict[str, Any]]:
        async with watching(trigger, emu) as watch:
            await watch.polls(1)
            ok = start_run(dr_hook, pipeline, scripted(seconds=60))
            bad = start_run(dr_hook, pipeline, scripted("FAILED", seconds=60, failing_task="score"))
            finish_runs(emu)
            await watch.polls(3)
            assert sorted((e["run_id"], e["status"]) for e in watch.events) == sorted(
                [(ok, "COMPLETED"), (bad, "FAILED")]
            )
            return watch.events

    assert len(asyncio.run(scenario())) == 2


def test_draft_scope_sees_only_draft_runs(make_watch, emu, dr_hook, draft_pipeline):
    trigger = make_watch(pipeline_id=draft_pipeline, version="draft")

    async def scenario() -> list[dict[str, Any]]:
        async with watching(trigger, emu) as watch:
            await watch.polls(1)
            run = start_run(dr_hook, draft_pipeline, scripted(seconds=60), version=None)
            finish_runs(emu)
            await watch.polls(2)
            assert [(e["run_id"], e["version"]) for e in watch.events] == [(run, None)]
            return watch.events

    asyncio.run(scenario())


# --- restarts ------------------------------------------------------------------------------------
@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="the asset state store is Airflow >= 3.3")
def test_recreated_from_serialize_with_the_asset_store_fires_what_ended_meanwhile_once(
    make_watch, emu, dr_hook, pipeline
):
    store = AssetStore()
    first = make_watch()
    first.asset_state_store = store
    _, kwargs = first.serialize()

    async def scenario() -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        async with watching(first, emu) as watch:
            await watch.polls(2)
            run = start_run(dr_hook, pipeline, scripted(seconds=60))
            await watch.polls(2)
        finish_runs(emu)  # while no triggerer watches
        events = []
        for _ in range(2):  # a restart, then a move to another triggerer
            again = type(first)(**kwargs)
            again.asset_state_store = store
            async with watching(again, emu) as watch:
                await watch.polls(3)
                events.append(watch.events)
        return run, *events

    run, after_restart, after_move = asyncio.run(scenario())

    assert [e["run_id"] for e in after_restart] == [run]
    assert after_move == []
    assert list(store.data) == [first.state_key]


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="the asset state store is Airflow >= 3.3")
def test_the_store_is_written_only_when_the_watch_state_changed(make_watch, emu, dr_hook, pipeline):
    """Every watcher writes its asset's store (the metadata database): a quiet poll must not."""
    store = AssetStore()
    trigger = make_watch()
    trigger.asset_state_store = store

    async def scenario() -> list[int]:
        writes = []
        async with watching(trigger, emu) as watch:
            await watch.polls(2)
            writes.append(store.writes)
            await watch.polls(5)  # nothing happens
            writes.append(store.writes)
            start_run(dr_hook, pipeline, scripted(seconds=60))
            await watch.polls(2)
            writes.append(store.writes)
            finish_runs(emu)
            await watch.polls(2)
            assert [e["status"] for e in watch.events] == ["COMPLETED"]
            writes.append(store.writes)
            await watch.polls(5)
            writes.append(store.writes)
        return writes

    baseline, quiet, seen_going, ended, quiet_again = asyncio.run(scenario())

    assert baseline >= 1
    assert quiet == baseline
    assert seen_going > quiet
    assert ended > seen_going
    assert quiet_again == ended
    assert store.data[trigger.state_key] == json.loads(json.dumps(trigger._watch.state()))


def test_without_a_store_a_restart_never_fires_twice(make_watch, emu, dr_hook, pipeline):
    """Airflow < 3.3: a restart re-records what has ended; a run that ended meanwhile is missed, none repeats."""
    first = make_watch()

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with watching(first, emu) as watch:
            await watch.polls(1)
            start_run(dr_hook, pipeline, scripted(seconds=60))
            finish_runs(emu)
            await watch.polls(2)
        async with watching(type(first)(**first.serialize()[1]), emu) as again:
            await again.polls(3)
        return watch.events, again.events

    fired, after_restart = asyncio.run(scenario())

    assert len(fired) == 1 and after_restart == []


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="shared streams are Airflow >= 3.3")
def test_watchers_of_one_pipeline_share_one_listing_poll(make_watch, emu, dr_hook, pipeline):
    completed, failed = make_watch(statuses=["COMPLETED"]), make_watch(statuses=["FAILED"])
    assert (
        completed.shared_stream_key() == failed.shared_stream_key() != make_watch(version="draft").shared_stream_key()
    )
    listings_before = len(emu.request_log(path=LISTING, method="GET"))

    async def scenario() -> tuple[str, str, list[list[dict[str, Any]]]]:
        stream = type(completed).open_shared_stream(completed.serialize()[1])
        batches = [await anext(stream)]  # the first poll records what had ended
        ok = start_run(dr_hook, pipeline, scripted(seconds=60))
        bad = start_run(dr_hook, pipeline, scripted("FAILED", seconds=60, failing_task="score"))
        batches.append(await anext(stream))
        finish_runs(emu)
        batches.append(await anext(stream))
        await stream.aclose()

        async def replay() -> AsyncIterator[Any]:  # the triggerer fans each raw event out to every watcher
            for batch in batches:
                yield batch

        fired = []
        for watcher in (completed, failed):
            fired.append([event.payload async for event in watcher.filter_shared_stream(replay())])
        return ok, bad, fired

    ok, bad, (fired_completed, fired_failed) = asyncio.run(scenario())

    assert [(e["run_id"], e["status"]) for e in fired_completed] == [(ok, "COMPLETED")]
    assert [(e["run_id"], e["status"]) for e in fired_failed] == [(bad, "FAILED")]
    assert fired_completed[0]["url"] == dr_hook.run_url(pipeline, ok)
    assert len(emu.request_log(path=LISTING, method="GET")) - listings_before == 3  # one listing a poll, for both


# --- hostile listings ----------------------------------------------------------------------------
@pytest.fixture
def scripted_watch(conn_env):
    servers: list[ScriptedServer] = []

    def make(*answers: Any, **kwargs: Any) -> tuple[Any, ScriptedServer]:
        server = ScriptedServer(list(answers)).__enter__()
        servers.append(server)
        conn_id = conn_env(host=server.url, password=EMU_TOKEN)
        return event_trigger(
            pipeline_id="p-1", version=2, poll_interval=0.01, datarobot_pipelines_conn_id=conn_id, **kwargs
        ), server

    yield make
    for server in servers:
        server.__exit__()


async def drain(trigger: Any) -> None:
    async for _ in trigger.run():
        pass


def run_until_error(trigger: Any) -> BaseException:
    with pytest.raises(DataRobotPipelinesError) as raised:
        asyncio.run(asyncio.wait_for(drain(trigger), 10))
    return raised.value


def run_page(ids: Any, more: bool) -> dict[str, Any]:
    stamp = "2026-01-01T00:00:00Z"
    data = [{"id": i, "status": "RUNNING", "createdAt": stamp, "updatedAt": stamp} for i in ids]
    return {"data": data, "count": len(data), "next": "more" if more else None}


def test_an_endless_listing_is_read_at_most_max_pages_per_poll(scripted_watch):
    counter = itertools.count()

    def answer(request: Any) -> bytes:
        if request.path.endswith("/dispatches"):
            return reply(run_page([f"r{next(counter)}" for _ in range(100)], more=True))
        return reply(run_page(["r"], more=False)["data"][0])  # a run read one by one: still going

    trigger, server = scripted_watch(answer)

    async def two_polls() -> list[int]:
        client = await DataRobotPipelinesHook(trigger.conn_id).aget_client()
        counts = []
        for _ in range(2):
            await trigger._poll_events(client)
            counts.append(len(server.requests))
        return counts

    first, both = asyncio.run(two_polls())

    assert first == 10  # the first poll: 10 pages of 100, then it stops
    assert both - first <= 20  # later polls: at most 10 pages and 10 single reads
    assert len(trigger._watch.active) == 1000  # runs seen going: bounded
    assert all("limit=100" in r.target for r in server.requests if r.path.endswith("/dispatches"))


def test_a_page_larger_than_asked_is_a_clear_error(scripted_watch):
    trigger, _ = scripted_watch(reply(run_page([f"r{i}" for i in range(500)], more=False)))
    assert "answered 500 runs for a page of 100" in str(run_until_error(trigger))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>login</html>", "Stopped watching"),
        (json.dumps({"data": [{"id": "r1", "status": "RUNNING", "createdAt": "yesterday"}]}).encode(), "createdAt"),
        (json.dumps({"data": [{"status": "RUNNING"}]}).encode(), "'id'"),
        (json.dumps({"items": []}).encode(), "without the field"),
    ],
)
def test_garbage_listings_stop_the_watch_with_a_clear_error(scripted_watch, body, problem):
    trigger, _ = scripted_watch(reply(raw=body))
    message = str(run_until_error(trigger))
    assert problem in message and "Stopped watching the runs of pipeline 'p-1'" in message
    assert EMU_TOKEN not in message


def test_transient_errors_are_retried_within_the_budget(scripted_watch):
    ok = reply(run_page([], more=False))
    trigger, server = scripted_watch(
        reply({"detail": "busy"}, status=503), ok, reply({"detail": "busy"}, status=503), ok
    )

    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(drain(trigger), 0.5))
    assert len(server.requests) >= 4  # kept polling past the two failures
