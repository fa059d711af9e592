"""Throughput and memory of the pipelines emulator under run-status polling.

The emulator runs in its own process (``EmulatorProcess``: uvicorn with uvloop + httptools,
access log off), pinned to one core when the machine has more than one; this process is the
load generator: a raw asyncio HTTP/1.1 keep-alive client (much cheaper per request than httpx,
so the client is not what gets measured), on the remaining cores.

    python bench/emulator_throughput.py            # 10 s per phase, 100,000-request memory phases
    python bench/emulator_throughput.py --quick    # ~2 s smoke run

Prints a table and writes bench/results/emulator_throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_drpipelines.emulator import EmulatorProcess

RESULTS = Path(__file__).resolve().parent / "results" / "emulator_throughput.json"
PIPELINE = b"""
from datarobot import pipeline, task

@task
def extract(n: int) -> int:
    return n

@task
def score(n: int) -> int:
    return n * 2

@pipeline
def bench_pipeline(n: int):
    return score(extract(n))
"""


@dataclass
class Tally:
    remaining: float
    deadline: float
    done: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def call(method: str, url: str, token: str, body: bytes | None = None, content_type: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, data=body, method=method, headers=headers), timeout=10) as r:
        return json.loads(r.read())


def set_up_run(api: str, token: str) -> tuple[str, str]:
    """One pipeline, one input, one long RUNNING run: the thing a triggerer polls."""
    boundary = "benchboundary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.py"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + PIPELINE
        + f"\r\n--{boundary}--\r\n".encode()
    )
    pid = call("POST", f"{api}/pipelines", token, form, f"multipart/form-data; boundary={boundary}")["id"]
    payload = json.dumps({"payload": {"n": 1, "_emulator": {"seconds": 86400}}}).encode()
    iid = call("POST", f"{api}/pipelines/{pid}/inputs", token, payload, "application/json")["id"]
    run = call("POST", f"{api}/pipelines/{pid}/dispatches", token, json.dumps({"inputId": iid}).encode(),
               "application/json")  # fmt: skip
    return pid, run["id"]


async def worker(host: str, port: int, requests: list[bytes], tally: Tally) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    turn = 0
    try:
        while tally.remaining > 0 and time.perf_counter() < tally.deadline:
            tally.remaining -= 1
            started = time.perf_counter()
            writer.write(requests[turn % len(requests)])
            turn += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            tally.latencies.append(time.perf_counter() - started)
            tally.done += 1
            if head[9:12] != b"200":
                tally.errors += 1
    finally:
        writer.close()


async def load(base_url: str, token: str, paths: list[str], connections: int, seconds: float, count: float) -> Tally:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        for path in paths
    ]
    tally = Tally(remaining=count, deadline=time.perf_counter() + seconds)
    await asyncio.gather(*(worker(host, port, requests, tally) for _ in range(connections)))
    return tally


def measure(emu: EmulatorProcess, name: str, paths: list[str], connections: int, seconds: float,
            count: float = float("inf")) -> dict:  # fmt: skip
    started = time.perf_counter()
    tally = asyncio.run(load(emu.base_url, emu.token, paths, connections, seconds, count))
    elapsed = time.perf_counter() - started
    latencies = sorted(tally.latencies) or [0.0]
    return {
        "phase": name,
        "requests": tally.done,
        "errors": tally.errors,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(tally.done / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: about 2 s in all")
    parser.add_argument("--connections", type=int, default=100, help="concurrent keep-alive connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput phase")
    parser.add_argument("--memory-requests", type=int, default=100_000, help="requests per memory phase")
    args = parser.parse_args()
    seconds = 0.5 if args.quick else args.seconds
    memory_requests = 2_000 if args.quick else args.memory_requests
    cores = sorted(os.sched_getaffinity(0))

    with EmulatorProcess(token="bench-token", run_seconds=2.0) as emu:
        assert emu.process is not None
        pinned = len(cores) > 1
        if pinned:  # emulator on one core, load generator on the others
            os.sched_setaffinity(emu.process.pid, {cores[0]})
            os.sched_setaffinity(0, set(cores[1:]))
        pid, did = set_up_run(emu.api_url, emu.token)
        status = f"/api/v2/pipelines/{pid}/dispatches/{did}/status"
        detail = f"/api/v2/pipelines/{pid}/dispatches/{did}"
        mixed = [status, detail, "/api/v2/version/", f"/api/v2/pipelines/{pid}/dispatches/{did}/tasks"]

        measure(emu, "warm-up", [status], args.connections, 0.3 if args.quick else 2.0)
        rows = [
            measure(emu, "run-status poll (fast path)", [status], args.connections, seconds),
            measure(emu, "run detail (FastAPI route)", [detail], args.connections, seconds),
        ]
        rss = [("start", rss_kib(emu.process.pid))]
        for round_number in (1, 2):
            rows.append(measure(emu, f"memory round {round_number} (mixed)", mixed, args.connections,
                                float("inf"), memory_requests))  # fmt: skip
            rss.append((f"after {round_number * memory_requests:,} more requests", rss_kib(emu.process.pid)))
        served = emu.stats()["requests"]
        logged = len(emu.request_log())

    print(f"\nemulator pinned to one core: {pinned} (cores {cores}); {args.connections} keep-alive connections\n")
    print(f"{'phase':38} {'requests':>9} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for row in rows:
        print(f"{row['phase']:38} {row['requests']:>9} {row['errors']:>6} {row['requests_per_second']:>8}"
              f" {row['p50_ms']:>7} {row['p99_ms']:>7}")  # fmt: skip
    print("\nemulator RSS")
    for label, kib in rss:
        print(f"  {label:38} {kib / 1024:8.1f} MiB")
    print(f"\nrequests served {served:,}; request log holds {logged:,} (bounded)")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "quick": args.quick,
                "pinned_to_one_core": pinned,
                "connections": args.connections,
                "phases": rows,
                "rss_kib": dict(rss),
                "requests_served": served,
                "request_log_entries": logged,
                "python": sys.version.split()[0],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
