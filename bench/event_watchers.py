"""100 asset watchers on one pipeline: on Airflow >= 3.3 they make one listing poll per interval between them.

Platform teams put many DAGs on the runs of one pipeline (one asset each, or one per status), so a triggerer
holds many ``DataRobotPipelineRunEventTrigger`` watchers of the same pipeline scope. On Airflow >= 3.3 they
share one listing poll (``shared_stream_key``); on 3.0-3.2 each polls on its own. This process plays the
triggerer with Airflow's own ``SharedStreamManager`` (as ``TriggerRunner`` drives it) and, for comparison, with
each watcher's own ``run()``; the emulator runs in another process, on its own core when there are two.

Half the watchers fire on COMPLETED, half on FAILED. Once every watcher has made its first poll, runs start
that end one after another over ``--window`` seconds, alternately COMPLETED and FAILED. Measured per variant,
from the runs' start to the last end plus two polls: listing calls (``GET .../dispatches``, from the
emulator's request log) per poll interval, this process's CPU as a share of one core, each event's detection
latency against ``poll_interval`` + 1 s, and errors: a watcher firing a run twice, firing one it should not,
missing one, or raising.

    python bench/event_watchers.py            # 100 watchers, poll 2 s, 10 runs ending over 30 s
    python bench/event_watchers.py --quick    # 20 watchers, poll 1 s, 2 runs over 3 s

Targets (shared streams): at most 1.1 listing calls per poll interval, every run fired exactly once by every
watcher of its status, within its bound, 0 errors. Prints a table and writes bench/results/event_watchers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
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
from triggerer_scale import Run, create_runs, parse_time

TARGET_LISTINGS_PER_INTERVAL = 1.1
REQUEST_SLACK = 1.0
OUTCOMES = ("COMPLETED", "FAILED")
VARIANTS = ("shared", "standalone")


def shared_streams_available() -> bool:
    """Airflow >= 3.3: the triggerer routes watchers of one ``shared_stream_key`` through one poll."""
    try:
        from airflow.triggers.shared_stream import SharedStreamManager  # noqa: F401
    except ImportError:
        return False
    return True


def event_stream(variant: str, index: int, trigger: Any, manager: Any) -> AsyncIterator[Any]:
    """What the triggerer iterates for this watcher: the filtered shared stream, or the watcher's own run()."""
    if variant == "standalone":
        return trigger.run()  # type: ignore[no-any-return]
    stream = manager.subscribe(trigger_id=index, trigger=trigger, key=trigger.shared_stream_key())
    return trigger.filter_shared_stream(stream)  # type: ignore[no-any-return]


async def watch(variant: str, index: int, trigger: Any, manager: Any, seen: list[tuple[int, dict[str, Any], float]],
                failures: list[str]) -> None:  # fmt: skip
    try:
        async for event in event_stream(variant, index, trigger, manager):
            seen.append((index, event.payload, time.time()))
    except Exception as err:  # cancellation (a BaseException) passes through
        failures.append(f"watcher {index}: {type(err).__name__}: {err}"[:300])
    finally:
        if variant == "shared":
            await manager.unsubscribe(index, trigger.shared_stream_key())


async def measure(emu: Any, variant: str, pipeline_id: str, n: int, poll: float, runs_n: int, window: float
                  ) -> dict[str, Any]:  # fmt: skip
    from airflow.triggers.shared_stream import SharedStreamManager

    from airflow_provider_drpipelines.triggers import DataRobotPipelineRunEventTrigger

    statuses = [OUTCOMES[i % 2] for i in range(n)]
    triggers = [
        DataRobotPipelineRunEventTrigger(pipeline_id=pipeline_id, version=1, statuses=[status], poll_interval=poll)
        for status in statuses
    ]
    manager = SharedStreamManager()
    seen: list[tuple[int, dict[str, Any], float]] = []
    failures: list[str] = []
    tasks = [asyncio.create_task(watch(variant, i, t, manager, seen, failures)) for i, t in enumerate(triggers)]
    await asyncio.sleep(2 * poll)  # every watcher has made its first poll: later ends fire
    await asyncio.to_thread(emu.clear_requests)
    cpu0, wall0 = time.process_time(), time.time()
    lead = 2 * poll
    runs: list[tuple[Run, str]] = []
    for k in range(runs_n):
        outcome = OUTCOMES[k % 2]
        seconds = round(lead + window * k / max(runs_n - 1, 1), 1)
        runs += [(run, outcome) for run in await create_runs(emu.api_url, pipeline_id, 1, seconds, outcome)]
    last_end = max(run.ends_at for run, _ in runs)
    await asyncio.sleep(max(last_end + 2 * poll + REQUEST_SLACK - time.time(), 0))
    cpu, wall = time.process_time() - cpu0, time.time() - wall0
    listings = await asyncio.to_thread(emu.request_log, r"/dispatches/?$", "GET")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return score(variant, statuses, runs, seen, failures, poll, len(listings), cpu, wall)


def score(variant: str, statuses: list[str], runs: list[tuple[Run, str]], seen: list[tuple[int, dict[str, Any], float]],
          failures: list[str], poll: float, listings: int, cpu: float, wall: float) -> dict[str, Any]:  # fmt: skip
    """Every watcher must fire each run of its status exactly once, and no other."""
    fired = Counter((index, payload["run_id"]) for index, payload, _ in seen)
    expected = {(i, run.run_id) for i, status in enumerate(statuses) for run, outcome in runs if outcome == status}
    twice = sum(1 for key, count in fired.items() if count > 1)
    unexpected = sum(1 for key in fired if key not in expected)
    missed = sum(1 for key in expected if key not in fired)
    latencies = [at - parse_time(payload["ended_at"]) for _, payload, at in seen]
    late = sum(1 for latency in latencies if latency > poll + REQUEST_SLACK)
    errors = len(failures) + twice + unexpected + missed
    return {
        "variant": variant, "events": len(seen), "expected_events": len(expected), "twice": twice,
        "unexpected": unexpected, "missed": missed, "failures": failures[:5], "errors": errors,
        "listings": listings, "listings_per_interval": listings / (wall / poll), "cpu_s": cpu, "wall_s": wall,
        "core_share": cpu / wall, "detection_p50_s": percentile(latencies, 50),
        "detection_p99_s": percentile(latencies, 99), "detection_max_s": max(latencies, default=float("nan")),
        "late": late,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: 20 watchers, poll 1 s, 2 runs over 3 s")
    parser.add_argument("--watchers", type=int, help="watchers of the pipeline (default 100; quick 20)")
    parser.add_argument("--poll", type=float, help="their poll_interval in seconds (default 2; quick 1)")
    parser.add_argument("--runs", type=int, help="runs ending during the measurement (default 10; quick 2)")
    parser.add_argument("--window", type=float, help="seconds over which the runs end (default 30; quick 3)")
    args = parser.parse_args()
    n = args.watchers or (20 if args.quick else 100)
    poll = args.poll or (1.0 if args.quick else 2.0)
    runs_n = args.runs or (2 if args.quick else 10)
    window = args.window or (3.0 if args.quick else 30.0)
    isolate_airflow()
    if not shared_streams_available():
        print("event_watchers: needs Airflow >= 3.3 (shared streams); skipped")
        write_result("event_watchers", args.quick, {"skipped": "needs Airflow >= 3.3", "passed": None})
        return 0

    from airflow_provider_drpipelines.emulator import EmulatorProcess

    with EmulatorProcess(token=TOKEN) as emu:
        point_connection_at(emu.base_url)
        pin_apart(emu.process and emu.process.pid)
        pipeline_id = locked_example_pipeline()
        results = {
            variant: asyncio.run(measure(emu, variant, pipeline_id, n, poll, runs_n, window)) for variant in VARIANTS
        }

    shared, alone = results["shared"], results["standalone"]
    passed = (
        shared["listings_per_interval"] <= TARGET_LISTINGS_PER_INTERVAL and shared["errors"] == 0
        and shared["late"] == 0
    )  # fmt: skip
    rows = [
        [variant, r["listings_per_interval"], r["core_share"] * 100, f"{r['events']:,} / {r['expected_events']:,}",
         f"{r['detection_p50_s']:.2f} / {r['detection_max_s']:.2f}", r["late"], r["errors"]]
        for variant, r in results.items()
    ]  # fmt: skip
    headers = ["variant", "listings / interval", "CPU % of a core", "events / expected", "detection p50 / max s",
               "late", "errors"]  # fmt: skip
    title = f"{n} event watchers of one pipeline, poll {poll:g} s, {runs_n} runs ending over {window:g} s"
    print(table(headers, rows, title=title))
    more_listings = alone["listings_per_interval"] / max(shared["listings_per_interval"], 1e-9)
    more_cpu = alone["core_share"] / max(shared["core_share"], 1e-9)
    print(
        f"\nshared: {shared['listings_per_interval']:.2f} listing calls per interval (target <= "
        f"{TARGET_LISTINGS_PER_INTERVAL:g}), every run fired once per watcher of its status within poll + "
        f"{REQUEST_SLACK:g} s: {verdict(passed)}; each polling alone (Airflow 3.0-3.2) makes {more_listings:.0f}x "
        f"the listing calls and {more_cpu:.1f}x the CPU"
    )
    for failure in shared["failures"] + alone["failures"]:
        print(f"  {failure}")
    write_result(
        "event_watchers",
        args.quick,
        {"watchers": n, "poll_interval": poll, "runs": runs_n, "window_s": window, "results": results,
         "target_listings_per_interval": TARGET_LISTINGS_PER_INTERVAL, "passed": passed},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
