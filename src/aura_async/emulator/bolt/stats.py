"""What the Bolt listener saw, per instance: for tests that check how code connects."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Literal

import attrs

__all__ = ["BoltStats", "Event", "StatsBook"]

Event = Literal["connections", "refused", "logons", "auth_failures", "queries"]
_EVENTS: tuple[Event, ...] = ("connections", "refused", "logons", "auth_failures", "queries")


@attrs.frozen
class BoltStats:
    """Counts of one instance's Bolt traffic (or of all traffic).

    Args:
        connections: connections that named the instance, by the routing context of their
            HELLO or, without one, by the password of their LOGON.
        refused: connections closed with a reset, unanswered, because the instance was not
            connectable (not running yet or any more, within ``bolt_delay``, or unknown).
        logons: LOGONs accepted.
        auth_failures: LOGONs refused with ``Neo.ClientError.Security.Unauthorized``.
        queries: queries answered (``RUN`` messages that returned a result).
    """

    connections: int = 0
    refused: int = 0
    logons: int = 0
    auth_failures: int = 0
    queries: int = 0


class StatsBook:
    """Thread-safe counters by instance id; the listener's loop writes, any thread reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_instance: dict[str | None, Counter[Event]] = {}

    def add(self, instance_id: str | None, event: Event) -> None:
        """Count one ``event`` for ``instance_id`` (None: a connection no instance claimed)."""
        with self._lock:
            self._by_instance.setdefault(instance_id, Counter())[event] += 1

    def stats(self, instance_id: str | None = None) -> BoltStats:
        """The counts of one instance, or with ``None`` of everything the listener saw."""
        with self._lock:
            if instance_id is None:
                total: Counter[Event] = Counter()
                for counts in self._by_instance.values():
                    total.update(counts)
                counts = total
            else:
                counts = self._by_instance.get(instance_id, Counter())
            return BoltStats(**{event: counts[event] for event in _EVENTS})
