"""What a person needs in the task log about a run that failed: its status, failing tasks, errors and logs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_drpipelines.client.answers import objects
from airflow_provider_drpipelines.client.steps import Steps, run_steps
from airflow_provider_drpipelines.exceptions import DataRobotApiError
from airflow_provider_drpipelines.statuses import FAILED_TASK_STATUSES

if TYPE_CHECKING:
    from airflow_provider_drpipelines.client.endpoints import PipelinesApi


def describe_run_failure(
    hook: PipelinesApi[Any], pipeline_id: str, run_id: str, version: int | None, status: str, log_lines: int = 20
) -> str:
    """What a person needs in the task log: the status, the failing tasks, their errors and log tails.

    Best effort: a diagnostic call that fails is mentioned, never allowed to hide the run's failure.

    :param hook: the client to ask (the sync hook).
    :param pipeline_id: the pipeline's id.
    :param run_id: the run's id.
    :param version: ``None`` for the draft, a number for that locked version.
    :param status: the status the run ended with.
    :param log_lines: how many trailing log lines to show per failing task.
    :return: a multi-line message for the task's exception.
    """
    lines = [f"Pipeline run {run_id} of pipeline {pipeline_id} ended {status}."]
    try:
        run = hook.get_run(pipeline_id, run_id, version)
        if run.get("errorDetail"):
            lines.append(f"Run error: {run['errorDetail']}")
        executions = objects(
            f"list_task_executions({pipeline_id}, {run_id})", hook.list_task_executions(pipeline_id, run_id)
        )
    except DataRobotApiError as err:
        lines.append(f"(Could not fetch the run's details: {err})")
        return "\n".join(lines)
    for task in executions:
        if task.get("status") in FAILED_TASK_STATUSES:
            lines.append(f"Task {task.get('name')!r} {task['status']}: {task.get('errorDetail') or 'no error detail'}")
            lines.extend(run_steps(task_log_tail(hook, pipeline_id, run_id, task, log_lines)))
    return "\n".join(lines)


def task_log_tail(
    api: PipelinesApi[Any], pipeline_id: str, run_id: str, task: dict[str, Any], log_lines: int
) -> Steps[list[str]]:
    """The last ``log_lines`` lines of a task's logs, indented for the task log: live logs, else durable stderr.

    Written once for both clients (``client.steps``): the failure diagnostics and the live progress use it.
    """
    task_id, node_id = task.get("taskId"), task.get("nodeId")
    if not isinstance(task_id, int):
        return []
    try:
        answer = yield api.get_task_execution_logs(pipeline_id, run_id, task_id, tail_lines=log_lines, node_id=node_id)
        text = answer["logs"]
    except DataRobotApiError:
        try:
            content = yield api.get_task_execution_durable_logs(pipeline_id, run_id, task_id, "stderr", node_id=node_id)
            text = content["content"]
        except DataRobotApiError as err:
            return [f"  (no logs available: {err})"]
    tail = str(text).splitlines()[-log_lines:]
    return [f"  last {len(tail)} log line(s):", *(f"    {line}" for line in tail)]
