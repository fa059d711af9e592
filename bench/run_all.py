"""Run every benchmark, one fresh process each, then print each figure next to its target.

    python bench/run_all.py            # full mode (about 30 minutes; installs bench/.venv-dbt once)
    python bench/run_all.py --quick    # smoke mode: every benchmark in its quick mode (under a minute)
    python bench/run_all.py --summary  # just the summary of the result files already written
    make bench / make bench-smoke      # the same through the Makefile

Each benchmark prints its own table and writes bench/results/<name>.json; this script then reads those
files and prints the closing summary. It exits non-zero only when a benchmark fails to run: a missed
target is a finding to report, not a broken benchmark.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, DEFAULT_RESULTS_DIR, RESULTS_DIR, table, verdict

BENCHMARKS = (
    "parse_cost", "cold_start", "polling_cost", "worker_slot", "triggerer_scale", "aged_runs", "event_watchers",
    "emulator_throughput",
)  # fmt: skip


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def summary_rows() -> list[list[Any]]:
    rows: list[list[Any]] = []
    if (trig := load("triggerer_scale")) is not None:
        targets = trig["targets"]
        phases = trig["phases"]
        ours = {p["n"]: p for p in phases if p["variant"] == "ours" and not p.get("profiled")}
        if (at := ours.get(targets["n"])) is not None:
            n = f"N={targets['n']:,}"
            rows += [
                [
                    f"triggerer {n}: CPU, % of one core",
                    f"{at['core_share'] * 100:.1f} %",
                    f"< {targets['core_share'] * 100:g} %",
                    verdict(at["core_share"] < targets["core_share"]),
                ],
                [f"triggerer {n}: CPU per status poll", f"{at['cpu_s_per_poll'] * 1e3:.2f} ms", "", ""],
                [
                    f"triggerer {n}: loop lag p50 / p99",
                    f"{at['loop_lag_p50_ms']:.1f} / {at['loop_lag_p99_ms']:.1f} ms",
                    f"p99 < {targets['loop_lag_p99_ms']:g} ms",
                    verdict(at["loop_lag_p99_ms"] < targets["loop_lag_p99_ms"]),
                ],
                [
                    f"triggerer {n}: polls per second",
                    f"{at['polls_per_s']:.0f} (of {at['expected_polls_per_s']:.0f})",
                    "",
                    "",
                ],
                [
                    f"triggerer {n}: new TCP connections per poll",
                    f"{at['connections_per_poll']:.4f}",
                    f"< {targets['connections_per_poll']:g}",
                    verdict(at["connections_per_poll"] < targets["connections_per_poll"]),
                ],
            ]
        for n, phase in sorted(ours.items()):
            rows.append(
                [
                    f"triggerer N={n:,}: errors; detection p99",
                    f"{phase['errors']}; {phase['detection_latency_p99_s']:.2f} s",
                    f"0; <= {phase['detection_latency_bound_s']:.2f} s",
                    verdict(
                        phase["errors"] == 0 and phase["detection_latency_p99_s"] <= phase["detection_latency_bound_s"]
                    ),
                ]
            )
        for ratio in trig["ratios"]:
            if ratio["vs"] == "raw":
                continue  # shown as ours / raw, against its target
            rows.append(
                [
                    f"triggerer N={ratio['n']:,}: {ratio['vs']} / ours",
                    f"CPU/poll {_times(ratio['cpu_s_per_poll'], 2)}, "
                    f"lag p99 {_times(ratio['loop_lag_p99_ms'], 1)}, conn/poll {_conn_ratio(ratio)}",
                    "",
                    "",
                ]
            )
        bound = targets["ours_over_raw"]
        for over in trig["ours_over_raw"]:
            rows.append(
                [
                    f"triggerer N={over['n']:,}: ours / raw aiohttp (the floor)",
                    f"CPU {_times(over['cpu'], 2)}, lag p99 {_times(over['loop_lag_p99'], 2)}",
                    f"<= {bound:g} x",
                    verdict(over["cpu"] <= bound and over["loop_lag_p99"] <= bound),
                ]
            )
    if (parse := load("parse_cost")) is not None:
        candidates = parse["candidates"]
        ours_ms = candidates["ours (project venv)"]["increment_ms_median"]
        if parse["ratio_ours_to_dbt"] is None:
            rows.append(
                ["DAG parse: operator import increment", f"{ours_ms:.1f} ms (dbt skipped)", "<= 0.5 x dbt", "-"]
            )
        else:
            dbt_ms = candidates["dbt Cloud (dbt venv)"]["increment_ms_median"]
            ratio = parse["ratio_ours_to_dbt"]
            rows.append(
                [
                    "DAG parse: increment ours vs dbt Cloud",
                    f"{ours_ms:.1f} vs {dbt_ms:.0f} ms (x{ratio:.3f})",
                    f"<= x{parse['target_ratio']:g}",
                    verdict(ratio <= parse["target_ratio"]),
                ]
            )
        heavy = parse["heavy_modules_loaded"]
        rows.append(["DAG parse: heavy modules loaded", ", ".join(heavy) or "none", "none", verdict(not heavy)])
    if (polling := load("polling_cost")) is not None:
        for row in polling["rows"]:
            if row["path"] == "trigger" and row["mode"] == "adaptive":
                calls_ok = row["calls_ok"]
                target = f"<= {polling['max_calls_2h']} calls; " if calls_ok is not None else ""
                rows.append(
                    [
                        f"polling: {row['run']} run, poll {row['poll_interval']:g} s",
                        f"{row['status_calls']} calls, worst latency {row['worst_latency_s']:.1f} s",
                        f"{target}<= {row['latency_bound_s']:g} s",
                        verdict(row["latency_ok"] and calls_ok in (None, True)),
                    ]
                )
    if (slot := load("worker_slot")) is not None:
        for key, value in slot["summary"].items():
            rows.append(
                [
                    f"worker slot: {key}",
                    f"median {value['median_s'] * 1000:.1f} ms, max "
                    f"{value['max_s'] * 1000:.1f} ms, {'/'.join(map(str, value['api_calls']))} calls",
                    f"<= {slot['target_seconds']:g} s, <= {slot['target_calls']} calls",
                    verdict(value["passed"]),
                ]
            )
        if "execute_over_floor" in slot:
            rows.append(
                [
                    "worker slot: execute() / the floor of its 2 calls",
                    f"{_times(slot['execute_over_floor'], 2)} "
                    f"({slot['summary']['execute (version=1)']['median_s'] * 1e3:.1f} vs "
                    f"{slot['floor_execute_median_s'] * 1e3:.1f} ms)",
                    "",
                    "",
                ]
            )
        cold = slot["cold_first_execute"]
        rows.append(
            [
                "worker slot: cold first execute()",
                f"{cold['execute_s'] * 1000:.0f} ms",
                f"<= {slot['target_seconds']:g} s",
                verdict(cold["execute_s"] <= slot["target_seconds"]),
            ]
        )
    if (cold := load("cold_start")) is not None:
        rows.append(
            [
                "cold start: first status call / requests' floor",
                f"{_times(cold['ratio'], 2)} "
                f"({cold['ours_median_s'] * 1e3:.0f} vs {cold['floor_median_s'] * 1e3:.0f} ms)",
                f"<= {cold['target_ratio']:g} x",
                verdict(cold["passed"]),
            ]
        )
    if (aged := load("aged_runs")) is not None:
        targets = aged["targets"]
        rows.append(
            [
                f"{aged['n']:,} waiting runs, ages 0-{aged['max_age_hours']:g} h: CPU, lag p99, late, errors",
                f"{aged['core_share'] * 100:.1f} %, {aged['loop_lag_p99_ms']:.1f} ms, {aged['late']}, {aged['errors']}"
                + _over_raw(aged.get("ours_over_raw")),
                f"< {targets['core_share'] * 100:g} %, < {targets['loop_lag_p99_ms']:g} ms, 0, 0",
                verdict(aged["passed"]),
            ]
        )
    if (watchers := load("event_watchers")) is not None and "results" in watchers:
        shared, alone = watchers["results"]["shared"], watchers["results"]["standalone"]
        rows.append(
            [
                f"{watchers['watchers']} event watchers, one pipeline: listings per interval, late, errors",
                f"{shared['listings_per_interval']:.2f}, {shared['late']}, {shared['errors']} "
                f"(each polling alone: {alone['listings_per_interval']:.0f})",
                f"<= {watchers['target_listings_per_interval']:g}, 0, 0",
                verdict(watchers["passed"]),
            ]
        )
    if (emulator := load("emulator_throughput")) is not None:
        fast = next((p for p in emulator.get("phases", []) if p["phase"].startswith("run-status")), None)
        if fast is not None:
            rows.append(
                [
                    "emulator: run-status polls served",
                    f"{fast['requests_per_second']:,} req/s (p99 {fast['p99_ms']} ms)",
                    "",
                    "",
                ]
            )
    return rows


def _over_raw(ratios: dict[str, float] | None) -> str:
    return "" if ratios is None else f" (ours / raw: CPU x{ratios['cpu']:.2f}, lag p99 x{ratios['loop_lag_p99']:.2f})"


def _times(value: float, digits: int) -> str:
    return "n/a (no polls in the window)" if math.isnan(value) else f"x{value:.{digits}f}"


def _conn_ratio(ratio: dict[str, Any]) -> str:
    value = ratio["connections_per_poll"]
    return "ours opened none" if value == float("inf") else _times(value, 0)


def run_benchmark(name: str, command: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run one benchmark; emulator_throughput always writes under bench/results, so when results go
    elsewhere its file is moved there and whatever bench/results held before is put back."""
    fixed = DEFAULT_RESULTS_DIR / f"{name}.json"
    if name != "emulator_throughput" or RESULTS_DIR.resolve() == DEFAULT_RESULTS_DIR.resolve():
        return subprocess.run(command, check=False)
    kept = fixed.read_bytes() if fixed.exists() else None
    try:
        done = subprocess.run(command, check=False)
        if fixed.exists():
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            (RESULTS_DIR / fixed.name).write_bytes(fixed.read_bytes())
    finally:
        if kept is not None:
            fixed.write_bytes(kept)
        else:
            fixed.unlink(missing_ok=True)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: every benchmark in its quick mode")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these benchmarks")
    parser.add_argument("--summary", action="store_true", help="run nothing; summarise the existing result files")
    args = parser.parse_args()

    failed = []
    timings = {}
    for name in [] if args.summary else args.only or BENCHMARKS:
        command = [sys.executable, str(BENCH_DIR / f"{name}.py"), *(["--quick"] if args.quick else [])]
        print(f"\n===== {name}{' --quick' if args.quick else ''} =====", flush=True)
        started = time.perf_counter()
        done = run_benchmark(name, command)
        timings[name] = time.perf_counter() - started
        if done.returncode != 0:
            failed.append(name)
            print(f"!! {name} failed with exit code {done.returncode}", flush=True)

    print(
        "\n===== summary: each figure next to its target" + (" (QUICK MODE: smoke figures only)" if args.quick else "")
    )
    print(table(["figure", "measured", "target", "verdict"], summary_rows(), left=4))
    print("\n" + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items()))
    if failed:
        print(f"!! failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
