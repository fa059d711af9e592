"""Polling cost: the calls a run costs over its life (status polls and the live progress's task-list reads),
and how late its end is seen.

Drives the provider's real wait loops on a simulated clock, so the counts are the code's, not a model's:

* deferrable: ``DataRobotPipelineRunTrigger.run()``, with the module's ``time.time`` and the triggers' pause
  (``sleep_on_grid``) replaced by a fake clock and the hook's ``aget_client`` by a fake status client;
* worker (and poke-less sensor path): ``DataRobotPipelinesHook.wait_for_run``, with ``time.time`` /
  ``time.sleep`` faked and ``get_run_status`` answering from the fake clock.

Both read the task list for the live progress (``utils.progress``, on the fake clock too): the status
calls are what a wait cost before the progress, the total what it costs with it.

A run starts at t = 0 and turns COMPLETED at t = T. For each run length (10 s, 10 min, 2 h) and
``poll_interval`` (5 s, 10 s) it reports the status calls until the end is seen, the latency of that
detection, and the worst latency any end time could get (the gap between the two polls around it, i.e.
a run ending just after a poll), against the target max(poll_interval, 10 % of the run's elapsed time).
Adaptive polling (``max_poll_interval=300``) is compared with a fixed interval
(``max_poll_interval=poll_interval``), which stays available for users who want it.

    python bench/polling_cost.py [--quick]

Prints a table and writes bench/results/polling_cost.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import isolate_airflow, table, verdict, write_result

RUN_LENGTHS = {"10 s": 10.0, "10 min": 600.0, "2 h": 7200.0}
POLL_INTERVALS = (5.0, 10.0)
MAX_POLL_INTERVAL = 300.0
MAX_CALLS_2H = 150
#: The live progress's task-list reads may add at most this share to a 2 h run's status calls.
MAX_ADDED = 0.5


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.polls: list[float] = []
        self.task_reads: list[float] = []

    def status(self, end: float) -> dict[str, Any]:
        self.polls.append(self.now)
        return {"id": "run", "status": "COMPLETED" if self.now >= end else "RUNNING", "covalentDispatchId": None}

    def tasks(self, end: float) -> list[dict[str, Any]]:
        """The task list the live progress reads (``utils.progress``): one task, finishing with the run."""
        self.task_reads.append(self.now)
        status = "COMPLETED" if self.now >= end else "RUNNING"
        return [{"taskId": 1, "nodeId": 0, "name": "score", "status": status, "errorDetail": None}]


def _fake_progress_clock(clock: FakeClock) -> Any:
    """Point the progress tracker's clock at the fake one; returns the real module to put back."""
    from airflow_provider_drpipelines.utils import progress

    real = progress.time
    progress.time = _proxy(time, time=lambda: clock.now)
    return real


def _proxy(module: Any, **overrides: Any) -> Any:
    """A stand-in for a module: the overrides, and everything else from the real module."""

    class Proxy(SimpleNamespace):
        def __getattr__(self, name: str) -> Any:
            return getattr(module, name)

    return Proxy(**overrides)


def trigger_polls(poll_interval: float, max_poll_interval: float, end: float) -> FakeClock:
    """The real trigger loop on a fake clock; returns the clock with the time of every status call."""
    from airflow_provider_drpipelines.client.polling import coalesced_wake
    from airflow_provider_drpipelines.hooks import pipelines as hooks
    from airflow_provider_drpipelines.triggers import base as trigger_base
    from airflow_provider_drpipelines.triggers import run as triggers

    clock = FakeClock()

    class FakePoller:
        settings = SimpleNamespace(token="bench-token")

        async def get_run_status(self, pipeline_id: str, run_id: str, version: int | None) -> dict[str, Any]:
            return clock.status(end)

        async def list_task_executions(self, pipeline_id: str, run_id: str) -> list[dict[str, Any]]:
            return clock.tasks(end)

    async def fake_aget_client(self: Any) -> FakePoller:
        return FakePoller()

    async def fake_sleep_on_grid(seconds: float) -> None:
        clock.now = coalesced_wake(seconds, clock.now)  # on the wake grid, as the triggers' pauses end

    real_time, real_sleep, real_aget = (
        trigger_base.time,
        trigger_base.sleep_on_grid,
        hooks.DataRobotPipelinesHook.aget_client,
    )
    trigger_base.time = _proxy(time, time=lambda: clock.now)
    trigger_base.sleep_on_grid = fake_sleep_on_grid
    hooks.DataRobotPipelinesHook.aget_client = fake_aget_client  # type: ignore[method-assign]
    real_progress_time = _fake_progress_clock(clock)
    try:
        trigger = triggers.DataRobotPipelineRunTrigger(
            pipeline_id="p", run_id="run", version=1, poll_interval=poll_interval,
            max_poll_interval=max_poll_interval, run_started_at=0.0,
        )  # fmt: skip

        async def first_event() -> dict[str, Any]:
            async for event in trigger.run():
                return dict(event.payload)
            raise RuntimeError("the trigger ended without an event")

        event = asyncio.run(first_event())
    finally:
        trigger_base.time, trigger_base.sleep_on_grid = real_time, real_sleep
        hooks.DataRobotPipelinesHook.aget_client = real_aget  # type: ignore[method-assign]
        progress_module().time = real_progress_time
    if event["status"] != "COMPLETED":
        raise RuntimeError(f"unexpected event {event}")
    return clock


def worker_polls(poll_interval: float, max_poll_interval: float, end: float) -> FakeClock:
    """The real worker/sensor wait (``hook.wait_for_run``) on a fake clock."""
    from airflow_provider_drpipelines.client import polling
    from airflow_provider_drpipelines.hooks import pipelines as hooks

    clock = FakeClock()

    def fake_sleep(seconds: float) -> None:
        clock.now += seconds

    hook = hooks.DataRobotPipelinesHook()
    hook.get_run_status = lambda pipeline_id, run_id, version=None: clock.status(end)  # type: ignore[method-assign]
    hook.list_task_executions = lambda pipeline_id, run_id: clock.tasks(end)  # type: ignore[method-assign]
    hook.__dict__["settings"] = SimpleNamespace(token="bench-token")  # no connection needed
    real_time = polling.time
    polling.time = _proxy(time, time=lambda: clock.now, sleep=fake_sleep)  # type: ignore[assignment]
    real_progress_time = _fake_progress_clock(clock)
    try:
        status = hook.wait_for_run(
            "p", "run", 1, poll_interval=poll_interval, max_poll_interval=max_poll_interval, started_at=0.0
        )
    finally:
        polling.time = real_time  # type: ignore[assignment]
        progress_module().time = real_progress_time
    if status != "COMPLETED":
        raise RuntimeError(f"unexpected status {status}")
    return clock


def progress_module() -> Any:
    from airflow_provider_drpipelines.utils import progress

    return progress


def measure(path: str, run_label: str, length: float, poll_interval: float, max_poll_interval: float) -> dict[str, Any]:
    driver = trigger_polls if path == "trigger" else worker_polls
    clock = driver(poll_interval, max_poll_interval, length)
    polls, task_reads = clock.polls, len(clock.task_reads)
    detected = polls[-1]
    # A run ending just after the previous poll waits the whole last gap: the worst case for this length.
    worst = detected - polls[-2] if len(polls) > 1 else 0.0
    bound = max(poll_interval, 0.1 * length)
    return {
        "path": path,
        "run": run_label,
        "run_seconds": length,
        "poll_interval": poll_interval,
        "max_poll_interval": max_poll_interval,
        "mode": "adaptive" if max_poll_interval > poll_interval else "fixed",
        "status_calls": len(polls),
        "task_list_calls": task_reads,
        "total_calls": len(polls) + task_reads,
        "added_pct": 100.0 * task_reads / len(polls),
        "detection_latency_s": detected - length,
        "worst_latency_s": worst,
        "latency_bound_s": bound,
        "latency_ok": worst <= bound + 1e-9,
        "calls_ok": None
        if length < 7200 or max_poll_interval <= poll_interval
        else len(polls) + task_reads <= MAX_CALLS_2H and task_reads <= MAX_ADDED * len(polls),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode (the simulation is fast either way)")
    args = parser.parse_args()
    isolate_airflow()

    rows = []
    started = time.perf_counter()
    for path in ("trigger", "worker"):
        for poll_interval in POLL_INTERVALS[:1] if args.quick else POLL_INTERVALS:
            for label, length in RUN_LENGTHS.items():
                for cap in (MAX_POLL_INTERVAL, poll_interval):
                    rows.append(measure(path, label, length, poll_interval, cap))
    elapsed = time.perf_counter() - started

    printed = [
        [r["path"], r["run"], r["poll_interval"], r["mode"], r["status_calls"], r["task_list_calls"],
         r["total_calls"], f"+{r['added_pct']:.0f} %", r["detection_latency_s"], r["worst_latency_s"],
         r["latency_bound_s"], verdict(r["latency_ok"]),
         f"<= {MAX_CALLS_2H}, +{MAX_ADDED:.0%}" if r["calls_ok"] is not None else "", verdict(r["calls_ok"])]
        for r in rows
    ]  # fmt: skip
    print()
    print(table(
        ["wait loop", "run", "poll s", "mode", "status", "tasks", "total", "added", "latency s", "worst s", "bound s",
         "latency", "calls target", "calls"],
        printed,
        title="Polling cost: calls per run life, status polls and the progress's task-list reads "
        "(real wait loops on a simulated clock; cap 300 s)",
    ))  # fmt: skip
    two_hours = [r for r in rows if r["run_seconds"] == 7200 and r["path"] == "trigger" and r["poll_interval"] == 5.0]
    adaptive, fixed = (next(r for r in two_hours if r["mode"] == m) for m in ("adaptive", "fixed"))
    saving = fixed["total_calls"] / adaptive["total_calls"]
    print(f"\n2 h run at poll_interval 5 s: {adaptive['total_calls']} calls adaptive vs {fixed['total_calls']} "
          f"fixed ({saving:.1f}x fewer); simulated in {elapsed:.2f} s")  # fmt: skip
    for r in (r for r in rows if r["run_seconds"] == 7200 and r["mode"] == "adaptive"):
        print(f"2 h run, {r['path']}, poll_interval {r['poll_interval']:g} s: {r['status_calls']} status calls "
              f"(without progress) -> {r['total_calls']} with progress (+{r['added_pct']:.0f} %)")  # fmt: skip
    passed = all(r["latency_ok"] for r in rows if r["mode"] == "adaptive") and all(
        r["calls_ok"] in (None, True) for r in rows
    )
    write_result(
        "polling_cost",
        args.quick,
        {"method": "real wait loops (trigger, hook.wait_for_run) on a simulated clock", "rows": rows,
         "max_calls_2h": MAX_CALLS_2H, "passed": passed},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
