"""``DataRobotReadinessTrigger``'s serialization: every constructor argument survives a triggerer restart."""

from __future__ import annotations

import inspect
import json

from airflow_provider_drpipelines.readiness import DataRobotReadinessTrigger
from airflow_provider_drpipelines.triggers.readiness import CLASSPATH


def test_serialize_writes_the_stored_classpath_and_only_primitives() -> None:
    trigger = DataRobotReadinessTrigger(kind="pipeline_version", resource_id="p1", version=2, resume={"a": [1]})

    classpath, kwargs = trigger.serialize()

    assert classpath == CLASSPATH == "airflow_provider_drpipelines.readiness.DataRobotReadinessTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs


def test_serialize_carries_every_constructor_parameter() -> None:
    """An argument serialize() forgot would silently fall back to its default after a triggerer restart."""
    parameters = set(inspect.signature(DataRobotReadinessTrigger.__init__).parameters) - {"self"}
    _, kwargs = DataRobotReadinessTrigger(kind="pipeline_version", resource_id="p1", version=2).serialize()
    assert set(kwargs) == parameters
    # Non-default values survive the round trip one by one (a dropped key would come back as its default).
    changed = {
        "kind": "image_version", "resource_id": "i9", "version": 5, "conn_id": "other", "poll_interval": 1.5,
        "max_poll_interval": 2.5, "started_at": 123.0, "end_time": 456.0, "max_consecutive_errors": 4,
        "resume": {"image_id": "i9"},
    }  # fmt: skip
    _, again = DataRobotReadinessTrigger(**{**kwargs, **changed}).serialize()
    assert {key: again[key] for key in changed} == changed
