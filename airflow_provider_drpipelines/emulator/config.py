"""The emulator's settings and its clock, each defined once.

``EmulatorConfig`` is what ``create_app``, ``Store``, the launchers and the CLI take; its defaults are
the only defaults. ``Clock`` is the emulator's "now": every run, version and image state and every
timestamp it answers is computed from it, so a test can move time forward instead of sleeping.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11 on


class Clock:
    """Real time (or a fixed instant) plus the seconds it has been advanced by; it never runs backwards.

    The default follows real time, so the code under test keeps running in real time while a test
    skips ahead: after ``advance(30)`` a 2 s run is long finished, and time still passes as usual.
    A frozen clock (``Clock(frozen_at=...)``) only moves when advanced: for tests of the emulator itself.
    """

    def __init__(self, frozen_at: float | None = None) -> None:
        self.frozen_at = frozen_at
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        base = time.time() if self.frozen_at is None else self.frozen_at
        return base + self._offset

    @property
    def offset(self) -> float:
        """The seconds this clock has been advanced by in all."""
        return self._offset

    @property
    def follows_real_time(self) -> bool:
        """Whether this is the default clock (real time, not advanced yet)."""
        return self.frozen_at is None and self._offset == 0.0

    def advance(self, seconds: float) -> float:
        """Move "now" forward by ``seconds`` (finite, ≥ 0); returns the new now."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"the emulator clock only moves forward by a finite number of seconds, not {seconds!r}")
        with self._lock:
            self._offset += seconds
        return self()


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything one emulator instance is set up with."""

    #: The API token clients must send (``Bearer <token>`` or ``Token <token>``).
    token: str = "emulator-token"
    #: Total duration of a run whose input does not script ``_emulator.seconds``.
    run_seconds: float = 2.0
    #: How long a new image version stays CREATING.
    image_seconds: float = 1.0
    #: How long a new pipeline version stays PENDING (the service tracing it).
    version_seconds: float = 0.5
    clock: Clock = field(default_factory=Clock, compare=False)

    def __post_init__(self) -> None:
        for name in ("run_seconds", "image_seconds", "version_seconds"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"EmulatorConfig.{name} must be a finite number of seconds ≥ 0, not {value!r}")

    def with_overrides(self, **overrides: Unpack[ConfigOverrides]) -> EmulatorConfig:
        """This config with the given fields replaced: how the launchers' and ``create_app``'s keyword
        arguments map onto it."""
        return dataclasses.replace(self, **overrides)


class ConfigOverrides(TypedDict, total=False):
    """The keyword arguments ``create_app``, ``EmulatorServer`` and ``EmulatorProcess`` accept besides a config."""

    token: str
    run_seconds: float
    image_seconds: float
    version_seconds: float
    clock: Clock
