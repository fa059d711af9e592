"""Worker-slot time of the deferrable run operator, against the emulator.

A deferrable task holds a worker slot twice: from ``execute()`` start until it defers (resolve the version
if it is ``"latest"``, create the input, create the run, publish XComs, build the trigger), and again for
``execute_complete()`` once the trigger fires. Both are timed here with the real operator, the real hook
(``requests``) and an ``EmulatorProcess`` over loopback, so the figure is the provider's own overhead.

Each repetition is a new operator (a new hook, connection lookup and HTTP session, as in a fresh task
process), with a minimal task-instance stand-in for the context. API calls are counted from the
emulator's ``/_emulator/stats``. The first ``execute()`` of the process is reported on its own ("cold":
it also imports the hook, ``requests`` and the trigger, which DAG parsing never loads); the median and
worst of the rest are the steady figures.

The floor, in the same run: the two calls ``execute()`` makes for version 1, through a new ``requests``
session and nothing else; the ratio of the two medians is printed.

Two more forms: the pipeline given by name (one more call, the name lookup) and ``dry_run=True`` (checks
only, creates nothing, never defers): both have a target of 4 API calls.

    python bench/worker_slot.py            # 20 repetitions per version form
    python bench/worker_slot.py --quick    # 3 repetitions

Prints a table and writes bench/results/worker_slot.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    EXAMPLE_PIPELINE,
    TOKEN,
    isolate_airflow,
    median,
    percentile,
    point_connection_at,
    table,
    verdict,
    write_result,
)

TARGET_SECONDS = 1.0
TARGET_CALLS = 3
#: A pipeline given by name costs one lookup more; a dry run reads the pipeline, its image and the input.
TARGET_CALLS_BY_NAME = 4
PIPELINE_NAME = "Score Customers"  # the name the service derives from the example's ``def score_customers``


class FakeTaskInstance:
    """What the operator reads from and writes to ``context["ti"]``."""

    def __init__(self, index: int) -> None:
        self.dag_id = "bench_worker_slot"
        self.task_id = f"run_{index}"
        self.run_id = "manual__bench"
        self.map_index = -1
        self.try_number = 1
        self.start_date = datetime.now(timezone.utc)
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> None:
        self.xcom[key] = value


def _call(opener: Any, method: str, url: str, body: bytes | None = None, content_type: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}", **({"Content-Type": content_type} if content_type else {})}
    with opener.open(urllib.request.Request(url, data=body, method=method, headers=headers), timeout=30) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


def locked_pipeline(api_url: str) -> str:
    """Upload and lock the example pipeline over plain HTTP, so the hook is first imported by the operator."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    boundary = "benchboundary"
    form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{EXAMPLE_PIPELINE.name}"\r\n'
        "Content-Type: text/x-python\r\n\r\n"
    ).encode()
    form += EXAMPLE_PIPELINE.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    pipeline_id: str = _call(opener, "POST", f"{api_url}/pipelines", form, f"multipart/form-data; boundary={boundary}")[
        "id"
    ]
    _call(opener, "PATCH", f"{api_url}/pipelines/{pipeline_id}/mode")
    return pipeline_id


def one_task(emu: Any, pipeline: dict[str, str], version: int | str, index: int) -> dict[str, Any]:
    from airflow_provider_drpipelines.operators import DataRobotRunPipelineOperator

    operator = DataRobotRunPipelineOperator(
        task_id=f"run_{index}", version=version, deferrable=True,
        payload={"batch_date": "2024-01-01", "_emulator": {"seconds": 3600}}, **pipeline,
    )  # fmt: skip
    ti = FakeTaskInstance(index)
    context: dict[str, Any] = {"ti": ti, "task_instance": ti, "run_id": ti.run_id}

    calls_before = emu.stats()["requests"]
    started = time.perf_counter()
    try:
        operator.execute(context)
    except BaseException as raised:  # TaskDeferred is a BaseException in Airflow 3
        to_defer = time.perf_counter() - started
        if type(raised).__name__ != "TaskDeferred":
            raise
        deferred: Any = raised
    else:
        raise RuntimeError("execute() returned instead of deferring")
    calls_execute = emu.stats()["requests"] - calls_before
    trigger = deferred.trigger
    event = {
        "status": "COMPLETED", "run_id": trigger.run_id, "pipeline_id": trigger.pipeline_id,
        "version": trigger.version, "message": f"Pipeline run {trigger.run_id} is COMPLETED.",
    }  # fmt: skip

    resumed = DataRobotRunPipelineOperator(
        task_id=f"run_{index}", version=version, deferrable=True, payload={"batch_date": "2024-01-01"}, **pipeline
    )  # fmt: skip
    calls_before = emu.stats()["requests"]
    started = time.perf_counter()
    returned = resumed.execute_complete(context, event=event, **(deferred.kwargs or {}))
    to_complete = time.perf_counter() - started
    calls_complete = emu.stats()["requests"] - calls_before
    if returned != trigger.run_id:
        raise RuntimeError(f"execute_complete returned {returned!r}, expected {trigger.run_id!r}")
    form = f"{version} by name" if "pipeline_name" in pipeline else str(version)
    return {
        "version": form, "execute_s": to_defer, "execute_calls": calls_execute,
        "execute_complete_s": to_complete, "execute_complete_calls": calls_complete,
    }  # fmt: skip


def floor_execute(api_url: str, pipeline_id: str) -> float:
    """The two calls ``execute()`` makes for version 1 (create the input, create the run) through a new
    ``requests`` session and nothing else: the floor of its slot time."""
    import requests

    scope = f"{api_url}/pipelines/{pipeline_id}/versions/1"
    payload = {"batch_date": "2024-01-01", "_emulator": {"seconds": 3600}}
    started = time.perf_counter()
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        created = session.post(f"{scope}/inputs", json={"payload": payload}, timeout=30)
        created.raise_for_status()
        run = session.post(f"{scope}/dispatches", json={"inputId": created.json()["id"]}, timeout=30)
        run.raise_for_status()
    return time.perf_counter() - started


def one_dry_run(emu: Any, index: int) -> dict[str, Any]:
    """A dry run by name: it returns its report without deferring and must create nothing."""
    from airflow_provider_drpipelines.operators import DataRobotRunPipelineOperator

    operator = DataRobotRunPipelineOperator(
        task_id=f"dry_run_{index}", pipeline_name=PIPELINE_NAME, version="latest", dry_run=True,
        payload={"batch_date": "2024-01-01"},
    )  # fmt: skip
    ti = FakeTaskInstance(index)
    before = emu.stats()
    started = time.perf_counter()
    report = operator.execute({"ti": ti, "task_instance": ti, "run_id": ti.run_id})
    seconds = time.perf_counter() - started
    after = emu.stats()
    if not report["ok"] or (after["inputs"], after["runs"]) != (before["inputs"], before["runs"]):
        raise RuntimeError(f"the dry run failed or created something: {report}")
    return {"version": "dry run by name", "execute_s": seconds, "execute_calls": after["requests"] - before["requests"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: 3 repetitions")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat
    isolate_airflow()

    from airflow_provider_drpipelines.emulator import EmulatorProcess

    samples: list[dict[str, Any]] = []
    floor: list[float] = []
    with EmulatorProcess(token=TOKEN) as emu:
        point_connection_at(emu.base_url)
        pipeline_id = locked_pipeline(emu.api_url)
        cold = one_task(emu, {"pipeline_id": pipeline_id}, 1, 0)
        for index in range(1, repeat + 1):
            for version in (1, "latest"):
                samples.append(one_task(emu, {"pipeline_id": pipeline_id}, version, index))
            samples.append(one_task(emu, {"pipeline_name": PIPELINE_NAME}, 1, index))
            samples.append(one_dry_run(emu, index))
            floor.append(floor_execute(emu.api_url, pipeline_id))

    rows, summary = [], {}
    for version in ("1", "latest", "1 by name", "dry run by name"):
        runs = [s for s in samples if s["version"] == version]
        target_calls = TARGET_CALLS if version in ("1", "latest") else TARGET_CALLS_BY_NAME
        for phase in ("execute", "execute_complete"):
            if f"{phase}_s" not in runs[0]:
                continue
            seconds = [s[f"{phase}_s"] for s in runs]
            calls = sorted({s[f"{phase}_calls"] for s in runs})
            worst = max(seconds)
            ok = worst <= TARGET_SECONDS and max(calls) <= target_calls
            key = f"{phase} (version={version})"
            summary[key] = {"median_s": median(seconds), "p90_s": percentile(seconds, 90), "max_s": worst,
                            "api_calls": calls, "passed": ok}  # fmt: skip
            label = "execute() -> deferred" if phase == "execute" else "execute_complete()"
            label = "execute() -> report" if version.startswith("dry run") else label
            rows.append([f"{label}, version={version}", median(seconds) * 1000, percentile(seconds, 90) * 1000,
                         worst * 1000, "/".join(map(str, calls)), f"<= {TARGET_SECONDS * 1000:g} ms, <= {target_calls}",
                         verdict(ok)])  # fmt: skip
    over_floor = summary["execute (version=1)"]["median_s"] / median(floor)
    rows.append(["floor: the same 2 calls, a new requests session, nothing else", median(floor) * 1000,
                 percentile(floor, 90) * 1000, max(floor) * 1000, 2, "", ""])  # fmt: skip
    rows.append(["cold: first execute() in the process", cold["execute_s"] * 1000, "", "", cold["execute_calls"],
                 f"<= {TARGET_SECONDS * 1000:g} ms", verdict(cold["execute_s"] <= TARGET_SECONDS)])  # fmt: skip
    print()
    title = f"Worker-slot time, deferrable mode, against the emulator ({repeat} repetitions each)"
    print(table(["worker-slot time", "median ms", "p90 ms", "max ms", "API calls", "target", "verdict"], rows,
                title=title))  # fmt: skip
    print(f"\nexecute() -> deferred (version=1) / the floor of its two calls: {over_floor:.2f}x")
    write_result(
        "worker_slot",
        args.quick,
        {"repetitions": repeat, "cold_first_execute": cold, "summary": summary, "samples": samples,
         "floor_execute_s": floor, "floor_execute_median_s": median(floor), "execute_over_floor": over_floor,
         "target_seconds": TARGET_SECONDS, "target_calls": TARGET_CALLS,
         "passed": all(s["passed"] for s in summary.values()) and cold["execute_s"] <= TARGET_SECONDS},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
