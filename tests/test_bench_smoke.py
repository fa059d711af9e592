"""The benchmarks still run: ``bench/run_all.py --quick`` exits 0 and writes every result file.

Smoke only: no timing is asserted here (figures on a shared CI machine are noise); the full benchmarks
and their targets are in bench/ (``make bench``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WRITTEN = (
    "parse_cost", "cold_start", "polling_cost", "worker_slot", "triggerer_scale", "aged_runs", "event_watchers",
    "emulator_throughput",
)  # fmt: skip


def test_benchmarks_quick_mode_runs_and_writes_results(tmp_path: Path) -> None:
    started = time.time()
    results = tmp_path / "results"  # never overwrite the results of a full `make bench`
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env["DRPIPELINES_BENCH_RESULTS"] = str(results)
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run_all.py"), "--quick"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-5000:]}\nstderr:\n{done.stderr[-5000:]}"
    for name in WRITTEN:
        path = results / f"{name}.json"
        assert path.exists(), f"{path} was not written"
        assert path.stat().st_mtime >= started - 1, f"{path} is stale"
        result = json.loads(path.read_text())
        assert result.get("quick") is True, name
