"""Helpers shared by the hook test modules (no tests here): a fake clock and a hook on an env-var connection."""

from __future__ import annotations

import email
import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_provider_drpipelines.client import async_client, lost_creates, polling
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from airflow_provider_drpipelines.hooks import pipelines as hooks
from tests._support.sleeps import AsyncioWithSleep, FakeClock

TOKEN = "SECRET-TOKEN-123"
HOST = "https://dr.example.com"
API = f"{HOST}/api/v2"
HOOK_LOGGER = "tests.drpipelines.hook"

#: An answer carrying every field any endpoint requires, for tests about the request side.
EVERYTHING: dict[str, Any] = {
    "id": "x",
    "mode": "draft",
    "status": "RUNNING",
    "version": 1,
    "name": "n",
    "source": "",
    "nodes": [],
    "payload": {},
    "logs": "",
    "content": "",
    "url": "https://s3/x",
    "versionString": "1.0",
    "data": [],
}


def install_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The fake clock in both clients' modules (the sync hook's and the async client's)."""
    clock = FakeClock()
    monkeypatch.setattr(hooks, "time", clock)
    monkeypatch.setattr(polling, "time", clock)  # the worker's wait loop
    monkeypatch.setattr(lost_creates, "time", clock)  # the looks for a lost create's effect
    monkeypatch.setattr(async_client, "time", clock)
    monkeypatch.setattr(async_client, "asyncio", AsyncioWithSleep(clock.async_sleep))
    return clock


def make_hook(conn_env: Any, *, extra: dict[str, Any] | None = None, **retry: float) -> DataRobotPipelinesHook:
    """A hook on an env-var connection, with small retry delays and its log routed to stdlib (caplog)."""
    conn_env(host=HOST, password=TOKEN, extra=extra)
    options: dict[str, Any] = {"retry_limit": 3, "retry_delay": 0.5, "retry_max_delay": 2.0, "retry_timeout": 60.0}
    options.update(retry)
    hook = DataRobotPipelinesHook(**options)
    # Airflow's structlog logger filters at INFO and bypasses stdlib logging; caplog needs stdlib records.
    hook._log = logging.getLogger(HOOK_LOGGER)
    return hook


def path_of(request: Any) -> str:
    """The exact (case-preserved, still percent-encoded) path of a recorded request, below ``/api/v2``."""
    path = urlsplit(request.url).path
    assert path.startswith("/api/v2/"), path
    return path[len("/api/v2") :]


def query_of(request: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))


def multipart_parts(request: Any) -> dict[str, tuple[str | None, bytes]]:
    """``{part name: (filename, content)}`` of a recorded multipart request."""
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary="), content_type
    message = email.message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body)
    assert message.is_multipart()
    parts = {}
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        parts[name] = (part.get_filename(), part.get_payload(decode=True))
    return parts
