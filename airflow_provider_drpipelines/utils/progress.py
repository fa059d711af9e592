"""Live progress of a pipeline run in the task log, one tracker for the worker's wait and the trigger's.

Only what changed since the last poll is logged at INFO: the run's status
(``Pipeline run r1: RUNNING -> COMPLETED after 12.3 s``), each pipeline task's by name
(``score: RUNNING -> COMPLETED after 12.3 s``), and a task that fails, with its error and the tail of its
log, as soon as it is seen (a WARNING). Durations are the time the previous status was seen for.

Within the polling budget: the task list is read when the run's status changes (not while the run is
PENDING or PREPARING, when it is empty) and otherwise at most once per
``max(max_poll_interval, MIN_TASKS_PERIOD)``. Bounded: tasks followed, line lengths, log tails fetched and
their length. Best effort: a task list that cannot be read or makes no sense is warned about once and the
wait goes on, on the status alone. Every line is scrubbed of the token.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from airflow_provider_drpipelines.client.answers import objects
from airflow_provider_drpipelines.client.wire import scrub
from airflow_provider_drpipelines.exceptions import DataRobotPipelinesError
from airflow_provider_drpipelines.hooks.run_failure import task_log_tail
from airflow_provider_drpipelines.statuses import FAILED_TASK_STATUSES, RunStatus, ends_wait

if TYPE_CHECKING:
    from airflow_provider_drpipelines.client.endpoints import PipelinesApi
    from airflow_provider_drpipelines.client.steps import Steps

#: Pipeline tasks followed per run; later ones are left out (said once).
MAX_TRACKED_TASKS: Final = 100
#: Longest line logged (a task name, an error, one log line), after scrubbing.
MAX_LINE_CHARS: Final = 300
#: Lines of a failed task's log shown.
LOG_TAIL_LINES: Final = 20
#: Failed tasks whose log tail is fetched while the run goes on (each costs a call); the rest show their error.
MAX_LOG_TAILS: Final = 3
#: Shortest pause between two task-list reads while the run's status stays the same (a fixed-interval wait
#: with a short ``max_poll_interval`` would otherwise double its calls).
MIN_TASKS_PERIOD: Final = 60.0
#: The task list is empty in these run statuses: no call is made for it.
_NO_TASKS_YET: Final = frozenset({RunStatus.PENDING, RunStatus.PREPARING})

TaskKey = tuple[Any, Any, str]


class RunProgress:
    """What a person watching one run's wait sees in the task log; feed it each polled status.

    :param pipeline_id: the pipeline.
    :param run_id: the run.
    :param max_poll_interval: the wait's longest pause; the task list is read at most this often (or
        ``MIN_TASKS_PERIOD``) while the run's status stays the same.
    :param log: where the lines go: the hook's logger in the worker, the trigger's in the triggerer (a stdlib
        or structlog logger, whichever the Airflow version gives).
    """

    def __init__(self, pipeline_id: str, run_id: str, max_poll_interval: float, log: Any) -> None:
        self.pipeline_id = pipeline_id
        self.run_id = run_id
        self.tasks_period = max(max_poll_interval, MIN_TASKS_PERIOD)
        self.log = log
        self._run: tuple[str, float] | None = None  # the run's status and since when it was seen
        self._tasks: dict[TaskKey, tuple[str, float]] = {}
        self._tasks_read_at: float | None = None
        self._tails_left = MAX_LOG_TAILS
        self._warned_broken = self._warned_many = False

    def observe(self, api: PipelinesApi[Any], status: str, secret: str) -> Steps[None]:
        """Log what this poll's ``status`` and, when due, the task list show; the calls it makes are yielded
        (``client.steps``: ``run_steps`` with the sync hook, ``arun_steps`` with the async client).

        :param secret: the connection's token, scrubbed from every line.
        """
        now = time.time()
        changed = self._run is None or self._run[0] != status
        if changed:
            self._log_run(status, now, secret)
        due = self._tasks_read_at is None or now - self._tasks_read_at >= self.tasks_period
        if status in _NO_TASKS_YET or not (changed or due):
            return
        self._tasks_read_at = now
        call = f"list_task_executions({self.pipeline_id}, {self.run_id})"
        try:
            executions = objects(call, (yield api.list_task_executions(self.pipeline_id, self.run_id)))
        except DataRobotPipelinesError as err:
            if not self._warned_broken:
                self._warned_broken = True
                self.log.warning(
                    "Cannot follow the tasks of pipeline run %s (the wait goes on, on the run's status): %s",
                    self.run_id,
                    _clip(str(err), secret),
                )
            return
        for task, line in self._task_changes(executions, now, secret):
            if task.get("status") not in FAILED_TASK_STATUSES:
                self.log.info("%s", line)
                continue
            detail = [line, f"  error: {_clip(str(task.get('errorDetail') or 'no error detail'), secret)}"]
            if self._tails_left > 0 and not ends_wait(status):  # once the run has ended, its diagnostics show it
                self._tails_left -= 1
                tail = yield from self._tail(api, task)
                detail.extend(_clip(text, secret) for text in tail)
            self.log.warning("%s", "\n".join(detail))

    def _log_run(self, status: str, now: float, secret: str) -> None:
        shown = _clip(status, secret)
        if self._run is None:
            self.log.info("Pipeline run %s: %s", self.run_id, shown)
        else:
            before, since = self._run
            self.log.info(
                "Pipeline run %s: %s -> %s after %.1f s", self.run_id, _clip(before, secret), shown, now - since
            )
        self._run = (status, now)

    def _task_changes(
        self, executions: list[dict[str, Any]], now: float, secret: str
    ) -> list[tuple[dict[str, Any], str]]:
        """(task, line) for each followed task whose status is new or changed since the last read."""
        changes = []
        for task in executions:
            name = _clip(str(task.get("name") or "unnamed task"), secret)
            key: TaskKey = (task.get("nodeId"), task.get("taskId"), name)
            status = _clip(str(task.get("status")), secret)
            known = self._tasks.get(key)
            if known is None and len(self._tasks) >= MAX_TRACKED_TASKS:
                if not self._warned_many:
                    self._warned_many = True
                    self.log.info(
                        "Following the first %d tasks of pipeline run %s only.", MAX_TRACKED_TASKS, self.run_id
                    )
                continue
            if known is not None and known[0] == status:
                continue
            self._tasks[key] = (status, now)
            line = (
                f"{name}: {status}" if known is None else f"{name}: {known[0]} -> {status} after {now - known[1]:.1f} s"
            )
            changes.append((task, line))
        return changes

    def _tail(self, api: PipelinesApi[Any], task: dict[str, Any]) -> Steps[list[str]]:
        try:
            tail: list[str] = yield from task_log_tail(api, self.pipeline_id, self.run_id, task, LOG_TAIL_LINES)
        except (DataRobotPipelinesError, KeyError, TypeError) as err:  # a broken logs answer: say so, go on
            return [f"  (no logs available: {type(err).__name__})"]
        return tail


def _clip(text: str, secret: str) -> str:
    """``text`` scrubbed of the token, then cut to ``MAX_LINE_CHARS``."""
    text = scrub(text, secret)
    return text if len(text) <= MAX_LINE_CHARS else text[: MAX_LINE_CHARS - 1] + "…"
