"""Deploy and image writes under the run path's exactly-once rule, against the emulator's fault rules.

A lost answer (the server carried the request out, then answered 503) is looked for before anything is
sent again; an answer saying the work is done counts as done; a try that fails part-way leaves what the
next try (a fresh operator, as Airflow's retry is) finishes; two deploys of one name converge on one.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_drpipelines.emulator import EmulatorServer
from airflow_provider_drpipelines.exceptions import ApiTransientError
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from airflow_provider_drpipelines.operators import DataRobotDeployPipelineOperator
from tests.unit.conftest import FAST_RETRIES, PIPELINE_SOURCE, make_context
from tests.unit.operators.test_lifecycle import NAME, changed_source, deploy_op, image_op, writes

ID = "[0-9a-f]{24}"
#: A try whose every attempt fails: one attempt, so the failure ends the try at once.
ONE_ATTEMPT = {"poll_interval": 0.05, "max_poll_interval": 0.05, "hook_params": {**FAST_RETRIES, "retry_limit": 1}}


def one_attempt_deploy(source: Path) -> DataRobotDeployPipelineOperator:
    return DataRobotDeployPipelineOperator(task_id="deploy", source=str(source), timeout=10, **ONE_ATTEMPT)


def named(hook: DataRobotPipelinesHook, name: str = NAME) -> list[dict[str, Any]]:
    return [p for p in hook.iterate(hook.list_pipelines) if p["name"] == name]


def sent(emu: EmulatorServer, method: str, path: str) -> int:
    """How many requests of ``method`` to a path matching ``path`` reached the emulator (faulted ones too)."""
    return len(emu.request_log(path=path, method=method))


def assert_one_locked_pipeline_with(hook: DataRobotPipelinesHook, result: dict[str, Any], marker: str) -> None:
    (only,) = named(hook)
    assert only["id"] == result["pipeline_id"]
    pipeline = hook.get_pipeline(only["id"])
    assert pipeline["mode"] == "locked"
    assert hook.get_version(only["id"], result["version"])["status"] == "READY"
    assert f"# {marker}" in hook.get_pipeline_source(only["id"], result["version"])["source"]


@pytest.fixture
def deployed(emu_conn: str) -> dict[str, Any]:
    result: dict[str, Any] = deploy_op(PIPELINE_SOURCE).execute(make_context())
    return result


@pytest.fixture
def output(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Any:
    """The task's log lines so far (structlog prints them on Airflow 3, stdlib records them on 2)."""
    caplog.set_level("INFO")

    def read() -> str:
        captured = capfd.readouterr()
        return captured.out + captured.err + caplog.text

    return read


# --- lost answers ---------------------------------------------------------------------------------
def test_a_lost_clone_answer_is_looked_for_not_sent_again(
    emu: EmulatorServer, deployed: dict[str, Any], dr_hook: DataRobotPipelinesHook, tmp_path: Path
) -> None:
    emu.add_fault(method="POST", path=r"/clone/?$", status=503, when="after", times=1)

    result = deploy_op(changed_source(tmp_path)).execute(make_context())

    assert_one_locked_pipeline_with(dr_hook, result, "v2")
    assert result["pipeline_id"] != deployed["pipeline_id"]
    assert sent(emu, "POST", r"/clone/?$") == 1, "the clone the lost answer hid was adopted"


def test_a_lost_create_answer_is_adopted(emu: EmulatorServer, emu_conn: str, dr_hook: DataRobotPipelinesHook) -> None:
    emu.add_fault(method="POST", path=r"/pipelines/?$", status=503, when="after", times=1)

    result = deploy_op(PIPELINE_SOURCE).execute(make_context())

    (only,) = named(dr_hook)
    assert only["id"] == result["pipeline_id"] and only["mode"] == "locked"
    assert sent(emu, "POST", r"/pipelines/?$") == 1


@pytest.mark.parametrize("where", ["clone", "fresh pipeline"])
def test_a_lost_lock_answer_counts_as_locked(
    emu: EmulatorServer, emu_conn: str, dr_hook: DataRobotPipelinesHook, tmp_path: Path, where: str
) -> None:
    source = PIPELINE_SOURCE
    if where == "clone":
        deploy_op(PIPELINE_SOURCE).execute(make_context())
        source = changed_source(tmp_path)
    emu.clear_requests()
    emu.add_fault(method="PATCH", path=r"/mode/?$", status=503, when="after", times=1)

    result = deploy_op(source).execute(make_context())

    (only,) = named(dr_hook)
    assert (only["id"], only["mode"]) == (result["pipeline_id"], "locked")
    assert dr_hook.get_version(result["pipeline_id"], result["version"])["status"] == "READY"
    assert sent(emu, "PATCH", r"/mode/?$") == 1, "looked for before it was sent again"


def test_an_already_locked_answer_counts_as_done(
    emu: EmulatorServer, emu_conn: str, dr_hook: DataRobotPipelinesHook
) -> None:
    """The server locks it, then answers 409 (as a re-sent lock is answered): the lock is done."""
    emu.add_fault(method="PATCH", path=r"/mode/?$", status=409, when="after", times=1)

    result = deploy_op(PIPELINE_SOURCE).execute(make_context())

    assert dr_hook.get_pipeline(result["pipeline_id"])["mode"] == "locked"
    assert result["version"] == 1


def test_a_resent_draft_upload_adds_no_duplicate_version(
    emu: EmulatorServer, emu_conn: str, dr_hook: DataRobotPipelinesHook, tmp_path: Path
) -> None:
    first = deploy_op(PIPELINE_SOURCE, lock=False).execute(make_context())
    emu.add_fault(method="PATCH", path=rf"/pipelines/{ID}/?$", status=503, when="after", times=1)

    second = deploy_op(changed_source(tmp_path), lock=False).execute(make_context())

    assert second == {"pipeline_id": first["pipeline_id"], "version": 2}
    assert [v["version"] for v in dr_hook.get_pipeline(first["pipeline_id"])["versions"]] == [1, 2]


def test_a_resent_image_update_builds_no_second_version(
    emu: EmulatorServer, emu_conn: str, dr_hook: DataRobotPipelinesHook
) -> None:
    image_id = image_op().execute(make_context())
    emu.add_fault(method="PATCH", path=rf"/pipelines/images/{ID}/?$", status=503, when="after", times=1)

    assert image_op(["pandas==2.2.2", "numpy"]).execute(make_context()) == image_id

    assert [v["version"] for v in dr_hook.get_image(image_id)["versions"]] == [2, 1]


def test_a_lost_image_create_answer_is_adopted(
    emu: EmulatorServer, emu_conn: str, dr_hook: DataRobotPipelinesHook
) -> None:
    emu.add_fault(method="POST", path=r"/pipelines/images/?$", status=503, when="after", times=1)

    image_id = image_op().execute(make_context())

    assert [i["id"] for i in dr_hook.iterate(dr_hook.list_images)] == [image_id]
    assert sent(emu, "POST", r"/pipelines/images/?$") == 1


# --- a try that fails part-way: the next try finishes ---------------------------------------------
def test_an_upload_to_the_clone_that_fails_the_try_is_finished_by_the_next_try(
    emu: EmulatorServer, deployed: dict[str, Any], dr_hook: DataRobotPipelinesHook, tmp_path: Path, output: Any
) -> None:
    old = deployed["pipeline_id"]
    emu.add_fault(method="PATCH", path=rf"/pipelines/{ID}/?$", status=503)
    with pytest.raises(ApiTransientError):
        one_attempt_deploy(changed_source(tmp_path)).execute(make_context())
    assert len(named(dr_hook)) == 2, "the try left its draft clone"
    emu.clear_faults()
    output()

    result = deploy_op(changed_source(tmp_path)).execute(make_context())

    assert_one_locked_pipeline_with(dr_hook, result, "v2")
    assert sent(emu, "POST", r"/clone/?$") == 1, "the clone of the failed try was finished, not made again"
    log = output()
    assert f"2 active pipelines are named {NAME!r}" in log
    assert f"Retired pipeline {old}" in log


def test_a_delete_of_the_replaced_pipeline_that_fails_the_try_is_done_by_the_next_try(
    emu: EmulatorServer, deployed: dict[str, Any], dr_hook: DataRobotPipelinesHook, tmp_path: Path
) -> None:
    old = deployed["pipeline_id"]
    emu.add_fault(method="DELETE", path=rf"/pipelines/{old}/?$", status=503)
    with pytest.raises(ApiTransientError):
        one_attempt_deploy(changed_source(tmp_path)).execute(make_context())
    assert len(named(dr_hook)) == 2
    emu.clear_faults()
    emu.clear_requests()

    result = deploy_op(changed_source(tmp_path)).execute(make_context())

    assert_one_locked_pipeline_with(dr_hook, result, "v2")
    assert writes(emu) == [("DELETE", f"/api/v2/pipelines/{old}")], "only the delete was left to do"


def test_a_lock_that_fails_the_try_on_the_clone_is_done_by_the_next_try(
    emu: EmulatorServer, deployed: dict[str, Any], dr_hook: DataRobotPipelinesHook, tmp_path: Path
) -> None:
    emu.add_fault(method="PATCH", path=r"/mode/?$", status=503)
    with pytest.raises(ApiTransientError):
        one_attempt_deploy(changed_source(tmp_path)).execute(make_context())
    emu.clear_faults()

    result = deploy_op(changed_source(tmp_path)).execute(make_context())

    assert_one_locked_pipeline_with(dr_hook, result, "v2")
    assert sent(emu, "POST", r"/clone/?$") == 1


def test_a_failed_clone_left_by_a_crash_is_deleted_and_the_working_pipeline_kept(
    emu: EmulatorServer, deployed: dict[str, Any], dr_hook: DataRobotPipelinesHook, tmp_path: Path
) -> None:
    from airflow_provider_drpipelines.exceptions import PipelineVersionFailedError

    broken = tmp_path / "score_customers.py"
    broken.write_text(PIPELINE_SOURCE.read_text() + "\nreturn None\n")  # parses, does not compile
    emu.add_fault(method="DELETE", path=rf"/pipelines/{ID}/?$", status=503)
    with pytest.raises(ApiTransientError):
        one_attempt_deploy(broken).execute(make_context())
    emu.clear_faults()

    with pytest.raises(PipelineVersionFailedError, match="FAILED"):
        deploy_op(broken).execute(make_context())

    assert [p["id"] for p in named(dr_hook)] == [deployed["pipeline_id"]]


# --- two deploys of one name at once ----------------------------------------------------------------
def race(operators: list[DataRobotDeployPipelineOperator]) -> list[Any]:
    """Each operator's ``execute`` in its own thread, as two workers would run two DAG runs' tasks."""
    results: list[Any] = [None] * len(operators)

    def deploy(index: int) -> None:
        _airflow2_thread_ready()
        try:
            results[index] = operators[index].execute(make_context())
        except Exception as err:  # the assertion below shows it
            results[index] = err

    threads = [threading.Thread(target=deploy, args=(i,)) for i in range(len(operators))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _airflow2_thread_ready() -> None:
    """Airflow 2.11 keeps ``execute()``'s caller check in a thread-local set only in the importing thread."""
    try:
        from airflow.models.baseoperator import ExecutorSafeguard
    except ImportError:  # Airflow 3 has no such check
        return
    ExecutorSafeguard._sentinel.callers = {}


@pytest.mark.parametrize("step", ["create", "clone"])
def test_two_deploys_of_one_name_at_once_converge_on_one_pipeline(
    emu: EmulatorServer, emu_conn: str, dr_hook: DataRobotPipelinesHook, tmp_path: Path, step: str
) -> None:
    source = PIPELINE_SOURCE
    path = r"/pipelines/?$"
    if step == "clone":
        deploy_op(PIPELINE_SOURCE).execute(make_context())
        source, path = changed_source(tmp_path), r"/clone/?$"
    # Both creates (or clones) are held until both are in flight: each deploy looked before either made one.
    emu.add_fault(method="POST", path=path, delay=0.5, times=2)

    first, second = race([deploy_op(source), deploy_op(source)])

    assert isinstance(first, dict) and first == second, (first, second)
    assert sent(emu, "POST", path) == 2, "both deploys made one"
    assert sent(emu, "DELETE", rf"/pipelines/{ID}/?$") >= (1 if step == "create" else 2), "the loser was retired"
    (only,) = named(dr_hook)
    assert only["id"] == first["pipeline_id"] and only["mode"] == "locked"


def test_a_step_refused_twice_fails_with_the_servers_answer_not_a_loop(emu: EmulatorServer, emu_conn: str) -> None:
    """A 404 or 409 is first taken for a concurrent deploy's change; the same refusal again is the real error."""
    from airflow_provider_drpipelines.exceptions import ApiNotFoundError

    with pytest.raises(ApiNotFoundError, match="not found"):
        deploy_op(PIPELINE_SOURCE, image_id="0" * 24).execute(make_context())
    assert sent(emu, "POST", r"/pipelines/?$") == 2
