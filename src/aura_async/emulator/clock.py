"""The emulator's sense of time: emulated seconds, optionally compressed against real time.

Every duration the emulator knows (operation durations, rate-limit windows, token
lifetimes, Retry-After values) is expressed in *emulated* seconds. A clock maps them onto real
time, so ``time_scale=60`` makes a 60-second window pass in one real second, and tests never
sleep for real minutes.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "ScaledClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of emulated time."""

    @property
    def time_scale(self) -> float:
        """How many emulated seconds pass per real second."""
        ...

    def now(self) -> float:
        """Return the emulated time as seconds since the Unix epoch."""
        ...

    def advance(self, seconds: float) -> None:
        """Jump the emulated time forward by ``seconds`` emulated seconds."""
        ...


class ScaledClock:
    """Real time, sped up ``time_scale`` times, starting at the real wall-clock time.

    Emulated time starts at the wall-clock time of creation, so timestamps look current, and
    then runs ``time_scale`` times faster than real time. :meth:`advance` adds a fixed offset,
    which lets tests skip an hour of token lifetime without waiting.
    """

    def __init__(self, time_scale: float = 1.0, *, start: float | None = None) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self._scale = float(time_scale)
        self._origin_wall = time.time() if start is None else start
        self._origin_mono = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def time_scale(self) -> float:
        """How many emulated seconds pass per real second."""
        return self._scale

    def now(self) -> float:
        """Return the emulated time as seconds since the Unix epoch."""
        elapsed = time.monotonic() - self._origin_mono
        return self._origin_wall + elapsed * self._scale + self._offset

    def advance(self, seconds: float) -> None:
        """Jump forward by ``seconds`` emulated seconds.

        Raises:
            ValueError: if ``seconds`` is negative (time never runs backwards).
        """
        if seconds < 0:
            raise ValueError("the emulated clock cannot go backwards")
        if not math.isfinite(seconds):
            raise ValueError(f"the emulated clock advances by a finite number, got {seconds!r}")
        with self._lock:
            self._offset += seconds


class ManualClock:
    """A clock that moves only when told to: for deterministic tests of the backend."""

    def __init__(self, start: float = 1_700_000_000.0, *, time_scale: float = 1.0) -> None:
        self._now = float(start)
        self._scale = float(time_scale)

    @property
    def time_scale(self) -> float:
        """How many emulated seconds pass per real second (used only for Retry-After)."""
        return self._scale

    def now(self) -> float:
        """Return the current emulated time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``.

        Raises:
            ValueError: if ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError("the emulated clock cannot go backwards")
        if not math.isfinite(seconds):
            raise ValueError(f"the emulated clock advances by a finite number, got {seconds!r}")
        self._now += seconds
