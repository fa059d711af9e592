"""PROTOTYPE (benchmark only, not part of the package): a lean HTTP/1.1 keep-alive transport for httpx.

``bench/triggerer_scale.py --variants ours-lean`` mounts it under the provider's pooled client to show
what the status-poll CPU cost would be without httpcore/anyio; the provider itself does not use it.

httpx's own transport (httpcore on anyio) costs about ten times more CPU per request than the exchange
itself, which dominates a triggerer following thousands of runs (``bench/triggerer_scale.py``). This
transport sends body-less GETs over plain asyncio streams, keeping idle connections for reuse, and
hands every other request (bodies, other methods) to the regular httpx transport it wraps. Errors are
httpx's own exception types, so callers classify them exactly as before.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
from typing import Any

import httpx

#: Idle connections older than this are not reused (servers commonly drop idle ones from 5 s on).
KEEPALIVE_EXPIRY = 4.0


class _Conn:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.idle_since = reader, writer, 0.0

    def usable(self, now: float) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing() and now - self.idle_since < KEEPALIVE_EXPIRY

    def close(self) -> None:
        self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """Body-less GETs on pooled asyncio streams; anything else through ``fallback``."""

    def __init__(self, fallback: httpx.AsyncBaseTransport, ssl_context: ssl_module.SSLContext | None) -> None:
        self._fallback = fallback
        self._ssl = ssl_context
        self._idle: dict[tuple[bytes, bytes, int], list[_Conn]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if request.method != "GET" or url.scheme not in ("http", "https") or request.headers.get("content-length"):
            return await self._fallback.handle_async_request(request)
        timeouts = request.extensions.get("timeout", {})
        origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        head = self._head(request)
        idle = self._idle.setdefault(origin, [])
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable(now):
                return await self._exchange(conn, head, origin, timeouts)
            conn.close()
        conn = await self._connect(origin, timeouts.get("connect"))
        return await self._exchange(conn, head, origin, timeouts)

    @staticmethod
    def _head(request: httpx.Request) -> bytes:
        lines = [b"GET " + request.url.raw_path + b" HTTP/1.1"]
        lines += [name + b": " + value for name, value in request.headers.raw]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _connect(self, origin: tuple[bytes, bytes, int], timeout: float | None) -> _Conn:
        scheme, host, port = origin
        hostname = host.decode("ascii")
        tls = self._ssl if scheme == b"https" else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(hostname, port, ssl=tls, server_hostname=hostname if tls else None),
                timeout,
            )
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {hostname}:{port} timed out") from None
        except OSError as err:
            raise httpx.ConnectError(str(err)) from None
        return _Conn(reader, writer)

    async def _exchange(
        self, conn: _Conn, head: bytes, origin: tuple[bytes, bytes, int], timeouts: dict[str, Any]
    ) -> httpx.Response:
        try:
            conn.writer.write(head)
            try:
                status, headers, body, keep = await asyncio.wait_for(_read_response(conn.reader), timeouts.get("read"))
            except asyncio.TimeoutError:
                raise httpx.ReadTimeout("read timed out") from None
            except _NoResponse:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.") from None
            except (OSError, asyncio.IncompleteReadError) as err:
                raise httpx.ReadError(str(err) or type(err).__name__) from None
            except ValueError as err:
                raise httpx.RemoteProtocolError(str(err)) from None
        except BaseException:
            conn.close()
            raise
        if keep:
            conn.idle_since = time.monotonic()
            self._idle.setdefault(origin, []).append(conn)
        else:
            conn.close()
        return httpx.Response(status, headers=headers, content=body, extensions={"http_version": b"HTTP/1.1"})

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        await self._fallback.aclose()


class _NoResponse(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if not err.partial:
            raise _NoResponse from None
        raise
    lines = raw[:-4].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    status = int(rest[:3])
    headers = []
    length: int | None = None
    chunked = False
    keep = version == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        value = value.strip()
        headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif lowered == b"connection":
            keep = value.lower() != b"close" and (keep or value.lower() == b"keep-alive")
    if status < 200:
        raise ValueError(f"unexpected informational response {status}")
    if status in (204, 304):
        body = b""
    elif chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
        headers = [(n, v) for n, v in headers if n.lower() != b"transfer-encoding"]
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        body = await reader.read()
        keep = False
    return status, headers, body, keep
