"""What the emulator saw: requests by route and status, 429s, the densest window, creates.

Each create since the last reset is also kept with its times, so a benchmark can compare a
client against what was possible: when the POST was accepted, the duration the emulator drew
for it (it runs exactly that long after its POST), and when a GET first answered it running.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from aura_async.emulator.ratelimit import AcceptedWindow

__all__ = ["Counters"]


class Counters:
    """Tallies kept for tests and benchmarks, read through ``GET /_emulator/counters``."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.reset()

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.requests: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.rate_limited = 0
        self.tokens_issued = 0
        self.creates_per_name: Counter[str] = Counter()
        # Per instance created since the reset, in creation order (emulated seconds).
        self.created_at: dict[str, float] = {}
        self.create_durations: dict[str, float] = {}
        self.first_seen_running: dict[str, float] = {}
        self.faults: Counter[str] = Counter()
        self.accepted: dict[str, AcceptedWindow] = {}

    def record_request(self, route: str, status: int) -> None:
        """Count one answered request under its route template (``GET /v1/instances``)."""
        self.requests[route][status] += 1
        if status == 429:
            self.rate_limited += 1

    def record_create(self, instance_id: str, name: str, now: float, duration: float) -> None:
        """Count a create accepted at ``now`` whose instance will run ``duration`` s later."""
        self.creates_per_name[name] += 1
        self.created_at[instance_id] = now
        self.create_durations[instance_id] = duration

    def record_seen_running(self, instance_id: str, now: float) -> None:
        """Note a GET answer showing the instance running (only the first per create counts)."""
        if instance_id in self.created_at and instance_id not in self.first_seen_running:
            self.first_seen_running[instance_id] = now

    def record_accepted(self, client_id: str, now: float) -> None:
        """Note that the rate limiter let a request of ``client_id`` through at ``now``."""
        window = self.accepted.get(client_id)
        if window is None:
            window = self.accepted[client_id] = AcceptedWindow(self.window)
        window.record(now)

    def max_accepted_in_window(self) -> dict[str, int]:
        """Return, per credential, the most requests accepted within one window."""
        return {client: w.max_in_window for client, w in self.accepted.items()}

    def to_json(self, instances_by_status: dict[str, int]) -> dict[str, Any]:
        """Return every tally as JSON-ready data."""
        by_route = {
            route: {str(status): n for status, n in sorted(statuses.items())}
            for route, statuses in sorted(self.requests.items())
        }
        by_status: Counter[int] = Counter()
        for statuses in self.requests.values():
            by_status.update(statuses)
        return {
            "requests_total": sum(by_status.values()),
            "requests_by_status": {str(s): n for s, n in sorted(by_status.items())},
            "requests": by_route,
            "rate_limited": self.rate_limited,
            "window_seconds": self.window,
            "max_accepted_in_window": self.max_accepted_in_window(),
            "tokens_issued": self.tokens_issued,
            "creates_per_name": dict(sorted(self.creates_per_name.items())),
            "created_at": dict(self.created_at),
            "create_durations": dict(self.create_durations),
            "first_seen_running": dict(self.first_seen_running),
            "faults_injected": dict(sorted(self.faults.items())),
            "instances_by_status": instances_by_status,
        }
