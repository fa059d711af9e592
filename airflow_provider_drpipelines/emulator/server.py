"""Launchers: the CLI server, an in-process background server and a subprocess server.

All three print/await the same ready signal, and the two launchers share one admin client that
drives ``/_emulator/`` over HTTP, so tests behave the same whichever launcher they use.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import uvicorn

from airflow_provider_drpipelines.emulator.app import create_app
from airflow_provider_drpipelines.emulator.config import ConfigOverrides, EmulatorConfig
from airflow_provider_drpipelines.emulator.wire import JSONObject

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11 on

READY_LINE = "DataRobot pipelines emulator listening on {base_url}/api/v2"
READY_PATTERN = re.compile(r"listening on (http://\S+)/api/v2")
START_TIMEOUT = 30.0
STOP_GRACE = 5.0


def bind(host: str, port: int) -> tuple[socket.socket, str]:
    """A listening-ready socket and its base URL; binding first is what makes ``--port 0`` printable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return sock, f"http://{shown}:{bound_port}"


class _ReadyServer(uvicorn.Server):
    """A uvicorn server that reports readiness only once its socket accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_ready()


def _server(
    config: EmulatorConfig,
    log_level: str,
    on_ready: Callable[[], None],
    loop: Literal["auto", "asyncio"] = "auto",
) -> _ReadyServer:
    """``loop="auto"`` takes uvloop when installed; uvicorn before 0.36 then sets uvloop's policy for the
    whole process, so the in-process server asks for plain asyncio and leaves its host's event loops alone."""
    uvicorn_config = uvicorn.Config(
        create_app(config),
        loop=loop,
        http="auto",
        lifespan="off",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=2,
    )
    return _ReadyServer(uvicorn_config, on_ready)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(config: EmulatorConfig, host: str, port: int, log_level: str) -> None:
    """Run in the foreground until SIGTERM/SIGINT, then shut down gracefully and exit with status 0.

    uvicorn handles the signal while serving and re-raises it once shut down; the handlers set
    here turn that re-raise into a normal exit instead of death by signal (or a traceback).
    """
    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, _exit_cleanly)
    sock, base_url = bind(host, port)
    ready_line = READY_LINE.format(base_url=base_url)
    server = _server(config, log_level, lambda: print(ready_line, flush=True))
    server.run(sockets=[sock])


L = TypeVar("L", bound="_Launcher")


class _Launcher:
    """Lifecycle and the admin helpers shared by both launchers."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **overrides: Unpack[ConfigOverrides],
    ) -> None:
        """The keyword arguments (``token=``, ``run_seconds=``, ``clock=``…) replace those fields of ``config``
        (default ``EmulatorConfig()``)."""
        self.config = (config or EmulatorConfig()).with_overrides(**overrides)
        self.host = host
        self.port = port
        self.base_url = ""
        # The admin API is on loopback: never route it through a proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def token(self) -> str:
        return self.config.token

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/v2"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: L) -> L:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _admin(self, method: str, path: str, body: JSONObject | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base_url}/_emulator{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )
        with self._opener.open(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def reset(self) -> None:
        """Forget all pipelines, runs, images, fault rules and logged requests."""
        self._admin("POST", "/reset")

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        """Add a fault rule (see docs/emulator.md); returns it as stored, with its id."""
        added: dict[str, Any] = self._admin("POST", "/faults", rule)
        return added

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules still active, with their remaining ``times`` (a used-up rule is gone)."""
        rules: list[dict[str, Any]] = self._admin("GET", "/faults")["data"]
        return rules

    def clear_faults(self) -> None:
        self._admin("DELETE", "/faults")

    def clear_requests(self) -> None:
        """Forget the logged requests (state and fault rules stay)."""
        self._admin("DELETE", "/requests")

    def request_log(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Logged API requests, oldest first, optionally filtered by a path regex and a method."""
        query = urllib.parse.urlencode({k: v for k, v in (("path", path), ("method", method)) if v})
        entries: list[dict[str, Any]] = self._admin("GET", f"/requests?{query}")["data"]
        return entries

    def stats(self) -> dict[str, int]:
        counts: dict[str, int] = self._admin("GET", "/stats")
        return counts

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the emulator's clock forward: runs, versions and image builds get ``seconds`` further along.

        Returns the clock as ``GET /_emulator/clock`` shows it (``now``, ``epochSeconds``, ``advancedSeconds``,
        ``frozen``).
        """
        moved: dict[str, Any] = self._admin("POST", "/clock/advance", {"seconds": seconds})
        return moved

    def fire_schedule(self, schedule_id: str) -> dict[str, Any]:
        """Start one run of a stored schedule now (``triggeredBy: "schedule"``); returns the run."""
        run: dict[str, Any] = self._admin("POST", f"/schedules/{schedule_id}/fire")
        return run

    def set_schedule_status(self, schedule_id: str, status: str) -> dict[str, Any]:
        """Pause (``"PAUSED"``) or resume (``"ACTIVE"``) a stored schedule; returns it."""
        schedule: dict[str, Any] = self._admin("POST", f"/schedules/{schedule_id}/status", {"status": status})
        return schedule

    def clock(self) -> dict[str, Any]:
        """The emulator's clock: ``now`` (RFC 3339), ``epochSeconds``, ``advancedSeconds``, ``frozen``."""
        shown: dict[str, Any] = self._admin("GET", "/clock")
        return shown


class EmulatorServer(_Launcher):
    """The emulator in a background thread of this process: quick to start, for wire tests."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server: _ReadyServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sock, self.base_url = bind(self.host, self.port)
        ready = threading.Event()
        self._server = _server(self.config, "warning", ready.set, "asyncio")
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="drpipelines-emulator", daemon=True
        )
        self._thread.start()
        if not ready.wait(START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"the emulator did not start within {START_TIMEOUT:g} s")

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(STOP_GRACE * 2)
        self._server = self._thread = None


class EmulatorProcess(_Launcher):
    """The emulator in its own process (and process group): it shares no CPU or GIL with the client."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.config.clock.follows_real_time:
            raise ValueError(
                "EmulatorProcess runs its clock in the child process, on real time: it cannot take a frozen or "
                "advanced Clock; move the child's clock with .advance(seconds)"
            )
        self.process: subprocess.Popen[str] | None = None
        self.output: collections.deque[str] = collections.deque(maxlen=500)
        self._reader: threading.Thread | None = None

    def command(self) -> list[str]:
        """The command line that starts the child: the CLI given this launcher's config, host and port."""
        return [
            sys.executable, "-m", "airflow_provider_drpipelines.emulator",
            "--host", self.host, "--port", str(self.port), "--token", self.config.token,
            "--run-seconds", repr(self.config.run_seconds), "--image-seconds", repr(self.config.image_seconds),
            "--version-seconds", repr(self.config.version_seconds),
        ]  # fmt: skip

    def start(self) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        ready = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(self.process, ready), daemon=True)
        self._reader.start()
        if not ready.wait(START_TIMEOUT) or not self.base_url:
            self.stop()
            captured = "".join(self.output)
            raise RuntimeError(f"the emulator did not print its ready line within {START_TIMEOUT:g} s:\n{captured}")

    def _read(self, process: subprocess.Popen[str], ready: threading.Event) -> None:
        """Keep draining the child's output (a full pipe would block it); the ready line sets base_url."""
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)
            match = READY_PATTERN.search(line)
            if match and not ready.is_set():
                self.base_url = match.group(1)
                ready.set()
        ready.set()  # the process ended: stop waiting

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL after a grace period."""
        process = self.process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._reader is not None:
            self._reader.join(STOP_GRACE)
