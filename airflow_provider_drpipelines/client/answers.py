"""Reading fields off decoded API answers, written once for every reader (tasks, names, results, readiness).

The clients check an answer's shape (an object with its required keys, or an array); what is inside is read
here, so an answer that breaks the contract (a ``null`` where a task should be, a pipeline without an ``id``,
a version number that is a string) is an :class:`ApiResponseError` naming the call and what is wrong,
never an ``AttributeError`` or ``KeyError`` from deep inside an operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_drpipelines.exceptions import ApiResponseError, PipelineVersionFailedError
from airflow_provider_drpipelines.statuses import VersionStatus

if TYPE_CHECKING:
    from airflow_provider_drpipelines.client.bodies import PipelineBody

T = TypeVar("T")


def broken_answer(call: str, problem: str) -> ApiResponseError:
    """The error for an answer of ``call`` (e.g. ``"get_image(i1)"``) that breaks the API's contract."""
    return ApiResponseError(
        f"DataRobot pipelines API: the answer of {call} {problem}. Is the connection's endpoint a DataRobot API?",
        method="GET",
        path=call,
    )


def objects(call: str, value: Any, where: str = "items") -> list[dict[str, Any]]:
    """``value`` as a list of JSON objects (an absent list is empty); ``where`` names the list in errors."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise broken_answer(call, f"has {_shown(value)} as {where} where an array was expected")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise broken_answer(call, f"has {_shown(item)} at {where}[{index}] where an object was expected")
    return value


def required(call: str, body: Mapping[str, Any], key: str, kind: type[T]) -> T:
    """``body[key]``, which must be present and of ``kind`` (a bool is not an int)."""
    if key not in body:
        raise broken_answer(call, f"lacks the field {key!r}")
    return _typed(call, body, key, kind)


def optional(call: str, body: Mapping[str, Any], key: str, kind: type[T]) -> T | None:
    """``body[key]`` when present and not null, else None; a value of another type is an error."""
    if body.get(key) is None:
        return None
    return _typed(call, body, key, kind)


def numbered_versions(call: str, body: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """The ``versions`` of a pipeline or image by number; each must be an object with a positive int ``version``."""
    by_number: dict[int, dict[str, Any]] = {}
    for entry in objects(call, body.get("versions"), "versions"):
        number = required(call, entry, "version", int)
        if number < 1:
            raise broken_answer(call, f"lists a version numbered {number}")
        by_number[number] = entry
    return by_number


def newest_version(call: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The highest-numbered of ``versions`` (see :func:`numbered_versions`), or None when there is none."""
    versions = numbered_versions(call, body)
    return versions[max(versions)] if versions else None


def _typed(call: str, body: Mapping[str, Any], key: str, kind: type[T]) -> T:
    value = body[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise broken_answer(call, f"has {key!r} set to {_shown(value)} where {_KINDS[kind]} was expected")
    return value


_KINDS: dict[type, str] = {
    type(None): "null",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def _shown(value: Any) -> str:
    """The JSON kind of a value, never the value itself: a server may echo anything, the token included."""
    return _KINDS.get(type(value), type(value).__name__)


def refuse_failed_version(label: str, pipeline: PipelineBody, number: int) -> int:
    """``number``, unless the pipeline's listing shows that version FAILED: nothing can run it."""
    entry = numbered_versions(f"get_pipeline({pipeline.get('id')})", pipeline).get(number, {})
    if entry.get("status") == VersionStatus.FAILED:
        raise PipelineVersionFailedError(
            f"{label} version {number} is FAILED and cannot run: {entry.get('errorDetail') or 'no error detail'}"
        )
    return number
