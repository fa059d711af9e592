"""Wire conventions of the pipelines API, each written once: errors are FastAPI-style ``{"detail": ...}``
(404 missing, 409 conflicting, 422 invalid with ``[{loc, msg, type}]``), datetimes RFC 3339 with a zone
(a naive one breaks the CLI's decoding), ids 24-hex ObjectIds, version numbers 1-based ints."""

from __future__ import annotations

import itertools
import os
import secrets
import time
from datetime import datetime, timezone
from typing import Any

JSONObject = dict[str, Any]


class ApiError(Exception):
    """An error answered FastAPI-style as ``{"detail": ...}`` with the given HTTP status."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail)


def conflict(detail: str) -> ApiError:
    return ApiError(409, detail)


def invalid(loc: tuple[str | int, ...], msg: str, value: Any) -> ApiError:
    """A 422 shaped like pydantic's, so clients parse emulator and real validation errors alike."""
    return ApiError(422, [{"type": "value_error", "loc": list(loc), "msg": msg, "input": value}])


def parse_locked_version(raw: str | None) -> int | None:
    """The ``{version}`` path segment of a locked-scope route; None for the draft scope."""
    if raw is None:
        return None
    if not raw.isdigit():
        raise ApiError(
            422,
            [
                {
                    "type": "int_parsing",
                    "loc": ["path", "version"],
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "input": raw,
                }
            ],
        )
    return int(raw)


def rfc3339(timestamp: float | None) -> str | None:
    """RFC 3339 with a ``Z`` zone: a naive ``isoformat()`` breaks the Go CLI's decoder."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    """A 24-hex ObjectId-like id (4-byte time, 5 random bytes, 3-byte counter), sortable by creation."""
    return f"{int(time.time()):08x}{_PROCESS_BYTES}{next(_COUNTER) % 0x1000000:06x}"


_PROCESS_BYTES = secrets.token_hex(5)
_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big"))
