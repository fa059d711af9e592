"""DataRobotPipelineRunSensor against the emulator: poke, deferral and the resumed event."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, TaskDeferred

from airflow_provider_drpipelines.exceptions import DataRobotConfigError, DataRobotPipelinesError, PipelineRunError
from airflow_provider_drpipelines.sensors import DataRobotPipelineRunSensor
from airflow_provider_drpipelines.triggers import DataRobotPipelineRunTrigger
from airflow_provider_drpipelines.triggers.base import DEFERRAL_GRACE
from tests.unit.conftest import EMU_TOKEN, FakeTI, make_context, scripted, start_run


def sensor(pipeline_id: str, run_id: str, **kwargs: Any) -> DataRobotPipelineRunSensor:
    arguments: dict[str, Any] = {
        "task_id": "wait",
        "pipeline_id": pipeline_id,
        "run_id": run_id,
        "version": 1,
        "poke_interval": 0.05,
        **kwargs,
    }
    return DataRobotPipelineRunSensor(**arguments)


def event(status: str, run_id: str, pipeline_id: str) -> dict[str, Any]:
    return {"status": status, "run_id": run_id, "pipeline_id": pipeline_id, "version": 1, "message": f"it is {status}"}


def end_the_run(emu: Any, hook: Any, pipeline_id: str, run_id: str, version: int | None = 1) -> None:
    """Move the emulator's clock past the run's scripted seconds (under 1 s in these tests): it has ended."""
    emu.advance(1)
    assert hook.get_run_status(pipeline_id, run_id, version)["status"] not in {"PENDING", "PREPARING", "RUNNING"}


@pytest.mark.parametrize("version", [1, "1"])
def test_poke_is_false_while_running_then_true_on_completed(emu, dr_hook, pipeline, version):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=0.3))
    waiter = sensor(pipeline, run_id, version=version)

    assert waiter.poke(make_context()) is False
    end_the_run(emu, dr_hook, pipeline, run_id)
    assert waiter.poke(make_context()) is True


def test_poke_a_draft_run(emu, dr_hook, draft_pipeline):
    run_id = start_run(dr_hook, draft_pipeline, scripted(seconds=0.05), version=None)
    end_the_run(emu, dr_hook, draft_pipeline, run_id, None)
    assert sensor(draft_pipeline, run_id, version=None).poke(make_context()) is True


@pytest.mark.parametrize(("outcome", "detail"), [("FAILED", "Task 'score' FAILED"), ("ERRORED", "ended ERRORED")])
def test_poke_raises_with_details_when_the_run_fails(emu, dr_hook, pipeline, outcome, detail):
    run_id = start_run(dr_hook, pipeline, scripted(outcome, seconds=0.05, failing_task="score"))
    end_the_run(emu, dr_hook, pipeline, run_id)

    with pytest.raises(PipelineRunError) as info:
        sensor(pipeline, run_id).poke(make_context())

    assert info.value.status == outcome and info.value.run_id == run_id
    assert detail in str(info.value)
    assert EMU_TOKEN not in str(info.value)


def test_poke_raises_when_the_run_was_cancelled(dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    dr_hook.cancel_run(pipeline, run_id, 1)
    with pytest.raises(PipelineRunError, match="CANCELLED"):
        sensor(pipeline, run_id).poke(make_context())


@pytest.mark.parametrize("version", ["banana", 0, -1, True])
def test_a_version_that_is_no_version_is_refused_before_any_call(emu, emu_conn, version):
    with pytest.raises(DataRobotConfigError, match="version must be"):
        sensor("p", "r", version=version).poke(make_context())
    assert emu.request_log() == []


def test_latest_and_a_rendered_none_read_the_version_as_operators_do(dr_hook, pipeline, emu):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=0.05))
    end_the_run(emu, dr_hook, pipeline, run_id)
    latest = sensor(pipeline, run_id, version="latest")
    assert latest.poke(make_context()) and latest.poke(make_context())
    assert len(emu.request_log(method="GET", path=rf"/pipelines/{pipeline}$")) == 1, "latest resolved once"
    assert sensor(pipeline, "r", version="None")._run_version() is None


def test_deferrable_execute_defers_without_owning_the_run(emu_conn, dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    ti = FakeTI(dag_id="d", task_id="w", run_id="manual__x", map_index=None, try_number=2)
    waiter = sensor(pipeline, run_id, version="1", deferrable=True, timeout=120, max_poll_interval=9)

    with pytest.raises(TaskDeferred) as info:
        waiter.execute(make_context(ti))
    now = time.time()

    trigger = info.value.trigger
    assert isinstance(trigger, DataRobotPipelineRunTrigger)
    assert info.value.method_name == "execute_complete"
    _, kwargs = trigger.serialize()
    assert (kwargs["pipeline_id"], kwargs["run_id"], kwargs["version"], kwargs["conn_id"]) == (
        pipeline,
        run_id,
        1,
        emu_conn,
    )
    assert kwargs["cancel_on_timeout"] is False and kwargs["cancel_on_kill"] is False
    assert (kwargs["poll_interval"], kwargs["max_poll_interval"]) == (0.05, 9)
    assert kwargs["end_time"] == pytest.approx(now + 120, abs=2)
    assert (kwargs["dag_id"], kwargs["task_id"], kwargs["dag_run_id"], kwargs["map_index"], kwargs["try_number"]) == (
        "d",
        "w",
        "manual__x",
        -1,
        2,
    )
    assert info.value.timeout == pytest.approx(timedelta(seconds=120) + DEFERRAL_GRACE, abs=timedelta(seconds=2))


def test_deferrable_sensor_can_opt_into_cancel_on_kill(dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    with pytest.raises(TaskDeferred) as info:
        sensor(pipeline, run_id, deferrable=True, cancel_on_kill=True).execute(make_context())
    assert info.value.trigger.cancel_on_kill is True
    assert info.value.trigger.cancel_on_timeout is False


def test_deferrable_execute_of_a_finished_run_does_not_defer(emu, dr_hook, pipeline):
    done = start_run(dr_hook, pipeline, scripted(seconds=0.05))
    failed = start_run(dr_hook, pipeline, scripted("FAILED", seconds=0.05))
    end_the_run(emu, dr_hook, pipeline, done)
    end_the_run(emu, dr_hook, pipeline, failed)

    assert sensor(pipeline, done, deferrable=True).execute(make_context()) is None
    with pytest.raises(PipelineRunError):
        sensor(pipeline, failed, deferrable=True).execute(make_context())


# --- execute_complete ----------------------------------------------------------------------------
def test_execute_complete_timeout_is_a_sensor_timeout(emu, dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted(seconds=5))
    with pytest.raises(AirflowSensorTimeout, match="it is timeout"):
        sensor(pipeline, run_id).execute_complete(make_context(), event("timeout", run_id, pipeline))
    assert emu.request_log(method="DELETE") == []  # the sensor does not own the run


def test_execute_complete_error_fails(emu_conn):
    with pytest.raises(DataRobotPipelinesError, match="it is error") as info:
        sensor("p", "r").execute_complete(make_context(), event("error", "r", "p"))
    assert not isinstance(info.value, AirflowSensorTimeout)


def test_execute_complete_completed_returns(emu, emu_conn):
    assert sensor("p", "r").execute_complete(make_context(), event("COMPLETED", "r", "p")) is None
    assert emu.request_log() == []


def test_execute_complete_failed_raises_with_details(emu, dr_hook, pipeline):
    run_id = start_run(dr_hook, pipeline, scripted("FAILED", seconds=0.05, failing_task="publish"))
    end_the_run(emu, dr_hook, pipeline, run_id)
    with pytest.raises(PipelineRunError, match="Task 'publish' FAILED"):
        sensor(pipeline, run_id).execute_complete(make_context(), event("FAILED", run_id, pipeline))


@pytest.mark.parametrize("bad_event", [None, {}, {"status": "COMPLETED"}, "COMPLETED"])
def test_execute_complete_fails_closed(emu_conn, bad_event):
    with pytest.raises(DataRobotPipelinesError):
        sensor("p", "r").execute_complete(make_context(), bad_event)
