"""A lean keep-alive HTTP/1.1 client for the async client's body-less GETs: the triggers' status polls.

Why not httpx for these: a triggerer following a thousand runs spent 3.4 ms of CPU per status poll in
httpx's request machinery (client layer, httpcore, anyio), 68 % of a core, against 0.32 ms per poll on
this client (``bench/triggerer_scale.py``, ``ours-httpx`` vs ``ours``). This client does one thing: write a
GET with a pre-encoded head on a pooled asyncio connection and read one response, framed by
``Content-Length``, chunked encoding or the connection's close. Everything else stays on httpx."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

#: Idle connections older than this are not reused: common servers drop idle ones from 5 s on.
KEEPALIVE_EXPIRY: Final = 4.0
#: A response's status line and headers larger than this are refused (ours are a few hundred bytes).
MAX_HEAD_BYTES: Final = 64 * 1024
_NO_BODY_STATUSES: Final = frozenset({204, 304})


class Http1Error(Exception):
    """The exchange failed; ``connected`` tells whether the request may have reached the server."""

    def __init__(self, message: str, *, connected: bool) -> None:
        super().__init__(message)
        self.connected = connected


class _StaleConnection(Exception):
    """A reused connection was closed by the server before answering: send again on a fresh one."""


@dataclass(frozen=True)
class Http1Response:
    status: int
    #: Header names in lower case; repeated headers joined with ", ".
    headers: dict[str, str]
    content: bytes


class _Connection(asyncio.Protocol):
    """One connection; reads a response as its bytes arrive and resolves the waiting request's future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Http1Response] | None = None
        self._status = 0
        self._headers: dict[str, str] = {}
        self._framing: int | str | None = None  # a length, "chunked" or "close"; None until the head is read
        self._chunks: list[bytes] = []
        self._received = False

    # --- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.abort()  # bytes nobody asked for: this connection can't be trusted with the next request
            return
        self._received = True
        self._buffer += data
        try:
            self._advance()
        except ValueError as err:
            self._fail(Http1Error(f"malformed HTTP response: {err}", connected=True))

    def eof_received(self) -> None:
        self._connection_ended(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection_ended(exc)

    # --- one exchange ---------------------------------------------------------------------------
    def send(self, request: bytes, waiter: asyncio.Future[Http1Response]) -> None:
        assert self.transport is not None
        self._waiter, self._status, self._headers, self._framing = waiter, 0, {}, None
        self._chunks, self._received, self.reusable = [], False, False
        self.transport.write(request)

    def time_out(self, timeout: float) -> None:
        self._fail(Http1Error(f"no complete response within {timeout:g} s", connected=True))

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        self.abort()

    def _connection_ended(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._framing == "close" and exc is None:
            self._finish(bytes(self._buffer))  # an orderly close ends a body that has no length
        elif not self._received:
            self._waiter.set_exception(_StaleConnection())
        else:
            reason = f": {exc}" if exc else ""
            self._waiter.set_exception(Http1Error(f"connection closed mid-response{reason}", connected=True))

    # --- parsing --------------------------------------------------------------------------------
    def _advance(self) -> None:
        while self._framing is None:
            if not self._read_head():
                return
        if self._framing == "chunked":
            self._read_chunks()
        elif isinstance(self._framing, int) and len(self._buffer) >= self._framing:
            body, rest = bytes(self._buffer[: self._framing]), self._buffer[self._framing :]
            self._finish(body, keep=not rest)

    def _read_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if (end if end >= 0 else len(self._buffer)) > MAX_HEAD_BYTES:
            raise ValueError(f"status line and headers exceed {MAX_HEAD_BYTES} bytes")
        if end < 0:
            return False
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit() or rest[3:4] not in ("", " "):
            raise ValueError(f"bad status line {lines[0][:100]!r}")
        status = int(rest[:3])
        if status < 200:
            return True  # an informational response: the real one follows
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"bad header line {line[:100]!r}")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self._status, self._headers = status, headers
        self._framing = _framing(status, headers)
        self.reusable = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if self._framing == "close":
            self.reusable = False
        return True

    def _read_chunks(self) -> None:
        buffer = self._buffer
        while True:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return
            size = int(bytes(buffer[:line_end]).split(b";")[0].strip(), 16)
            if size < 0:
                raise ValueError(f"negative chunk size {size}")
            if size == 0:
                trailers_end = buffer.find(b"\r\n\r\n", line_end)
                if buffer[line_end + 2 : line_end + 4] == b"\r\n":
                    trailers_end = line_end
                if trailers_end < 0:
                    return
                rest = buffer[trailers_end + 4 :]
                self._finish(b"".join(self._chunks), keep=not rest)
                return
            start = line_end + 2
            if len(buffer) < start + size + 2:
                return
            if buffer[start + size : start + size + 2] != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
            self._chunks.append(bytes(buffer[start : start + size]))
            del buffer[: start + size + 2]

    def _finish(self, body: bytes, keep: bool = True) -> None:
        self._buffer.clear()
        self.reusable = self.reusable and keep
        assert self._waiter is not None
        self._waiter.set_result(Http1Response(self._status, self._headers, body))


def _framing(status: int, headers: Mapping[str, str]) -> int | str:
    if status in _NO_BODY_STATUSES:
        return 0
    encoding = headers.get("content-encoding", "identity").lower()
    if encoding != "identity":
        raise ValueError(f"unrequested Content-Encoding {encoding!r}")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return "chunked"
    if "content-length" in headers:
        length = headers["content-length"]
        if not length.isdigit():
            raise ValueError(f"bad Content-Length {length!r}")
        return int(length)
    return "close"


class Http1Pool:
    """Keep-alive connections to one API, for body-less GETs; at most ``max_connections`` at once.

    The token travels in ``headers``, encoded once into the request head; it is never in a repr or message.
    """

    def __init__(
        self, base_url: str, headers: Mapping[str, str], ssl_context: ssl.SSLContext | None, max_connections: int
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        if parts.scheme == "https" and ssl_context is None:
            raise ValueError(f"an https URL needs an SSL context: {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl_context if parts.scheme == "https" else None
        self._prefix = parts.path.rstrip("/")
        self._headers = _encode_headers({"Host": parts.netloc.rpartition("@")[2], **headers})
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._host}:{self._port}, idle={len(self._idle)})"

    async def get(self, target: str, timeout: float) -> Http1Response:
        """GET ``target`` (a percent-encoded path below the base URL, with its query) and read the response."""
        if not target.isascii() or any(c in target for c in " \r\n"):
            raise ValueError(f"target is not a percent-encoded path: {target[:200]!r}")
        request = b"GET " + (self._prefix + target).encode("ascii") + b" HTTP/1.1\r\n" + self._headers
        async with self._slots:
            connection = self._idle_connection()
            if connection is not None:
                try:
                    return await self._exchange(connection, request, timeout)
                except _StaleConnection:
                    pass  # closed by the server while idle; the request never reached it
            connection = await self._connect(timeout)
            try:
                return await self._exchange(connection, request, timeout)
            except _StaleConnection:
                raise Http1Error("server closed the connection without answering", connected=True) from None

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    def _idle_connection(self) -> _Connection | None:
        now = asyncio.get_running_loop().time()
        while self._idle and (self._idle[0].closed or now - self._idle[0].idle_since > KEEPALIVE_EXPIRY):
            self._idle.pop(0).close()  # the oldest first: a LIFO pool leaves its expired connections at the bottom
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        where = f"{self._host}:{self._port}"
        server_hostname = self._host if self._ssl else None
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    _Connection, self._host, self._port, ssl=self._ssl, server_hostname=server_hostname
                ),
                timeout,
            )
        except asyncio.TimeoutError:
            raise Http1Error(f"connecting to {where} timed out after {timeout:g} s", connected=False) from None
        except OSError as err:
            raise Http1Error(f"could not connect to {where}: {err}", connected=False) from None
        return connection

    async def _exchange(self, connection: _Connection, request: bytes, timeout: float) -> Http1Response:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Http1Response] = loop.create_future()
        connection.send(request, waiter)
        timer = loop.call_later(timeout, connection.time_out, timeout)
        try:
            response = await waiter
        except BaseException:
            connection.abort()  # failed or cancelled mid-exchange: what the connection holds next is unknown
            raise
        finally:
            timer.cancel()
        if connection.reusable and not self._closed:
            connection.idle_since = loop.time()
            self._idle.append(connection)
        else:
            connection.close()
        return response


def _encode_headers(headers: Mapping[str, str]) -> bytes:
    lines = []
    for name, value in {**headers, "Accept-Encoding": "identity"}.items():
        if any(c in value for c in "\r\n\0") or not value.isascii():
            raise ValueError(f"header {name!r} holds a line break, NUL or non-ASCII character; refusing to send it")
        lines.append(f"{name}: {value}\r\n".encode("ascii"))
    return b"".join(lines) + b"\r\n"
