"""The run state machine, computed lazily from timestamps.

Nothing ticks in the background: a run's status, its task executions and their logs are pure
functions of (creation time, now, scripted duration and outcome, cancel time). That keeps the
store free of timers and makes the hot status poll a handful of float comparisons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_drpipelines.emulator.source import GraphNode, ParsedPipeline
from airflow_provider_drpipelines.emulator.wire import JSONObject, invalid, rfc3339
from airflow_provider_drpipelines.statuses import (
    EMULATOR_SCRIPT_KEY,
    TERMINAL_RUN_STATUSES,
    RunStatus,
    RunTrigger,
    TaskExecutionStatus,
)

SCRIPTABLE_OUTCOMES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.ERRORED)
PREPARING_AT = 0.10  # fraction of the run's duration spent PENDING
RUNNING_AT = 0.25  # ... and PENDING + PREPARING; tasks share the rest
PLATFORM_FAULT = "Platform error: the execution pod was evicted (emulator outcome ERRORED)"


@dataclass(frozen=True)
class Script:
    """What an input's ``_emulator`` key asks of the runs made from it."""

    outcome: str = RunStatus.COMPLETED
    seconds: float | None = None
    failing_task: str | None = None


def parse_script(payload: JSONObject, pipeline: ParsedPipeline) -> Script:
    """Validate ``payload["_emulator"]`` against the pipeline it will run; 422 on anything unusable."""
    raw = payload.get(EMULATOR_SCRIPT_KEY)
    if raw is None:
        return Script()
    loc = ("body", "payload", EMULATOR_SCRIPT_KEY)
    if not isinstance(raw, dict):
        raise invalid(loc, f"{EMULATOR_SCRIPT_KEY} must be an object", raw)
    unknown = sorted(set(raw) - {"outcome", "seconds", "failing_task"})
    if unknown:
        raise invalid(loc, f"unknown {EMULATOR_SCRIPT_KEY} keys: {', '.join(unknown)}", raw)
    outcome = raw.get("outcome", RunStatus.COMPLETED)
    if outcome not in SCRIPTABLE_OUTCOMES:
        raise invalid((*loc, "outcome"), f"outcome must be one of {', '.join(SCRIPTABLE_OUTCOMES)}", outcome)
    seconds = raw.get("seconds")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0
    ):
        raise invalid((*loc, "seconds"), "seconds must be a non-negative number", seconds)
    failing_task = raw.get("failing_task")
    if failing_task is not None and pipeline.task_by_name(str(failing_task)) is None:
        known = ", ".join(pipeline.task_names) or "none"
        raise invalid(
            (*loc, "failing_task"),
            f"failing_task {failing_task!r} is not a task of this pipeline ({known})",
            failing_task,
        )
    return Script(outcome, None if seconds is None else float(seconds), failing_task)


@dataclass(frozen=True)
class Execution:
    """One task execution as observed at some moment."""

    node: GraphNode
    status: str
    started_at: float | None
    completed_at: float | None
    error_detail: str | None


@dataclass
class Run:
    id: str
    pipeline_id: str
    version: int | None
    input_id: str
    image_id: str | None
    image_version: int | None
    created_at: float
    duration: float
    outcome: str
    failing_task: str | None
    payload: JSONObject
    pipeline: ParsedPipeline
    filename: str
    cancelled_at: float | None = None
    triggered_by: str = RunTrigger.API
    affected_node: int | None = field(init=False)

    def __post_init__(self) -> None:
        """The node a FAILED/ERRORED outcome hits: the first call of ``failing_task``, else the last node."""
        if self.outcome == RunStatus.COMPLETED or not self.pipeline.nodes:
            self.affected_node = None
            return
        hits = [node.id for node in self.pipeline.nodes if node.task.name == self.failing_task]
        self.affected_node = hits[0] if hits else self.pipeline.nodes[-1].id

    @property
    def covalent_dispatch_id(self) -> str:
        return f"emu-{self.id}"

    def _phase(self, moment: float) -> tuple[str, float]:
        """Status the run would have at ``moment`` if never cancelled, and when that status began."""
        elapsed = moment - self.created_at
        if elapsed >= self.duration:
            return self.outcome, self.created_at + self.duration
        if elapsed >= RUNNING_AT * self.duration:
            return RunStatus.RUNNING, self.created_at + RUNNING_AT * self.duration
        if elapsed >= PREPARING_AT * self.duration:
            return RunStatus.PREPARING, self.created_at + PREPARING_AT * self.duration
        return RunStatus.PENDING, self.created_at

    def _effective(self, now: float) -> float:
        return now if self.cancelled_at is None else min(now, self.cancelled_at)

    def status(self, now: float) -> tuple[str, float]:
        """(status, time it was reached)."""
        if self.cancelled_at is not None:
            return RunStatus.CANCELLED, self.cancelled_at
        return self._phase(now)

    def covalent_id(self, now: float) -> str | None:
        """Set once the run left PENDING (the prep Job got a Covalent dispatch)."""
        reached, _ = self._phase(self._effective(now))
        return None if reached == RunStatus.PENDING else self.covalent_dispatch_id

    def error_detail(self, now: float) -> str | None:
        status, _ = self.status(now)
        if status == RunStatus.ERRORED:
            return PLATFORM_FAULT
        if status == RunStatus.FAILED and self.affected_node is not None:
            task = self.pipeline.nodes[self.affected_node].task.name
            return f"Task '{task}' failed: {self._task_error(task)}"
        return None

    def _task_error(self, task: str) -> str:
        if self.outcome == RunStatus.ERRORED:
            return PLATFORM_FAULT
        return f"ValueError: scripted failure in task '{task}' (emulator outcome {self.outcome})"

    def cancel(self, now: float) -> str | None:
        """Freeze the run as CANCELLED; returns the terminal status instead when it is too late."""
        status, _ = self.status(now)
        if status in TERMINAL_RUN_STATUSES:
            return status
        self.cancelled_at = now
        return None

    def executions(self, now: float) -> list[Execution]:
        """Task executions at ``now``: none before RUNNING (the graph is still being traced)."""
        moment = self._effective(now)
        if self._phase(moment)[0] in (RunStatus.PENDING, RunStatus.PREPARING):
            return []
        nodes = self.pipeline.nodes
        window_start = self.created_at + RUNNING_AT * self.duration
        run_end = self.created_at + self.duration
        width = (run_end - window_start) / max(len(nodes), 1)
        return [self._execution(node, window_start + node.id * width, width, run_end, moment) for node in nodes]

    def _execution(self, node: GraphNode, start: float, width: float, run_end: float, moment: float) -> Execution:
        affected = self.affected_node
        if affected is not None and node.id > affected:
            if moment >= run_end:
                return Execution(node, TaskExecutionStatus.CANCELLED, None, None, None)
            return self._unless_cancelled(Execution(node, TaskExecutionStatus.PENDING, None, None, None))
        end = run_end if node.id == affected else start + width
        if moment < start:
            return self._unless_cancelled(Execution(node, TaskExecutionStatus.PENDING, None, None, None))
        if moment < end:
            return self._unless_cancelled(Execution(node, TaskExecutionStatus.RUNNING, start, None, None))
        if node.id == affected:
            return Execution(node, self.outcome, start, end, self._task_error(node.task.name))
        return Execution(node, TaskExecutionStatus.COMPLETED, start, end, None)

    def _unless_cancelled(self, execution: Execution) -> Execution:
        if self.cancelled_at is None:
            return execution
        completed = self.cancelled_at if execution.started_at is not None else None
        return Execution(
            execution.node, TaskExecutionStatus.CANCELLED, execution.started_at, completed, "Run cancelled"
        )

    def result_value(self, node: GraphNode) -> Any:
        """A JSON preview of a completed task's return value: what it ran on, minus the script key."""
        inputs = {key: value for key, value in self.payload.items() if key != EMULATOR_SCRIPT_KEY}
        return {"task": node.task.name, "nodeId": node.id, "inputs": inputs}

    def log_lines(self, execution: Execution) -> list[tuple[str, bool, str]]:
        """(stream, is-user-line, text) of one execution so far; platform lines show at verbosity ``all``."""
        name, node_id = execution.node.task.name, execution.node.id
        if execution.started_at is None:
            return []
        start = rfc3339(execution.started_at)
        lines = [
            ("stdout", False, f"{start} [platform] pod emu-{self.id[-8:]}-node-{node_id} started"),
            ("stdout", True, f"{start} INFO Starting task '{name}' (node {node_id}) of run {self.id}"),
        ]
        if execution.completed_at is None:
            return lines
        end = rfc3339(execution.completed_at)
        if execution.status == TaskExecutionStatus.COMPLETED:
            lines.append(("stdout", True, f"{end} INFO Task '{name}' completed"))
        elif execution.status == TaskExecutionStatus.FAILED:
            lines += [
                (
                    "stdout",
                    True,
                    f"{end} ERROR Task '{name}' failed: the emulator was scripted to fail it"
                    f" ({EMULATOR_SCRIPT_KEY}.outcome = {self.outcome})",
                ),
                ("stderr", True, "Traceback (most recent call last):"),
                ("stderr", True, f'  File "{self.filename}", line {execution.node.task.lineno}, in {name}'),
                ("stderr", True, f"    raise ValueError(\"scripted failure in task '{name}'\")"),
                ("stderr", True, execution.error_detail or ""),
            ]
        elif execution.status == TaskExecutionStatus.ERRORED:
            lines += [
                ("stderr", False, f"{end} [platform] The node was low on resource: memory. Pod evicted."),
                ("stdout", True, f"{end} ERROR Task '{name}' interrupted: {PLATFORM_FAULT}"),
            ]
        else:
            lines.append(("stdout", True, f"{end} WARNING Task '{name}' cancelled: the run was cancelled"))
        return lines
