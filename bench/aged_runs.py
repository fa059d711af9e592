"""10,000 waiting runs of realistic ages on one triggerer: what a platform team's triggerer carries.

This process plays the triggerer (one default asyncio loop, as ``triggerer_scale.py``) and follows N runs on
the emulator in another process with ``DataRobotPipelineRunTrigger``. Each run started between 0 and
``--max-age-hours`` ago (its ``run_started_at``), so adaptive polling spaces its polls at 10 % of its age,
capped at ``max_poll_interval``; the runs end at random moments over a ``--window`` of seconds. Triggers start
spread over one poll interval, as deferrals arrive.

The floor runs in the same process afterwards, on runs of its own (``raw``: the same adaptive polling on the
same wake grid, one GET each on one shared aiohttp session, nothing else), and ours / raw is printed.

Measured from the first end to the last detection: this process's CPU as a share of one core, event-loop lag
p99 (a 10 ms ticker), each run's detection latency against its bound (the poll delay its age gives at its end,
``client.polling.next_poll_delay``, plus one second for the request and the loop), and errors (events other
than COMPLETED, exceptions, warnings logged (a failed poll, even retried), runs never seen ending).

    python bench/aged_runs.py                 # N = 10,000, ages 0-6 h, max_poll_interval 60 s, window 120 s
    python bench/aged_runs.py --variants ours # without the floor
    python bench/aged_runs.py --quick         # N = 300, window 10 s, max_poll_interval 5 s

Targets: < 25 % of a core, loop lag p99 < 100 ms, every end within its bound, 0 errors.
Prints a table and writes bench/results/aged_runs.json.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    TOKEN,
    isolate_airflow,
    locked_example_pipeline,
    percentile,
    pin_apart,
    point_connection_at,
    table,
    verdict,
    write_result,
)
from triggerer_scale import (
    Phase,
    Run,
    WarningCounter,
    create_runs,
    follow_polling,
    raise_fd_limit,
    raw_session,
    ticker,
)

TARGET_CORE_SHARE = 0.25
TARGET_LAG_P99_MS = 100.0
POLL_INTERVAL = 5.0
REQUEST_SLACK = 1.0
BUCKETS = 40  # inputs, each scripting another run length: the ends spread evenly over the window
VARIANTS = ("ours", "raw")


async def follow(pipeline_id: str, run: Run, started_at: float, max_poll_interval: float, failures: list[str]) -> None:
    from airflow_provider_drpipelines.triggers import DataRobotPipelineRunTrigger

    trigger = DataRobotPipelineRunTrigger(
        pipeline_id=pipeline_id, run_id=run.run_id, version=1, poll_interval=POLL_INTERVAL,
        max_poll_interval=max_poll_interval, run_started_at=started_at,
    )  # fmt: skip
    log_warning = trigger.log.warning  # Airflow 3's trigger loggers are structlog's: the root handler sees none

    def counted(*args: Any, **kwargs: Any) -> None:
        failures.append(f"warning: {args[0] % args[1:]}"[:300] if len(args) > 1 else f"warning: {args[0]}")
        log_warning(*args, **kwargs)

    trigger.log.warning = counted  # type: ignore[method-assign]
    try:
        async for event in trigger.run():
            run.detected_at = time.time()
            run.status = event.payload["status"]
            return
    except Exception as err:
        failures.append(f"{type(err).__name__}: {err}"[:300])


async def create_ending_over(api_url: str, pipeline_id: str, n: int, window: float) -> list[Run]:
    """N runs in ``BUCKETS`` groups whose ends spread over ``window`` seconds, all after set-up and the starts."""
    calibration = time.perf_counter()
    await create_runs(api_url, pipeline_id, 50, 1.0)
    lead = (time.perf_counter() - calibration) / 50 * n * 1.5 + 2 * POLL_INTERVAL + 5.0
    runs: list[Run] = []
    for bucket in range(BUCKETS):
        count = n // BUCKETS + (1 if bucket < n % BUCKETS else 0)
        runs += await create_runs(api_url, pipeline_id, count, round(lead + window * bucket / (BUCKETS - 1), 1))
    return runs


async def follow_all(
    variant: str, api_url: str, pipeline_id: str, runs: list[Run], ages: list[float], max_poll_interval: float,
    grace: float,
) -> dict[str, Any]:  # fmt: skip
    """Follow every run, with ours or with the floor (``raw``: the same adaptive polling on the same wake grid,
    one GET each on one shared aiohttp session, nothing else)."""
    phase = Phase(variant, len(runs), POLL_INTERVAL, runs)
    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(phase, stop))
    failures: list[str] = []
    shared = raw_session() if variant == "raw" else None

    async def start_later(index: int, run: Run, age: float) -> None:
        await asyncio.sleep(index / len(runs) * POLL_INTERVAL)
        if shared is None:
            await follow(pipeline_id, run, run.created_at - age, max_poll_interval, failures)
        else:
            await follow_polling(phase, run, pipeline_id, api_url, shared, started_at=run.created_at - age,
                                 max_poll_interval=max_poll_interval)  # fmt: skip

    tasks = [asyncio.create_task(start_later(i, run, age)) for i, (run, age) in enumerate(zip(runs, ages, strict=True))]
    first_end = min(r.ends_at for r in runs)
    await asyncio.sleep(max(first_end - time.time(), 0))
    cpu0, wall0, perf0 = time.process_time(), time.time(), time.perf_counter()
    deadline = max(r.ends_at for r in runs) + max_poll_interval + grace
    await asyncio.wait(tasks, timeout=max(deadline - time.time(), 0))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    cpu, wall = time.process_time() - cpu0, time.time() - wall0
    stop.set()
    await tick
    if shared is not None:
        await shared.close()
    if phase.exceptions:
        failures.append(f"{phase.exceptions} failed polls, the last: {phase.last_exception}")
    lags_ms = [lag * 1000 for at, lag in phase.lags if at >= perf0]
    return {"cpu_s": cpu, "wall_s": wall, "core_share": cpu / wall, "lags_ms": lags_ms, "failures": failures}


def score(runs: list[Run], ages: list[float], max_poll: float, measured: dict[str, Any], warnings: int
          ) -> dict[str, Any]:  # fmt: skip
    """CPU, lag, each end against the bound its age gives, and errors, of one variant."""
    from airflow_provider_drpipelines.client.polling import next_poll_delay

    bounds = [
        next_poll_delay(POLL_INTERVAL, max_poll, age + (r.ends_at - r.created_at)) + REQUEST_SLACK
        for r, age in zip(runs, ages, strict=True)
    ]
    latencies = [r.detected_at - r.ends_at for r in runs if r.detected_at is not None]
    late = sum(
        1 for r, bound in zip(runs, bounds, strict=True) if r.detected_at is None or r.detected_at - r.ends_at > bound
    )
    wrong = sum(1 for r in runs if r.status not in (None, "COMPLETED"))
    unseen = sum(1 for r in runs if r.detected_at is None)
    errors = len(measured["failures"]) + wrong + unseen + warnings
    return {
        "cpu_s": measured["cpu_s"], "wall_s": measured["wall_s"], "core_share": measured["core_share"],
        "loop_lag_p99_ms": percentile(measured["lags_ms"], 99), "late": late, "errors": errors,
        "detection_latency_p50_s": percentile(latencies, 50), "detection_latency_p99_s": percentile(latencies, 99),
        "detection_latency_max_s": max(latencies, default=0.0), "bound_min_s": min(bounds),
        "bound_max_s": max(bounds), "failures": measured["failures"][:5],
    }  # fmt: skip


def report_rows(results: dict[str, dict[str, Any]]) -> tuple[list[list[Any]], dict[str, float] | None]:
    """Each variant's figures next to their targets, and ours / raw when both ran."""
    rows: list[list[Any]] = []
    for variant, r in results.items():
        share, lag, late, errors = r["core_share"], r["loop_lag_p99_ms"], r["late"], r["errors"]
        latency = (
            f"{r['detection_latency_p50_s']:.2f} / {r['detection_latency_p99_s']:.2f} / "
            f"{r['detection_latency_max_s']:.2f}"
        )
        rows += [
            [f"{variant}: CPU, % of one core", share * 100, f"< {TARGET_CORE_SHARE * 100:g}",
             verdict(share < TARGET_CORE_SHARE)],
            [f"{variant}: loop lag p99 ms", lag, f"< {TARGET_LAG_P99_MS:g}", verdict(lag < TARGET_LAG_P99_MS)],
            [f"{variant}: ends seen later than their bound", late, "0", verdict(late == 0)],
            [f"{variant}: detection latency p50 / p99 / max s", latency,
             f"bound {r['bound_min_s']:.0f}-{r['bound_max_s']:.0f} s by age", ""],
            [f"{variant}: errors", errors, "0", verdict(errors == 0)],
        ]  # fmt: skip
    if "ours" not in results or "raw" not in results:
        return rows, None
    ours, raw = results["ours"], results["raw"]
    over_raw = {
        "cpu": ours["core_share"] / raw["core_share"],
        "loop_lag_p99": ours["loop_lag_p99_ms"] / raw["loop_lag_p99_ms"],
    }
    rows.append(["ours / raw: CPU, loop lag p99", f"{over_raw['cpu']:.2f}x, {over_raw['loop_lag_p99']:.2f}x", "", ""])
    return rows, over_raw


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: N=300, window 10 s, max poll 5 s")
    parser.add_argument("--n", type=int, help="waiting runs (default 10,000; quick 300)")
    parser.add_argument("--max-age-hours", type=float, default=6.0, help="runs started up to this long ago")
    parser.add_argument("--max-poll-interval", type=float, help="the triggers' max_poll_interval (60 s; quick 5)")
    parser.add_argument("--window", type=float, help="seconds over which the runs end (default 120; quick 10)")
    parser.add_argument("--variants", default="ours,raw", help="ours and/or raw (the floor), comma-separated")
    args = parser.parse_args()
    n = args.n or (300 if args.quick else 10_000)
    window = args.window or (10.0 if args.quick else 120.0)
    max_poll = args.max_poll_interval or (5.0 if args.quick else 60.0)
    variants = [v for v in args.variants.split(",") if v]
    if not variants or set(variants) - set(VARIANTS):
        parser.error(f"--variants: a comma-separated subset of {', '.join(VARIANTS)}")
    random.seed(7)
    ages = [random.uniform(0, args.max_age_hours * 3600) for _ in range(n)]

    isolate_airflow()
    fd_limit = raise_fd_limit()
    warnings = WarningCounter()
    logging.getLogger().addHandler(warnings)
    from airflow_provider_drpipelines.emulator import EmulatorProcess

    results: dict[str, dict[str, Any]] = {}
    with EmulatorProcess(token=TOKEN, run_seconds=window) as emu:
        point_connection_at(emu.base_url)
        pin_apart(emu.process and emu.process.pid)
        pipeline_id = locked_example_pipeline()
        for variant in variants:
            started = time.perf_counter()
            runs = asyncio.run(create_ending_over(emu.api_url, pipeline_id, n, window))
            setup = time.perf_counter() - started
            print(f"{variant}: N={n:,}: set-up {setup:.1f} s; following until the last end is seen...", flush=True)
            warnings_before = warnings.count
            grace = 2.0 if args.quick else 10.0
            measured = asyncio.run(follow_all(variant, emu.api_url, pipeline_id, runs, ages, max_poll, grace))
            scored = score(runs, ages, max_poll, measured, warnings.count - warnings_before)
            results[variant] = {"setup_s": setup, **scored}

    rows, over_raw = report_rows(results)
    print(table(["figure", "value", "target", "verdict"], rows,
                title=f"{n:,} waiting runs, ages 0-{args.max_age_hours:g} h, max_poll_interval "
                      f"{max_poll:g} s, ends over {window:g} s, one asyncio loop"))  # fmt: skip
    for variant, r in results.items():
        for failure in r["failures"]:
            print(f"  {variant}: {failure}")
    main_result = results.get("ours") or results[variants[0]]
    write_result(
        "aged_runs",
        args.quick,
        {
            "n": n, "max_age_hours": args.max_age_hours, "max_poll_interval": max_poll, "window_s": window,
            **main_result, "variants": results, "ours_over_raw": over_raw, "rlimit_nofile": list(fd_limit),
            "targets": {"core_share": TARGET_CORE_SHARE, "loop_lag_p99_ms": TARGET_LAG_P99_MS},
            "passed": main_result["core_share"] < TARGET_CORE_SHARE
            and main_result["loop_lag_p99_ms"] < TARGET_LAG_P99_MS and main_result["late"] == 0
            and main_result["errors"] == 0,
        },
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
