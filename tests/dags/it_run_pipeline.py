"""DAGs the integration tests run with dag.test(); each reads the pipeline id and run script from the run conf."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_drpipelines.operators import DataRobotRunPipelineOperator
from airflow_provider_drpipelines.sensors import DataRobotPipelineRunSensor

PAYLOAD = {
    "batch_date": "{{ ds }}",
    "limit": "{{ dag_run.conf.get('limit', 10) }}",
    "_emulator": "{{ dag_run.conf.get('script', {}) }}",
}
PIPELINE_ID = "{{ dag_run.conf['pipeline_id'] }}"
FAST = {"poll_interval": 0.2, "max_poll_interval": 0.5, "hook_params": {"retry_delay": 0.05}}


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False)


def _run_dag(dag_id: str, **operator_kwargs: object) -> DAG:
    with _dag(dag_id) as dag:
        DataRobotRunPipelineOperator(
            task_id="run", pipeline_id=PIPELINE_ID, version="latest", **{"payload": PAYLOAD, **FAST, **operator_kwargs}
        )
    return dag


it_run_worker = _run_dag("it_run_worker", deferrable=False)
it_run_deferrable = _run_dag("it_run_deferrable", deferrable=True)
it_timeout_worker = _run_dag("it_timeout_worker", deferrable=False, timeout=1.5)
it_timeout_deferrable = _run_dag("it_timeout_deferrable", deferrable=True, timeout=1.5)


# A kill while the run's create is in flight: Airflow's execution timeout (then a retry), SIGTERM, or a timeout
# whose cancel keeps failing; each failure's exception class is recorded for the test to read.
FAILURES: list[str] = []


def _record_failure(context: Any) -> None:
    if "exception" in context:  # dag.test() on Airflow 3.0 runs no failure callback, on 3.2 passes no exception
        FAILURES.append(type(context["exception"]).__name__)


it_kill_timeout = _run_dag(  # try 1's run would take 30 s, try 2's 0.2 s
    "it_kill_timeout",
    deferrable=False,
    execution_timeout=timedelta(seconds=2),
    retries=1,
    retry_delay=timedelta(0),
    payload={**PAYLOAD, "_emulator": "{{ {'seconds': 30 if ti.try_number == 1 else 0.2} }}"},
)
it_kill_sigterm_worker = _run_dag("it_kill_sigterm_worker", deferrable=False)
it_kill_sigterm_deferrable = _run_dag("it_kill_sigterm_deferrable", deferrable=True)
it_kill_cancel_fails = _run_dag(
    "it_kill_cancel_fails",
    deferrable=False,
    execution_timeout=timedelta(seconds=2),
    on_failure_callback=_record_failure,
)


def _fire_and_watch(dag_id: str, deferrable: bool) -> DAG:
    with _dag(dag_id) as dag:
        start = DataRobotRunPipelineOperator(
            task_id="start", pipeline_id=PIPELINE_ID, version="latest", payload=PAYLOAD, wait_for_completion=False
        )
        DataRobotPipelineRunSensor(
            task_id="watch",
            pipeline_id=PIPELINE_ID,
            run_id=start.output,
            version="{{ ti.xcom_pull(task_ids='start', key='pipeline_version') }}",
            poke_interval=0.2,
            max_poll_interval=0.5,
            deferrable=deferrable,
        )
    return dag


it_watch_poke = _fire_and_watch("it_watch_poke", deferrable=False)
it_watch_deferrable = _fire_and_watch("it_watch_deferrable", deferrable=True)


def _next_run(dag_id: str, deferrable: bool, fail_on_failure: bool = True) -> DAG:
    """Start runs without waiting, and wait for the first run of any locked version ending after conf's time."""
    with _dag(dag_id) as dag:
        starts = [
            DataRobotRunPipelineOperator(
                task_id=name,
                pipeline_id=PIPELINE_ID,
                version="latest",
                payload={**PAYLOAD, "_emulator": f"{{{{ dag_run.conf.get('{script}', {{}}) }}}}", "task": name},
                wait_for_completion=False,
            )
            for name, script in (("start_bad", "script_bad"), ("start", "script"))
        ]
        # The bad run is created first, so it ends first however long each task takes to start; the watch comes
        # after both: dag.test() on Airflow 2 runs one task at a time.
        (
            starts[0]
            >> starts[1]
            >> DataRobotPipelineRunSensor(
                task_id="watch",
                pipeline_id=PIPELINE_ID,
                ended_after="{{ dag_run.conf['ended_after'] }}",
                fail_on_failure=fail_on_failure,
                poke_interval=0.2,
                max_poll_interval=0.5,
                timeout=60,
                deferrable=deferrable,
            )
        )
    return dag


it_next_poke = _next_run("it_next_poke", deferrable=False)
it_next_deferrable = _next_run("it_next_deferrable", deferrable=True)
it_next_patient_poke = _next_run("it_next_patient_poke", deferrable=False, fail_on_failure=False)
it_next_patient_deferrable = _next_run("it_next_patient_deferrable", deferrable=True, fail_on_failure=False)
