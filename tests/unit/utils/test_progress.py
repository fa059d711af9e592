"""The live-progress tracker (``utils.progress``) on a fake clock and fake clients, sync and async."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_drpipelines.client.steps import arun_steps, run_steps
from airflow_provider_drpipelines.exceptions import ApiNotFoundError, ApiTransientError
from airflow_provider_drpipelines.utils import progress
from airflow_provider_drpipelines.utils.progress import (
    LOG_TAIL_LINES,
    MAX_LINE_CHARS,
    MAX_LOG_TAILS,
    MAX_TRACKED_TASKS,
    MIN_TASKS_PERIOD,
    RunProgress,
)

SECRET = "tok-progress-0123456789"
LOGGER = "tests.drpipelines.progress"


def task(name: str, status: str, task_id: int = 1, **fields: Any) -> dict[str, Any]:
    return {"taskId": task_id, "nodeId": task_id, "name": name, "status": status, **fields}


class FakeApi:
    """Answers like the sync hook: ``tasks`` is the task list (or an exception to raise), logs per task id."""

    def __init__(self) -> None:
        self.tasks: Any = []
        self.logs: dict[int, str] = {}
        self.calls: list[str] = []

    def list_task_executions(self, pipeline_id: str, run_id: str) -> Any:
        self.calls.append("tasks")
        if isinstance(self.tasks, Exception):
            raise self.tasks
        return self.tasks

    def get_task_execution_logs(self, pipeline_id: str, run_id: str, task_id: int, **_: Any) -> dict[str, Any]:
        self.calls.append(f"logs {task_id}")
        if task_id not in self.logs:
            raise ApiNotFoundError("no live logs", method="GET", path="/logs", status=404)
        return {"logs": self.logs[task_id]}

    def get_task_execution_durable_logs(self, pipeline_id: str, run_id: str, task_id: int, *_: Any, **__: Any) -> Any:
        self.calls.append(f"durable {task_id}")
        raise ApiNotFoundError("no durable logs", method="GET", path="/logs/stderr", status=404)


class FakeAsyncApi:
    """The same answers as awaitables, as the async client gives them."""

    def __init__(self, sync: FakeApi) -> None:
        self.sync = sync

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    now = SimpleNamespace(t=1000.0)
    monkeypatch.setattr(progress, "time", SimpleNamespace(time=lambda: now.t))
    return now


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def tracker(caplog: pytest.LogCaptureFixture) -> RunProgress:
    caplog.set_level(logging.INFO, logger=LOGGER)
    return RunProgress("p1", "r1", max_poll_interval=300.0, log=logging.getLogger(LOGGER))


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    shown = [record.getMessage() for record in caplog.records]
    caplog.clear()
    return shown


def test_run_status_changes_are_logged_once_each_with_how_long_the_last_lasted(tracker, api, clock, caplog):
    run_steps(tracker.observe(api, "PENDING", SECRET))
    clock.t += 2.0
    run_steps(tracker.observe(api, "PENDING", SECRET))
    assert lines(caplog) == ["Pipeline run r1: PENDING"]
    clock.t += 1.5
    run_steps(tracker.observe(api, "PREPARING", SECRET))
    assert lines(caplog) == ["Pipeline run r1: PENDING -> PREPARING after 3.5 s"]
    assert api.calls == []  # the task list is empty until the run is RUNNING: not read


def test_tasks_are_read_on_a_status_change_else_at_most_once_per_max_poll_interval(tracker, api, clock, caplog):
    api.tasks = [task("load", "RUNNING")]
    run_steps(tracker.observe(api, "RUNNING", SECRET))
    assert api.calls == ["tasks"]
    assert lines(caplog) == ["Pipeline run r1: RUNNING", "load: RUNNING"]
    for _ in range(29):  # polls every 10 s: nothing changed, nothing read until 300 s have passed
        clock.t += 10.0
        run_steps(tracker.observe(api, "RUNNING", SECRET))
    assert api.calls == ["tasks"] and lines(caplog) == []
    clock.t += 10.0
    api.tasks = [task("load", "COMPLETED"), task("score", "RUNNING", 2)]
    run_steps(tracker.observe(api, "RUNNING", SECRET))
    assert api.calls == ["tasks"] * 2
    assert lines(caplog) == ["load: RUNNING -> COMPLETED after 300.0 s", "score: RUNNING"]
    clock.t += 4.2
    api.tasks = [task("load", "COMPLETED"), task("score", "COMPLETED", 2)]
    run_steps(tracker.observe(api, "COMPLETED", SECRET))  # a run status change reads at once
    assert lines(caplog) == [
        "Pipeline run r1: RUNNING -> COMPLETED after 304.2 s",
        "score: RUNNING -> COMPLETED after 4.2 s",
    ]


def test_a_short_max_poll_interval_still_reads_tasks_at_most_once_a_minute(api, clock, caplog):
    tracker = RunProgress("p1", "r1", max_poll_interval=5.0, log=logging.getLogger(LOGGER))
    run_steps(tracker.observe(api, "RUNNING", SECRET))
    for _ in range(int(MIN_TASKS_PERIOD / 5) - 1):
        clock.t += 5.0
        run_steps(tracker.observe(api, "RUNNING", SECRET))
    assert api.calls == ["tasks"]
    clock.t += 5.0
    run_steps(tracker.observe(api, "RUNNING", SECRET))
    assert api.calls == ["tasks"] * 2


def test_a_task_failing_while_the_run_goes_on_shows_its_error_and_log_tail_at_once(tracker, api, clock, caplog):
    api.tasks = [task("score", "RUNNING", 7)]
    run_steps(tracker.observe(api, "RUNNING", SECRET))
    lines(caplog)
    api.tasks = [task("score", "FAILED", 7, errorDetail="ValueError: bad row")]
    api.logs[7] = "\n".join(f"line {n}" for n in range(50))
    clock.t += 300.0
    run_steps(tracker.observe(api, "RUNNING", SECRET))
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    shown = record.getMessage().splitlines()
    assert shown[:3] == [
        "score: RUNNING -> FAILED after 300.0 s",
        "  error: ValueError: bad row",
        f"  last {LOG_TAIL_LINES} log line(s):",
    ]
    assert shown[3:] == [f"    line {n}" for n in range(50 - LOG_TAIL_LINES, 50)]


def test_once_the_run_has_ended_a_failed_task_shows_its_error_but_no_tail(tracker, api, clock, caplog):
    """The failure diagnostics that follow carry the tail: not fetched twice."""
    api.tasks = [task("score", "ERRORED", 3, errorDetail="evicted")]
    run_steps(tracker.observe(api, "ERRORED", SECRET))
    assert api.calls == ["tasks"]
    assert lines(caplog) == ["Pipeline run r1: ERRORED", "score: ERRORED\n  error: evicted"]


def test_log_tails_are_fetched_for_a_few_failed_tasks_only(tracker, api, clock, caplog):
    api.tasks = [task(f"t{n}", "FAILED", n) for n in range(10)]
    run_steps(tracker.observe(api, "RUNNING", SECRET))
    fetched = {call.split()[1] for call in api.calls if call != "tasks"}
    assert len(fetched) == MAX_LOG_TAILS
    assert sum("(no logs available" in line for line in lines(caplog)) == MAX_LOG_TAILS


def test_a_broken_task_list_is_warned_about_once_and_the_wait_goes_on(tracker, api, clock, caplog):
    api.tasks = {"data": "not an array"}
    run_steps(tracker.observe(api, "RUNNING", SECRET))
    api.tasks = ApiTransientError("HTTP 503", method="GET", path="/tasks", status=503)
    clock.t += 400.0
    run_steps(tracker.observe(api, "RUNNING", SECRET))
    run_steps(tracker.observe(api, "COMPLETED", SECRET))
    shown = lines(caplog)
    assert shown[0] == "Pipeline run r1: RUNNING"
    assert shown[1].startswith("Cannot follow the tasks of pipeline run r1 (the wait goes on")
    assert shown[2:] == ["Pipeline run r1: RUNNING -> COMPLETED after 400.0 s"]
    assert api.calls == ["tasks"] * 3


def test_bounded_tasks_followed_and_line_lengths_and_no_token(tracker, api, clock, caplog):
    api.tasks = [task(f"t{n}", "RUNNING", n) for n in range(MAX_TRACKED_TASKS + 50)]
    api.tasks.append(task("x" * 1000 + SECRET, "RUNNING", 10_000))
    run_steps(tracker.observe(api, "RUNNING", SECRET))
    shown = lines(caplog)
    assert len(shown) == 1 + 1 + MAX_TRACKED_TASKS  # the run, one note, the first tasks
    assert shown.count(f"Following the first {MAX_TRACKED_TASKS} tasks of pipeline run r1 only.") == 1
    assert shown[-1] == f"t{MAX_TRACKED_TASKS - 1}: RUNNING"
    failing = [
        task("long", "FAILED", 1, errorDetail=f"{SECRET} " + "e" * 1000),
        task("odd", "FAILED", 2, errorDetail={"x": 1}),
    ]
    other = RunProgress("p1", "r2", 300.0, logging.getLogger(LOGGER))
    api.tasks, api.logs[1] = failing, f"token={SECRET} " + "l" * 1000
    run_steps(other.observe(api, "RUNNING", SECRET))
    text = "\n".join(lines(caplog))
    assert SECRET not in text and "***" in text and "error: {'x': 1}" in text
    assert all(len(line) <= MAX_LINE_CHARS + len("  error: ") for line in text.splitlines())  # value + its label


def test_the_async_client_gets_the_same_lines_from_the_same_tracker_code(api, clock, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    def scenario(drive: Callable[[Any], None], client: Any) -> list[str]:
        tracker = RunProgress("p1", "r1", 300.0, logging.getLogger(LOGGER))
        api.tasks, api.logs = [task("score", "RUNNING", 1)], {}
        drive(tracker.observe(client, "RUNNING", SECRET))
        clock.t += 300.0
        api.tasks = [task("score", "FAILED", 1, errorDetail="boom")]
        api.logs[1] = "Traceback\nValueError: boom"
        drive(tracker.observe(client, "RUNNING", SECRET))
        api.tasks = ApiTransientError("HTTP 502", method="GET", path="/tasks", status=502)
        drive(tracker.observe(client, "FAILED", SECRET))
        return lines(caplog)

    sync = scenario(run_steps, api)
    calls = list(api.calls)
    api.calls.clear()
    assert scenario(lambda steps: asyncio.run(arun_steps(steps)), FakeAsyncApi(api)) == sync
    assert api.calls == calls == ["tasks", "tasks", "logs 1", "tasks"]
    assert "    ValueError: boom" in sync[-3] and sync[-1].startswith("Cannot follow the tasks")
