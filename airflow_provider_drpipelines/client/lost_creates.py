"""Finding what a create with a lost answer made, before it may be sent again (the hook's exactly-once sends).

A create's request is built without sending it (:class:`RequestBuilder`), so the hook can send it with a
reconcile step; the looks for its effect come at growing pauses over a window as long as the create's own
timeout (:func:`reconcile_pauses`), or until a server could no longer carry out an interrupted create.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, TypeVar

from airflow_provider_drpipelines.client.endpoints import PipelinesApi
from airflow_provider_drpipelines.client.wire import ApiRequest

T = TypeVar("T")

#: Shortest time a lost create is looked for before it is sent again (see :func:`reconcile_pauses`).
MIN_RECONCILE_WINDOW_SECONDS: Final = 10.0


class RequestBuilder(PipelinesApi[None]):
    """Builds an endpoint's :class:`ApiRequest` without sending it (for sends that need a reconcile step)."""

    request: ApiRequest

    def _send(self, request: ApiRequest) -> None:
        self.request = request


def request_of(build: Callable[[PipelinesApi[None]], None]) -> ApiRequest:
    """The request ``build`` makes by calling one endpoint method, e.g. ``lambda api: api.lock_pipeline(p)``."""
    builder = RequestBuilder()
    build(builder)
    return builder.request


def reconcile_pauses(create_timeout: float) -> list[float]:
    """Pauses between lookbacks for what a create with a lost answer made, before it may be sent again.

    A server slower than the client's timeout may still commit the create after the client gave up, so
    one early look is not enough: looks come at 1, 2, 4, 8 ... s (capped at 8 s apart) over a window as
    long as the create's own timeout, and at least ``MIN_RECONCILE_WINDOW_SECONDS``.
    """
    window = max(create_timeout, MIN_RECONCILE_WINDOW_SECONDS)
    pauses: list[float] = []
    pause = 1.0
    while sum(pauses) + pause <= window:
        pauses.append(pause)
        pause = min(pause * 2, 8.0)
    if (rest := window - sum(pauses)) > 0:
        pauses.append(rest)
    return pauses


def cut_pauses(pauses: list[float], within: float) -> list[float]:
    """The pauses that fit in ``within`` seconds, the last one shortened to end there."""
    cut: list[float] = []
    for pause in pauses:
        if (room := within - sum(cut)) <= 0:
            break
        cut.append(min(pause, room))
    return cut


def interrupted_create_pauses(create_timeout: float, sent_at: float, within: float | None) -> list[float]:
    """Pauses between looks for what an interrupted create made: at once, then until a server could no longer
    carry it out (its timeout, then its lost answer's window, after ``sent_at``), or for ``within`` seconds."""
    horizon = create_timeout + sum(reconcile_pauses(create_timeout))
    remaining = max(sent_at + horizon - time.time(), 0.0)
    return [0.0, *cut_pauses(reconcile_pauses(horizon), min(remaining, within or remaining))]


def keep_looking(pauses: list[float], look: Callable[[], T | None]) -> T | None:
    """``look`` after each pause until it finds something; None once the pauses run out."""
    for pause in pauses:
        time.sleep(pause)
        if (found := look()) is not None:
            return found
    return None
