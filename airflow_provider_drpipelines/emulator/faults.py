"""Fault injection rules and the bounded request log, for reliability tests.

Both sit in front of the API (see ``gateway.py``) and are driven by the ``/_emulator/`` admin
endpoints. The log is a fixed-size deque, so memory stays flat however long the emulator runs.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

from airflow_provider_drpipelines.emulator.wire import JSONObject, rfc3339

REQUEST_LOG_SIZE = 10_000
When = Literal["before", "after"]


@dataclass(frozen=True)
class FaultSpec:
    """What a fault rule does to the requests it matches: the admin API's JSON body as one object."""

    method: str = "*"
    #: A regex ``re.search``ed against the request path; empty matches every path.
    path: str = ""
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False
    #: How many matching requests the rule applies to; 0 or None: unlimited.
    times: int | None = 1
    when: When = "before"
    html: bool = False
    #: Read the whole request before ``delay`` and carry it out even if the client has gone meanwhile:
    #: a server slower than its client's timeout, which still commits the create.
    commit: bool = False

    @property
    def answers(self) -> bool:
        """Whether the rule replaces the answer (a pure ``delay`` rule only slows the request down)."""
        return self.drop or self.status is not None


@dataclass
class FaultRule:
    """A stored ``FaultSpec``: its id, compiled path, the ``remaining`` matches (None: unlimited) and hits so far."""

    id: int
    spec: FaultSpec
    path: re.Pattern[str]
    remaining: int | None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.spec.method in ("*", method) and self.path.search(path) is not None

    def as_json(self) -> JSONObject:
        spec = self.spec
        return {
            "id": self.id,
            "method": spec.method,
            "path": spec.path,
            "status": spec.status,
            "retryAfter": spec.retry_after,
            "delay": spec.delay,
            "drop": spec.drop,
            "times": self.remaining,
            "when": spec.when,
            "html": spec.html,
            "commit": spec.commit,
            "hits": self.hits,
        }


class FaultBook:
    """The active rules; the first rule matching a request applies to it and uses up one of its ``times``."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, spec: FaultSpec) -> FaultRule:
        """Store ``spec`` as a rule; ``re.error`` if its path is not a regular expression."""
        spec = dataclasses.replace(spec, method=spec.method.upper())
        rule = FaultRule(next(self._ids), spec, re.compile(spec.path), spec.times or None)
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        if not self._rules:  # the common case, checked without the lock
            return None
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining == 0:
                            self._rules.remove(rule)
                    return rule
        return None

    def list(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


LoggedStatus = int | Literal["dropped"]


class RequestLog:
    """The last ``REQUEST_LOG_SIZE`` API requests (newest last), plus a count of all served."""

    def __init__(self) -> None:
        self._entries: deque[tuple[str, str, LoggedStatus, float, float]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.served = 0

    def record(self, method: str, path: str, status: LoggedStatus, started: float, seconds: float) -> None:
        self._entries.append((method, path, status, started, seconds))
        self.served += 1

    def query(self, path: str | None, method: str | None) -> list[JSONObject]:
        pattern = re.compile(path) if path else None
        return [
            {
                "method": entry_method,
                "path": entry_path,
                "status": status,
                "time": rfc3339(started),
                "durationMs": round(seconds * 1000, 3),
            }
            for entry_method, entry_path, status, started, seconds in list(self._entries)
            if (not method or entry_method == method.upper()) and (pattern is None or pattern.search(entry_path))
        ]

    def clear(self) -> None:
        self._entries.clear()
        self.served = 0


def is_loopback(host: str | None) -> bool:
    """Admin endpoints answer only on the machine itself: they can reset all state."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
