"""A thin ``requests`` client for the emulator wire tests, and a pipeline file builder."""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_drpipelines.emulator import EmulatorServer
from airflow_provider_drpipelines.statuses import TERMINAL_RUN_STATUSES

MAX_POLLS = 250


def pipeline_source(function: str = "my_workflow", tasks: tuple[str, ...] = ("load", "train")) -> str:
    """A covalent-style file whose pipeline chains ``tasks``, each fed the previous one's result."""
    lines = ["import datarobot as dr", ""]
    for task in tasks:
        lines += ["@dr.task", f"def {task}(data: dict, factor: float = 1.0) -> dict:", "    return data", ""]
    lines += ['@dr.pipeline(resource_bundle="cpu.small")', f"def {function}(data: dict):", "    value = data"]
    lines += [f"    value = {task}(value)" for task in tasks]
    lines += ["    return value", ""]
    return "\n".join(lines)


class Api:
    """``requests`` against the emulator's /api/v2, authenticated, plus builders for common fixtures."""

    def __init__(self, emulator: EmulatorServer) -> None:
        self.emu = emulator
        self.url = emulator.api_url
        self.session = requests.Session()
        self.session.trust_env = False  # never via a proxy from the environment
        self.session.headers["Authorization"] = f"Bearer {emulator.token}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.session.request(method, self.url + path, timeout=10, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def pipeline(self, source: str | None = None, filename: str = "flow.py", **fields: str) -> dict[str, Any]:
        files = {"file": (filename, (source or pipeline_source()).encode(), "application/octet-stream")}
        created: dict[str, Any] = self.ok("POST", "/pipelines", 201, files=files, data=fields)
        return created

    def locked(self, source: str | None = None) -> str:
        pid = self.pipeline(source)["id"]
        self.ok("PATCH", f"/pipelines/{pid}/mode")
        return str(pid)

    def input(self, pid: str, payload: dict[str, Any] | None = None, version: int | None = None) -> str:
        scope = "" if version is None else f"/versions/{version}"
        body = {"payload": payload if payload is not None else {"data": {"rows": 3}}}
        return str(self.ok("POST", f"/pipelines/{pid}{scope}/inputs", 201, json=body)["id"])

    def run(self, pid: str, payload: dict[str, Any] | None = None, version: int | None = None) -> str:
        scope = "" if version is None else f"/versions/{version}"
        iid = self.input(pid, payload, version)
        return str(self.ok("POST", f"/pipelines/{pid}{scope}/dispatches", 201, json={"inputId": iid})["id"])

    def wait_terminal(self, pid: str, did: str, version: int | None = None, step: float = 0.02) -> list[str]:
        """Poll the status route, moving the emulator's clock ``step`` seconds between polls, until terminal;
        returns every distinct status seen, in order."""
        scope = "" if version is None else f"/versions/{version}"
        seen: list[str] = []
        for _ in range(MAX_POLLS):
            status = self.ok("GET", f"/pipelines/{pid}{scope}/dispatches/{did}/status")["status"]
            if not seen or seen[-1] != status:
                seen.append(status)
            if status in TERMINAL_RUN_STATUSES:
                return seen
            self.emu.advance(step)
        raise AssertionError(f"run {did} not terminal after {MAX_POLLS} polls {step} s apart: {seen}")
