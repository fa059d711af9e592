"""End to end on a real Airflow 3.3 deployment (api-server, scheduler, dag-processor, triggerer) and the emulator.

Each test triggers ``e2e_deferrable_run`` (tests/e2e/dags) through the REST API with a conf naming the pipeline
and scripting the emulator run (``{"seconds": ..., "outcome": ...}``), then reads the task instance, its XComs
and links from the REST API and the run from the emulator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from airflow_provider_drpipelines.emulator import EmulatorProcess
from tests._support.deployment import DAG_ID, NEEDS_AIRFLOW_3_3, TASK_ID, Deployment, phase, wait_for

pytestmark = [pytest.mark.e2e, NEEDS_AIRFLOW_3_3]

LINK_NAME = "DataRobot pipeline run"
LINK_XCOM_KEY = "_link_DataRobotPipelineRunLink"
ACTIVE = {"PENDING", "PREPARING", "RUNNING"}
CANCEL_WITHIN = 30.0
TO_DEFERRED = 120.0  # trigger -> scheduled -> worker -> run created -> deferred (a few seconds when warm)
FAILED = {"failed", "upstream_failed"}


def _run_status(pipeline_id: str, run_id: str) -> str:
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

    status: str = DataRobotPipelinesHook(retry_delay=0.1).get_run_status(pipeline_id, run_id, 1)["status"]
    return status


def _deletes(emulator: EmulatorProcess, run_id: str) -> list[dict[str, Any]]:
    return emulator.request_log(path=run_id, method="DELETE")


@dataclass(frozen=True)
class DeferredRun:
    dag_run_id: str
    run_id: str


def _trigger_and_wait_deferred(
    deployment: Deployment, emulator: EmulatorProcess, pipeline_id: str, label: str, seconds: float
) -> DeferredRun:
    """Trigger a run of ``seconds``, wait until the task is deferred and the triggerer polls the run.

    A dag run whose task Airflow's scheduler failed on its own executor race (see ``hit_executor_race``) is
    replaced by a new one, at most twice; any other early end fails the test.
    """
    for attempt in range(3):
        dag_run_id = deployment.trigger({"pipeline_id": pipeline_id, "script": {"seconds": seconds}}, label)
        state = deployment.wait_state(dag_run_id, {"deferred", *FAILED, "success"}, TO_DEFERRED)
        if state == "deferred":
            break
        if attempt == 2 or not deployment.hit_executor_race(dag_run_id):
            pytest.fail(f"task of {dag_run_id} went {state} before deferring{deployment.diagnostics()}")
        print(f"[e2e] {dag_run_id}: Airflow's executor race failed the task before it deferred; new dag run")
    run_id = wait_for("the run_id XCom", lambda: deployment.xcom(dag_run_id, "run_id"), 30)
    polls_at_deferral = len(emulator.request_log(path=run_id, method="GET"))
    wait_for(
        "the triggerer to poll the run",
        lambda: len(emulator.request_log(path=run_id, method="GET")) > polls_at_deferral,
        60,
        diagnose=deployment.diagnostics,
    )
    return DeferredRun(dag_run_id, str(run_id))


# --- a deferrable run through the real triggerer ----------------------------------------------------------------
@dataclass(frozen=True)
class FinishedRun:
    dag_run_id: str
    run_id: str
    states_seen: list[str]


@pytest.fixture(scope="module")
def finished_run(deployment: Deployment, pipeline_id: str) -> FinishedRun:
    """One deferrable task run to success (a 6 s emulator run), shared by the success and link tests."""
    with phase("deferrable run: trigger -> success"):
        dag_run_id = deployment.trigger({"pipeline_id": pipeline_id, "script": {"seconds": 6}}, "success")
        seen: list[str] = []

        def finished() -> bool:
            deployment.check_alive()
            state = deployment.ti_state(dag_run_id)
            if state and (not seen or seen[-1] != state):
                seen.append(state)
            if state in FAILED:
                pytest.fail(f"the task went {state} (states seen: {seen}){deployment.diagnostics()}")
            return state == "success"

        wait_for("the deferrable task to succeed", finished, TO_DEFERRED + 60, 0.25, deployment.diagnostics)
    run_id = deployment.xcom(dag_run_id, "run_id")
    assert run_id, "the operator pushes the run id before it waits"
    return FinishedRun(dag_run_id, str(run_id), seen)


def test_deferrable_run_succeeds_through_the_triggerer(
    finished_run: FinishedRun, deployment: Deployment, emulator: EmulatorProcess, pipeline_id: str
) -> None:
    assert "deferred" in finished_run.states_seen, finished_run.states_seen
    ti = deployment.task_instance(finished_run.dag_run_id)
    assert ti["state"] == "success"
    assert ti["try_number"] == 1, "no retry: the trigger's event resumed the first try"
    run_id = finished_run.run_id
    assert _run_status(pipeline_id, run_id) == "COMPLETED"
    assert deployment.xcom(finished_run.dag_run_id, "return_value") == run_id
    assert deployment.xcom(finished_run.dag_run_id, "run_url") == (
        f"{emulator.base_url}/pipelines/{pipeline_id}/runs/{run_id}"
    )
    assert deployment.xcom(finished_run.dag_run_id, "pipeline_version") == 1
    assert not _deletes(emulator, run_id), "a run that completed is never cancelled"


def test_extra_link_of_the_finished_task_points_at_the_run(
    finished_run: FinishedRun, deployment: Deployment, emulator: EmulatorProcess, pipeline_id: str
) -> None:
    expected = f"{emulator.base_url}/pipelines/{pipeline_id}/runs/{finished_run.run_id}"
    assert deployment.xcom(finished_run.dag_run_id, LINK_XCOM_KEY) == expected
    links = deployment.api("GET", f"{deployment.ti_path(finished_run.dag_run_id)}/links")
    assert links["extra_links"] == {LINK_NAME: expected}, links
    page = requests.get(expected, timeout=10)
    assert page.status_code == 200
    assert finished_run.run_id in page.text and "COMPLETED" in page.text


# --- triggerer restart ------------------------------------------------------------------------------------------
def test_triggerer_restart_keeps_the_run_and_the_task_succeeds(
    deployment: Deployment, emulator: EmulatorProcess, pipeline_id: str
) -> None:
    with phase("restart: trigger -> deferred and polled"):
        deferred = _trigger_and_wait_deferred(deployment, emulator, pipeline_id, "restart", seconds=40)
    run_id = deferred.run_id

    with phase("restart: triggerer stopped (SIGTERM)"):
        deployment.stop("triggerer")
    logs = "".join(log.read_text(errors="replace") for log in (deployment.home / "e2e-logs").glob("triggerer-*.log"))
    assert "Unclosed client session" not in logs and "Unclosed connector" not in logs, "sessions closed on shutdown"
    assert not _deletes(emulator, run_id), "a triggerer restart must not cancel the run"
    assert _run_status(pipeline_id, run_id) in ACTIVE
    assert deployment.ti_state(deferred.dag_run_id) == "deferred"

    with phase("restart: new triggerer -> task success"):
        deployment.start("triggerer")
        deployment.wait_state(deferred.dag_run_id, {"success"}, 120, fail_on=FAILED)
    assert _run_status(pipeline_id, run_id) == "COMPLETED"
    assert not _deletes(emulator, run_id), "the run was never cancelled"
    ti = deployment.task_instance(deferred.dag_run_id)
    assert ti["try_number"] == 1, "the same try resumed after the restart"
    assert deployment.xcom(deferred.dag_run_id, "return_value") == run_id


# --- a person kills the deferred task -----------------------------------------------------------------------------
def _wait_cancelled(emulator: EmulatorProcess, pipeline_id: str, run_id: str, since: float) -> float:
    wait_for(
        f"run {run_id} to be CANCELLED",
        lambda: _run_status(pipeline_id, run_id) == "CANCELLED",
        CANCEL_WITHIN - (time.monotonic() - since),
        0.25,
    )
    elapsed = time.monotonic() - since
    assert _deletes(emulator, run_id), "the cancel went through the API (DELETE of the run)"
    return elapsed


def test_clearing_a_deferred_task_cancels_the_run(
    deployment: Deployment, emulator: EmulatorProcess, pipeline_id: str
) -> None:
    with phase("clear: trigger -> deferred and polled"):
        deferred = _trigger_and_wait_deferred(deployment, emulator, pipeline_id, "clear", seconds=300)
    try:
        with phase("clear: cleared -> run CANCELLED"):
            started = time.monotonic()
            body = {"dry_run": False, "dag_run_id": deferred.dag_run_id, "task_ids": [TASK_ID], "only_failed": False}
            deployment.api("POST", f"/dags/{DAG_ID}/clearTaskInstances", json=body)
            elapsed = _wait_cancelled(emulator, pipeline_id, deferred.run_id, started)
        print(f"[e2e] clear -> CANCELLED in {elapsed:.1f}s")

        with phase("clear: the next try starts a new run"):
            _wait_next_try_deferred(deployment, deferred.dag_run_id, body)
            new_run_id = wait_for("the next try's run_id", lambda: deployment.xcom(deferred.dag_run_id, "run_id"), 30)
        assert new_run_id != deferred.run_id, "the cancelled run is not reattached"
        assert _run_status(pipeline_id, str(new_run_id)) in ACTIVE
    finally:  # do not leave a 300 s run deferred behind
        deployment.api(
            "PATCH", deployment.ti_path(deferred.dag_run_id), json={"new_state": "failed"}, expect=(200, 404, 409)
        )


def _wait_next_try_deferred(deployment: Deployment, dag_run_id: str, clear: dict[str, Any]) -> None:
    """Wait for the cleared task's next try to defer.

    A try that Airflow's scheduler failed on its own executor race (see ``hit_executor_race``) is cleared again,
    at most twice; any other failure fails the test.
    """
    expected_try = 2
    for attempt in range(3):

        def deferred_or_failed(expected_try: int = expected_try) -> str | None:
            ti = deployment.task_instance(dag_run_id)
            if ti["state"] in FAILED or (ti["state"] == "deferred" and ti["try_number"] >= expected_try):
                return str(ti["state"])
            return None

        state = wait_for("the next try to defer", deferred_or_failed, TO_DEFERRED, diagnose=deployment.diagnostics)
        if state == "deferred":
            return
        if attempt == 2 or not deployment.hit_executor_race(dag_run_id):
            pytest.fail(f"the cleared task's next try went {state}{deployment.diagnostics()}")
        print(f"[e2e] {dag_run_id}: Airflow's executor race failed the cleared try; clearing it again")
        expected_try = int(deployment.task_instance(dag_run_id)["try_number"]) + 1
        deployment.api("POST", f"/dags/{DAG_ID}/clearTaskInstances", json=clear)


def test_marking_a_deferred_task_failed_cancels_the_run(
    deployment: Deployment, emulator: EmulatorProcess, pipeline_id: str
) -> None:
    with phase("mark failed: trigger -> deferred and polled"):
        deferred = _trigger_and_wait_deferred(deployment, emulator, pipeline_id, "fail", seconds=300)
    with phase("mark failed: failed -> run CANCELLED"):
        started = time.monotonic()
        deployment.api("PATCH", deployment.ti_path(deferred.dag_run_id), json={"new_state": "failed"})
        elapsed = _wait_cancelled(emulator, pipeline_id, deferred.run_id, started)
    print(f"[e2e] mark failed -> CANCELLED in {elapsed:.1f}s")
    assert deployment.ti_state(deferred.dag_run_id) == "failed"
