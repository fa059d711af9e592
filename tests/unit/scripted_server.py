"""A scripted HTTP/1.1 server on 127.0.0.1, in its own thread, for the clients' transport tests.

Each request gets the next answer of the script (the last one repeats). An answer is raw bytes written
as they are (to play a broken or hostile server), ``reply(...)`` for an ordinary JSON answer, or an
action: ``DROP`` closes the connection unanswered, ``RESET`` aborts it with a TCP reset, ``HANG`` never
answers, ``trickle(data, every)`` writes one byte at a time, ``closing(data)`` writes data and closes.
Every request is recorded with its head (parsed, and as the raw bytes received) and body, so a test can
assert what the client sent. Usable from sync code and from any event loop, since it runs its own.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DROP = "drop"
RESET = "reset"
HANG = "hang"


@dataclass
class Trickle:
    data: bytes
    every: float


def trickle(data: bytes, every: float) -> Trickle:
    return Trickle(data, every)


@dataclass
class Closing:
    data: bytes


def closing(data: bytes) -> Closing:
    return Closing(data)


@dataclass
class Stream:
    """A head, then ``count`` copies of ``chunk``: a huge answer the server never holds in memory."""

    head: bytes
    chunk: bytes
    count: int


def reply(
    body: Any = None, status: int = 200, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> bytes:
    """A complete HTTP/1.1 answer with a JSON (or ``raw``) body and a Content-Length."""
    content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(content)}"]
    if body is not None and raw is None:
        lines.append("Content-Type: application/json")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    #: The request line and headers exactly as received, up to and including the blank line.
    head: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


Answer = bytes | str | Trickle | Stream | Closing | Callable[[Request], bytes]


@dataclass
class ScriptedServer:
    answers: list[Answer]
    tls: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    connections: int = 0

    def __enter__(self) -> ScriptedServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def start() -> None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()

        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(start(), self._loop).result(5)
        ready.wait(5)
        return self

    def __exit__(self, *_: object) -> None:
        async def stop() -> None:
            self._server.close()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _next_answer(self) -> Answer:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (request := await _read_request(reader)) is not None:
                self.requests.append(request)
                answer = self._next_answer()
                if answer == DROP:
                    return
                if answer == RESET:
                    _reset(writer)
                    return
                if answer == HANG:
                    await asyncio.sleep(3600)
                if isinstance(answer, Closing):
                    writer.write(answer.data)
                    await writer.drain()
                    return
                if isinstance(answer, Stream):
                    writer.write(answer.head)
                    for _ in range(answer.count):
                        writer.write(answer.chunk)
                        await writer.drain()
                    continue
                if isinstance(answer, Trickle):
                    for i in range(len(answer.data)):
                        writer.write(answer.data[i : i + 1])
                        await writer.drain()
                        await asyncio.sleep(answer.every)
                    continue
                data = answer(request) if callable(answer) else answer
                assert isinstance(data, bytes)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.CancelledError):
            pass  # the client went away, or the server is stopping
        finally:
            writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN: a zero linger time makes the kernel drop the connection at once."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in filter(None, header_lines):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    return Request(method, target, headers, body, head)
