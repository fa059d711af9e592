"""The pure-ASGI layer in front of the FastAPI app.

It does what must happen on every request and cheaply: firing the schedules whose tick has
passed, the loopback guard of the admin endpoints, the request log, fault injection, token checking,
and the hot run-status poll, which it answers itself (FastAPI's per-request overhead would cap the poll rate well below
what the triggerer benchmark needs).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow_provider_drpipelines.emulator import views
from airflow_provider_drpipelines.emulator.faults import FaultBook, FaultSpec, LoggedStatus, RequestLog, is_loopback
from airflow_provider_drpipelines.emulator.state import Store
from airflow_provider_drpipelines.emulator.wire import ApiError, parse_locked_version

ASGIScope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[ASGIScope, Receive, Send], Awaitable[None]]

API_PREFIX = "/api/v2"
ADMIN_PREFIX = "/_emulator"
STATUS_PATH = re.compile(r"^/api/v2/pipelines/([^/]+)(?:/versions/([^/]+))?/dispatches/([^/]+)/status/?$")
PROXY_502_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    b"</center><hr><center>nginx</center></body></html>"
)


async def send_body(
    send: Send, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    await send_body(send, status, body, b"application/json", extra or [])


async def abort_connection(send: Send) -> None:
    """Close the TCP connection with no response at all, as a crashed proxy would.

    uvicorn's ASGI ``send`` is a bound method of its request cycle, which holds the transport.
    Yielding once lets uvicorn see the connection lost before the app returns, so it does not
    complain about (or try to send) a missing response.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("this ASGI server does not expose its transport; cannot drop the connection")
    transport.abort()
    await asyncio.sleep(0)


async def _read_ahead(receive: Receive) -> Receive:
    """Read the whole request body now and replay it later: the request no longer depends on the client."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return replay


async def _discard(message: Message) -> None:
    """The ``send`` of a request handled for its side effects only (a ``when: after`` fault)."""


class Gateway:
    def __init__(self, api: ASGIApp, store: Store, faults: FaultBook, log: RequestLog) -> None:
        self.api = api
        self.store = store
        self.faults = faults
        self.log = log
        self.token = store.config.token.encode()

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        self.store.fire_due_schedules()  # lazily: schedules fire on the first request their tick has passed
        path: str = scope["path"]
        if path.startswith(ADMIN_PREFIX):
            client = scope.get("client")
            if not is_loopback(client[0] if client else None):
                await send_json(send, 403, {"detail": "The emulator admin endpoints answer loopback clients only"})
                return
            await self.api(scope, receive, send)
            return
        started_at, started = self.store.clock(), time.perf_counter()
        status: LoggedStatus = 500
        try:
            status = await self._serve(scope, receive, send)
        finally:
            self.log.record(scope["method"], path, status, started_at, time.perf_counter() - started)

    async def _serve(self, scope: ASGIScope, receive: Receive, send: Send) -> LoggedStatus:
        rule = self.faults.take(scope["method"], scope["path"])
        if rule is None:
            return await self._respond(scope, receive, send)
        spec = rule.spec
        if spec.commit:
            receive = await _read_ahead(receive)
        if spec.delay:
            await asyncio.sleep(spec.delay)  # real time: a slow server is slow for its client's real timeout
        if not spec.answers:
            return await self._respond(scope, receive, send)
        if spec.when == "after":
            await self._respond(scope, receive, _discard)
        return await self._fault(spec, send)

    @staticmethod
    async def _fault(rule: FaultSpec, send: Send) -> LoggedStatus:
        if rule.drop:
            await abort_connection(send)
            return "dropped"
        assert rule.status is not None  # an answering rule that does not drop has a status
        extra = [] if rule.retry_after is None else [(b"retry-after", f"{rule.retry_after:g}".encode())]
        if rule.html:
            await send_body(send, rule.status, PROXY_502_PAGE, b"text/html", extra)
        else:
            await send_json(send, rule.status, {"detail": "Injected fault"}, extra)
        return rule.status

    async def _respond(self, scope: ASGIScope, receive: Receive, send: Send) -> int:
        """Answer for real; returns the status code sent."""
        path: str = scope["path"]
        if path.startswith(API_PREFIX) and not self._authorized(scope):
            await send_json(send, 401, {"detail": "Missing or invalid API token"}, [(b"www-authenticate", b"Bearer")])
            return 401
        if scope["method"] == "GET":
            match = STATUS_PATH.match(path)
            if match is not None:
                return await self._run_status(send, *match.groups())
        sent = 500

        async def recording_send(message: Message) -> None:
            nonlocal sent
            if message["type"] == "http.response.start":
                sent = message["status"]
            await send(message)

        await self.api(scope, receive, recording_send)
        return sent

    def _authorized(self, scope: ASGIScope) -> bool:
        """``Bearer`` (the CLI) and ``Token`` (the Python SDK) are both accepted."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credential = value.partition(b" ")
                return scheme.lower() in (b"bearer", b"token") and credential.strip() == self.token
        return False

    async def _run_status(self, send: Send, pid: str, version: str | None, did: str) -> int:
        """The hot poll (R4), answered without FastAPI."""
        try:
            run = self.store.run(pid, parse_locked_version(version), did)
            await send_json(send, 200, views.run_status(run, self.store.clock()))
            return 200
        except ApiError as exc:
            await send_json(send, exc.status, {"detail": exc.detail})
            return exc.status
