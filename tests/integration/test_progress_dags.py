"""Live progress in the task log (``utils.progress``), in the worker and deferred, with dag.test() on the emulator."""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests.integration.conftest import REPO, TOKEN, TaskLog, run_dag

pytestmark = pytest.mark.integration

DAGS = REPO / "tests" / "dags" / "it_run_pipeline.py"
BOTH_MODES = pytest.mark.parametrize("mode", ["worker", "deferrable"])
TASKS = ("load_customers", "score", "publish")
#: Long enough that the first poll, after the deferral too, sees the run before it ends.
SECONDS = 2


def _newest_run(pipeline_id: str) -> dict[str, Any]:
    hook = DataRobotPipelinesHook()
    newest: dict[str, Any] = hook.list_runs(pipeline_id, 1)["data"][0]
    return newest


@BOTH_MODES
def test_the_task_log_shows_each_status_change_of_the_run_and_its_tasks(
    mode: str, pipeline_id: str, task_log: TaskLog
) -> None:
    result = run_dag(DAGS, f"it_run_{mode}", {"pipeline_id": pipeline_id, "script": {"seconds": SECONDS}})

    assert result.state == "success", result
    log, run_id = task_log(), _newest_run(pipeline_id)["id"]
    assert re.search(rf"Pipeline run {run_id}: (PENDING|PREPARING|RUNNING)\b", log), log
    assert re.search(rf"Pipeline run {run_id}: \w+ -> COMPLETED after \d+\.\d s", log), log
    for task in TASKS:  # seen COMPLETED at the latest when the run is: by name, once
        assert task_log.count(rf"\b{task}: (\w+ -> )?COMPLETED\b") == 1, (task, log)
    assert TOKEN not in "\n".join(line for line in log.splitlines() if "MaskSecret(" not in line)


def test_the_task_log_shows_the_failed_task_and_its_error_as_seen(pipeline_id: str, task_log: TaskLog) -> None:
    """Deferred (the worker's wait runs the same tracker: ``utils.progress``)."""
    script = {"seconds": SECONDS, "outcome": "FAILED", "failing_task": "score"}
    result = run_dag(DAGS, "it_run_deferrable", {"pipeline_id": pipeline_id, "script": script})

    assert result.task_states == {"run": "failed"}
    log, run_id = task_log(), _newest_run(pipeline_id)["id"]
    assert re.search(rf"Pipeline run {run_id}: \w+ -> FAILED after \d+\.\d s", log), log
    assert re.search(r"\bscore: (\w+ -> )?FAILED\b", log), log
    assert "error: ValueError: scripted failure in task 'score'" in log
    assert re.search(r"\bload_customers: (\w+ -> )?COMPLETED\b", log), log
