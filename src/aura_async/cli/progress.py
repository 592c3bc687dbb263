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

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from aura_async._durations import format_human_duration
from aura_async.cli.output import Output, safe
from aura_async.fleet.progress import MAX_ROWS, FleetTracker
from aura_async.policies import RateLimit

__all__ = ["MAX_ROWS", "REFRESH_PER_SECOND", "FleetProgress", "live_progress"]

REFRESH_PER_SECOND = 4
_OUTCOME_STYLE = {
    "succeeded": "green",
    "adopted": "green",
    "skipped": "dim",
    "failed": "red",
    "cancelled": "yellow",
    "rolled back": "yellow",
}


class FleetProgress(FleetTracker):
    """A :class:`~aura_async.fleet.progress.FleetTracker` that renders itself for rich:
    a header line, the counts, and a table of instances (rich's refresh thread renders while
    the event loop's thread feeds events)."""

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
