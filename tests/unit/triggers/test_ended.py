"""DataRobotPipelineRunEndedTrigger against the emulator, and how the sensor starts on it."""

from __future__ import annotations

import inspect
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS

from airflow_provider_drpipelines.sensors import DataRobotPipelineRunSensor
from airflow_provider_drpipelines.triggers import DataRobotPipelineRunEndedTrigger
from airflow_provider_drpipelines.triggers.ended import CLASSPATH
from tests.unit.conftest import EMU_TOKEN, run_events, scripted, start_run


def emulator_now(emu: Any) -> str:
    return str(emu.advance(0)["now"])


@pytest.fixture
def make_trigger(emu_conn: str, pipeline: str):
    def make(**kwargs: Any) -> DataRobotPipelineRunEndedTrigger:
        arguments: dict[str, Any] = {
            "pipeline_id": pipeline,
            "version": 1,
            "conn_id": emu_conn,
            "poll_interval": 0.05,
            "max_poll_interval": 0.05,
            **kwargs,
        }
        return DataRobotPipelineRunEndedTrigger(**arguments)

    return make


def test_serialize_carries_every_constructor_parameter_and_no_secret(make_trigger):
    trigger = make_trigger(ended_after="2024-01-01T00:00:00+00:00", end_time=123.0, fail_on_failure=False)
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert set(kwargs) == set(inspect.signature(DataRobotPipelineRunEndedTrigger.__init__).parameters) - {"self"}
    assert json.loads(json.dumps(kwargs)) == kwargs and EMU_TOKEN not in repr(kwargs)
    assert DataRobotPipelineRunEndedTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_fires_for_the_first_run_ending_after_the_time_not_an_earlier_one(make_trigger, emu, dr_hook, pipeline):
    start_run(dr_hook, pipeline, scripted(seconds=1))
    emu.advance(600)  # ended before the time
    after = emulator_now(emu)
    failed = start_run(dr_hook, pipeline, scripted("FAILED", seconds=0.1, failing_task="score"))
    completed = start_run(dr_hook, pipeline, scripted(seconds=0.3))

    (strict,) = run_events(make_trigger(ended_after=after))
    (patient,) = run_events(make_trigger(ended_after=after, fail_on_failure=False))

    assert (strict["status"], strict["run_id"], strict["version"]) == ("FAILED", failed, 1)
    assert (patient["status"], patient["run_id"]) == ("COMPLETED", completed)


def test_a_deadline_ends_the_wait_with_a_timeout_event(make_trigger, emu):
    (event,) = run_events(make_trigger(ended_after="2999-01-01T00:00:00Z", end_time=0.0))
    assert event["status"] == "timeout" and "2999-01-01" in event["message"]


def test_an_unparsable_rendered_time_is_a_clear_error_event(make_trigger):
    (event,) = run_events(make_trigger(ended_after="not a time"))
    assert event["status"] == "error" and "ended_after is not an ISO-8601 time" in event["message"]


@pytest.mark.parametrize("deferrable", [True, False])
def test_the_sensor_starts_in_the_triggerer_only_on_airflow_3_3_when_deferrable(deferrable):
    sensor = DataRobotPipelineRunSensor(
        task_id="watch", pipeline_name="p", ended_after="{{ data_interval_end }}", deferrable=deferrable, timeout=90
    )
    starts = AIRFLOW_V_3_3_PLUS and deferrable
    assert bool(getattr(sensor, "start_from_trigger", False)) is starts
    if starts:
        args = sensor.start_trigger_args
        assert (args.trigger_cls, args.next_method, args.timeout.total_seconds()) == (CLASSPATH, "execute_complete", 90)
        assert args.trigger_kwargs["ended_after"] == "{{ data_interval_end }}"  # rendered in the triggerer
        assert DataRobotPipelineRunEndedTrigger(**args.trigger_kwargs).serialize()[1] == args.trigger_kwargs


def test_a_datetime_is_carried_as_iso_8601():
    when = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    sensor = DataRobotPipelineRunSensor(task_id="watch", pipeline_id="p", ended_after=when, deferrable=True)
    assert sensor._ended_trigger_kwargs(when, None)["ended_after"] == "2024-05-01T12:00:00+00:00"
