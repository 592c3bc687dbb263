"""The server side of the rate limit: three counting models, and a witness of what was accepted.

Nobody outside Neo4j knows whether Aura's gateway counts with a fixed window, a sliding log or
a token bucket (it supports all three), so the emulator offers each. :class:`AcceptedWindow`
independently records the largest number of requests accepted from one credential in ANY
interval of one window's length, which is what a well-behaved client must keep at or under
the limit, whichever model the server uses.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

__all__ = ["AcceptedWindow", "FixedWindow", "Limiter", "SlidingLog", "TokenBucket", "make_limiter"]


class Limiter(Protocol):
    """A per-credential counter that accepts or rejects each request."""

    def try_acquire(self, now: float) -> float | None:
        """Count one request at ``now``; return None if accepted, else seconds until allowed."""
        ...


class FixedWindow:
    """At most ``limit`` requests in each window ``[k*window, (k+1)*window)`` of the clock."""

    def __init__(self, limit: int, window: float, *, count_rejected: bool = False) -> None:
        self.limit = limit
        self.window = window
        self.count_rejected = count_rejected
        self._index = -1
        self._count = 0

    def try_acquire(self, now: float) -> float | None:
        """Count one request; return None if accepted, else seconds until the next window."""
        index = math.floor(now / self.window)
        if index != self._index:
            self._index, self._count = index, 0
        if self._count < self.limit:
            self._count += 1
            return None
        if self.count_rejected:
            self._count += 1
        return (index + 1) * self.window - now


class SlidingLog:
    """At most ``limit`` requests in the last ``window`` seconds, kept as a log of send times."""

    def __init__(self, limit: int, window: float, *, count_rejected: bool = False) -> None:
        self.limit = limit
        self.window = window
        self.count_rejected = count_rejected
        self._log: deque[float] = deque()

    def try_acquire(self, now: float) -> float | None:
        """Count one request; return None if accepted, else seconds until the oldest expires."""
        log = self._log
        while log and log[0] <= now - self.window:
            log.popleft()
        if len(log) < self.limit:
            log.append(now)
            return None
        if self.count_rejected:
            log.append(now)  # counted: it must leave the log too before one may pass
        return max(log[-self.limit] + self.window - now, 0.0)


class TokenBucket:
    """A bucket of ``limit`` tokens, full at start, refilled at ``limit / window`` per second.

    This is the gateway's default. After a quiet spell it accepts ``limit`` at once and then
    keeps refilling, so one window may carry up to twice the limit: a client that trusts a
    bucket of its own of the same size will overrun a fixed or sliding server.
    """

    def __init__(self, limit: int, window: float, *, count_rejected: bool = False) -> None:
        self.limit = limit
        self.rate = limit / window
        self.count_rejected = count_rejected
        self._tokens = float(limit)
        self._stamp: float | None = None

    def try_acquire(self, now: float) -> float | None:
        """Take one token; return None if one was there, else seconds until one refills."""
        if self._stamp is not None:
            self._tokens = min(self.limit, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        if self.count_rejected:
            self._tokens -= 1.0  # a counted rejection spends a token it does not have
        return (1.0 - self._tokens) / self.rate


def make_limiter(model: str, limit: int, window: float, *, count_rejected: bool) -> Limiter:
    """Build the limiter for one credential.

    Raises:
        ValueError: for an unknown model name.
    """
    if model == "fixed":
        return FixedWindow(limit, window, count_rejected=count_rejected)
    if model == "sliding":
        return SlidingLog(limit, window, count_rejected=count_rejected)
    if model == "bucket":
        return TokenBucket(limit, window, count_rejected=count_rejected)
    raise ValueError(f"unknown rate-limit model {model!r}")


class AcceptedWindow:
    """Tracks the most requests accepted within any interval of ``window`` seconds.

    The densest interval can always be slid to end at an accepted request, so keeping the
    accepted times of the last ``window`` seconds and taking the largest count seen is exact.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self.max_in_window = 0
        self._times: deque[float] = deque()

    def record(self, now: float) -> None:
        """Note one accepted request at ``now``."""
        times = self._times
        times.append(now)
        while times and times[0] <= now - self.window:
            times.popleft()
        self.max_in_window = max(self.max_in_window, len(times))
