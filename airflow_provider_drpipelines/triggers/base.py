"""What every trigger of this provider shares: the event statuses besides a resource's own."""

from __future__ import annotations

from typing import Final

#: Event statuses besides the run's or build's own: the wait ran out, or it could not be followed.
EVENT_TIMEOUT: Final = "timeout"
EVENT_ERROR: Final = "error"
