"""Real DAG files run with dag.test() against the emulator: outcomes, cancellation, timeouts, faults, secrets."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_drpipelines.emulator import EmulatorServer
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests.integration.conftest import REPO, TOKEN, DagResult, dag_module, run_dag

pytestmark = pytest.mark.integration

DAGS = REPO / "tests" / "dags" / "it_run_pipeline.py"
BOTH_MODES = pytest.mark.parametrize("mode", ["worker", "deferrable"])


@pytest.fixture
def hook(emulator: EmulatorServer) -> DataRobotPipelinesHook:
    return DataRobotPipelinesHook(retry_delay=0.05)


@pytest.fixture
def new_runs(hook: DataRobotPipelinesHook, pipeline_id: str) -> Iterator[Any]:
    """Call it after the DAG ran: the runs (and inputs) the test created, newest first."""
    runs_before = {r["id"] for r in hook.iterate(hook.list_runs, pipeline_id, 1)}
    inputs_before = {i["id"] for i in hook.iterate(hook.list_inputs, pipeline_id, 1)}

    def created() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        runs = [r for r in hook.iterate(hook.list_runs, pipeline_id, 1) if r["id"] not in runs_before]
        inputs = [i for i in hook.iterate(hook.list_inputs, pipeline_id, 1) if i["id"] not in inputs_before]
        return runs, inputs

    yield created


def _run(dag_id: str, pipeline_id: str, **conf: Any) -> DagResult:
    return run_dag(DAGS, dag_id, {"pipeline_id": pipeline_id, **conf})


@BOTH_MODES
def test_run_succeeds_and_publishes_run_id_and_url(
    mode: str, pipeline_id: str, emulator: EmulatorServer, new_runs: Any, task_log: Any
) -> None:
    result = _run(f"it_run_{mode}", pipeline_id)

    assert result.state == "success", result
    runs, inputs = new_runs()
    assert len(runs) == 1 and len(inputs) == 1
    run_id = runs[0]["id"]
    assert runs[0]["status"] == "COMPLETED" and runs[0]["inputId"] == inputs[0]["id"]
    assert result.xcoms[("run", "return_value")] == run_id
    assert result.xcoms[("run", "run_id")] == run_id
    assert result.xcoms[("run", "run_url")] == f"{emulator.base_url}/pipelines/{pipeline_id}/runs/{run_id}"
    assert result.xcoms[("run", "pipeline_version")] == 1
    assert inputs[0]["payload"]["limit"] == 10, "a value written as one {{ }} expression renders natively"
    # Airflow 3.0's supervisor logs the request that registers the token for masking (MaskSecret) at DEBUG:
    # that line is Airflow's own; nothing else may carry the token.
    assert TOKEN not in "\n".join(line for line in task_log().splitlines() if "MaskSecret(" not in line)


@BOTH_MODES
def test_failed_run_fails_the_task_naming_the_failing_task(mode: str, pipeline_id: str, task_log: Any) -> None:
    result = _run(f"it_run_{mode}", pipeline_id, script={"outcome": "FAILED", "failing_task": "score"})

    assert result.task_states == {"run": "failed"}
    log = task_log()
    assert "PipelineRunError" in log
    assert "ended FAILED" in log
    assert "Task 'score' FAILED: ValueError: scripted failure in task 'score'" in log
    assert "Traceback (most recent call last)" in log, "the tail of the failing task's log is in the task log"


@BOTH_MODES
def test_errored_run_raises_its_own_retryable_error(mode: str, pipeline_id: str, task_log: Any) -> None:
    result = _run(f"it_run_{mode}", pipeline_id, script={"outcome": "ERRORED"})

    assert result.task_states == {"run": "failed"}
    log = task_log()
    assert "PipelineRunErroredError" in log
    assert "ended ERRORED" in log


def _cancel_first_new_run(hook: DataRobotPipelinesHook, pipeline_id: str, known: set[str]) -> threading.Thread:
    def cancel() -> None:
        deadline = time.monotonic() + 120  # Airflow 3.0's dag.test() may take many seconds to start the task
        while time.monotonic() < deadline:
            fresh = [r for r in hook.iterate(hook.list_runs, pipeline_id, 1) if r["id"] not in known]
            if fresh:
                hook.cancel_run(pipeline_id, fresh[0]["id"], 1)
                return
            time.sleep(0.05)  # real time on purpose: waits for the DAG's worker to create its run

    thread = threading.Thread(target=cancel, daemon=True)
    thread.start()
    return thread


@BOTH_MODES
def test_run_cancelled_elsewhere_fails_the_task(
    mode: str, pipeline_id: str, hook: DataRobotPipelinesHook, new_runs: Any, task_log: Any
) -> None:
    known = {r["id"] for r in hook.iterate(hook.list_runs, pipeline_id, 1)}
    canceller = _cancel_first_new_run(hook, pipeline_id, known)

    result = _run(f"it_run_{mode}", pipeline_id, script={"seconds": 20})
    canceller.join(timeout=5)
    assert not canceller.is_alive()

    assert result.task_states == {"run": "failed"}
    runs, _ = new_runs()
    assert [r["status"] for r in runs] == ["CANCELLED"]
    assert "ended CANCELLED" in task_log()


@BOTH_MODES
def test_timeout_cancels_the_run(mode: str, pipeline_id: str, new_runs: Any, task_log: Any) -> None:
    result = _run(f"it_timeout_{mode}", pipeline_id, script={"seconds": 30})

    assert result.task_states == {"run": "failed"}
    runs, _ = new_runs()
    # CANCELLED, not COMPLETED: the 1.5 s timeout ended the wait, not the 30 s run (no wall-clock bound: on a
    # busy machine Airflow 3.0's dag.test() alone takes seconds to start each task)
    assert [r["status"] for r in runs] == ["CANCELLED"]
    assert "PipelineRunTimeoutError" in task_log()


@BOTH_MODES
def test_sensor_follows_a_run_started_without_waiting(mode: str, pipeline_id: str, new_runs: Any) -> None:
    result = _run(f"it_watch_{'deferrable' if mode == 'deferrable' else 'poke'}", pipeline_id)

    assert result.task_states == {"start": "success", "watch": "success"}
    runs, _ = new_runs()
    assert result.xcoms[("start", "return_value")] == runs[0]["id"]
    assert runs[0]["status"] == "COMPLETED"


def test_sensor_fails_when_the_watched_run_fails(pipeline_id: str, task_log: Any) -> None:
    result = _run("it_watch_poke", pipeline_id, script={"outcome": "FAILED", "failing_task": "publish"})

    assert result.task_states == {"start": "success", "watch": "failed"}
    assert "Task 'publish' FAILED" in task_log()


@BOTH_MODES
def test_transient_faults_neither_lose_nor_duplicate_the_run(
    mode: str, pipeline_id: str, emulator: EmulatorServer, new_runs: Any
) -> None:
    creates_before = len(emulator.request_log(path=r"/dispatches/?$", method="POST"))
    emulator.add_fault(method="POST", path=r"/inputs/?$", status=503, retry_after=0.1, times=1)
    emulator.add_fault(method="POST", path=r"/dispatches/?$", status=429, retry_after=0.1, times=1)
    emulator.add_fault(method="POST", path=r"/dispatches/?$", drop=True, when="after", times=1)
    emulator.add_fault(method="GET", path=r"/status/?$", drop=True, times=2)
    emulator.add_fault(method="GET", path=r"/status/?$", status=503, retry_after=0.1, times=1)
    try:
        result = _run(f"it_run_{mode}", pipeline_id, limit=4000 + len(mode))  # a payload no earlier input has
    finally:
        emulator.clear_faults()

    assert result.state == "success", result
    runs, inputs = new_runs()
    assert len(runs) == 1, "the run created behind the dropped answer was adopted, not duplicated"
    assert len(inputs) == 1
    assert result.xcoms[("run", "return_value")] == runs[0]["id"]
    creates = len(emulator.request_log(path=r"/dispatches/?$", method="POST")) - creates_before
    assert creates == 2, "a 429, then a create whose answer was dropped, and no third create"


@pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 3.0-3.2 ask the API server (unit-tested)")
def test_airflow2_kill_check_reads_the_task_instance_from_the_database(pipeline_id: str) -> None:
    from airflow_provider_drpipelines.version_compat import read_task_instance

    result = _run("it_run_worker", pipeline_id)

    assert read_task_instance("it_run_worker", "run", result.run_id, -1) == ("success", 1)
    assert read_task_instance("it_run_worker", "run", "no-such-run", -1) == (None, None)


# --- a kill while the run's create is in flight -------------------------------------------------------------
RUN_CREATE = r"/dispatches/?$"


def _once_the_create_is_held(emulator: EmulatorServer, then: Any) -> threading.Thread:
    """Call ``then`` from a thread once the emulator holds the run create its delay rule was added for."""

    def watch() -> None:
        for _ in range(600):
            if not any(rule["path"] == RUN_CREATE for rule in emulator.faults()):
                then()
                return
            time.sleep(0.05)  # real time on purpose: waits for the DAG's worker to send its create

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _run_to_its_kill(dag_id: str, pipeline_id: str, **conf: Any) -> DagResult | None:
    """Airflow 2's dag.test() re-raises a task's timeout or SIGTERM (BaseExceptions there) and stops at that try."""
    if AIRFLOW_V_3_0_PLUS:
        return _run(dag_id, pipeline_id, **conf)
    with pytest.raises(BaseException, match=r"Timeout|SIGTERM"):
        _run(dag_id, pipeline_id, **conf)
    return None


def test_execution_timeout_during_the_run_create_cancels_its_run_before_the_retry(
    pipeline_id: str, emulator: EmulatorServer, new_runs: Any
) -> None:
    creates_before = len(emulator.request_log(path=RUN_CREATE, method="POST"))
    # Try 1 times out after 2 s; the server carries out its create after 5 s all the same.
    emulator.add_fault(method="POST", path=RUN_CREATE, delay=5, commit=True, times=1)
    try:
        result = _run_to_its_kill("it_kill_timeout", pipeline_id)
    finally:
        emulator.clear_faults()

    runs, _ = new_runs()
    if result is None:  # Airflow 2: dag.test() stops after try 1
        assert [r["status"] for r in runs] == ["CANCELLED"], "try 1's run was found and cancelled"
        return
    assert result.state == "success", result
    by_status = {r["status"]: r["id"] for r in runs}
    assert sorted(r["status"] for r in runs) == ["CANCELLED", "COMPLETED"], "try 1's run was found and cancelled"
    assert result.xcoms[("run", "return_value")] == by_status["COMPLETED"]
    cancel = emulator.request_log(path=f"/dispatches/{by_status['CANCELLED']}$", method="DELETE")
    retry_create = emulator.request_log(path=RUN_CREATE, method="POST")[creates_before:][-1]
    assert cancel[0]["time"] < retry_create["time"], "try 2 created its run only once try 1's was cancelled"


@BOTH_MODES
def test_sigterm_during_the_run_create_cancels_the_run_it_made(
    mode: str, pipeline_id: str, emulator: EmulatorServer, new_runs: Any, task_log: Any
) -> None:
    emulator.add_fault(method="POST", path=RUN_CREATE, delay=3, commit=True, times=1)
    killer = _once_the_create_is_held(emulator, lambda: os.kill(os.getpid(), signal.SIGTERM))
    try:
        result = _run_to_its_kill(f"it_kill_sigterm_{mode}", pipeline_id)
    finally:
        killer.join()
        emulator.clear_faults()

    assert result is None or result.task_states == {"run": "failed"}
    runs, _ = new_runs()
    assert [r["status"] for r in runs] == ["CANCELLED"], "the run whose create was in flight was cancelled"
    assert f"Cancelled pipeline run {runs[0]['id']}" in task_log()


def test_a_cancel_failing_on_kill_never_replaces_the_execution_timeout(
    pipeline_id: str, emulator: EmulatorServer, hook: DataRobotPipelinesHook, new_runs: Any, task_log: Any
) -> None:
    emulator.add_fault(method="DELETE", path=r"/dispatches/[^/]+/?$", status=503, times=0)
    try:
        result = _run_to_its_kill("it_kill_cancel_fails", pipeline_id, script={"seconds": 30})
    finally:
        emulator.clear_faults()
        for run in new_runs()[0]:
            hook.cancel_run_if_active(pipeline_id, run["id"], 1)

    assert result is None or result.task_states == {"run": "failed"}
    failures = dag_module(DAGS)["FAILURES"]
    # dag.test() hands no exception to the failure callback on Airflow 3.0 and 3.2 (the unit test of on_kill
    # covers them); where it does, the task's error is the timeout, not the cancel's failure.
    assert not failures or failures[-1] == "AirflowTaskTimeout", failures
    assert "Could not cancel this task's run" in task_log()


# --- the sensor waiting for the next run to end ----------------------------------------------------
def _emulator_now(emulator: EmulatorServer) -> str:
    """The emulator's clock (earlier tests may have moved it ahead of the wall clock), once the runs earlier
    tests left going have ended: only the runs of this test end after it."""
    return str(emulator.advance(600)["now"])


def _next(dag_id: str, pipeline_id: str, emulator: EmulatorServer, **conf: Any) -> DagResult:
    return _run(dag_id, pipeline_id, ended_after=_emulator_now(emulator), **conf)


SLOW_OK = {"outcome": "COMPLETED", "seconds": 1.5}
FAST_BAD = {"outcome": "FAILED", "seconds": 0.2, "failing_task": "publish"}


@BOTH_MODES
def test_next_run_sensor_returns_the_first_run_ending_after_the_time(
    mode: str, pipeline_id: str, emulator: EmulatorServer, new_runs: Any
) -> None:
    result = _next(
        f"it_next_{'poke' if mode == 'worker' else mode}",
        pipeline_id,
        emulator,
        script={"seconds": 0.2},
        script_bad={"seconds": 0.4},
    )

    assert result.task_states["watch"] == "success", result
    runs, _ = new_runs()
    first_ended = min((r for r in runs), key=lambda r: r["updatedAt"])
    assert result.xcoms[("watch", "return_value")] == first_ended["id"]


@BOTH_MODES
def test_next_run_sensor_fails_with_the_failing_task_when_the_next_run_fails(
    mode: str, pipeline_id: str, emulator: EmulatorServer, task_log: Any
) -> None:
    dag_id = f"it_next_{'poke' if mode == 'worker' else mode}"
    result = _next(dag_id, pipeline_id, emulator, script=SLOW_OK, script_bad=FAST_BAD)

    assert result.task_states["watch"] == "failed", result
    assert "Task 'publish' FAILED" in task_log()


@BOTH_MODES
def test_next_run_sensor_without_fail_on_failure_waits_past_a_failed_run(
    mode: str, pipeline_id: str, emulator: EmulatorServer, new_runs: Any
) -> None:
    result = _next(
        f"it_next_patient_{'poke' if mode == 'worker' else mode}",
        pipeline_id,
        emulator,
        script=SLOW_OK,
        script_bad=FAST_BAD,
    )

    assert result.task_states["watch"] == "success", result
    runs, _ = new_runs()
    assert sorted(r["status"] for r in runs) == ["COMPLETED", "FAILED"]
    completed = next(r for r in runs if r["status"] == "COMPLETED")
    assert result.xcoms[("watch", "return_value")] == completed["id"]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({}, "run_id and ended_after"),
        ({"run_id": "r1", "ended_after": "2024-01-01T00:00:00Z"}, "run_id and ended_after"),
        ({"ended_after": "yesterday"}, "ended_after"),
        ({"ended_after": 12}, "ended_after"),
        ({"ended_after": "2024-01-01", "version": "latest"}, "version"),
    ],
)
def test_next_run_sensor_bad_arguments_fail_at_parse(kwargs: dict[str, Any], named: str) -> None:
    from airflow_provider_drpipelines.exceptions import DataRobotConfigError
    from airflow_provider_drpipelines.sensors import DataRobotPipelineRunSensor

    with pytest.raises(DataRobotConfigError, match=named):
        DataRobotPipelineRunSensor(task_id="watch", pipeline_id="p", **kwargs)
