"""How the sync hook's requests cross the network: a ``requests.Session`` held to the connection's rules.

requests decides TLS trust, proxies and timeouts its own way (certifi, ``*_PROXY`` and
``REQUESTS_CA_BUNDLE`` from the environment, a timeout per socket read). Here the session instead uses
the TLS context and proxy that ``ConnectionSettings`` chose for both clients, follows no redirect, reads
at most an answer's size cap, and holds every request to one total deadline: each socket read of the
answer waits only for the time left, so a server trickling bytes cannot stretch a call.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from airflow_provider_drpipelines.client import wire
from airflow_provider_drpipelines.client.wire import ApiRequest
from airflow_provider_drpipelines.connection import ConnectionSettings

_READ_CHUNK = 64 * 1024
_deadline = threading.local()


def new_session(settings: ConnectionSettings) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # proxies and CA bundles from the environment were weighed in ConnectionSettings
    session.headers.update(wire.auth_headers(settings.token))
    adapter = _ConnectionRulesAdapter(settings)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    proxy = settings.proxy_url()
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    return session


def exchange(session: requests.Session, settings: ConnectionSettings, request: ApiRequest) -> tuple[int, Any, bytes]:
    """Send ``request`` and read its answer within the deadline: ``(status, headers, body)``.

    Raises requests' exceptions for failures without an answer, and ``wire``'s for an oversized one.
    """
    timeout = request.timeout_within(settings.timeout)
    _deadline.at = time.monotonic() + timeout
    try:
        response = session.request(
            request.method,
            settings.url(request.path),
            params=request.query() or None,
            json=request.json,
            files=request.multipart(),
            timeout=timeout,
            allow_redirects=False,
            stream=True,
            verify=settings.verify is not False,
        )
        with response:
            return response.status_code, response.headers, _read_capped(response, request, settings.token)
    finally:
        _deadline.at = None


def _read_capped(response: requests.Response, request: ApiRequest, secret: str) -> bytes:
    """At most the answer's cap: a 2xx over it is an error, an error page is cut (its status says enough)."""
    status = response.status_code
    limit = wire.answer_limit(request, status)
    declared = response.headers.get("content-length", "")
    if 200 <= status < 300 and declared.isdigit() and int(declared) > limit:
        raise wire.too_large(request, status, limit, secret)
    body = bytearray()
    for chunk in response.iter_content(_READ_CHUNK):
        body += chunk
        if len(body) > limit:
            if 200 <= status < 300:
                raise wire.too_large(request, status, limit, secret)
            return bytes(body[:limit])
    return bytes(body)


class _ConnectionRulesAdapter(HTTPAdapter):
    """Pools whose connections use the connection's TLS context and read answers against the deadline."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self._tls = settings.tls_context() if settings.uses_tls else None  # plain http pools take none
        self._cert_reqs = "CERT_NONE" if settings.verify is False else "CERT_REQUIRED"
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _DEADLINE_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _DEADLINE_POOLS
        return manager

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Nothing to add: the pool's TLS context already holds the trust (requests would load certifi into it)."""

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        host_params, _ = super().build_connection_pool_key_attributes(request, verify, cert)
        return host_params, {"ssl_context": self._tls, "cert_reqs": self._cert_reqs}


class _DeadlineSocket:
    """Gives each read of an answer only the time left before the request's deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request's total timeout passed while reading the answer")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer, nbytes, flags)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        # As socket.makefile does: the open file keeps the descriptor alive after the connection closes the
        # socket (http.client does so at once for a close-delimited answer, before its body is read).
        self._sock._io_refs += 1  # type: ignore[attr-defined]
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        deadline = getattr(_deadline, "at", None)
        super().__init__(sock if deadline is None else _DeadlineSocket(sock, deadline), *args, **kwargs)  # type: ignore[arg-type]


class _DeadlineHTTPConnection(HTTPConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPSConnection(HTTPSConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_DEADLINE_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _DeadlineHTTPConnectionPool,
    "https": _DeadlineHTTPSConnectionPool,
}


#: Errors requests raises before anything goes on the wire: a malformed URL or header is no transient fault.
REQUEST_NEVER_SENT = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
)


def requests_connected(err: requests.exceptions.RequestException) -> bool:
    """Whether the request may have reached the server (requests wraps urllib3's connect failures)."""
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(err, requests.exceptions.ConnectionError):
        from urllib3.exceptions import MaxRetryError, NewConnectionError

        reason = err.args[0].reason if err.args and isinstance(err.args[0], MaxRetryError) else None
        return not isinstance(reason, NewConnectionError)
    return True
