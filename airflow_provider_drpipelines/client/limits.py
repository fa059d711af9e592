"""The size and depth limits of what the provider sends and reads, defined once for the clients and the checks.

The client reads at most ``MAX_JSON_BYTES`` of a JSON answer; a payload is bounded so its create's answer,
which echoes it, fits that cap, and a listing of such payloads is paged so each page fits it too. Nothing
here imports a client: DAG parsing checks payloads with it.
"""

from __future__ import annotations

import json
from typing import Any, Final

from airflow_provider_drpipelines.exceptions import DataRobotConfigError

#: Largest JSON answer read (an object or a page); anything bigger is a broken or hostile server.
MAX_JSON_BYTES: Final = 8 * 1024 * 1024
#: Deepest JSON payload accepted, and deepest result value pushed to XCom: deeper nesting is a mistake, Airflow's
#: template rendering and XCom serialization recurse several frames a level, and past ~1,000 levels no JSON
#: library copes.
MAX_PAYLOAD_DEPTH: Final = 100
#: Room kept in an answer for what the API wraps around an echoed payload (ids, timestamps, state).
ECHO_ALLOWANCE_BYTES: Final = 64 * 1024
#: Largest input payload sent, as JSON with every character escaped (the most any server's echo takes): the
#: input create answers with the payload, and that answer must fit the client's cap ``MAX_JSON_BYTES``.
MAX_PAYLOAD_BYTES: Final = MAX_JSON_BYTES - ECHO_ALLOWANCE_BYTES


def check_payload_depth(payload: Any, what: str = "The pipeline input payload") -> None:
    """Refuse JSON nested deeper than ``MAX_PAYLOAD_DEPTH`` with a clear error (iteratively: no RecursionError)."""
    if nested_too_deep(payload):
        raise too_deep(what)


def too_deep(what: str) -> DataRobotConfigError:
    return DataRobotConfigError(f"{what} is nested more than {MAX_PAYLOAD_DEPTH} levels deep.")


def nested_too_deep(value: Any, limit: int = MAX_PAYLOAD_DEPTH) -> bool:
    """Whether dicts, lists and tuples in ``value`` nest more than ``limit`` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list | tuple) else ()
        stack.extend((child, depth + 1) for child in children)
    return False


def check_payload_size(payload: Any) -> None:
    """Refuse a payload whose create answer (which echoes it) the client could not read back."""
    size = len(json.dumps(payload).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise DataRobotConfigError(
            f"The pipeline input payload is {size:,} bytes as JSON, more than the {MAX_PAYLOAD_BYTES:,} bytes "
            f"allowed: the API echoes it in its answer, and the client reads at most {MAX_JSON_BYTES:,} bytes "
            "of an answer. Pass a reference to the data (a path, a dataset id) instead of the data itself."
        )


def page_size_for(item_bytes: int, preferred: int = 100) -> int:
    """Items per page of a listing whose items may each be ``item_bytes`` big, so a page fits ``MAX_JSON_BYTES``."""
    return max(1, min(preferred, MAX_JSON_BYTES // (item_bytes + ECHO_ALLOWANCE_BYTES)))
