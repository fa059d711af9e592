"""Shared helpers of the benchmarks: an isolated Airflow home, result files and plain-text tables."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_RESULTS_DIR = BENCH_DIR / "results"
#: Where result files go; the smoke test points this elsewhere so it never overwrites full-mode results.
RESULTS_DIR = Path(os.environ.get("DRPIPELINES_BENCH_RESULTS") or DEFAULT_RESULTS_DIR)
EXAMPLE_PIPELINE = REPO_ROOT / "example_dags" / "pipelines" / "score_customers.py"
TOKEN = "bench-token-0123456789"
CONN_ENV = "AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT"

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def isolate_airflow() -> None:
    """A throwaway AIRFLOW_HOME, set before anything imports airflow."""
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="drpipelines-bench-home-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")


def point_connection_at(base_url: str) -> None:
    os.environ[CONN_ENV] = json.dumps({"conn_type": "datarobot_pipelines", "host": base_url, "password": TOKEN})


def pin_apart(emulator_pid: int | None) -> bool:
    """The emulator on one core and this process on the others, as on two machines; False when not possible."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or emulator_pid is None:
        return False
    os.sched_setaffinity(emulator_pid, {cores[0]})
    os.sched_setaffinity(0, set(cores[1:]))
    return True


def locked_example_pipeline() -> str:
    """The example pipeline, created and locked through the hook (its connection points at the emulator)."""
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

    hook = DataRobotPipelinesHook()
    pipeline_id: str = hook.create_pipeline(str(EXAMPLE_PIPELINE))["id"]
    hook.lock_pipeline(pipeline_id)
    return pipeline_id


def environment() -> dict[str, Any]:
    try:
        from importlib.metadata import version

        airflow_version = version("apache-airflow")
    except Exception:  # pragma: no cover - airflow is always installed in the project venv
        airflow_version = "unknown"
    return {
        "python": platform.python_version(),
        "airflow": airflow_version,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def write_result(name: str, quick: bool, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "quick": quick, "environment": environment(), **data}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {path}")
    return path


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None, left: int = 1) -> str:
    """A plain-text table: the first ``left`` columns left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        pairs = enumerate(zip(row, widths, strict=True))
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in pairs)

    out = [title, ""] if title else []
    out += [line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]]
    return "\n".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        if abs(value) >= 0.001:
            return f"{value:.4f}"
        return f"{value:.2e}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
