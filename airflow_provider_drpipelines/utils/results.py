"""What a finished run produced, per pipeline task, in a form fit for XCom.

A task's result value goes in only when the service offers it and Airflow can store it (small, and nested no
deeper than a payload may be); any other is replaced by its size and the ids that fetch it. A value that
cannot be had (not yet available, an unreadable answer) marks that task alone. The result's presigned URL is
a credential until it expires: it is never copied anywhere, and the connection's token is scrubbed from values.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from airflow_provider_drpipelines.client.answers import broken_answer, objects, optional, required
from airflow_provider_drpipelines.client.limits import MAX_PAYLOAD_DEPTH, nested_too_deep
from airflow_provider_drpipelines.exceptions import ApiConflictError, ApiResponseError, DataRobotConfigError
from airflow_provider_drpipelines.statuses import TaskExecutionStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

#: Largest JSON-encoded result value (bytes) copied into an XCom.
DEFAULT_RESULT_SIZE_LIMIT = 64 * 1024


def check_push_results(push_results: Any) -> bool | list[str]:
    """``push_results`` is True, False or a list of task names."""
    if isinstance(push_results, bool):
        return push_results
    if (
        isinstance(push_results, list | tuple)
        and push_results
        and all(isinstance(name, str) and name for name in push_results)
    ):
        return list(push_results)
    raise DataRobotConfigError(f"push_results must be True, False or a list of task names, got {push_results!r}.")


def check_size_limit(size_limit: Any) -> int:
    if isinstance(size_limit, bool) or not isinstance(size_limit, int) or size_limit < 0:
        raise DataRobotConfigError(f"result_size_limit must be a non-negative int, got {size_limit!r}.")
    return size_limit


def check_task_names(hook: DataRobotPipelinesHook, pipeline_id: str, version: int | None, names: list[str]) -> None:
    """Fail, naming ``push_results``, when it lists tasks the pipeline (version) does not have."""
    described = hook.get_pipeline(pipeline_id) if version is None else hook.get_version(pipeline_id, version)
    known = task_names(f"get_pipeline({pipeline_id})" if version is None else f"get_version({pipeline_id})", described)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise DataRobotConfigError(
            f"push_results names tasks pipeline {pipeline_id} does not have: {', '.join(unknown)} "
            f"(its tasks: {', '.join(sorted(known)) or 'none'})."
        )


def task_names(call: str, described: Mapping[str, Any]) -> set[str]:
    """The ``taskNames`` of a pipeline or version (``call`` names the answer in errors)."""
    names = optional(call, described, "taskNames", list) or []
    if not all(isinstance(name, str) for name in names):
        raise broken_answer(call, "has taskNames that are not all strings")
    return set(names)


def task_executions(hook: DataRobotPipelinesHook, pipeline_id: str, run_id: str) -> list[dict[str, Any]]:
    """A run's task executions, each an object with a string ``name`` and ``status``."""
    call = f"list_task_executions({pipeline_id}, {run_id})"
    executions = objects(call, hook.list_task_executions(pipeline_id, run_id))
    for execution in executions:
        required(call, execution, "name", str)
        required(call, execution, "status", str)
        optional(call, execution, "taskId", int)
        optional(call, execution, "nodeId", int)
    return executions


def collect_results(
    hook: DataRobotPipelinesHook,
    pipeline_id: str,
    run_id: str,
    wanted: Collection[str] | None,
    size_limit: int = DEFAULT_RESULT_SIZE_LIMIT,
) -> dict[str, dict[str, Any]]:
    """``{task name: {status, task_id, node_id, value | value_size | value_unavailable, ...}}``.

    ``wanted`` None means every task. A task run more than once (fan-out) appears as ``name[node_id]``.
    """
    executions = [e for e in task_executions(hook, pipeline_id, run_id) if wanted is None or e["name"] in wanted]
    counts = Counter(str(e["name"]) for e in executions)
    results: dict[str, dict[str, Any]] = {}
    for execution in executions:
        name = execution["name"]
        key = name if counts[name] == 1 else f"{name}[{execution.get('nodeId')}]"
        results[key] = _entry(hook, pipeline_id, run_id, execution, size_limit)
    return results


def _entry(
    hook: DataRobotPipelinesHook, pipeline_id: str, run_id: str, execution: dict[str, Any], size_limit: int
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "status": execution.get("status"),
        "pipeline_id": pipeline_id,
        "run_id": run_id,
        "task_id": execution.get("taskId"),
        "node_id": execution.get("nodeId"),
    }
    if execution["status"] != TaskExecutionStatus.COMPLETED or execution.get("taskId") is None:
        return entry
    call = f"get_task_execution_result({run_id}, {execution['taskId']})"
    try:
        result = hook.get_task_execution_result(pipeline_id, run_id, execution["taskId"], execution.get("nodeId"))
        available = optional(call, result, "valueAvailable", bool)
        reason = optional(call, result, "valueUnavailableReason", str)
    except ApiConflictError as err:  # 409: the service has not made the value available (yet)
        entry["value_unavailable"] = f"not available: {err.detail or err}"
        return entry
    except ApiResponseError:  # this task's answer is unreadable: the other tasks' values still count
        # Not the error's text: it quotes the answer, and the answer holds the result's presigned URL.
        entry["value_unavailable"] = "the service's answer could not be read"
        hook.log.warning("The result of task %s of run %s could not be read.", execution["name"], run_id)
        return entry
    if not (("value" in result) if available is None else available):
        entry["value_unavailable"] = reason or "unavailable"
        return entry
    value = result.get("value")
    if nested_too_deep(value):
        entry["value_size"] = _json_size(value)
        entry["value_unavailable"] = f"nested more than {MAX_PAYLOAD_DEPTH} levels deep: Airflow cannot store it"
        return entry
    value = _scrubbed(value, hook.settings.token)
    size = _json_size(value)
    if size > size_limit:
        entry["value_size"] = size
        entry["value_unavailable"] = f"too large for XCom ({size} bytes > {size_limit})"
    else:
        entry["value"] = value
    return entry


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def _scrubbed(value: Any, secret: str) -> Any:
    """``value`` with ``secret`` scrubbed from every string and key (its depth is already bounded)."""
    from airflow_provider_drpipelines.client.wire import scrub

    if isinstance(value, str):
        return scrub(value, secret)
    if isinstance(value, list):
        return [_scrubbed(item, secret) for item in value]
    if isinstance(value, dict):
        return {scrub(key, secret): _scrubbed(item, secret) for key, item in value.items()}
    return value
