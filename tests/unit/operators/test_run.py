"""The run, input and cancel operators against the emulator: validation, waiting, deferral, reattach, faults."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_drpipelines.exceptions import (
    DataRobotApiError,
    DataRobotConfigError,
    DataRobotPipelinesError,
    PipelineRunError,
    PipelineRunErroredError,
    PipelineRunTimeoutError,
)
from airflow_provider_drpipelines.operators import (
    RUN_STATE_KEY,
    DataRobotCancelPipelineRunOperator,
    DataRobotCreatePipelineInputOperator,
    DataRobotRunPipelineOperator,
    resolve_payload,
)
from airflow_provider_drpipelines.triggers import DataRobotPipelineRunTrigger
from airflow_provider_drpipelines.triggers.base import DEFERRAL_GRACE
from airflow_provider_drpipelines.utils.templating import native_value
from airflow_provider_drpipelines.utils.tracked_runs import TrackedRun
from tests.unit.conftest import (
    EMU_TOKEN,
    FAST_RETRIES,
    FakeStateStore,
    FakeTI,
    ago,
    make_context,
    run_events,
    run_status,
    scripted,
    start_run,
)

ACTIVE = {"PENDING", "PREPARING", "RUNNING"}


@contextlib.contextmanager
def fails_with(error: type[BaseException], match: str | None = None) -> Iterator[pytest.ExceptionInfo[Any]]:
    """``pytest.raises`` that also checks the API token is in no exception message."""
    with pytest.raises(error, match=match) as info:
        yield info
    assert EMU_TOKEN not in str(info.value)
    assert EMU_TOKEN not in repr(info.value.args)


def run_op(pipeline_id: str, **kwargs: Any) -> DataRobotRunPipelineOperator:
    arguments: dict[str, Any] = {
        "task_id": "run",
        "pipeline_id": pipeline_id,
        "version": 1,
        "poll_interval": 0.05,
        "max_poll_interval": 0.05,
        "hook_params": FAST_RETRIES,
    }
    arguments.update(kwargs)
    if "input_id" not in arguments and "payload" not in arguments:
        arguments["payload"] = scripted()
    return DataRobotRunPipelineOperator(**arguments)


def event(status: str, run_id: str, pipeline_id: str, version: int | None = 1) -> dict[str, Any]:
    return {"status": status, "run_id": run_id, "pipeline_id": pipeline_id, "version": version, "message": "m"}


# --- bad input fails before any API call ---------------------------------------------------------
@pytest.mark.parametrize("payload", [[1, 2], 5, 1.5, True, ("a",)])
@pytest.mark.parametrize("operator", [DataRobotRunPipelineOperator, DataRobotCreatePipelineInputOperator])
def test_non_object_payload_is_refused_at_construction(operator, payload):
    with fails_with(DataRobotConfigError, "payload must be a JSON object"):
        operator(task_id="t", pipeline_id="p", version=1, payload=payload)


@pytest.mark.parametrize("ids", [{"input_id": "i", "payload": {"a": 1}}, {}], ids=["both", "neither"])
def test_run_operator_needs_exactly_one_of_input_id_and_payload(ids):
    with fails_with(DataRobotConfigError, "exactly one of input_id and payload"):
        DataRobotRunPipelineOperator(task_id="t", pipeline_id="p", version=1, **ids)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"payload": "not json at all"}, "not JSON"),
        ({"payload": "{'single': 'quotes'}"}, "not JSON"),
        ({"payload": {"when": object()}}, "not JSON-serialisable"),
        ({"payload": {"x": float("nan")}}, "not JSON-serialisable"),
        ({"payload": '["a list"]'}, "must be a JSON object"),
        ({"version": 0}, "version must be"),
        ({"version": -1}, "version must be"),
        ({"version": "abc"}, "version must be"),
        ({"version": None}, "version must be"),
        ({"version": True}, "version must be"),
        ({"version": 1.5}, "version must be"),
    ],
)
def test_bad_run_arguments_fail_before_any_api_call(emu, emu_conn, kwargs, match):
    op = run_op("0123456789abcdef01234567", **kwargs)
    with fails_with(DataRobotConfigError, match):
        op.execute(make_context())
    assert emu.request_log() == []


@pytest.mark.parametrize(
    ("payload", "version", "match"),
    [
        ("[1]", None, "must be a JSON object"),
        ({"a": {1, 2}}, None, "not JSON-serialisable"),
        ({"a": 1}, 0, "version must be"),
        ({"a": 1}, "newest", "version must be"),
    ],
)
def test_bad_input_arguments_fail_before_any_api_call(emu, emu_conn, payload, version, match):
    op = DataRobotCreatePipelineInputOperator(
        task_id="i", pipeline_id="0123456789abcdef01234567", payload=payload, version=version
    )
    with fails_with(DataRobotConfigError, match):
        op.execute(make_context())
    assert emu.request_log() == []


@pytest.mark.parametrize("version", [1, "latest"])
def test_missing_pipeline_is_named(emu, emu_conn, version):
    with fails_with(DataRobotConfigError, r"Pipeline '0123456789abcdef01234567' does not exist"):
        run_op("0123456789abcdef01234567", version=version).execute(make_context())
    assert emu.stats()["inputs"] == 0 and emu.stats()["runs"] == 0


@pytest.mark.parametrize("mode", ["payload", "input_id"])
@pytest.mark.parametrize("version", [1, "latest", "1"])
def test_draft_pipeline_with_a_version_is_refused(emu, dr_hook, draft_pipeline, version, mode):
    ids = {"payload": scripted()}
    if mode == "input_id":
        ids = {"input_id": dr_hook.create_input(draft_pipeline, scripted())["id"]}
    inputs_before = emu.stats()["inputs"]

    with fails_with(DataRobotConfigError, f"Pipeline '{draft_pipeline}'.* is a draft, not locked"):
        run_op(draft_pipeline, version=version, **ids).execute(make_context())

    assert emu.stats()["inputs"] == inputs_before and emu.stats()["runs"] == 0


def test_missing_version_number_is_named(emu, pipeline):
    with fails_with(DataRobotConfigError, r"has no version 7; its versions are \[1\]"):
        run_op(pipeline, version=7).execute(make_context())
    assert emu.stats()["inputs"] == 0 and emu.stats()["runs"] == 0


def test_input_for_the_draft_of_a_locked_pipeline_is_refused(emu, pipeline):
    op = DataRobotCreatePipelineInputOperator(task_id="i", pipeline_id=pipeline, payload={"a": 1})
    with fails_with(DataRobotConfigError, "is locked; it has no draft"):
        op.execute(make_context())
    assert emu.stats()["inputs"] == 0


# --- native rendering ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "rendered", "expected"),
    [
        ({"n": "{{ x }}"}, {"n": "5"}, {"n": 5}),
        ({"n": "{{ x }}"}, {"n": "[1, 2]"}, {"n": [1, 2]}),
        ({"n": "{{ x }}"}, {"n": "(1, 2)"}, {"n": [1, 2]}),
        ({"n": "{{ x }}"}, {"n": "2024-01-01"}, {"n": "2024-01-01"}),
        ({"n": "{{ x }}"}, {"n": "2024-1-1"}, {"n": "2024-1-1"}),
        ({"n": "{{ x }}"}, {"n": "True"}, {"n": True}),
        ({"n": "{{ x }}"}, {"n": "None"}, {"n": None}),
        ({"n": "{{ x }}"}, {"n": "{'a': 1.5}"}, {"n": {"a": 1.5}}),
        ({"n": " {{ x }} "}, {"n": "7"}, {"n": 7}),
        ({"n": "a {{ x }}"}, {"n": "a 5"}, {"n": "a 5"}),
        ({"n": "{{ x }}{{ y }}"}, {"n": "12"}, {"n": "12"}),
        ({"n": "{{ x }} and {{ y }}"}, {"n": "1 and 2"}, {"n": "1 and 2"}),
        ({"n": "5"}, {"n": "5"}, {"n": "5"}),  # a literal string stays a string
        (
            {"outer": {"inner": ["{{ a }}", "text {{ b }}", 3]}},
            {"outer": {"inner": ["4", "text 2", 3]}},
            {"outer": {"inner": [4, "text 2", 3]}},
        ),
    ],
)
def test_native_rendering(template, rendered, expected):
    assert native_value(template, rendered) == expected
    assert resolve_payload(template, rendered) == expected


@pytest.mark.parametrize(
    ("template", "rendered", "expected"),
    [
        ("payload.json", '{"a": [1, {"b": null}]}', {"a": [1, {"b": None}]}),
        ('{"a": 1}', '{"a": 1}', {"a": 1}),
        ("{{ params.body }}", "{'a': 1}", {"a": 1}),
        ("{{ params.body }}", '{"a": true}', {"a": True}),
    ],
)
def test_string_payload_is_parsed(template, rendered, expected):
    assert resolve_payload(template, rendered) == expected


# --- worker mode ---------------------------------------------------------------------------------
def test_completed_run_returns_its_id_and_publishes_it_before_waiting(emu, dr_hook, pipeline, monkeypatch):
    journal: list[tuple[str, Any]] = []
    ti = FakeTI(journal)
    op = run_op(pipeline)
    real_wait = op.hook.wait_for_run

    def recorded_wait(*args: Any, **kwargs: Any) -> str:
        journal.append(("wait", None))
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(op.hook, "wait_for_run", recorded_wait)

    run_id = op.execute(make_context(ti))

    assert run_status(dr_hook, pipeline, run_id) == "COMPLETED"
    assert journal == [("xcom", "run_id"), ("xcom", "run_url"), ("xcom", "pipeline_version"), ("wait", None)]
    assert ti.xcom == {"run_id": run_id, "run_url": dr_hook.run_url(pipeline, run_id), "pipeline_version": 1}
    assert ti.xcom["run_url"].startswith(emu.base_url)
    assert emu.stats()["inputs"] == 1 and emu.stats()["runs"] == 1


def test_failed_run_raises_with_the_failing_task_its_error_and_log_lines(pipeline):
    op = run_op(pipeline, payload=scripted("FAILED", failing_task="score"))

    with fails_with(PipelineRunError) as info:
        op.execute(make_context())

    assert type(info.value) is PipelineRunError
    assert info.value.status == "FAILED" and info.value.pipeline_id == pipeline
    message = str(info.value)
    assert "Task 'score' FAILED" in message
    assert "scripted failure in task 'score'" in message  # the task's errorDetail
    assert "log line(s)" in message and "Traceback (most recent call last)" in message


def test_errored_run_raises_the_retryable_error(pipeline):
    with fails_with(PipelineRunErroredError) as info:
        run_op(pipeline, payload=scripted("ERRORED")).execute(make_context())
    assert info.value.status == "ERRORED"


def test_without_waiting_returns_at_once(dr_hook, pipeline):
    run_id = run_op(pipeline, payload=scripted(seconds=5), wait_for_completion=False).execute(make_context())
    assert run_status(dr_hook, pipeline, run_id) == "PENDING", "returned without waiting for the 5 s run"


def test_timeout_cancels_the_run(emu, dr_hook, pipeline):
    op = run_op(pipeline, payload=scripted(seconds=5), timeout=0.5)

    with fails_with(PipelineRunTimeoutError) as info:
        op.execute(make_context())

    # CANCELLED, not COMPLETED: the 0.5 s timeout ended the wait, not the 5 s run (no wall-clock bound: CI is busy)
    assert run_status(dr_hook, pipeline, info.value.run_id) == "CANCELLED"
    assert len(emu.request_log(method="DELETE")) == 1


@pytest.mark.parametrize("version", ["latest", "1"])
def test_version_latest_and_numeric_string(dr_hook, pipeline, version):
    ti = FakeTI()
    run_id = run_op(pipeline, version=version, wait_for_completion=False).execute(make_context(ti))
    assert ti.xcom["pipeline_version"] == 1
    assert run_status(dr_hook, pipeline, run_id, 1) in ACTIVE


# --- deferrable ----------------------------------------------------------------------------------
def test_deferrable_execute_defers_with_a_trigger_that_knows_everything(emu, emu_conn, pipeline):
    ti = FakeTI(dag_id="d", task_id="t", run_id="scheduled__x", map_index=2, try_number=3, start_date=ago(10))
    op = run_op(
        pipeline,
        payload=scripted(seconds=5),
        deferrable=True,
        timeout=600,
        execution_timeout=timedelta(hours=1),
        poll_interval=7,
        max_poll_interval=70,
        cancel_on_kill=False,
    )
    calls_before = len(emu.request_log())

    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context(ti))
    now = time.time()

    assert len(emu.request_log()) - calls_before <= 3
    deferred = info.value
    assert deferred.method_name == "execute_complete"
    trigger = deferred.trigger
    assert isinstance(trigger, DataRobotPipelineRunTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["pipeline_id"] == pipeline and kwargs["run_id"] == ti.xcom["run_id"] and kwargs["version"] == 1
    assert kwargs["conn_id"] == emu_conn
    assert (kwargs["poll_interval"], kwargs["max_poll_interval"]) == (7, 70)
    assert kwargs["end_time"] == pytest.approx(now + 600, abs=2)
    lead = 0.0 if AIRFLOW_V_3_0_PLUS else 30.0  # Airflow 2 enforces it too: beat it by 30 s
    assert kwargs["execution_deadline"] == pytest.approx(ti.start_date.timestamp() + 3600 - lead, abs=0.01)
    assert kwargs["cancel_on_kill"] is False and kwargs["cancel_on_timeout"] is True
    assert (kwargs["dag_id"], kwargs["task_id"], kwargs["dag_run_id"]) == ("d", "t", "scheduled__x")
    assert (kwargs["map_index"], kwargs["try_number"]) == (2, 3)
    assert EMU_TOKEN not in repr(kwargs)
    latest_deadline = max(kwargs["end_time"], kwargs["execution_deadline"])
    expected = timedelta(seconds=latest_deadline - now) + DEFERRAL_GRACE
    assert abs((deferred.timeout - expected).total_seconds()) < 2


def test_deferral_without_deadlines_has_no_timeout(emu, pipeline):
    calls_before = len(emu.request_log())
    with pytest.raises(TaskDeferred) as info:
        run_op(pipeline, version="latest", payload=scripted(seconds=5), deferrable=True).execute(make_context())
    assert info.value.timeout is None
    _, kwargs = info.value.trigger.serialize()
    assert kwargs["end_time"] is None and kwargs["execution_deadline"] is None
    assert kwargs["map_index"] == -1
    assert len(emu.request_log()) - calls_before <= 4


def test_deferrable_with_a_run_already_over_does_not_defer(emu, dr_hook, pipeline):
    input_id = dr_hook.create_input(pipeline, scripted(seconds=0.05), 1)["id"]
    run_id = dr_hook.create_run(pipeline, input_id, 1)["id"]
    emu.advance(1)  # the emulator's clock, past the run's scripted 0.05 s
    op = run_op(pipeline, input_id=input_id, deferrable=True, reuse_existing_run=False)
    store = FakeStateStore()
    store.set(RUN_STATE_KEY, {"pipeline_id": pipeline, "run_id": run_id, "version": 1})
    assert op.execute(make_context(store=store)) == run_id


# --- execute_complete ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad_event",
    [
        None,
        "COMPLETED",
        ["COMPLETED"],
        {"status": "COMPLETED"},
        {"run_id": "r", "pipeline_id": "p", "message": "m"},
        {"status": "", "run_id": "r", "pipeline_id": "p", "message": "m"},
        {"status": None, "run_id": "r", "pipeline_id": "p", "message": "m"},
    ],
)
def test_execute_complete_fails_closed_on_a_bad_event(bad_event):
    with fails_with(DataRobotPipelinesError):
        run_op("p", input_id="i").execute_complete(make_context(), bad_event)


def test_execute_complete_takes_the_ids_from_the_event(emu, emu_conn):
    op = run_op("some-other-pipeline", input_id="i")
    assert op.execute_complete(make_context(), event("COMPLETED", "run-from-event", "pipe-from-event")) == (
        "run-from-event"
    )
    assert emu.request_log() == []


@pytest.mark.parametrize(
    ("outcome", "event_status", "error"),
    [
        ("FAILED", "FAILED", PipelineRunError),
        ("ERRORED", "ERRORED", PipelineRunErroredError),
        ("COMPLETED", "SOMETHING_NEW", PipelineRunError),
    ],
)
def test_execute_complete_raises_for_every_other_end(emu, dr_hook, pipeline, outcome, event_status, error):
    run_id = start_run(dr_hook, pipeline, scripted(outcome, seconds=0.05))
    emu.advance(1)  # the emulator's clock, past the run's scripted 0.05 s
    with fails_with(error) as info:
        run_op("p", input_id="i").execute_complete(make_context(), event(event_status, run_id, pipeline))
    assert type(info.value) is error
    assert info.value.run_id == run_id and info.value.status == event_status
    if event_status == "SOMETHING_NEW":
        assert "does not know: 'SOMETHING_NEW'" in str(info.value)


def test_execute_complete_cancelled_is_a_failure(dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    dr_hook.cancel_run(pipeline, run_id, 1)
    with fails_with(PipelineRunError, "CANCELLED"):
        run_op("p", input_id="i").execute_complete(make_context(), event("CANCELLED", run_id, pipeline))


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_execute_complete_timeout_cancels_a_live_run(emu, dr_hook, pipeline, cancel_on_kill):
    """A timeout always cancels (like the trigger at its deadline); cancel_on_kill is about kills only."""
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    op = run_op("p", input_id="i", cancel_on_kill=cancel_on_kill)
    with fails_with(PipelineRunTimeoutError):
        op.execute_complete(make_context(), event("timeout", run_id, pipeline))
    assert run_status(dr_hook, pipeline, run_id) == "CANCELLED"


def test_execute_complete_timeout_of_a_finished_run_still_fails(emu, dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=0.05))
    emu.advance(1)  # the emulator's clock, past the run's scripted 0.05 s
    with fails_with(PipelineRunTimeoutError):
        run_op("p", input_id="i").execute_complete(make_context(), event("timeout", run_id, pipeline))
    assert run_status(dr_hook, pipeline, run_id) == "COMPLETED"


def test_execute_complete_error_on_a_live_run_defers_again(dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    op = run_op("p", input_id="i", deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute_complete(make_context(), event("error", run_id, pipeline))
    _, kwargs = info.value.trigger.serialize()
    assert (kwargs["pipeline_id"], kwargs["run_id"], kwargs["version"]) == (pipeline, run_id, 1)
    assert info.value.method_name == "execute_complete"


def test_a_re_deferral_keeps_the_runs_age_for_adaptive_polling(dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    started_long_ago = time.time() - 3600
    op = run_op("p", input_id="i", deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute_complete(make_context(), event("error", run_id, pipeline), run_started_at=started_long_ago)
    assert info.value.trigger.serialize()[1]["run_started_at"] == started_long_ago
    assert info.value.kwargs["run_started_at"] == started_long_ago


def test_execute_complete_error_on_a_completed_run_succeeds(emu, dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=0.05))
    emu.advance(1)  # the emulator's clock, past the run's scripted 0.05 s
    assert run_op("p", input_id="i").execute_complete(make_context(), event("error", run_id, pipeline)) == run_id


def test_execute_complete_error_on_an_unreachable_run_fails(emu, pipeline):
    with fails_with(DataRobotApiError, "could not be checked from the worker"):
        run_op("p", input_id="i").execute_complete(make_context(), event("error", "0123456789abcdef01234567", pipeline))


# --- on_kill -------------------------------------------------------------------------------------
def test_on_kill_while_waiting_cancels_the_run(emu, dr_hook, pipeline):
    op = run_op(pipeline, payload=scripted(seconds=5))
    killer = threading.Timer(0.3, op.on_kill)
    killer.start()
    try:
        with fails_with(PipelineRunError, "CANCELLED") as info:
            op.execute(make_context())
    finally:
        killer.cancel()
    assert run_status(dr_hook, pipeline, info.value.run_id) == "CANCELLED"
    assert len(emu.request_log(method="DELETE")) == 1


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_on_kill_of_a_tracked_run(emu, dr_hook, pipeline, cancel_on_kill):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    op = run_op(pipeline, input_id="i", cancel_on_kill=cancel_on_kill)
    op.on_kill()  # nothing tracked yet: nothing to cancel
    assert emu.request_log(method="DELETE") == []
    op._waiting_on = TrackedRun(pipeline, run_id, 1, "RUNNING")
    op.on_kill()
    assert len(emu.request_log(method="DELETE")) == int(cancel_on_kill)
    assert (run_status(dr_hook, pipeline, run_id) == "CANCELLED") is cancel_on_kill


def airflow_timeout(seconds: float) -> Any:
    """Airflow's own ``execution_timeout`` guard (SIGALRM, raises AirflowTaskTimeout in the main thread)."""
    from airflow.providers.common.compat.sdk import timeout

    return timeout(seconds)


def held_create_done(emu: Any, held_seconds: float) -> bool:
    """Whether the emulator has carried out the run create its delay rule held (the client may have gone)."""
    creates = emu.request_log(path=r"/dispatches/?$", method="POST")
    return any(entry["durationMs"] >= held_seconds * 1000 for entry in creates)


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_a_timeout_during_the_run_create_leaves_no_second_run(emu, dr_hook, pipeline, cancel_on_kill):
    """The server carries out a create after its client timed out: that try cancels the run (cancel_on_kill) or
    the next try follows it; either way no second run is started while it is going."""
    store = FakeStateStore()
    emu.add_fault(method="POST", path=r"/dispatches/?$", delay=1.0, commit=True, times=1)
    op = run_op(pipeline, payload=scripted(seconds=30), wait_for_completion=False, cancel_on_kill=cancel_on_kill)
    with pytest.raises(BaseException, match="Timeout"), airflow_timeout(0.3):
        op.execute(make_context(store=store))

    second = None
    if not cancel_on_kill:
        retry = run_op(pipeline, payload=scripted(seconds=30), wait_for_completion=False, cancel_on_kill=False)
        second = retry.execute(make_context(store=store))
    # try 1's, carried out by the server after its client gave up: a fault's delay is real time on purpose
    while not held_create_done(emu, 1.0):
        time.sleep(0.05)
    [first] = [r["id"] for r in dr_hook.iterate(dr_hook.list_runs, pipeline, 1)]
    if cancel_on_kill:
        assert run_status(dr_hook, pipeline, first) == "CANCELLED", "the timed-out try cancelled its create's run"
    else:
        assert second == first, "the next try followed the run the timed-out try's create made"
        dr_hook.cancel_run_if_active(pipeline, first, 1)


def test_a_failing_cancel_in_on_kill_is_logged_not_raised(emu, dr_hook, pipeline, caplog, capsys):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    emu.add_fault(method="DELETE", path=r"/dispatches/[^/]+/?$", status=503, times=0)
    op = run_op(pipeline, input_id="i")
    op._waiting_on = TrackedRun(pipeline, run_id, 1, "RUNNING")
    with caplog.at_level(logging.WARNING):
        op.on_kill()
    # Airflow >= 3.1 prints task logs; earlier versions log through stdlib logging.
    assert "Could not cancel this task's run" in capsys.readouterr().out + caplog.text
    emu.clear_faults()
    dr_hook.cancel_run_if_active(pipeline, run_id, 1)


# --- reattach (task state store) and reuse_existing_run ------------------------------------------
def test_first_try_stores_its_run(pipeline):
    store = FakeStateStore()
    run_id = run_op(pipeline, wait_for_completion=False).execute(make_context(store=store))
    assert store.data == {RUN_STATE_KEY: {"pipeline_id": pipeline, "run_id": run_id, "version": 1}}


@pytest.mark.parametrize(
    ("outcome", "wait_first", "reattaches"),
    [("COMPLETED", False, True), ("COMPLETED", True, True), ("FAILED", True, False), ("ERRORED", True, False)],
    ids=["still-running", "completed", "failed", "errored"],
)
def test_retry_reattaches_to_a_live_or_completed_run(emu, dr_hook, pipeline, outcome, wait_first, reattaches):
    store = FakeStateStore()
    payload = scripted(outcome, seconds=0.4)
    first = run_op(pipeline, payload=payload, wait_for_completion=False).execute(make_context(store=store))
    if wait_first:
        emu.advance(1)  # the emulator's clock, past the run's scripted 0.4 s
    else:
        assert run_status(dr_hook, pipeline, first) in ACTIVE

    second_op = run_op(pipeline, payload=scripted(seconds=0.2), wait_for_completion=False)
    second = second_op.execute(make_context(store=store))

    if reattaches:
        assert second == first
        assert emu.stats()["runs"] == 1 and emu.stats()["inputs"] == 1
    else:
        assert second != first
        assert emu.stats()["runs"] == 2
        assert store.data[RUN_STATE_KEY]["run_id"] == second


def test_retry_reattaches_in_deferrable_mode(emu, pipeline):
    store = FakeStateStore()
    first = run_op(pipeline, payload=scripted(seconds=5), wait_for_completion=False).execute(make_context(store=store))
    with pytest.raises(TaskDeferred) as info:
        run_op(pipeline, payload=scripted(seconds=5), deferrable=True).execute(make_context(store=store))
    assert info.value.trigger.run_id == first
    assert emu.stats()["runs"] == 1


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_a_try_after_one_that_ended_while_deferred_does_not_follow_its_run(emu, dr_hook, pipeline, cancel_on_kill):
    """The earlier try ended while deferred (cleared or marked failed): its trigger's on_kill cancels that run,
    so the next try must not reattach to it — it cancels it itself and starts afresh (unless cancel_on_kill=False)."""
    store = FakeStateStore()
    with pytest.raises(TaskDeferred) as deferred:
        run_op(pipeline, payload=scripted(seconds=5), deferrable=True, cancel_on_kill=cancel_on_kill).execute(
            make_context(store=store)
        )
    first = deferred.value.trigger.run_id
    assert store.data[RUN_STATE_KEY]["deferred"] is True

    second = run_op(
        pipeline, payload=scripted(seconds=5), wait_for_completion=False, cancel_on_kill=cancel_on_kill
    ).execute(make_context(store=store))

    if cancel_on_kill:
        assert second != first
        assert run_status(dr_hook, pipeline, first) == "CANCELLED"
        assert emu.stats()["runs"] == 2
    else:
        assert second == first
        assert emu.stats()["runs"] == 1


def test_not_durable_ignores_the_store(emu, pipeline):
    store = FakeStateStore()
    store.set(RUN_STATE_KEY, {"pipeline_id": pipeline, "run_id": "stale", "version": 1})
    first = run_op(pipeline, payload=scripted(seconds=5), wait_for_completion=False).execute(make_context(store=store))
    store.set(RUN_STATE_KEY, {"pipeline_id": pipeline, "run_id": first, "version": 1})

    second = run_op(pipeline, payload=scripted(seconds=5), wait_for_completion=False, durable=False).execute(
        make_context(store=store)
    )

    assert second != first and emu.stats()["runs"] == 2
    assert store.data[RUN_STATE_KEY]["run_id"] == first


def test_a_stored_run_of_another_pipeline_or_gone_is_ignored(emu, pipeline):
    for prior in (
        {"pipeline_id": "other", "run_id": "x", "version": 1},
        {"pipeline_id": pipeline, "run_id": "gone", "version": 1},
    ):
        store = FakeStateStore()
        store.set(RUN_STATE_KEY, prior)
        run_id = run_op(pipeline, wait_for_completion=False).execute(make_context(store=store))
        assert run_id not in ("x", "gone")
    assert emu.stats()["runs"] == 2


def test_reuse_existing_run_of_the_same_input(emu, dr_hook, pipeline):
    input_id = dr_hook.create_input(pipeline, scripted(seconds=5), 1)["id"]
    live = dr_hook.create_run(pipeline, input_id, 1)["id"]

    adopted = run_op(pipeline, input_id=input_id, reuse_existing_run=True, wait_for_completion=False).execute(
        make_context()
    )

    assert adopted == live
    assert emu.stats()["runs"] == 1 and emu.request_log(path="/dispatches$", method="POST")[1:] == []


def test_reuse_existing_run_of_an_input_with_the_same_payload(emu, dr_hook, pipeline):
    payload = scripted(seconds=5, limit=7)
    live = start_run(dr_hook, pipeline, payload)

    adopted = run_op(pipeline, payload=dict(payload), reuse_existing_run=True, wait_for_completion=False).execute(
        make_context()
    )

    assert adopted == live
    assert emu.stats()["runs"] == 1 and emu.stats()["inputs"] == 1


def test_reuse_existing_run_finds_a_live_run_behind_an_older_input_with_the_same_payload(emu, dr_hook, pipeline):
    payload = scripted(seconds=5, limit=8)
    live = start_run(dr_hook, pipeline, payload)
    dr_hook.create_input(pipeline, dict(payload), 1)  # a newer input with the same payload, and no run

    adopted = run_op(pipeline, payload=dict(payload), reuse_existing_run=True, wait_for_completion=False).execute(
        make_context()
    )

    assert adopted == live
    assert emu.stats()["runs"] == 1


def test_reuse_existing_run_starts_one_when_none_is_live(emu, dr_hook, pipeline):
    payload = scripted(seconds=0.05)
    finished = start_run(dr_hook, pipeline, payload)
    emu.advance(1)  # the emulator's clock, past the run's scripted 0.05 s
    new = run_op(pipeline, payload=payload, reuse_existing_run=True, wait_for_completion=False).execute(make_context())
    assert new != finished and emu.stats()["runs"] == 2


# --- faults during execute: the task succeeds, with exactly one input and one run ----------------
@pytest.mark.parametrize(
    "faults",
    [
        [{"method": "POST", "path": r"/inputs$", "status": 503, "retry_after": 0.01}],
        [{"method": "POST", "path": r"/inputs$", "status": 429}],
        [{"method": "POST", "path": r"/dispatches$", "status": 503, "retry_after": 0.01}],
        [{"method": "POST", "path": r"/dispatches$", "status": 429, "times": 2}],
        [{"method": "POST", "path": r"/dispatches$", "drop": True, "when": "after"}],
        [{"method": "POST", "path": r"/dispatches$", "status": 502, "when": "after"}],
        [{"method": "POST", "path": r"/inputs$", "drop": True, "when": "after"}],
        [{"method": "POST", "path": r"/inputs$", "status": 502, "when": "after", "html": True}],
        [{"method": "GET", "path": r"/status$", "drop": True, "times": 3}],
        [
            {"method": "POST", "path": r"/inputs$", "status": 503, "when": "after"},
            {"method": "GET", "path": r"/dispatches$", "status": 503},
            {"method": "POST", "path": r"/dispatches$", "drop": True, "when": "after"},
            {"method": "GET", "path": r"/status$", "status": 429, "retry_after": 0.01, "times": 2},
        ],
    ],
    ids=[
        "input-503",
        "input-429",
        "run-503",
        "run-429x2",
        "run-drop-after",
        "run-502-after",
        "input-drop-after",
        "input-502-after",
        "status-drops",
        "everything",
    ],
)
def test_faults_during_execute_make_no_duplicates(emu, dr_hook, pipeline, faults, conn_env):
    # A 5 s request timeout keeps a lost create's reconcile window at its 10 s floor (30 s timeouts make it 60 s).
    conn_env(host=emu.base_url, password=EMU_TOKEN, extra={"timeout": 5})
    for fault in faults:
        emu.add_fault(**fault)

    run_id = run_op(pipeline, payload=scripted(seconds=0.2)).execute(make_context())

    assert run_status(dr_hook, pipeline, run_id) == "COMPLETED"
    assert emu.stats()["inputs"] == 1 and emu.stats()["runs"] == 1
    faulted = [e for e in emu.request_log() if e["status"] not in (200, 201, 204)]
    assert len(faulted) >= len(faults)  # the faults did fire


# --- cancel and input operators ------------------------------------------------------------------
def cancel_op(pipeline_id: str, run_id: str, version: Any = 1) -> DataRobotCancelPipelineRunOperator:
    return DataRobotCancelPipelineRunOperator(
        task_id="cancel", pipeline_id=pipeline_id, run_id=run_id, version=version, hook_params=FAST_RETRIES
    )


@pytest.mark.parametrize("version", [1, "1", "latest"])
def test_cancel_a_live_run(dr_hook, pipeline, version):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    assert cancel_op(pipeline, run_id, version).execute(make_context()) is True
    assert run_status(dr_hook, pipeline, run_id) == "CANCELLED"


def test_cancel_a_finished_run_is_not_an_error(emu, dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=0.05))
    emu.advance(1)  # the emulator's clock, past the run's scripted 0.05 s
    assert cancel_op(pipeline, run_id).execute(make_context()) is False
    assert run_status(dr_hook, pipeline, run_id) == "COMPLETED"


def test_cancel_an_unknown_run_fails_saying_which_scope_was_searched(pipeline):
    with fails_with(DataRobotConfigError, "not found in version 1 of pipeline .* pass that version"):
        cancel_op(pipeline, "0123456789abcdef01234567").execute(make_context())


@pytest.mark.parametrize(
    ("fixture", "version", "path"),
    [
        ("draft_pipeline", None, "/inputs"),
        ("draft_pipeline", "draft", "/inputs"),
        ("pipeline", 1, "/versions/1/inputs"),
        ("pipeline", "latest", "/versions/1/inputs"),
    ],
)
def test_input_operator_returns_the_id_and_addresses_the_scope(emu, dr_hook, request, fixture, version, path):
    pipeline_id = request.getfixturevalue(fixture)
    op = DataRobotCreatePipelineInputOperator(
        task_id="i", pipeline_id=pipeline_id, payload={"n": "{{ x }}"}, version=version, hook_params=FAST_RETRIES
    )
    op.payload = {"n": "3"}  # as Airflow's template rendering leaves it

    input_id = op.execute(make_context())

    posts = emu.request_log(path="/inputs$", method="POST")
    assert [entry["path"] for entry in posts] == [f"/api/v2/pipelines/{pipeline_id}{path}"]
    assert dr_hook.get_input(pipeline_id, input_id, 1 if path.startswith("/versions") else None)["payload"] == {"n": 3}


# --- the token stays secret ----------------------------------------------------------------------
def test_token_is_in_no_log_record(caplog, capsys, monkeypatch, pipeline):
    """Stdlib records (caplog) and Airflow's task logs (stdout on Airflow >= 3.1), both at DEBUG."""
    try:
        from airflow._shared.logging.structlog import PER_LOGGER_LEVELS
    except ImportError:  # Airflow < 3.1 logs tasks through stdlib logging: caplog sees them
        caplog.set_level(logging.DEBUG, logger="airflow.task")
        monkeypatch.setattr(logging.getLogger("airflow.task"), "propagate", True)
    else:
        monkeypatch.setitem(PER_LOGGER_LEVELS, "airflow.task", logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    op = run_op(pipeline, payload=scripted("FAILED", seconds=0.2), timeout=30)

    with fails_with(PipelineRunError):
        op.execute(make_context())

    task_log = capsys.readouterr().out + caplog.text
    assert "Started run" in task_log
    assert "/status -> 200" in task_log  # the hook's per-request debug lines were emitted
    assert "Authorization" not in task_log
    assert EMU_TOKEN not in task_log
    assert caplog.records  # urllib3's debug records, at least
    assert all(EMU_TOKEN not in record.getMessage() for record in caplog.records)
    assert EMU_TOKEN not in caplog.text


def test_redeferring_after_an_error_event_keeps_the_original_timeout(dr_hook, pipeline):
    op = run_op(pipeline, payload=scripted(seconds=5), deferrable=True, timeout=600)
    with pytest.raises(TaskDeferred) as first:
        op.execute(make_context())
    first_end = first.value.trigger.end_time
    time.sleep(0.3)  # real time on purpose: a recomputed end_time would move with the worker's clock
    resumed = run_op(pipeline, payload=scripted(seconds=5), deferrable=True, timeout=600)  # a fresh instance

    with pytest.raises(TaskDeferred) as again:
        resumed.execute_complete(
            make_context(), event("error", first.value.trigger.run_id, pipeline), **(first.value.kwargs or {})
        )

    assert again.value.trigger.run_id == first.value.trigger.run_id
    assert again.value.trigger.end_time == pytest.approx(first_end, abs=0.01)


def test_redeferring_past_the_timeout_times_out_at_once_with_a_positive_backstop(dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    op = run_op(pipeline, input_id="i", deferrable=True, timeout=600)

    with pytest.raises(TaskDeferred) as again:
        op.execute_complete(make_context(), event("error", run_id, pipeline), end_time=time.time() - 3600)

    assert again.value.timeout == DEFERRAL_GRACE
    events = run_events(again.value.trigger)
    assert [e["status"] for e in events] == ["timeout"]
    assert run_status(dr_hook, pipeline, run_id) == "CANCELLED"
