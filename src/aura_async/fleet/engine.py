"""The engine of every fleet call: one task per item, the error policies, the report.

:meth:`Engine.execute` runs a call's per-item work concurrently (there is no concurrency
number: the limiter paces the requests and the watcher the polls), stops the call under
``stop`` and ``rollback`` when an item fails, gives every item an outcome (those a stop or a
cancel cut short are ``cancelled`` when sent, else ``skipped``), publishes
:class:`FleetStarted`, one :class:`FleetItemFinished` per item and :class:`FleetFinished`, and
counts the requests the call spent. What a create must finish or undo after its items ended
(reconciliations cut short, a rollback, credentials to save again) is its ``after`` hook.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import attrs

from aura_async._http.transport import RequestTally, counting_requests
from aura_async.errors import (
    AuraError,
    CreateFailedError,
    CreateOutcomeUnknownError,
    NotFoundError,
    OngoingOperationError,
    TransportError,
)
from aura_async.fleet.context import FleetContext, now
from aura_async.fleet.events import FleetFinished, FleetItemFinished, FleetStarted
from aura_async.fleet.report import ErrorPolicy, FleetItem, FleetReport, Outcome
from aura_async.lifecycle.operations import Operation

__all__ = ["After", "Engine", "Run", "Work", "retry_conflicts", "wait_timeout"]

T = TypeVar("T")


@attrs.define(eq=False)
class Run:
    """The shared state of one fleet call."""

    operation: str
    policy: ErrorPolicy
    deadline: float
    items: list[FleetItem]
    scope: anyio.CancelScope = attrs.Factory(anyio.CancelScope)
    stopped: bool = False
    # Why the call stopped (the failure that stopped it): what the items it cut short say.
    stopped_by: AuraError | None = None

    def fail(self, item: FleetItem | None = None) -> None:
        """An item failed: under STOP or ROLLBACK nothing more starts and waits end."""
        if self.policy is not ErrorPolicy.CONTINUE and not self.stopped:
            self.stopped = True
            if item is not None:
                self.stopped_by = _stop_reason(item)
            self.scope.cancel()


# What a call does for one item; it sets the item's outcome, or raises an AuraError.
Work = Callable[[FleetItem, Run], Awaitable[None]]
# What a call finishes once its items ended (run shielded): True when it was cancelled.
After = Callable[[Run, bool], Awaitable[None]]


class Engine:
    """Runs fleet calls over one client's :class:`FleetContext`."""

    def __init__(self, context: FleetContext) -> None:
        self._context = context

    async def execute(
        self,
        operation: str,
        items: list[FleetItem],
        work: Work,
        policy: ErrorPolicy,
        timeout: float | None,
        *,
        before: Callable[[Run], Awaitable[None]] | None = None,
        after: After | None = None,
        spent: RequestTally | None = None,
    ) -> FleetReport:
        """Run ``work`` for every item concurrently and report.

        ``before`` runs first (a create's listing of what exists), counted in the report's
        requests. ``spent`` counts requests already made for this call (resolving a
        selector). ``after`` runs shielded once every item ended, before the report is made:
        told ``False`` after the items ran their course (a stop included), ``True`` when the
        call was cancelled from outside, which is then raised again.
        """
        clock = self._context.clock
        began = clock()
        run = Run(operation, policy, began + deadline(self._context, timeout, operation), items)
        with counting_requests() as tally:
            if before is not None:
                await before(run)
            self._context.publish(
                FleetStarted(operation=operation, items=len(items), at=now(), monotonic=began)
            )
            try:
                with run.scope:
                    async with anyio.create_task_group() as tg:
                        for item in items:
                            tg.start_soon(self._item, item, work, run)
            except BaseException:
                # Cancelled from outside: what was created is recorded; undo it when asked.
                with anyio.CancelScope(shield=True):
                    _settle(items)
                    if after is not None:
                        await after(run, True)
                    self._finished(operation, items, tally.sent, tally.rate_limited, began)
                raise
            if spent is not None:
                tally.sent += spent.sent
                tally.rate_limited += spent.rate_limited
            _settle(items)
            if after is not None:
                with anyio.CancelScope(shield=True):
                    await after(run, False)
        return self._finished(operation, items, tally.sent, tally.rate_limited, began)

    async def _item(self, item: FleetItem, work: Work, run: Run) -> None:
        item.started = self._context.clock()
        try:
            await work(item, run)
        except anyio.get_cancelled_exc_class():
            self.end(item, run)
            raise
        except AuraError as error:
            item.outcome, item.error = Outcome.FAILED, error
        if item.outcome is None:
            item.outcome = Outcome.FAILED
        if item.outcome is Outcome.FAILED:
            run.fail(item)
        self.end(item, run)

    def end(self, item: FleetItem, run: Run) -> None:
        """Close an item: its finish time, its outcome if it has none, its event."""
        item.finished = self._context.clock()
        if item.outcome is None:
            item.outcome = _cut_short(item)
            if item.outcome is Outcome.CANCELLED and item.error is None:
                # Sent and then cut short by another item's failure: say which, so no
                # cancelled item is left without a reason.
                item.error = run.stopped_by
        self._context.publish(
            FleetItemFinished(
                operation=run.operation,
                name=item.name,
                resource_id=item.instance_id,
                outcome=item.outcome.value,
                error=None if item.error is None else str(item.error),
                elapsed=item.elapsed,
                at=now(),
                monotonic=item.finished,
            )
        )

    def _finished(
        self, operation: str, items: list[FleetItem], sent: int, limited: int, began: float
    ) -> FleetReport:
        clock = self._context.clock
        report = FleetReport(operation, tuple(items), sent, limited, clock() - began)
        self._context.publish(
            FleetFinished(
                operation=operation,
                totals={k.value: v for k, v in report.totals.items()},
                requests=sent,
                rate_limited=limited,
                elapsed=report.elapsed,
                at=now(),
                monotonic=clock(),
            )
        )
        return report


def wait_timeout(
    context: FleetContext, timeout: float | None, operation: Operation, items: int
) -> float:
    """A fleet item's wait timeout: as given, else the policy's plus the fleet's queue.

    A fleet's own requests queue behind one another at the rate limit (1000 creates at
    25 a minute take 40 minutes to send), and an item's polls wait behind the others'
    creates: that time must not count against its operation.
    """
    if timeout is not None:
        return timeout
    queued = 0.0
    rate = context.rate()
    if rate is not None:
        queued = math.ceil((2 * items + 1) / rate.limit) * rate.period
    return context.watcher.policy.timeout(operation) + queued


def deadline(context: FleetContext, timeout: float | None, operation: str = "delete") -> float:
    """How long an item may keep retrying conflicts: its wait's timeout, or the policy's."""
    if timeout:
        return timeout
    try:
        return context.watcher.policy.timeout(Operation(operation))
    except ValueError:
        return context.watcher.policy.timeout(Operation.DELETE)


async def retry_conflicts(
    context: FleetContext, call: Callable[[], Awaitable[T]], run: Run, instance_id: str
) -> T:
    """Call; while another operation is in flight (409), wait and call again.

    A 404 from an instance young enough to be inside the service's not-found window
    after a create proves nothing either: the call goes again once the window is past.
    Either ends at the run's deadline, with the last error raised.
    """
    clock = context.clock
    policy = context.watcher.policy
    attempt = 0
    while True:
        try:
            return await call()
        except NotFoundError:
            counts_from = context.instances.not_found_counts_from(instance_id)
            if not clock() < counts_from <= run.deadline:
                raise
            await anyio.sleep(counts_from - clock())
        except OngoingOperationError:
            attempt += 1
            delay = min(policy.max_interval, policy.min_interval * 2**attempt)
            delay *= random.uniform(1.0, 1.25)
            if clock() + delay > run.deadline:
                raise
            await anyio.sleep(delay)


def _settle(items: list[FleetItem]) -> None:
    """Give every item that never ended (cut short by a stop or a cancel) its outcome."""
    for item in items:
        if item.outcome is None:
            item.outcome = _cut_short(item)


def _stop_reason(item: FleetItem) -> AuraError:
    """Why a failed item stopped the call, as the items it cut short say it."""
    error = item.error
    while isinstance(error, CreateFailedError | CreateOutcomeUnknownError):
        # Their cause says what went wrong on the way (a refused connection, a 503).
        error = error.cause
    # The message without its hint: this line is said once per item cut short.
    said = error.message if isinstance(error, AuraError) else str(error or "no reason given")
    if isinstance(error, TransportError):
        why = f"the API became unreachable: {said}"
    else:
        why = f"{item.name} failed: {said}"
    return AuraError(f"Cut short when the call stopped ({why})")


def _cut_short(item: FleetItem) -> Outcome:
    """The outcome of an item a stop or a cancel ended: cancelled if it was sent, else skipped."""
    return Outcome.CANCELLED if _under_way(item) else Outcome.SKIPPED


def _under_way(item: FleetItem) -> bool:
    """Whether the item's change may have reached the server."""
    return (
        item.submitted is not None
        or (item.instance_id is not None and item.credentials is not None)
        or isinstance(item.error, CreateOutcomeUnknownError | CreateFailedError)
    )
