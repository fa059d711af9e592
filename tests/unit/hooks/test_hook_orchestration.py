"""Run orchestration helpers of the hook: resolve_version, find_active_run, wait_for_run, cancel, diagnostics."""

from __future__ import annotations

import pytest

from airflow_provider_drpipelines.exceptions import ApiAuthError, DataRobotConfigError, PipelineRunTimeoutError
from tests.unit.hooks.test_hook_support import API, HOST, make_hook, query_of

STATUS_URL = f"{API}/pipelines/p1/dispatches/r1/status"


def _page(items):
    return {"data": items, "count": len(items), "totalCount": len(items), "next": None, "previous": None}


def _pipeline(mode, versions=()):
    return {
        "id": "p1",
        "name": "Churn",
        "mode": mode,
        "versions": [{"version": v, "status": "READY"} for v in versions],
    }


def _statuses(*statuses):
    return [{"json": {"id": "r1", "status": s}} for s in statuses]


@pytest.fixture(autouse=True)
def no_tasks_yet(requests_mock):
    """The task list the wait's progress reads (``utils.progress``): empty here, where only the status matters."""
    return requests_mock.get(f"{API}/pipelines/p1/dispatches/r1/tasks", json=[])


# --- resolve_version -------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "expected"), [("latest", 3), (1, 1), (3, 3)])
def test_resolve_version_locked(hook, requests_mock, version, expected):
    requests_mock.get(f"{API}/pipelines/p1", json=_pipeline("locked", [1, 3, 2]))
    assert hook.resolve_version("p1", version) == expected


@pytest.mark.parametrize("version", [5, 0, "3", True, 2.0])
def test_resolve_version_missing_number_lists_existing(hook, requests_mock, version):
    requests_mock.get(f"{API}/pipelines/p1", json=_pipeline("locked", [1, 3]))
    with pytest.raises(DataRobotConfigError) as info:
        hook.resolve_version("p1", version)
    assert str(info.value) == (
        f"Pipeline 'p1' (Churn) has no version {version!r}; its versions are [1, 3] (or pass 'latest')."
    )


def test_resolve_version_locked_without_versions(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1", json=_pipeline("locked"))
    with pytest.raises(DataRobotConfigError, match="is locked but lists no versions"):
        hook.resolve_version("p1", "latest")


@pytest.mark.parametrize("version", [1, "latest"])
def test_resolve_version_number_on_draft(hook, requests_mock, version):
    requests_mock.get(f"{API}/pipelines/p1", json=_pipeline("draft"))
    with pytest.raises(DataRobotConfigError, match=r"'p1' \(Churn\) is a draft, not locked: lock it first"):
        hook.resolve_version("p1", version)


def test_resolve_version_draft_on_draft(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1", json=_pipeline("draft"))
    assert hook.resolve_version("p1", "draft") is None


def test_resolve_version_draft_on_locked(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1", json=_pipeline("locked", [1]))
    with pytest.raises(DataRobotConfigError, match="is locked; it has no draft to run"):
        hook.resolve_version("p1", "draft")


def test_resolve_version_missing_pipeline(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1", status_code=404, json={"detail": "Pipeline p1 not found"})
    with pytest.raises(DataRobotConfigError, match=r"Pipeline 'p1' does not exist \(or is not visible to this token\)"):
        hook.resolve_version("p1", "latest")
    assert requests_mock.call_count == 1


def test_resolve_version_other_errors_propagate(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1", status_code=401, json={"detail": "bad token"})
    with pytest.raises(ApiAuthError):
        hook.resolve_version("p1", "latest")


# --- find_active_run -------------------------------------------------------------------------------


def test_find_active_run_newest_non_terminal_of_the_input(hook, requests_mock):
    runs = [
        {"id": "r1", "inputId": "i1", "status": "COMPLETED", "createdAt": "2026-01-01T03:00:00Z"},
        {"id": "r2", "inputId": "i1", "status": "RUNNING", "createdAt": "2026-01-01T01:00:00Z"},
        {"id": "r3", "inputId": "i1", "status": "PENDING", "createdAt": "2026-01-01T02:00:00Z"},
        {"id": "r4", "inputId": "i2", "status": "RUNNING", "createdAt": "2026-01-01T04:00:00Z"},
    ]
    requests_mock.get(f"{API}/pipelines/p1/versions/2/dispatches", json=_page(runs))
    assert hook.find_active_run("p1", 2, "i1")["id"] == "r3"
    assert hook.find_active_run("p1", 2, "i9") is None


def test_find_active_run_none_when_all_terminal(hook, requests_mock):
    runs = [{"id": f"r{s}", "inputId": "i1", "status": s} for s in ("COMPLETED", "FAILED", "CANCELLED", "ERRORED")]
    requests_mock.get(f"{API}/pipelines/p1/dispatches", json=_page(runs))
    assert hook.find_active_run("p1", None, "i1") is None


# --- wait_for_run ----------------------------------------------------------------------------------


def test_wait_for_run_adaptive_delays(hook, clock, requests_mock):
    polls = requests_mock.get(STATUS_URL, _statuses(*["PENDING", "PREPARING"] + ["RUNNING"] * 78, "COMPLETED"))
    status = hook.wait_for_run("p1", "r1", None, poll_interval=5, max_poll_interval=60, started_at=clock.now)
    assert status == "COMPLETED"
    assert polls.call_count == 81
    sleeps = clock.sleeps
    assert len(sleeps) == 80
    # poll_interval until 10 % of the elapsed time exceeds it (after 50 s), then 10 % of elapsed, capped.
    assert sleeps[:11] == [5.0] * 11
    assert sleeps[11] == pytest.approx(5.5)
    assert sleeps[12] == pytest.approx(6.05)
    elapsed = 0.0
    for delay in sleeps:
        assert delay == pytest.approx(max(5.0, min(60.0, 0.1 * elapsed)))
        elapsed += delay
    assert sleeps[-1] == 60.0
    assert sleeps == sorted(sleeps)


def test_wait_for_run_resumed_late_starts_at_the_cap(hook, clock, requests_mock):
    requests_mock.get(STATUS_URL, _statuses("RUNNING", "RUNNING", "FAILED"))
    started = clock.now - 7200
    assert hook.wait_for_run("p1", "r1", None, poll_interval=5, max_poll_interval=60, started_at=started) == "FAILED"
    assert clock.sleeps == [60.0, 60.0]


def test_wait_for_run_fixed_interval(hook, clock, requests_mock):
    requests_mock.get(STATUS_URL, _statuses(*["RUNNING"] * 3, "CANCELLED"))
    started = clock.now - 1000
    assert hook.wait_for_run("p1", "r1", None, poll_interval=5, max_poll_interval=5, started_at=started) == "CANCELLED"
    assert clock.sleeps == [5.0, 5.0, 5.0]


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "CANCELLED", "ERRORED", "SOMETHING_NEW"])
def test_wait_for_run_returns_terminal_or_unknown_status_at_once(hook, clock, requests_mock, status):
    requests_mock.get(f"{API}/pipelines/p1/versions/3/dispatches/r1/status", _statuses(status))
    assert hook.wait_for_run("p1", "r1", 3, poll_interval=5, max_poll_interval=60, started_at=clock.now) == status
    assert clock.sleeps == []


def test_wait_for_run_deadline_cancels_and_raises(hook, clock, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1/versions/3/dispatches/r1/status", _statuses(*["RUNNING"] * 10))
    cancel = requests_mock.delete(f"{API}/pipelines/p1/versions/3/dispatches/r1", status_code=204)
    with pytest.raises(PipelineRunTimeoutError, match="still RUNNING at its timeout and has been cancelled") as info:
        hook.wait_for_run(
            "p1", "r1", 3, poll_interval=5, max_poll_interval=60, started_at=clock.now, deadline=clock.now + 12
        )
    assert (info.value.pipeline_id, info.value.run_id, info.value.status) == ("p1", "r1", "RUNNING")
    assert clock.sleeps == [5.0, 5.0, 2.0]  # never sleeps past the deadline
    assert cancel.call_count == 1
    status_gets = [r.method for r in requests_mock.request_history if not r.path.endswith("/tasks")]
    assert status_gets == ["GET", "GET", "GET", "GET", "DELETE"]


def test_wait_for_run_deadline_when_run_ended_meanwhile(hook, clock, requests_mock):
    requests_mock.get(STATUS_URL, _statuses("PENDING"))
    cancel = requests_mock.delete(
        f"{API}/pipelines/p1/dispatches/r1", status_code=409, json={"detail": "already terminal"}
    )
    with pytest.raises(PipelineRunTimeoutError):
        hook.wait_for_run("p1", "r1", None, poll_interval=5, max_poll_interval=60, started_at=0, deadline=clock.now)
    assert cancel.call_count == 1


def test_wait_for_run_terminal_at_deadline_is_not_a_timeout(hook, clock, requests_mock):
    requests_mock.get(STATUS_URL, _statuses("COMPLETED"))
    cancel = requests_mock.delete(f"{API}/pipelines/p1/dispatches/r1", status_code=204)
    status = hook.wait_for_run(
        "p1", "r1", None, poll_interval=5, max_poll_interval=60, started_at=0, deadline=clock.now - 1
    )
    assert status == "COMPLETED"
    assert cancel.call_count == 0


# --- cancel_run_if_active --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "cancelled"),
    [
        ({"status_code": 204}, True),
        ({"status_code": 409, "json": {"detail": "already terminal"}}, False),
        ({"status_code": 404, "json": {"detail": "Run r1 not found"}}, False),
    ],
)
def test_cancel_run_if_active(hook, requests_mock, answer, cancelled):
    requests_mock.delete(f"{API}/pipelines/p1/versions/2/dispatches/r1", **answer)
    assert hook.cancel_run_if_active("p1", "r1", 2) is cancelled
    assert requests_mock.call_count == 1


def test_cancel_run_if_active_other_errors_raise(hook, requests_mock):
    requests_mock.delete(f"{API}/pipelines/p1/dispatches/r1", status_code=403, json={"detail": "forbidden"})
    with pytest.raises(ApiAuthError):
        hook.cancel_run_if_active("p1", "r1", None)


# --- describe_run_failure --------------------------------------------------------------------------

TASKS_URL = f"{API}/pipelines/p1/dispatches/r1/tasks"
TASKS = [
    {"taskId": 1, "nodeId": 0, "name": "load", "status": "COMPLETED"},
    {
        "taskId": 2,
        "nodeId": 1,
        "name": "train",
        "status": "FAILED",
        "errorDetail": "ZeroDivisionError: division by zero",
    },
    {"taskId": 3, "nodeId": 2, "name": "score", "status": "ERRORED", "errorDetail": None},
    {"taskId": None, "nodeId": 3, "name": ":postprocess:", "status": "FAILED", "errorDetail": "utility failed"},
]


def test_describe_run_failure(hook, requests_mock):
    requests_mock.get(
        f"{API}/pipelines/p1/versions/3/dispatches/r1",
        json={"id": "r1", "status": "FAILED", "errorDetail": "1 task failed"},
    )
    requests_mock.get(TASKS_URL, json=TASKS)
    live = requests_mock.get(f"{TASKS_URL}/2/logs", json={"logs": "\n".join(f"line {i}" for i in range(1, 31))})
    requests_mock.get(f"{TASKS_URL}/3/logs", status_code=404, json={"detail": "logs expired"})
    durable = requests_mock.get(
        f"{TASKS_URL}/3/logs/stderr", json={"content": "Traceback (most recent call last):\nOOMKilled\n"}
    )
    text = hook.describe_run_failure("p1", "r1", 3, "FAILED", log_lines=3)
    assert text == "\n".join(
        [
            "Pipeline run r1 of pipeline p1 ended FAILED.",
            "Run error: 1 task failed",
            "Task 'train' FAILED: ZeroDivisionError: division by zero",
            "  last 3 log line(s):",
            "    line 28",
            "    line 29",
            "    line 30",
            "Task 'score' ERRORED: no error detail",
            "  last 2 log line(s):",
            "    Traceback (most recent call last):",
            "    OOMKilled",
            "Task ':postprocess:' FAILED: utility failed",
        ]
    )
    assert query_of(live.last_request) == {"tail_lines": "3", "nodeId": "1"}
    assert query_of(durable.last_request) == {"nodeId": "2"}


def test_describe_run_failure_without_any_logs(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1/dispatches/r1", json={"id": "r1", "status": "ERRORED"})
    requests_mock.get(TASKS_URL, json=[TASKS[1]])
    requests_mock.get(f"{TASKS_URL}/2/logs", status_code=404, json={"detail": "gone"})
    requests_mock.get(f"{TASKS_URL}/2/logs/stderr", status_code=404, json={"detail": "no durable log"})
    text = hook.describe_run_failure("p1", "r1", None, "ERRORED")
    lines = text.splitlines()
    assert lines[0] == "Pipeline run r1 of pipeline p1 ended ERRORED."
    assert "Run error" not in text
    assert lines[1] == "Task 'train' FAILED: ZeroDivisionError: division by zero"
    assert lines[2].startswith("  (no logs available: ") and "no durable log" in lines[2]


def test_describe_run_failure_diagnostics_failure_is_mentioned_not_raised(conn_env, clock, requests_mock):
    hook = make_hook(conn_env, retry_limit=1)
    requests_mock.get(f"{API}/pipelines/p1/dispatches/r1", json={"id": "r1", "status": "FAILED", "errorDetail": "x"})
    requests_mock.get(TASKS_URL, status_code=500, json={"detail": "database is down"})
    text = hook.describe_run_failure("p1", "r1", None, "FAILED")
    assert text.splitlines() == [
        "Pipeline run r1 of pipeline p1 ended FAILED.",
        "Run error: x",
        "(Could not fetch the run's details: DataRobot pipelines API: GET /pipelines/p1/dispatches/r1/tasks "
        "failed with HTTP 500: database is down)",
    ]


def test_describe_run_failure_when_run_is_gone(hook, requests_mock):
    requests_mock.get(f"{API}/pipelines/p1/dispatches/r1", status_code=404, json={"detail": "Run r1 not found"})
    text = hook.describe_run_failure("p1", "r1", None, "FAILED")
    assert "Could not fetch the run's details" in text
    assert "Run r1 not found" in text


def test_run_url(hook):
    assert hook.run_url("p1", "r/1") == f"{HOST}/pipelines/p1/runs/r%2F1"
