"""DAG-parse cost: the import time our operator adds to a DAG file, next to the dbt Cloud provider's.

Every DAG file that uses the provider runs ``from airflow_provider_drpipelines.operators import
DataRobotRunPipelineOperator`` on every parse. What matters is the time that import adds *on top of*
``import airflow.sdk`` (``import airflow`` on Airflow 2), which every DAG file pays anyway. Each sample
is a fresh interpreter that imports ``airflow.sdk``, then the operator, timing the second import alone
(and which modules it newly loads). Candidates alternate round by round; the median is reported.

dbt's provider is not a dependency of this project: the full run installs it into a throwaway venv,
``bench/.venv-dbt`` (gitignored), that sees the project venv's packages through a ``.pth`` file, so both
operators are imported by the same interpreter with the same Airflow. ``--quick`` never installs it.

    python bench/parse_cost.py             # 7 rounds; installs bench/.venv-dbt on first use
    python bench/parse_cost.py --quick     # 1 round; dbt only if bench/.venv-dbt already exists

Prints a table and writes bench/results/parse_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, median, table, verdict, write_result

DBT_VENV = BENCH_DIR / ".venv-dbt"
DBT_PACKAGE = "apache-airflow-providers-dbt-cloud"
OURS = "from airflow_provider_drpipelines.operators import DataRobotRunPipelineOperator"
DBT = "from airflow.providers.dbt.cloud.operators.dbt import DbtCloudRunJobOperator"
#: What the operator module must not pull in at import time (the increment's module list is checked).
FORBIDDEN = (
    "httpx",
    "httpcore",
    "requests",
    "urllib3",
    "aiohttp",
    "fastapi",
    "uvicorn",
    "starlette",
    "airflow_provider_drpipelines.hooks",
    "airflow_provider_drpipelines.triggers",
    "airflow_provider_drpipelines.emulator",
    "airflow_provider_drpipelines.client.endpoints",
    "airflow_provider_drpipelines.client.wire",
)
TARGET_RATIO = 0.5

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
try:
    import airflow.sdk
    baseline = "import airflow.sdk"
except ImportError:  # Airflow 2
    import airflow
    baseline = "import airflow"
t1 = time.perf_counter()
before = set(sys.modules)
sys.stderr.write("@@bench-marker@@\n")
sys.stderr.flush()
exec(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"baseline": baseline, "baseline_s": t1 - t0, "increment_s": t2 - t1,
                  "new_modules": sorted(set(sys.modules) - before)}))
"""


def probe_env() -> dict[str, str]:
    env = dict(os.environ)
    env["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="drpipelines-bench-parse-")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env.pop("PYTHONPATH", None)
    return env


def sample(python: str, statement: str, importtime: bool = False) -> tuple[dict[str, Any], str]:
    command = [python, *(["-X", "importtime"] if importtime else []), "-c", PROBE, statement]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=probe_env(),
                          timeout=300)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{statement!r} failed under {python}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def dbt_python() -> str | None:
    python = DBT_VENV / "bin" / "python"
    if not python.exists():
        return None
    check = subprocess.run([str(python), "-c", "import airflow.providers.dbt.cloud"], check=False,
                           capture_output=True, env=probe_env())  # fmt: skip
    return str(python) if check.returncode == 0 else None


def install_dbt_venv() -> str:
    """A venv that sees this venv's packages (a .pth file) plus dbt's provider and its missing dependencies."""
    print(f"installing {DBT_PACKAGE} into {DBT_VENV} (once; not into the project venv)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(DBT_VENV)], check=True)
    site_packages = sysconfig.get_paths()["purelib"]
    (dbt_site,) = (DBT_VENV / "lib").glob("python*/site-packages")
    (dbt_site / "zz_project_venv.pth").write_text(f"import site; site.addsitedir({site_packages!r})\n")
    subprocess.run(
        [str(DBT_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", DBT_PACKAGE],
        check=True,
    )
    python = dbt_python()
    if python is None:
        raise RuntimeError(f"{DBT_PACKAGE} did not import from {DBT_VENV}")
    return python


def importtime_breakdown(stderr: str, top: int = 10) -> list[dict[str, Any]]:
    """Modules loaded by the candidate import, by self time (``-X importtime`` lines after the marker)."""
    _, _, after = stderr.partition("@@bench-marker@@")
    rows = []
    for line in after.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line[len("import time:") :].split("|"))
        rows.append({"module": name, "self_ms": int(self_us) / 1000, "cumulative_ms": int(cumulative_us) / 1000})
    return sorted(rows, key=lambda r: -r["self_ms"])[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: one round, never installs dbt")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-install", action="store_true", help="skip dbt instead of installing it")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds

    dbt = dbt_python()
    if dbt is None and not (args.quick or args.no_install):
        dbt = install_dbt_venv()
    # One interpreter for every candidate when dbt is available (same Airflow, same sys.path, fairest);
    # the project venv's own figure is measured too, as the number a user of this provider sees.
    candidates: list[tuple[str, str, str]] = [("ours (project venv)", sys.executable, OURS)]
    if dbt is not None:
        candidates += [] if args.quick else [("ours (dbt venv)", dbt, OURS)]
        candidates += [("dbt Cloud (dbt venv)", dbt, DBT)]

    samples: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in candidates}
    for round_number in range(rounds):
        for name, python, statement in candidates:
            result, _ = sample(python, statement)
            samples[name].append(result)
        print(f"round {round_number + 1}/{rounds} done", flush=True)
    breakdown = [] if args.quick else importtime_breakdown(sample(sys.executable, OURS, importtime=True)[1])

    summary: dict[str, dict[str, Any]] = {}
    for name, runs in samples.items():
        summary[name] = {
            "increment_ms_median": median([r["increment_s"] for r in runs]) * 1000,
            "increment_ms_all": [round(r["increment_s"] * 1000, 2) for r in runs],
            "baseline": runs[0]["baseline"],
            "baseline_ms_median": median([r["baseline_s"] for r in runs]) * 1000,
            "new_modules": len(runs[0]["new_modules"]),
        }
    ours_modules = samples["ours (project venv)"][0]["new_modules"]
    heavy = sorted(m for m in ours_modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))

    ours_ms = summary["ours (project venv)"]["increment_ms_median"]
    ratio = ratio_same_venv = None
    if dbt is not None:
        dbt_ms = summary["dbt Cloud (dbt venv)"]["increment_ms_median"]
        ratio = ours_ms / dbt_ms
        if "ours (dbt venv)" in summary:
            ratio_same_venv = summary["ours (dbt venv)"]["increment_ms_median"] / dbt_ms

    rows = [
        [name, s["baseline"], s["baseline_ms_median"], s["increment_ms_median"], s["new_modules"]]
        for name, s in summary.items()
    ]
    print()
    print(table(["candidate", "baseline", "baseline ms", "increment ms", "new modules"], rows,
                title=f"DAG-parse cost: import time on top of the baseline (median of {rounds})"))  # fmt: skip
    print()
    target_rows = [
        ["ours / dbt increment", "n/a (dbt skipped)" if ratio is None else f"{ratio:.3f}", f"<= {TARGET_RATIO}",
         verdict(None if ratio is None else ratio <= TARGET_RATIO)],
        ["ours / dbt, same interpreter", "n/a" if ratio_same_venv is None else f"{ratio_same_venv:.3f}",
         f"<= {TARGET_RATIO}", verdict(None if ratio_same_venv is None else ratio_same_venv <= TARGET_RATIO)],
        ["heavy modules our import loads", ", ".join(heavy) or "none", "none", verdict(not heavy)],
    ]  # fmt: skip
    print(table(["measure", "value", "target", "verdict"], target_rows))
    if dbt is None:
        print("\ndbt Cloud comparison skipped: bench/.venv-dbt is not installed (run without --quick to install it)")
    if breakdown:
        print("\nslowest modules our operator import loads (-X importtime, self ms):")
    for row in breakdown[:6]:
        print(f"  {row['module']:60} {row['self_ms']:8.2f}  (cumulative {row['cumulative_ms']:.2f})")

    write_result(
        "parse_cost",
        args.quick,
        {
            "rounds": rounds,
            "candidates": summary,
            "ratio_ours_to_dbt": ratio,
            "ratio_ours_to_dbt_same_interpreter": ratio_same_venv,
            "target_ratio": TARGET_RATIO,
            "dbt_skipped": dbt is None,
            "heavy_modules_loaded": heavy,
            "ours_new_modules": ours_modules,
            "importtime_top": breakdown,
            "passed": (ratio is None or ratio <= TARGET_RATIO) and not heavy,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
