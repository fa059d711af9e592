"""End to end on a real Airflow 3.3 deployment (api-server, scheduler, dag-processor, triggerer) and the emulator.

Each test triggers ``e2e_deferrable_run`` (tests/e2e/dags) through the REST API with a conf naming the pipeline
and scripting the emulator run (``{"seconds": ..., "outcome": ...}``), then reads the task instance, its XComs
and links from the REST API and the run from the emulator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from airflow_provider_drpipelines.emulator import EmulatorProcess
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests._support.deployment import (
    DAG_ID,
    EVENT_DAG_ID,
    NEEDS_AIRFLOW_3_3,
    TASK_ID,
    Deployment,
    phase,
    start_run_outside_airflow,
    wait_for,
)

pytestmark = [pytest.mark.e2e, NEEDS_AIRFLOW_3_3]

LINK_NAME = "DataRobot pipeline run"
LINK_XCOM_KEY = "_link_DataRobotPipelineRunLink"
ACTIVE = {"PENDING", "PREPARING", "RUNNING"}
CANCEL_WITHIN = 30.0
TO_DEFERRED = 120.0  # trigger -> scheduled -> worker -> run created -> deferred (a few seconds when warm)
FAILED = {"failed", "upstream_failed"}


def _hook() -> DataRobotPipelinesHook:
    return DataRobotPipelinesHook(retry_delay=0.1)


def _run_status(pipeline_id: str, run_id: str) -> str:
    status: str = _hook().get_run_status(pipeline_id, run_id, 1)["status"]
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


# --- runs Airflow did not start: the asset watcher (e2e_event_driven) -------------------------------------------
WATCH_WITHIN = 90.0  # a run's end -> its asset event -> the consumer's DAG run done (poll_interval is 1 s)


def _start_outside_airflow(pipeline_id: str, script: dict[str, Any]) -> str:
    return start_run_outside_airflow(pipeline_id, {"n": 1, "_emulator": script})


def _watcher_polls(emulator: EmulatorProcess, pipeline_id: str) -> int:
    return len(emulator.request_log(path=rf"/pipelines/{pipeline_id}/.*dispatches", method="GET"))


def _fired_run_ids(deployment: Deployment) -> list[str]:
    """The run id of every asset event of the watched asset so far (one per run that ended, if exactly once)."""
    assets = deployment.api("GET", "/assets", params={"uri_pattern": "datarobot://e2e/ended_runs"})["assets"]
    if not assets:
        return []
    query = {"asset_id": assets[0]["id"], "limit": 100}

    def events() -> tuple[list[dict[str, Any]]] | None:  # a tuple: an empty list is an answer too
        # Airflow 3.3.2's endpoint answers 500 while a DAG run the events created has no start_date yet
        response = deployment.session.get(f"{deployment.base_url}/api/v2/assets/events", params=query, timeout=30)
        return None if response.status_code == 500 else (list(response.json()["asset_events"]),)

    (answered,) = wait_for("the asset events", events, 30, 0.5)
    return [str(event["extra"]["payload"]["run_id"]) for event in answered]


def _consumed_run_ids(deployment: Deployment) -> list[str]:
    """The run ids the consumer's successful DAG runs were triggered by (their ``triggering_runs`` return values)."""
    runs = deployment.api("GET", f"/dags/{EVENT_DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
    consumed: list[str] = []
    for run in runs:
        if run["state"] == "success":
            path = f"/dags/{EVENT_DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/triggering_runs/xcomEntries"
            consumed += deployment.api("GET", f"{path}/return_value")["value"]
    return consumed


def _wait_fired(deployment: Deployment, run_ids: set[str]) -> None:
    def fired() -> bool:
        deployment.check_alive()
        return run_ids <= set(_fired_run_ids(deployment))

    wait_for("an asset event for every ended run", fired, WATCH_WITHIN, 1.0, deployment.diagnostics)


def _wait_consumed(deployment: Deployment, run_ids: set[str]) -> None:
    def consumed() -> bool:
        deployment.check_alive()
        return run_ids <= set(_consumed_run_ids(deployment))

    wait_for("the consumer DAG to run for every ended run", consumed, WATCH_WITHIN, 1.0, deployment.diagnostics)


def _close_the_burst(deployment: Deployment, pipeline_id: str) -> str:
    """One more run, ending alone: Airflow hands a DAG run the asset events up to the first one queued, so events
    of one burst after the first wait for the next event (the scheduler's window, not the watcher's)."""
    closing = _start_outside_airflow(pipeline_id, {"seconds": 1})
    _wait_fired(deployment, {closing})
    return closing


def _assert_exactly_once(deployment: Deployment, run_ids: set[str]) -> None:
    fired, consumed = _fired_run_ids(deployment), _consumed_run_ids(deployment)
    assert sorted(fired) == sorted(set(fired)), f"a run fired twice: {fired}"
    assert sorted(consumed) == sorted(set(consumed)), f"a run was consumed twice: {consumed}"
    assert run_ids <= set(fired) and run_ids <= set(consumed)


def test_runs_started_outside_airflow_trigger_the_consumer_once_each(
    deployment: Deployment, emulator: EmulatorProcess, watched_pipeline_id: str
) -> None:
    wait_for("the watcher's first poll", lambda: _watcher_polls(emulator, watched_pipeline_id) > 0, 60)
    with phase("watcher: three runs end at once, one is cancelled"):
        burst = {_start_outside_airflow(watched_pipeline_id, {"seconds": 1}) for _ in range(2)}
        burst.add(_start_outside_airflow(watched_pipeline_id, {"seconds": 1, "outcome": "FAILED"}))
        cancelled = _start_outside_airflow(watched_pipeline_id, {"seconds": 60})
        _hook().cancel_run(watched_pipeline_id, cancelled, 1)
        _wait_fired(deployment, burst)
    with phase("watcher: one more run -> every run consumed"):
        ended = burst | {_close_the_burst(deployment, watched_pipeline_id)}
        _wait_consumed(deployment, ended)
    polls = _watcher_polls(emulator, watched_pipeline_id)
    wait_for("three more polls", lambda: _watcher_polls(emulator, watched_pipeline_id) >= polls + 3, 30)

    _assert_exactly_once(deployment, ended)
    assert cancelled not in _fired_run_ids(deployment), "CANCELLED is not among the watched statuses"


def test_runs_ending_while_the_triggerer_is_down_fire_once_when_it_is_back(
    deployment: Deployment, emulator: EmulatorProcess, watched_pipeline_id: str
) -> None:
    with phase("watcher restart: triggerer stopped, two runs end"):
        deployment.stop("triggerer")
        while_down = {_start_outside_airflow(watched_pipeline_id, {"seconds": 1}) for _ in range(2)}
        wait_for(
            "the runs to end", lambda: {_run_status(watched_pipeline_id, r) for r in while_down} == {"COMPLETED"}, 30
        )
    with phase("watcher restart: triggerer back -> both fire, then one more run -> every run consumed"):
        deployment.start("triggerer")
        _wait_fired(deployment, while_down)
        ended = while_down | {_close_the_burst(deployment, watched_pipeline_id)}
        _wait_consumed(deployment, ended)

    _assert_exactly_once(deployment, ended)  # and none of the earlier test's runs fired again


# --- the next-run sensor, started in the triggerer ---------------------------------------------------------------
NEXT_RUN_DAG_ID = "e2e_next_run"


def test_the_next_run_sensor_waits_in_the_triggerer_without_a_worker(
    deployment: Deployment, watched_pipeline_id: str
) -> None:
    ended_after = datetime.now(timezone.utc).isoformat()
    dag_run_id = deployment.trigger(
        {"pipeline_id": watched_pipeline_id, "ended_after": ended_after}, "next", dag_id=NEXT_RUN_DAG_ID
    )
    path = deployment.ti_path(dag_run_id, NEXT_RUN_DAG_ID)

    def ti_in(*states: str) -> dict[str, Any] | None:
        deployment.check_alive()
        ti = deployment.get_or_none(path)
        return ti if ti and ti.get("state") in states else None

    with phase("next run: the sensor deferred straight from the scheduler"):
        deferred = wait_for("the sensor to defer", lambda: ti_in("deferred", *FAILED), TO_DEFERRED)
    assert deferred["state"] == "deferred"
    assert not deferred.get("hostname") and deferred.get("try_number") in (0, 1), f"no worker ran it: {deferred}"

    with phase("next run: a run started outside Airflow ends -> the sensor succeeds with it"):
        run_id = _start_outside_airflow(watched_pipeline_id, {"seconds": 1})
        done = wait_for("the sensor to finish", lambda: ti_in("success", *FAILED), 60, diagnose=deployment.diagnostics)
    assert done["state"] == "success", done
    assert deployment.xcom(dag_run_id, "return_value", dag_id=NEXT_RUN_DAG_ID) == run_id
