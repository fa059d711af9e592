"""A pipeline's whole life against the emulator: names, deploy, images, dry runs, results, failure kinds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_drpipelines.exceptions import (
    DataRobotApiError,
    DataRobotConfigError,
    PipelineDryRunError,
    PipelineImageBuildError,
    PipelineRunError,
    PipelineRunErroredError,
    PipelineRunFailedError,
    PipelineVersionFailedError,
)
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from airflow_provider_drpipelines.operators import (
    DataRobotCancelPipelineRunOperator,
    DataRobotCreatePipelineInputOperator,
    DataRobotDeployPipelineOperator,
    DataRobotGetPipelineRunResultsOperator,
    DataRobotPipelineImageOperator,
    DataRobotRunPipelineOperator,
)
from airflow_provider_drpipelines.readiness import DataRobotReadinessTrigger
from airflow_provider_drpipelines.sensors import DataRobotPipelineRunSensor
from tests.unit.conftest import EMU_TOKEN, FAST_RETRIES, PIPELINE_SOURCE, FakeTI, make_context, run_events, scripted

FAST = {"poll_interval": 0.05, "max_poll_interval": 0.05, "hook_params": FAST_RETRIES}
NAME = "Score Customers"  # the name the service derives from ``def score_customers``


def deploy_op(source: Path | str, **kwargs: Any) -> DataRobotDeployPipelineOperator:
    return DataRobotDeployPipelineOperator(task_id="deploy", source=str(source), timeout=10, **FAST, **kwargs)


def run_op(**kwargs: Any) -> DataRobotRunPipelineOperator:
    arguments: dict[str, Any] = {"task_id": "run", "version": "latest", **FAST}
    arguments.update(kwargs)
    if "input_id" not in arguments and "payload" not in arguments:
        arguments["payload"] = scripted()
    return DataRobotRunPipelineOperator(**arguments)


def writes(emu: Any) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in emu.request_log() if r["method"] != "GET"]


def changed_source(tmp_path: Path, marker: str = "v2") -> Path:
    path = tmp_path / "score_customers.py"
    path.write_text(PIPELINE_SOURCE.read_text() + f"\n# {marker}\n")
    return path


@pytest.fixture
def deployed(emu_conn: str) -> dict[str, Any]:
    """The example pipeline deployed (created, locked, READY) under its default name."""
    result: dict[str, Any] = deploy_op(PIPELINE_SOURCE).execute(make_context())
    return result


# --- pipeline_name --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "operator",
    [
        lambda **ids: DataRobotRunPipelineOperator(task_id="t", version=1, payload={}, **ids),
        lambda **ids: DataRobotCreatePipelineInputOperator(task_id="t", payload={}, **ids),
        lambda **ids: DataRobotCancelPipelineRunOperator(task_id="t", run_id="r", **ids),
        lambda **ids: DataRobotGetPipelineRunResultsOperator(task_id="t", run_id="r", **ids),
        lambda **ids: DataRobotPipelineRunSensor(task_id="t", run_id="r", **ids),
    ],
)
@pytest.mark.parametrize("ids", [{}, {"pipeline_id": "p", "pipeline_name": "n"}], ids=["neither", "both"])
def test_exactly_one_of_pipeline_id_and_pipeline_name(operator: Any, ids: dict[str, str]) -> None:
    with pytest.raises(DataRobotConfigError, match="exactly one of pipeline_id and pipeline_name"):
        operator(**ids)


def test_a_name_with_one_match_runs_that_pipeline_and_the_link_shows_its_id(emu: Any, deployed: dict[str, Any]):
    ti = FakeTI()
    emu.clear_requests()

    run_id = run_op(pipeline_name=NAME).execute(make_context(ti))

    assert ti.xcom["run_id"] == run_id
    assert f"/pipelines/{deployed['pipeline_id']}/" in ti.xcom["run_url"]
    lookups = [r for r in emu.request_log() if r["method"] == "GET" and r["path"].rstrip("/").endswith("/pipelines")]
    assert len(lookups) == 1, "a name costs one call"


def test_a_name_with_no_match_lists_similar_pipelines(emu: Any, deployed: dict[str, Any]) -> None:
    with pytest.raises(DataRobotConfigError, match="No active pipeline is named exactly 'Score'") as info:
        run_op(pipeline_name="Score").execute(make_context())
    assert deployed["pipeline_id"] in str(info.value) and "mode locked" in str(info.value)
    assert not [w for w in writes(emu) if "/inputs" in w[1] or "/dispatches" in w[1]]


def test_a_name_with_two_matches_lists_both_and_runs_nothing(
    emu: Any, deployed: dict[str, Any], dr_hook: DataRobotPipelinesHook
) -> None:
    twin = dr_hook.create_pipeline(str(PIPELINE_SOURCE), name=NAME)["id"]
    emu.clear_requests()

    with pytest.raises(DataRobotConfigError, match="2 active pipelines are named 'Score Customers'") as info:
        run_op(pipeline_name=NAME).execute(make_context())

    assert deployed["pipeline_id"] in str(info.value) and twin in str(info.value)
    assert writes(emu) == []


def test_the_sensor_follows_a_run_by_pipeline_name(deployed: dict[str, Any], dr_hook: DataRobotPipelinesHook) -> None:
    run_id = run_op(pipeline_id=deployed["pipeline_id"], wait_for_completion=False).execute(make_context())
    sensor = DataRobotPipelineRunSensor(
        task_id="watch", pipeline_name=NAME, run_id=run_id, version=1, poke_interval=0.05
    )
    while not sensor.poke(make_context()):
        pass
    assert sensor.pipeline_id == deployed["pipeline_id"]


# --- retry_failed_runs ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("outcome", "retry_failed_runs", "error", "retried"),
    [
        ("FAILED", True, PipelineRunError, True),
        ("FAILED", False, PipelineRunFailedError, False),
        ("ERRORED", False, PipelineRunErroredError, True),
    ],
)
def test_failed_runs_are_retried_only_when_asked_errored_always(
    deployed: dict[str, Any], outcome: str, retry_failed_runs: bool, error: type[Exception], retried: bool
) -> None:
    op = run_op(
        pipeline_id=deployed["pipeline_id"], payload=scripted(outcome, 0.2), retry_failed_runs=retry_failed_runs
    )
    with pytest.raises(error) as info:
        op.execute(make_context())
    assert isinstance(info.value, AirflowFailException) is not retried
    assert ("Not retried" in str(info.value)) is not retried


# --- deploy ---------------------------------------------------------------------------------------
def test_deploy_creates_locks_and_waits_until_ready(emu: Any, deployed: dict[str, Any], dr_hook: Any) -> None:
    pipeline = dr_hook.get_pipeline(deployed["pipeline_id"])
    assert (pipeline["name"], pipeline["mode"]) == (NAME, "locked")
    assert deployed["version"] == 1
    assert dr_hook.get_version(deployed["pipeline_id"], 1)["status"] == "READY"


def test_deploying_the_same_source_twice_creates_nothing(
    emu: Any, deployed: dict[str, Any], dr_hook: DataRobotPipelinesHook
) -> None:
    emu.clear_requests()
    ti = FakeTI()

    again = deploy_op(PIPELINE_SOURCE).execute(make_context(ti))

    calls = [(r["method"], r["path"]) for r in emu.request_log()]
    assert again == deployed
    assert (ti.xcom["pipeline_id"], ti.xcom["version"]) == (deployed["pipeline_id"], 1)
    assert [c for c in calls if c[0] != "GET"] == []
    assert len(calls) == 3, "name lookup, pipeline, source"
    assert len(dr_hook.get_pipeline(deployed["pipeline_id"])["versions"]) == 1


def test_a_changed_source_on_a_locked_pipeline_goes_to_a_locked_clone_that_replaces_it(
    emu: Any, deployed: dict[str, Any], dr_hook: DataRobotPipelinesHook, tmp_path: Path
) -> None:
    old = deployed["pipeline_id"]

    new = deploy_op(changed_source(tmp_path)).execute(make_context())

    assert new["pipeline_id"] != old
    pipeline = dr_hook.get_pipeline(new["pipeline_id"])
    assert (pipeline["name"], pipeline["mode"]) == (NAME, "locked")
    assert "# v2" in dr_hook.get_pipeline_source(new["pipeline_id"], new["version"])["source"]
    assert [p["id"] for p in dr_hook.iterate(dr_hook.list_pipelines) if p["name"] == NAME] == [new["pipeline_id"]]
    assert ("PATCH", f"/api/v2/pipelines/{old}") not in writes(emu), "the locked pipeline itself is never changed"


def test_a_changed_source_on_a_draft_becomes_a_new_version(
    emu_conn: str, dr_hook: DataRobotPipelinesHook, tmp_path: Path
) -> None:
    first = deploy_op(PIPELINE_SOURCE, lock=False).execute(make_context())

    second = deploy_op(changed_source(tmp_path), lock=False).execute(make_context())

    assert second == {"pipeline_id": first["pipeline_id"], "version": 2}
    assert dr_hook.get_pipeline(first["pipeline_id"])["mode"] == "draft"


def test_a_failed_version_fails_the_task_with_its_error_detail_and_is_not_kept(
    emu: Any, deployed: dict[str, Any], dr_hook: DataRobotPipelinesHook, tmp_path: Path
) -> None:
    broken = tmp_path / "score_customers.py"
    broken.write_text(PIPELINE_SOURCE.read_text() + "\nreturn None\n")  # parses, does not compile

    with pytest.raises(PipelineVersionFailedError, match="FAILED: SyntaxError: 'return' outside function"):
        deploy_op(broken).execute(make_context())

    survivors = [p["id"] for p in dr_hook.iterate(dr_hook.list_pipelines) if p["name"] == NAME]
    assert survivors == [deployed["pipeline_id"]], "the name still names the working pipeline"


def test_deploy_defers_to_the_readiness_trigger(emu_conn: str, dr_hook: DataRobotPipelinesHook) -> None:
    op = deploy_op(PIPELINE_SOURCE, deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    trigger = info.value.trigger
    assert isinstance(trigger, DataRobotReadinessTrigger)
    _, kwargs = trigger.serialize()
    assert EMU_TOKEN not in json.dumps(kwargs)

    (event,) = run_events(trigger)

    assert event["status"] == "READY"
    result = op.execute_complete(make_context(), event)
    assert result == {"pipeline_id": kwargs["resource_id"], "version": 1}


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("missing.py", "does not exist"),
        (str(PIPELINE_SOURCE.with_suffix(".txt")), "must be a .py file"),
        ("__unparsable__", "does not parse"),
    ],
)
def test_bad_sources_fail_before_any_api_call(emu: Any, emu_conn: str, tmp_path: Path, source: str, match: str):
    if source == "__unparsable__":
        source = str(tmp_path / "bad.py")
        Path(source).write_text("def broken(:\n")
    elif source == "missing.py":
        source = str(tmp_path / source)
    with pytest.raises(DataRobotConfigError, match=match):
        DataRobotDeployPipelineOperator(task_id="d", source=source, hook_params=FAST_RETRIES).execute(make_context())
    assert emu.request_log() == []


# --- images ---------------------------------------------------------------------------------------
def image_op(packages: list[str] | None = None, **kwargs: Any) -> DataRobotPipelineImageOperator:
    arguments: dict[str, Any] = {"task_id": "image", "name": "scoring", "python_version": "3.12", "timeout": 10}
    arguments.update(kwargs)
    return DataRobotPipelineImageOperator(packages=packages or ["pandas==2.2.2"], **arguments, **FAST)


def test_an_image_is_built_once_and_reused_while_its_spec_matches(emu: Any, emu_conn: str, dr_hook: Any) -> None:
    ti = FakeTI()
    image_id = image_op().execute(make_context(ti))
    assert dr_hook.get_image(image_id)["versions"][0]["status"] == "READY"
    assert ti.xcom["image_version"] == 1
    emu.clear_requests()

    assert image_op().execute(make_context()) == image_id
    assert writes(emu) == []

    assert image_op(["pandas==2.2.2", "numpy"]).execute(make_context(ti)) == image_id
    assert (dr_hook.get_image(image_id)["latestVersion"], ti.xcom["image_version"]) == (2, 2)


def test_an_image_build_error_fails_with_the_tail_of_its_log(emu_conn: str) -> None:
    with pytest.raises(PipelineImageBuildError, match="ERROR") as info:
        image_op(["pandas==="]).execute(make_context())
    assert "Invalid requirement: 'pandas==='" in str(info.value)
    assert "build log line" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"packages": "pandas"}, "packages must be a list"),
        ({"packages": ["pandas", 3]}, "packages must be non-empty strings"),
        ({"python_version": "python3"}, "python_version must look like"),
        ({"python_version": "3.9"}, "python_version '3.9' is not offered"),
    ],
)
def test_bad_image_arguments_name_the_argument(kwargs: dict[str, Any], match: str) -> None:
    arguments = {"task_id": "i", "name": "x", "packages": ["pandas"], "python_version": "3.12", **kwargs}
    with pytest.raises(DataRobotConfigError, match=match):
        DataRobotPipelineImageOperator(**arguments)


# --- dry run --------------------------------------------------------------------------------------
def test_a_dry_run_checks_everything_and_creates_nothing(emu: Any, deployed: dict[str, Any]) -> None:
    image_id = image_op().execute(make_context())
    emu.clear_requests()

    report = run_op(pipeline_name=NAME, payload={"batch_date": "2024-01-01"}, image_id=image_id, dry_run=True).execute(
        make_context()
    )

    assert report["ok"] is True
    assert {c["check"]: c["result"] for c in report["checks"]} == {
        "pipeline": "ok",
        "locked": "ok",
        "version": "ok",
        "image": "ok",
        "payload": "ok",
    }
    assert writes(emu) == []
    assert len(emu.request_log()) <= 4


def test_a_dry_run_lists_every_problem_at_once(
    emu: Any, deployed: dict[str, Any], dr_hook: DataRobotPipelinesHook
) -> None:
    input_id = dr_hook.create_input(deployed["pipeline_id"], {"limit": 3}, 1)["id"]  # INVALID: no batch_date
    ti = FakeTI()
    emu.clear_requests()
    with pytest.raises(PipelineDryRunError) as info:
        run_op(
            pipeline_id=deployed["pipeline_id"],
            input_id=input_id,
            image_id="0" * 24,
            push_results=["nope"],
            dry_run=True,
        ).execute(make_context(ti))
    problems = {c["check"] for c in info.value.report["checks"] if c["result"] == "problem"}
    assert problems == {"image", "input", "push_results"}
    assert ti.xcom["dry_run_report"]["ok"] is False
    assert writes(emu) == []


def test_a_dry_run_flags_missing_and_unknown_payload_keys(deployed: dict[str, Any]) -> None:
    with pytest.raises(PipelineDryRunError, match=r"missing required key 'batch_date'.*unknown key 'colour'"):
        run_op(pipeline_id=deployed["pipeline_id"], payload={"colour": "red"}, dry_run=True).execute(make_context())


def test_a_failed_version_is_refused_before_a_real_run_creates_anything(
    emu: Any, emu_conn: str, dr_hook: DataRobotPipelinesHook, tmp_path: Path
) -> None:
    broken = tmp_path / "score_customers.py"
    broken.write_text(PIPELINE_SOURCE.read_text() + "\nreturn None\n")
    deployed = deploy_op(broken, wait_for_ready=False).execute(make_context())
    emu.advance(1)  # the emulator's clock, past the version's 0.2 s PENDING
    assert dr_hook.get_version(deployed["pipeline_id"], 1)["status"] == "FAILED"
    emu.clear_requests()
    with pytest.raises(PipelineVersionFailedError, match="version 1 is FAILED and cannot run"):
        run_op(pipeline_name=NAME).execute(make_context())
    assert writes(emu) == []


# --- results --------------------------------------------------------------------------------------
def test_push_results_pushes_each_task_status_and_value_never_a_url(deployed: dict[str, Any]) -> None:
    ti = FakeTI()
    run_op(pipeline_id=deployed["pipeline_id"], push_results=True).execute(make_context(ti))

    results = ti.xcom["pipeline_results"]
    assert set(results) == {"load_customers", "score", "publish"}
    assert {r["status"] for r in results.values()} == {"COMPLETED"}
    assert results["publish"]["value"]["task"] == "publish"
    assert "url" not in json.dumps(results).lower()


def test_a_result_over_the_cap_gives_its_size_and_ids_not_its_value(deployed: dict[str, Any]) -> None:
    ti = FakeTI()
    run_op(pipeline_id=deployed["pipeline_id"], push_results=["score"], result_size_limit=10).execute(make_context(ti))

    (entry,) = ti.xcom["pipeline_results"].values()
    assert "value" not in entry and entry["value_size"] > 10
    assert {"pipeline_id", "run_id", "task_id", "node_id"} <= set(entry)


def test_push_results_naming_an_unknown_task_fails_before_the_run(emu: Any, deployed: dict[str, Any]) -> None:
    emu.clear_requests()
    with pytest.raises(DataRobotConfigError, match=r"push_results names tasks .* does not have: train"):
        run_op(pipeline_id=deployed["pipeline_id"], push_results=["score", "train"]).execute(make_context())
    assert writes(emu) == []


@pytest.mark.parametrize("push_results", ["score", [], [1], None])
def test_push_results_must_be_a_bool_or_task_names(push_results: Any) -> None:
    with pytest.raises(DataRobotConfigError, match="push_results must be"):
        run_op(pipeline_id="p", push_results=push_results)


def test_the_results_operator_pushes_a_watched_runs_results(deployed: dict[str, Any]) -> None:
    run_id = run_op(pipeline_id=deployed["pipeline_id"]).execute(make_context())
    ti = FakeTI()

    results = DataRobotGetPipelineRunResultsOperator(
        task_id="results", pipeline_name=NAME, run_id=run_id, version=1, tasks=["publish"]
    ).execute(make_context(ti))

    assert list(results) == ["publish"] and results["publish"]["status"] == "COMPLETED"
    assert ti.xcom["pipeline_results"] == results


def test_the_ready_wait_rides_out_a_transient_fault_on_the_version_poll(emu: Any, emu_conn: str) -> None:
    emu.add_fault(method="GET", path=r"/versions/1/?$", status=503, times=2)

    deployed = deploy_op(PIPELINE_SOURCE).execute(make_context())

    assert deployed["version"] == 1
    assert [r["status"] for r in emu.request_log(path=r"/versions/1/?$")][:2] == [503, 503]


def test_a_deferred_wait_that_times_out_fails_the_task_naming_the_target(emu_conn: str) -> None:
    from airflow_provider_drpipelines.exceptions import PipelineNotReadyError

    op = image_op(["pandas"], deferrable=True, timeout=0.01)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    (event,) = run_events(info.value.trigger)

    assert event["status"] == "timeout"
    with pytest.raises(PipelineNotReadyError, match=r"Version 1 of image .* was still CREATING"):
        op.execute_complete(make_context(), event)


# --- an error event is checked from the worker, as the run operator does ----------------------------
def _error_event(trigger: DataRobotReadinessTrigger) -> dict[str, Any]:
    """The event the trigger yields when it stops following the build (here: a bad connection)."""
    return trigger._event("error", "Stopped waiting for the build: the triggerer lost its connection")


def test_an_error_event_whose_build_is_ready_when_checked_from_the_worker_succeeds(emu_conn: str) -> None:
    op = deploy_op(PIPELINE_SOURCE, deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    trigger = info.value.trigger
    run_events(trigger)  # the version is READY by now

    result = op.execute_complete(make_context(), _error_event(trigger), **info.value.kwargs)

    assert result == {"pipeline_id": trigger.target.resource_id, "version": 1}


def test_an_error_event_whose_build_is_still_going_defers_again_with_the_same_deadline(emu_conn: str) -> None:
    op = image_op(["pandas"], deferrable=True, timeout=60)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    first = info.value

    with pytest.raises(TaskDeferred) as again:
        op.execute_complete(make_context(), _error_event(first.trigger), **first.kwargs)

    assert isinstance(again.value.trigger, DataRobotReadinessTrigger)
    assert again.value.trigger.target == first.trigger.target
    assert again.value.kwargs == first.kwargs == {"end_time": first.trigger.end_time}


def test_an_error_event_whose_worker_check_fails_too_names_both(emu: Any, emu_conn: str) -> None:
    op = deploy_op(PIPELINE_SOURCE, deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    emu.add_fault(method="GET", path=r"/versions/1/?$", status=503, times=100)
    try:
        with pytest.raises(DataRobotApiError, match="connection The build could not be checked from the worker"):
            op.execute_complete(make_context(), _error_event(info.value.trigger), **info.value.kwargs)
    finally:
        emu.clear_faults()
