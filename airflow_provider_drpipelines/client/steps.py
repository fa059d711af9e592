"""A sequence of API calls written once for both clients, as a generator.

The generator yields each call it makes (``api.get_run(...)``) and receives its answer. With the sync hook
the call has already been made when it is yielded, and raised there if it failed: :func:`run_steps` only
hands the answer back. With the async client the yielded value is an awaitable: :func:`arun_steps` awaits
it and sends the answer, or throws the error into the generator at the ``yield``. Either way the
generator's own ``try``/``except`` sees the failure where the call is written.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

T = TypeVar("T")

#: Yields calls (answers or awaitables of them), receives answers, returns T.
Steps = Generator[Any, Any, T]


def run_steps(steps: Steps[T]) -> T:
    """Drive ``steps`` with the sync hook: each yielded value already is the call's answer."""
    try:
        answer = steps.send(None)
        while True:
            answer = steps.send(answer)
    except StopIteration as done:
        result: T = done.value
        return result


async def arun_steps(steps: Steps[T]) -> T:
    """Drive ``steps`` with the async client: await each yielded call, send its answer or throw its error."""
    try:
        call = steps.send(None)
        while True:
            try:
                answer = await call
            except Exception as err:  # the generator decides what a failed call means
                call = steps.throw(err)
            else:
                call = steps.send(answer)
    except StopIteration as done:
        result: T = done.value
        return result
