"""Cold start: the first status call of a fresh process, against the floor of the same GET with requests.

Every task process pays it once: a worker's run task polls the status right after it starts. Both sides run
in fresh interpreters that have already imported what a task process has (``PRELUDE``: ``airflow.sdk`` and the
supervisor it was forked from), against the emulator in another process, and time from there to the first
answer:

* ours: ``import airflow_provider_drpipelines.hooks``, ``DataRobotPipelinesHook().get_run_status(...)`` (the
  connection read from ``AIRFLOW_CONN_...``, the session built, one GET, the answer checked);
* floor: ``import requests``, one ``requests.get`` of the same URL with the token, ``.json()``.

Median of ``--repeat`` fresh processes each (interleaved), after one warm-up process each, with bytecode as
an installed provider has it. Target: ours <= 1.5x the floor.

    python bench/cold_start.py               # 7 processes each
    python bench/cold_start.py --quick       # 3 each

Prints ours, the floor and the ratio, and writes bench/results/cold_start.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CONN_ENV,
    TOKEN,
    isolate_airflow,
    locked_example_pipeline,
    median,
    point_connection_at,
    table,
    verdict,
    write_result,
)

TARGET_RATIO = 1.5

#: What a task process has imported before its task's code runs, on both sides. On Airflow 3 a task process is
#: forked from its supervisor (``os.fork`` in ``airflow.sdk.execution_time.supervisor``), so it starts with the
#: supervisor's modules loaded, the secrets-backend loader among them; a bare ``import airflow.sdk`` would
#: charge the first connection lookup ~10 ms of imports no task pays.
PRELUDE = "import time, airflow.sdk, airflow.sdk.execution_time.supervisor, airflow.sdk.execution_time.task_runner"
#: Each side prints the status read, then the seconds from after the prelude to the first status answer and
#: those of its phases (``PHASES``).
OURS = """
{prelude}
started = time.perf_counter()
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
imported = time.perf_counter()
hook = DataRobotPipelinesHook()
hook.settings
looked_up = time.perf_counter()
status = hook.get_run_status({pipeline!r}, {run!r}, 1)["status"]
done = time.perf_counter()
print(status, done - started, imported - started, looked_up - imported, done - looked_up)
"""
FLOOR = """
{prelude}
started = time.perf_counter()
import requests
imported = time.perf_counter()
answer = requests.get({url!r}, headers={{"Authorization": "Bearer {token}"}}, timeout=30)
status = answer.json()["status"]
done = time.perf_counter()
print(status, done - started, imported - started, 0.0, done - imported)
"""
PHASES = ("imports", "connection lookup", "first call (session, GET, answer checked)")


#: As an installed provider runs: with bytecode (pip writes it at install; a warm-up process writes ours here).
def fresh_process(code: str) -> list[float]:
    """The seconds one fresh interpreter reports, in all and per phase; it must have read a status."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cold-start process failed:\n{done.stderr[-3000:]}")
    status, *seconds = done.stdout.split()
    if not status.isupper() or len(seconds) != 1 + len(PHASES):
        raise RuntimeError(f"cold-start process read no status: {done.stdout!r}")
    return [float(value) for value in seconds]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: 3 processes each")
    parser.add_argument("--repeat", type=int, help="fresh processes per side (default 7; quick 3)")
    args = parser.parse_args()
    repeat = args.repeat or (3 if args.quick else 7)
    isolate_airflow()

    from airflow_provider_drpipelines.emulator import EmulatorProcess

    with EmulatorProcess(token=TOKEN, run_seconds=600.0) as emu:
        point_connection_at(emu.base_url)
        from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

        hook = DataRobotPipelinesHook()
        pipeline_id = locked_example_pipeline()
        input_id = hook.create_input(pipeline_id, {"n": 1}, version=1)["id"]
        run_id = hook.create_run(pipeline_id, input_id, version=1)["id"]
        url = f"{emu.api_url}/pipelines/{pipeline_id}/versions/1/dispatches/{run_id}/status"
        ours_code = OURS.format(prelude=PRELUDE, pipeline=pipeline_id, run=run_id)
        floor_code = FLOOR.format(prelude=PRELUDE, url=url, token=TOKEN)
        fresh_process(ours_code), fresh_process(floor_code)  # warm-up: bytecode written, file caches warm
        ours_runs: list[list[float]] = []
        floor_runs: list[list[float]] = []
        for _ in range(repeat):  # interleaved, so a busy moment costs both sides alike
            ours_runs.append(fresh_process(ours_code))
            floor_runs.append(fresh_process(floor_code))

    ours, floor = [run[0] for run in ours_runs], [run[0] for run in floor_runs]
    ours_s, floor_s = median(ours), median(floor)
    ours_phases = [median([run[1 + i] for run in ours_runs]) for i in range(len(PHASES))]
    floor_phases = [median([run[1 + i] for run in floor_runs]) for i in range(len(PHASES))]
    ratio = ours_s / floor_s
    print(
        table(
            ["first status call after the prelude", "median ms", *(f"{p} ms" for p in PHASES), "samples ms"],
            [
                ["ours (hook, connection, session, GET)", ours_s * 1e3, *(p * 1e3 for p in ours_phases),
                 " ".join(f"{s * 1e3:.0f}" for s in ours)],
                ["floor (import requests, one GET)", floor_s * 1e3, *(p * 1e3 for p in floor_phases),
                 " ".join(f"{s * 1e3:.0f}" for s in floor)],
            ],
            title=f"Cold start: median of {repeat} fresh processes each (phases: medians of each phase)",
        )
    )  # fmt: skip
    passed = ratio <= TARGET_RATIO
    print(f"\nours / floor: {ratio:.2f}x (target <= {TARGET_RATIO:g}x): {verdict(passed)}")
    write_result(
        "cold_start",
        args.quick,
        {
            "repeat": repeat, "ours_s": ours, "floor_s": floor, "ours_median_s": ours_s, "floor_median_s": floor_s,
            "phases": PHASES, "ours_phase_medians_s": ours_phases,
            "floor_phase_medians_s": floor_phases, "prelude": PRELUDE, "ratio": ratio, "target_ratio": TARGET_RATIO,
            "passed": passed, "conn_env": CONN_ENV,
        },
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
