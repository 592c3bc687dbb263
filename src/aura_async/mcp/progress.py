"""A fleet call's events as MCP progress notifications: counts by status, requests against
the budget. Never a name's secret: the messages hold counts and statuses only."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
from mcp.server.mcpserver import Context

from aura_async.client import AuraClient
from aura_async.events import RequestSent
from aura_async.fleet.events import FleetFinished, FleetItemFinished, FleetStarted
from aura_async.fleet.progress import FleetTracker
from aura_async.lifecycle.bus import Subscription

__all__ = ["describe", "reporting"]

logger = logging.getLogger("aura_async.mcp")

# Notifications at most this often (seconds), besides one per finished item and the last.
_EVERY = 0.25


def describe(progress: FleetTracker) -> str:
    """One line: what is done, what is under way, and the requests against the budget."""
    statuses, outcomes = progress.counts()
    done = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    busy = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    budget = progress.budget
    spent = progress.in_window()
    rate = f"{spent} requests in the last {budget.period:g} s of {budget.limit}" if budget else ""
    parts = [
        f"{progress.operation}: {progress.finished}/{progress.total or 0} done"
        + (f" ({done})" if done else ""),
        f"under way: {busy}" if busy else "",
        rate,
    ]
    return "; ".join(part for part in parts if part)


@contextlib.asynccontextmanager
async def reporting(
    ctx: Context,
    aura: AuraClient,
    operation: str,
    total: int,
    *,
    names: set[str] | None = None,
    ids: set[str] | None = None,
) -> AsyncIterator[FleetTracker]:
    """Report progress to the calling client while the block runs a fleet call.

    Only this call's instances count (``names`` for a create, ``ids`` for a change): other
    calls may run beside it on the same client. A client that asked for no progress gets
    none (the SDK drops them), and a failed notification never fails the call.
    """
    tracker = FleetTracker(operation, budget=aura.limiter.rate if aura.limiter else None)
    tracker.total = total
    mine = set(ids or ())

    def ours(event: object) -> bool:
        if isinstance(event, RequestSent):
            return True  # the budget is shared: every request counts against it
        if isinstance(event, FleetStarted | FleetFinished):
            return False  # any call's: the total is this call's own
        resource = getattr(event, "resource_id", None)
        if names is not None and getattr(event, "name", None) in names:
            if resource is not None:
                mine.add(resource)
            return True
        return resource is not None and resource in mine

    async def send() -> None:
        with contextlib.suppress(Exception):  # the client went away: the work goes on
            await ctx.report_progress(tracker.finished, total, describe(tracker))

    finished = anyio.Event()  # every item of this call has been read finished

    async def pump(events: Subscription) -> None:
        last = 0.0
        async for event in events:
            if not ours(event):
                continue
            try:
                tracker(event)
            except Exception:  # a display's fault must never stop the work it shows
                logger.exception("progress: could not take %s", type(event).__name__)
                continue
            if tracker.finished >= total:
                finished.set()
            now = anyio.current_time()
            if isinstance(event, FleetItemFinished) or now - last >= _EVERY:
                last = now
                await send()

    failure: BaseException | None = None
    async with aura.events(buffer=100_000) as events, anyio.create_task_group() as tg:
        tg.start_soon(pump, events)
        await send()
        try:
            yield tracker
        except BaseException as error:
            # Raised again below, as itself: out of the task group it would come wrapped in
            # an exception group, which the tools' error handling would not recognize.
            failure = error
        else:
            with anyio.move_on_after(1):  # this call's last items' events, still being read
                await finished.wait()
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    await send()
