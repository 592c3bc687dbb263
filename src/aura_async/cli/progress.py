"""A fleet command's live progress on a terminal, fed by the client's events.

:class:`FleetProgress` is an event listener (register it on ``Runtime.listeners``) that keeps
what a person wants to see while a fleet call runs: how many items are in each status and
outcome, each instance's current status (a table, cut short for large fleets), the requests
spent against the client's rate budget, the time elapsed and an estimate of what remains. It
renders itself for rich (``__rich__``); :func:`live_progress` shows it in a ``rich.live.Live``
refreshed at most four times a second, and only where a live display makes sense (a terminal,
table mode, not quiet, not CI). Elsewhere events print as timestamped lines instead.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from aura_async._durations import format_human_duration
from aura_async._http.limiter import RateLimit
from aura_async.cli.output import Output, safe
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

__all__ = ["REFRESH_PER_SECOND", "FleetProgress", "live_progress"]

REFRESH_PER_SECOND = 4
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
_OUTCOME_STYLE = {
    "succeeded": "green",
    "adopted": "green",
    "skipped": "dim",
    "failed": "red",
    "cancelled": "yellow",
    "rolled back": "yellow",
}


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


class FleetProgress:
    """The state of one fleet call as its events tell it, renderable by rich.

    Call the instance with each event (it is a listener). Thread-safe: rich's refresh thread
    renders while the event loop's thread feeds events.

    Args:
        operation: the fleet verb, until :class:`FleetStarted` names it.
        budget: the client's rate limit (``aura.limiter.rate``), to show requests against.
        clock: monotonic seconds; the events' ``monotonic`` stamps use the same clock.
        max_rows: instances shown at most (those still under way first).
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

    # ------------------------------------------------------------------ rendering

    def __rich__(self) -> RenderableType:
        return self.render()

    def render(self) -> RenderableType:
        """The display: a header line, the counts, and a table of instances."""
        with self._lock:
            now = self._clock()
            self._trim(now)
            return Group(self._header(now), self._count_line(), self._table())

    def _header(self, now: float) -> Text:
        end = self._ended if self._ended is not None else now
        total = self.total if self.total is not None else len(self._items)
        left = self._remaining(now)
        elapsed = format_human_duration(end - self._started)
        eta = "estimating time left" if left is None else f"~{format_human_duration(left)} left"
        header = Text.assemble(
            (f"fleet {safe(self.operation)}", "bold"),
            f" · {self.finished}/{total} done · {elapsed} elapsed · {eta}",
            f"\nrequests: {self.requests} sent",
        )
        if self.budget is not None:
            header.append(
                f" · {len(self._recent)} of {self.budget.limit} allowed in the last "
                f"{format_human_duration(self.budget.period)}"
            )
        if self.rate_limited:
            header.append(f" · {self.rate_limited} rate-limited", style="yellow")
        return header

    def _count_line(self) -> Text:
        statuses, outcomes = self._counts()
        line = Text()
        for status, count in sorted(statuses.items()):
            line.append(f"{safe(status)} {count}  ", style="cyan")
        for outcome, count in sorted(outcomes.items()):
            line.append(f"{outcome} {count}  ", style=_OUTCOME_STYLE.get(outcome, ""))
        return line

    def _table(self) -> RenderableType:
        if not self._items:
            return Text("")
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("NAME", "ID", "STATUS", "OUTCOME", "TIME"):
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        # Under way first (most recently changed on top), then the most recently ended.
        ordered = sorted(
            self._items.values(), key=lambda i: (i.outcome is not None, -i.changed, i.name)
        )
        for item in ordered[: self.max_rows]:
            outcome = item.outcome or ""
            # Text, not str: every cell is data (an instance named "[/b]x"), never markup.
            # Escaped too: a name holding a newline or a control character stays one cell.
            table.add_row(
                Text(safe(item.name)),
                Text(safe(item.resource_id or "")),
                Text(safe(item.status)),
                Text(safe(outcome), style=_OUTCOME_STYLE.get(outcome, "")),
                Text("" if item.elapsed is None else format_human_duration(item.elapsed)),
            )
        hidden = len(ordered) - self.max_rows
        if hidden > 0:
            return Group(table, Text(f"… and {hidden} more", style="dim"))
        return table


def _underway(operation: str) -> str:
    """A status to show while an operation's first poll is due (``create`` -> creating)."""
    words = {"create": "creating", "pause": "pausing", "resume": "resuming", "delete": "deleting"}
    return words.get(operation, f"{operation}: submitted")


@contextmanager
def live_progress(
    output: Output,
    listeners: list[Callable[[object], None]],
    operation: str,
    *,
    budget: RateLimit | None = None,
    enabled: bool = True,
) -> Iterator[FleetProgress | None]:
    """Show a fleet call's live progress while the block runs, where it makes sense.

    On a terminal in table mode (``output.interactive``) and ``enabled``, a
    :class:`FleetProgress` is registered on ``listeners`` (so events feed it instead of
    printing) and shown in a transient ``Live`` display; otherwise nothing is shown here and
    events print as lines. Yields the progress (None when not shown).
    """
    if not (enabled and output.interactive):
        yield None
        return
    progress = FleetProgress(operation, budget=budget)
    listeners.append(progress)
    try:
        with Live(
            progress,
            console=output.console,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=True,
        ):
            yield progress
    finally:
        listeners.remove(progress)
