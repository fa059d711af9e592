"""Every branch the provider takes on the Airflow version, in one place.

Each names the versions it serves and when it can go. Imports that merely moved between versions come
from ``apache-airflow-providers-common-compat``; what it lacks lives here. Imported only where used (not
at DAG parse time).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS

#: Airflow >= 3.3 calls a trigger's ``on_kill`` when a person acts on its deferred task (clear, mark
#: failed or success). Before 3.3 a trigger only sees ``CancelledError`` and must read its task instance to
#: tell a kill from a triggerer restart (:func:`read_task_instance`). Both go when 3.3 is the floor.
TRIGGER_ON_KILL = AIRFLOW_V_3_3_PLUS


#: Airflow >= 3.0 schedules DAGs on events: an ``AssetWatcher`` runs a ``BaseEventTrigger``. Before 3.0 the
#: name is the plain ``BaseTrigger``, so the event trigger's module imports and its constructor refuses clearly.
#: Goes when 3.0 is the floor.
if AIRFLOW_V_3_0_PLUS:
    from airflow.triggers.base import BaseEventTrigger as BaseEventTrigger  # noqa: PLC0414 - re-exported
else:
    from airflow.triggers.base import BaseTrigger as BaseEventTrigger  # type: ignore[assignment]  # noqa: F401

#: Airflow >= 3.3 gives an event trigger its watched asset's ``asset_state_store``, which outlives a triggerer
#: restart and a move to another triggerer; before 3.3 the event trigger keeps its state in memory only.
ASSET_STATE_STORE = AIRFLOW_V_3_3_PLUS


#: Airflow 3.3 starts a task in the triggerer when it sets ``start_from_trigger`` (2.10-2.11 could too, 3.0-3.2
#: ignore it: ``dagrun.schedule_tis`` had it disabled); the sensor uses it only on 3.3. Goes when 3.3 is the floor.
START_FROM_TRIGGER = AIRFLOW_V_3_3_PLUS


def start_trigger_args(trigger_cls: str, trigger_kwargs: dict[str, Any], timeout: float | None) -> Any:
    """``StartTriggerArgs`` resuming in ``execute_complete``, imported only for a task that starts in the triggerer."""
    from datetime import timedelta

    from airflow.triggers.base import StartTriggerArgs

    return StartTriggerArgs(
        trigger_cls=trigger_cls,
        trigger_kwargs=trigger_kwargs,
        next_method="execute_complete",
        next_kwargs=None,
        timeout=None if timeout is None else timedelta(seconds=timeout),
    )


def task_state_store(context: Mapping[str, Any]) -> Any:
    """Airflow >= 3.3's per-task store that outlives a try (``context["task_state_store"]``); None before 3.3.

    Becomes a plain ``context["task_state_store"]`` when 3.3 is the floor.
    """
    return context.get("task_state_store")


#: Airflow 2.11 enforces ``execution_timeout`` on a deferred task itself, without cancelling the run, so the
#: trigger's execution deadline comes this much earlier there and cancels first. Goes with Airflow 2 support.
_AIRFLOW2_EXECUTION_DEADLINE_LEAD = 30.0


def execution_deadline_lead() -> float:
    """Seconds the trigger's execution deadline comes before ``execution_timeout``: 30 on Airflow 2, else 0."""
    return 0.0 if AIRFLOW_V_3_0_PLUS else _AIRFLOW2_EXECUTION_DEADLINE_LEAD


#: Seconds Airflow 3's task supervisor waits between the SIGTERM it sends (mark failed, a lost heartbeat) and
#: SIGKILL: the escalation delay of ``ActivitySubprocess.kill``. Airflow 2 reads ``killed_task_cleanup_time``.
_AIRFLOW3_SIGTERM_GRACE = 5.0


def sigterm_grace() -> float:
    """Seconds a task process has after Airflow's SIGTERM before SIGKILL: 5 on Airflow 3, else the config's (60)."""
    if AIRFLOW_V_3_0_PLUS:
        return _AIRFLOW3_SIGTERM_GRACE
    from airflow.configuration import conf

    return conf.getfloat("core", "killed_task_cleanup_time", fallback=60.0)


def handling_execution_timeout() -> bool:
    """Whether Airflow is handling a task's execution timeout right now: it calls ``on_kill`` from that handler."""
    from airflow.providers.common.compat.sdk import AirflowTaskTimeout

    return isinstance(sys.exc_info()[1], AirflowTaskTimeout)


def read_task_instance(dag_id: str, task_id: str, dag_run_id: str, map_index: int) -> tuple[str | None, int | None]:
    """The task instance's current state (and try number where known), read synchronously; for Airflow < 3.3.

    Airflow 3.0-3.2: asked of the API server through the triggerer's supervisor (no try number there).
    Airflow 2.11: read from the metadata database.
    """
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        states = RuntimeTaskInstance.get_task_states(
            dag_id=dag_id, map_index=map_index, task_ids=[task_id], run_ids=[dag_run_id]
        )
        key = task_id if map_index < 0 else f"{task_id}_{map_index}"
        return states.get(dag_run_id, {}).get(key), None
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter_by(dag_id=dag_id, task_id=task_id, run_id=dag_run_id, map_index=map_index)
            .one_or_none()
        )
        return (None, None) if ti is None else (ti.state, ti.try_number)


def connection_form_widgets() -> dict[str, Any]:
    """The connection's extras as wtforms widgets, for Airflow 2.11-3.1 whose UI ignores provider-info
    ``conn-fields`` (3.2+ reads those and never calls this). Goes when 3.2 is the floor."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import StringField
    from wtforms.validators import Optional

    from airflow_provider_drpipelines.connection import EXTRA_FIELDS

    return {
        f.name: StringField(
            lazy_gettext(f.label),
            widget=BS3TextFieldWidget(),
            description=f.description,
            validators=[Optional()],
        )
        for f in EXTRA_FIELDS
    }
