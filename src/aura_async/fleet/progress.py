"""What one fleet call has done so far, as its events tell it: a listener any front end reads.

:class:`FleetTracker` counts items by status and outcome, follows each instance's status, the
requests spent against the client's rate budget, and estimates the time left. The command's
live display (:mod:`aura_async.cli.progress`) renders it; the MCP server turns it into progress
notifications (:mod:`aura_async.mcp.progress`).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import attrs

from aura_async.events import CredentialsSaved, RequestSent
from aura_async.fleet.events import FleetFinished, FleetItemFinished, FleetStarted
from aura_async.lifecycle.events import (
    Connectable,
    OperationSubmitted,
    StatusChanged,
    StatusObserved,
    TargetReached,
    UnknownStatusSeen,
    WaitCancelled,
    WaitFailed,
    WaitTimedOut,
)
from aura_async.policies import RateLimit

__all__ = ["MAX_ROWS", "FleetTracker"]

MAX_ROWS = 12
_STATUS_EVENTS = (
    StatusObserved,
    StatusChanged,
    TargetReached,
    UnknownStatusSeen,
    WaitFailed,
    WaitTimedOut,
    WaitCancelled,
)


@attrs.define
class _Item:
    """What the display knows of one instance of the fleet."""

    name: str
    resource_id: str | None = None
    status: str = "queued"
    outcome: str | None = None
    submitted: float | None = None  # when the server accepted its operation (monotonic)
    finished: float | None = None
    elapsed: float | None = None  # the item's own time, start to end (FleetItemFinished)
    changed: float = 0.0


class FleetTracker:
    """The state of one fleet call as its events tell it: counts, statuses, the budget spent.

    Call the instance with each event (it is a listener). Thread-safe: a display's thread may
    read while the event loop's thread feeds events.

    Args:
        operation: the fleet verb, until :class:`FleetStarted` names it.
        budget: the client's rate limit (``aura.limiter.rate``), to count requests against.
        clock: monotonic seconds; the events' ``monotonic`` stamps use the same clock.
        max_rows: instances a display shows at most (those still under way first).
    """

    def __init__(
        self,
        operation: str,
        *,
        budget: RateLimit | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_rows: int = MAX_ROWS,
    ) -> None:
        self.operation = operation
        self.budget = budget
        self.max_rows = max_rows
        self.total: int | None = None
        self.requests = 0
        self.rate_limited = 0
        self.done = False
        self._clock = clock
        self._started = clock()
        self._ended: float | None = None
        self._items: dict[str, _Item] = {}
        self._names: dict[str, str] = {}  # resource id -> name
        self._recent: deque[float] = deque()  # when requests left, within one budget period
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ feeding

    def __call__(self, event: object) -> None:
        """Take one event (the listener)."""
        with self._lock:
            self._take(event)

    def _take(self, event: object) -> None:
        if isinstance(event, RequestSent):
            self.requests += 1
            self._recent.append(event.monotonic)
            self._trim(event.monotonic)
        elif isinstance(event, FleetStarted):
            self.operation, self.total = event.operation, event.items
            self._started = event.monotonic
        elif isinstance(event, FleetFinished):
            self.done, self._ended = True, event.monotonic
            self.rate_limited = event.rate_limited
        elif isinstance(event, FleetItemFinished):
            item = self._item(event.name, event.resource_id, event.monotonic)
            item.outcome, item.elapsed = event.outcome, event.elapsed
            item.finished = event.monotonic
        elif isinstance(event, OperationSubmitted):
            item = self._item(event.name, event.resource_id, event.monotonic)
            item.submitted = event.monotonic - event.elapsed
            if item.outcome is None:
                item.status = _underway(event.operation.value)
        elif isinstance(event, _STATUS_EVENTS):
            item = self._item(event.name, event.resource_id, event.monotonic)
            if event.status:
                item.status = event.status
            elif isinstance(event, StatusObserved | StatusChanged | TargetReached):
                item.status = "gone"  # polled and not found (a delete's end)
        elif isinstance(event, CredentialsSaved):
            item = self._item(event.name, event.resource_id, event.monotonic)
            if item.status == "queued":
                item.status = "creating"
        elif isinstance(event, Connectable):
            self._item(event.name, event.resource_id, event.monotonic).status = "connectable"

    def _item(self, name: str | None, resource_id: str | None, now: float) -> _Item:
        if name is None and resource_id is not None:
            name = self._names.get(resource_id, resource_id)
        key = name or resource_id or "?"
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = _Item(key)
        if resource_id is not None:
            item.resource_id = resource_id
            self._names[resource_id] = key
        item.changed = now
        return item

    def _trim(self, now: float) -> None:
        period = self.budget.period if self.budget is not None else 60.0
        while self._recent and self._recent[0] <= now - period:
            self._recent.popleft()

    # ------------------------------------------------------------------ reading

    @property
    def finished(self) -> int:
        """Items that ended."""
        return sum(1 for item in self._items.values() if item.outcome is not None)

    def counts(self) -> tuple[Counter[str], Counter[str]]:
        """Items under way by status (those not yet seen count as queued), ended by outcome."""
        with self._lock:
            return self._counts()

    def _counts(self) -> tuple[Counter[str], Counter[str]]:
        statuses = Counter(i.status for i in self._items.values() if i.outcome is None)
        outcomes = Counter(i.outcome for i in self._items.values() if i.outcome is not None)
        unseen = (self.total or 0) - len(self._items)
        if unseen > 0:
            statuses["queued"] += unseen
        return statuses, outcomes

    def in_window(self) -> int:
        """Requests sent within the last budget period."""
        with self._lock:
            self._trim(self._clock())
            return len(self._recent)

    def remaining(self) -> float | None:
        """Seconds until the last item should end, or None while nothing has ended yet.

        The fleet ends with its slowest item. An item under way should end a typical
        duration (the median of the ended items', from acceptance to end) after the server
        accepted it; an item not yet sent first waits its turn at the rate limit (one request
        each, at the budget's pace).
        """
        with self._lock:
            return self._remaining(self._clock())

    def _remaining(self, now: float) -> float | None:
        ended = [i for i in self._items.values() if i.outcome is not None]
        if self.done:
            return 0.0
        overall = [i.elapsed for i in ended if i.elapsed is not None]
        if not overall:
            return None
        service = [
            i.finished - i.submitted
            for i in ended
            if i.submitted is not None and i.finished is not None
        ]
        typical = statistics.median(service) if service else 0.0
        under_way = [i for i in self._items.values() if i.outcome is None]
        left = max(0.0, statistics.median(overall) - (now - self._started))
        for item in under_way:
            if item.submitted is not None:
                left = max(left, typical - (now - item.submitted))
        waiting = (self.total or len(self._items)) - len(ended)
        waiting -= sum(1 for i in under_way if i.submitted is not None)
        if waiting > 0:
            pace = self.budget.limit / self.budget.period if self.budget is not None else 0.0
            queue = waiting / pace if pace else 0.0
            left = max(left, queue + typical)
        return max(0.0, left)


def _underway(operation: str) -> str:
    """A status to show while an operation's first poll is due (``create`` -> creating)."""
    words = {"create": "creating", "pause": "pausing", "resume": "resuming", "delete": "deleting"}
    return words.get(operation, f"{operation}: submitted")
