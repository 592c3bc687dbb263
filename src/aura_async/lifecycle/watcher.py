"""Status polling for every wait of one client, on the client's shared request budget.

There is no background task. The waiters on one resource elect a leader among themselves: the
leader sleeps until the earliest moment any of them wants a poll, sends the one GET, and
publishes what it saw to all of them. If the leader is cancelled or done, another waiter takes
over at once; when the last waiter leaves, polling of that resource stops. So several waiters
share one GET, cancelling a wait stops its polling at once and leaves no task behind, and
closing the client cancels every wait.

When polls happen is the :class:`~aura_async.lifecycle.planner.PollPlanner`'s call, from the
durations this client's polls have observed (no prior needed). Polls are reads, so the rate
limiter lets mutations go first; a poll gate bounds the polls in flight across all resources
and, when more are due than it lets through, lets those most likely to find a change go first.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Awaitable, Callable
from typing import TypedDict

import anyio
import attrs

from aura_async.errors import (
    NotFoundError,
    WaitCancelledError,
    WaitError,
    WaitFailedError,
    WaitTimeoutError,
)
from aura_async.lifecycle.events import (
    OperationSubmitted,
    StatusChanged,
    StatusObserved,
    TargetReached,
    UnknownStatusSeen,
    WaitCancelled,
    WaitFailed,
    WaitTimedOut,
)
from aura_async.lifecycle.operations import (
    Observation,
    Operation,
    PollPolicy,
    Target,
    Verdict,
)
from aura_async.lifecycle.planner import PollPlanner
from aura_async.models import OpenEnum

__all__ = ["Fetch", "Watcher"]

Fetch = Callable[[], Awaitable[object]]
_HISTORY = 500  # observations kept per resource for error reports
_NOT_FOUND = "not found"  # what the history and the events call a 404


class _Stamp(TypedDict):
    """The fields every wait event carries (see ``lifecycle.events._Base``), as of now."""

    resource_id: str
    name: str | None
    operation: Operation
    at: dt.datetime
    monotonic: float
    elapsed: float


@attrs.define(eq=False)
class _Waiter:
    target: Target
    name: str | None
    submitted: float
    due: float
    deadline: float
    # Whether ``submitted`` is when the operation started: only then do its polls measure
    # durations (a wait on an operation begun elsewhere does not know its age).
    timed: bool
    underway_seen: bool = False
    seen_version: int = 0
    cohort: bool = False  # one of a fleet's waits: planned for the fleet's make-span
    busy_age: float = 0.0  # the age at which a poll last showed the operation still busy


@attrs.define(eq=False)
class _Watch:
    resource_id: str
    fetch: Fetch
    waiters: set[_Waiter] = attrs.Factory(set)
    leader: _Waiter | None = None
    latest: Observation | None = None
    # The last poll's error and when it came, while it is the newest thing seen.
    failure: tuple[Exception, float] | None = None
    version: int = 0
    # What the others wait on, made when one does; the leader sleeps in ``sleeping`` instead.
    # (A resource with one waiter, the common case, then costs no Event at all.)
    signal: anyio.Event | None = None
    sleeping: anyio.CancelScope | None = None
    # The latest observations, for errors: bounded, since a long wait polls many times.
    # (A list trimmed by hand: an empty deque costs ten times an empty list, per watch.)
    history: list[tuple[float, str]] = attrs.Factory(list)
    # The poll in flight, so that closing the client can cancel it.
    polling: anyio.CancelScope | None = None
    # (version, operation) of the observations whose duration was already learnt.
    learnt: set[tuple[int, Operation]] | None = None

    def wake(self) -> None:
        """Wake every waiter of this resource to look again."""
        if self.signal is not None:
            self.signal.set()
            self.signal = None
        if self.sleeping is not None:
            self.sleeping.cancel()

    async def wait_for_news(self) -> None:
        """Wait until :meth:`wake` is called."""
        if self.signal is None:
            self.signal = anyio.Event()
        await self.signal.wait()


def _in_fleet(waiter: _Waiter) -> bool:
    """Whether a wait is planned as one of a fleet's: a cohort wait that knows its start.

    (One that does not know when its operation began cannot scout or teach for the others,
    so it is planned on its own, as a single wait.)
    """
    return waiter.cohort and waiter.timed


class _Stop(Exception):
    """Ends a wait from inside: its deadline passed, or the client was closed."""

    def __init__(self, *, closed: bool) -> None:
        super().__init__("closed" if closed else "deadline")
        self.closed = closed


def _copy_of(error: Exception) -> Exception:
    try:
        return copy.copy(error)
    except Exception:  # an exception that cannot be copied is shared as it is
        return error


@attrs.define(eq=False)
class _Ticket:
    chance: Callable[[], float]
    ready: anyio.Event = attrs.Factory(anyio.Event)
    granted: bool = False


class _PollGate:
    """At most ``capacity`` polls at once; when more wait, the likeliest to find news goes first.

    The waiting polls are ranked by their chance when a place frees up, and the ranking is
    reused for ``refresh`` seconds (chances move slowly; ranking hundreds of waiting polls
    for every place would cost a fleet of N polls N squared chances). A poll that began
    waiting after the ranking goes in at the next one.
    """

    def __init__(
        self,
        capacity: int,
        *,
        refresh: float = 0.0,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.capacity = capacity
        self.busy = 0
        self._refresh = refresh
        self._clock = clock
        self._waiting: dict[_Ticket, None] = {}
        self._ranked: list[_Ticket] = []  # least likely first: the next place pops the last
        self._ranked_at = -math.inf

    async def enter(self, chance: Callable[[], float]) -> None:
        """Wait for a place (cancellable: a place granted to a cancelled poll is passed on)."""
        if self.busy < self.capacity and not self._waiting:
            self.busy += 1
            return
        ticket = _Ticket(chance)
        self._waiting[ticket] = None
        try:
            await ticket.ready.wait()
        except BaseException:
            if ticket.granted:
                self.leave()
            else:
                self._waiting.pop(ticket, None)
            raise

    def leave(self) -> None:
        """Give a place back, and hand it to the likeliest poll waiting."""
        self.busy -= 1
        while self.busy < self.capacity and self._waiting:
            now = self._clock()
            if not self._ranked or now - self._ranked_at >= self._refresh:
                self._ranked = sorted(self._waiting, key=lambda t: t.chance())
                self._ranked_at = now
            ticket = self._ranked.pop()
            if ticket not in self._waiting:  # cancelled since it was ranked
                continue
            del self._waiting[ticket]
            ticket.granted = True
            self.busy += 1
            ticket.ready.set()


class Watcher:
    """The one poller of a client: all its waits go through here.

    Args:
        policy: when to poll and when to give up.
        publish: receives every lifecycle event.
        clock: monotonic seconds (anyio's by default).
        rate: the request budget ``(requests, per seconds)``, or None when unlimited; a
            fleet's polls are planned within it.
    """

    def __init__(
        self,
        policy: PollPolicy,
        publish: Callable[[object], None],
        *,
        clock: Callable[[], float] = anyio.current_time,
        rate: Callable[[], tuple[int, float] | None] | None = None,
    ) -> None:
        self.policy = policy
        self._publish = publish
        self._clock = clock
        self._watches: dict[str, _Watch] = {}
        self.planner = PollPlanner(policy, rate=rate)
        # The longest a resource this client created went on answering 404 after its create.
        self._not_found_seen = 0.0
        self._gate = _PollGate(policy.max_in_flight, refresh=policy.min_interval, clock=clock)
        self._closed = False
        self._drained = anyio.Event()  # set once closed and the last wait has left
        self.polls = 0

    def publish(self, event: object) -> None:
        """Hand an event that happened beside the waits (a verification) to the subscribers."""
        self._publish(event)

    def now(self) -> float:
        """The watcher's monotonic clock, in seconds."""
        return self._clock()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def active(self) -> int:
        """How many waits are running."""
        return sum(len(w.waiters) for w in self._watches.values())

    def expected(self, operation: Operation) -> float:
        """The seconds an operation takes: the median this client saw, else the policy's hint."""
        return self.planner.expected(operation)

    def not_found_window(self) -> float:
        """Seconds a just-created resource may answer 404: the policy's, or longer if seen.

        Once this client has seen a new resource answer 404 for a while before it showed up,
        half as long again as the longest such span: what the service does outweighs the
        policy's guess.
        """
        return max(self.policy.not_found_grace, 1.5 * self._not_found_seen)

    def saw_not_found(self, seconds: float) -> None:
        """Note that a resource answered 404 for ``seconds`` after its create, then showed.

        Never more than a create's timeout is learnt: a window longer than that would only
        say something else was wrong.
        """
        if math.isfinite(seconds) and seconds > self._not_found_seen:
            self._not_found_seen = min(seconds, self.policy.timeout(Operation.CREATE))

    def _plan(self, waiter: _Waiter, watch: _Watch, *, spent: bool = False) -> float:
        """The monotonic time of the waiter's next poll (``inf``: held back while others scout).

        ``spent``: the waiter's booked poll was just sent (it stays counted in its window).
        """
        return self.planner.plan(
            waiter.target.operation,
            self._key(watch, waiter),
            submitted=waiter.submitted,
            last_busy=waiter.busy_age,
            cohort=_in_fleet(waiter),
            booking=waiter,
            spent=spent,
        )

    @staticmethod
    def _key(watch: _Watch, waiter: _Waiter) -> tuple[str, Operation]:
        # One resource's operation is one subject of the estimate, however many wait for it.
        return (watch.resource_id, waiter.target.operation)

    def _wake_promoted(self) -> None:
        """Wake the held-back fleet waits the planner just made scouts, to plan their poll."""
        for operation, key in self.planner.promoted():
            resource_id = key[0] if isinstance(key, tuple) else None
            watch = self._watches.get(resource_id) if isinstance(resource_id, str) else None
            if watch is None:
                continue
            for w in watch.waiters:
                if _in_fleet(w) and w.target.operation is operation:
                    w.due = math.inf  # planned again by the leader before it sleeps
            watch.wake()

    def _replan_fleets(self, operation: Operation) -> None:
        """Make every fleet wait for ``operation`` plan its next poll again, and wake it.

        (The planner says when: the first finish, enough finishes to plan from, a scout
        that left, a fleet halved.)
        """
        for watch in self._watches.values():
            stale = False
            for w in watch.waiters:
                if _in_fleet(w) and w.target.operation is operation:
                    w.due = math.inf  # planned again by the leader before it sleeps
                    stale = True
            if stale:
                watch.wake()

    def _chance(self, watch: _Watch) -> float:
        """How likely a poll of this resource now finds a change, for its likeliest waiter."""
        now = self._clock()
        return max(
            (
                self.planner.chance(w.target.operation, w.busy_age, now - w.submitted)
                for w in watch.waiters
            ),
            default=0.0,
        )

    def _event_fields(self, waiter: _Waiter, watch: _Watch) -> _Stamp:
        now = self._clock()
        return {
            "resource_id": watch.resource_id,
            "name": waiter.name,
            "operation": waiter.target.operation,
            "at": dt.datetime.now(dt.UTC),
            "monotonic": now,
            "elapsed": now - waiter.submitted,
        }

    def _last_status(self, watch: _Watch) -> str:
        return watch.history[-1][1] if watch.history else ""

    def _history(self, watch: _Watch, waiter: _Waiter) -> tuple[tuple[float, str], ...]:
        return tuple(
            (round(at - waiter.submitted, 3), status)
            for at, status in watch.history
            if at >= waiter.submitted
        )

    async def wait(
        self,
        resource_id: str,
        fetch: Fetch,
        target: Target,
        *,
        name: str | None = None,
        submitted: float | None = None,
        timeout: float | None = None,
        cohort: bool = False,
    ) -> object:
        """Wait until ``target`` is met by what ``fetch`` returns; return that resource.

        ``fetch`` is a resource method (a GET) that raises ``NotFoundError`` for a 404; for a
        delete, the return value is None. A ``cohort`` wait is one of a fleet's: it is planned
        for the fleet's make-span rather than for its own lag (see
        :mod:`aura_async.lifecycle.planner`).

        Raises:
            WaitFailedError: the resource reached a state the operation cannot recover from.
            WaitTimeoutError: ``timeout`` seconds passed (the operation may still finish).
            WaitCancelledError: the client was closed.
            AuraError: a poll failed and its retries ran out (every waiter that shared
                that poll gets the same error; none sends it again).
        """
        if self._closed:
            raise WaitCancelledError(
                "The client is closed",
                resource_id=resource_id,
                operation=target.operation.value,
                last_status="",
                elapsed=0.0,
            )
        operation = target.operation
        now = self._clock()
        # A wait that does not know when its operation started (one begun elsewhere, or a
        # resource already done) measures nothing: it must not teach the poller durations.
        timed = submitted is not None
        submitted = now if submitted is None else submitted
        limit = self.policy.timeout(operation) if timeout is None else timeout
        waiter = _Waiter(
            target,
            name,
            submitted,
            due=math.inf,
            deadline=submitted + max(0.0, limit),
            timed=timed,
            cohort=cohort,
        )
        watch = self._watches.get(resource_id)
        if watch is None:
            watch = self._watches[resource_id] = _Watch(resource_id, fetch)
        self.planner.join(operation, cohort=_in_fleet(waiter))
        waiter.due = self._plan(waiter, watch)
        watch.waiters.add(waiter)
        watch.wake()
        self._publish(OperationSubmitted(**self._event_fields(waiter, watch)))
        # No cancel scope per wait (thousands may be parked): the deadline and close() are
        # checked by the wait itself, and the leader's sleep never outlasts a deadline.
        try:
            return await self._run(watch, waiter)
        except _Stop as stop:
            raise self._stopped(stop, watch, waiter) from None
        except anyio.get_cancelled_exc_class():
            fields = self._event_fields(waiter, watch)
            self._publish(WaitCancelled(status=self._last_status(watch), **fields))
            raise
        except WaitFailedError:
            raise  # its WaitFailed event is out already
        except Exception as error:
            # A poll failed for good (its retries ran out): the wait ends, and says so.
            fields = self._event_fields(waiter, watch)
            status = self._last_status(watch)
            reason = f"polling failed: {type(error).__name__}"
            self._publish(WaitFailed(status=status, reason=reason, **fields))
            raise
        finally:
            self._leave(watch, waiter)

    def _stopped(self, stop: _Stop, watch: _Watch, waiter: _Waiter) -> WaitError:
        """Publish why a wait stopped short of its target, and return the error it raises."""
        resource_id, operation = watch.resource_id, waiter.target.operation
        fields = self._event_fields(waiter, watch)
        status = self._last_status(watch)
        elapsed = float(fields["elapsed"])
        if stop.closed:
            self._publish(WaitCancelled(status=status, **fields))
            return WaitCancelledError(
                f"Waiting for {operation.value} of {resource_id} stopped: the client was closed",
                resource_id=resource_id,
                operation=operation.value,
                last_status=status,
                elapsed=elapsed,
                history=self._history(watch, waiter),
            )
        self._publish(WaitTimedOut(status=status, **fields))
        return WaitTimeoutError(
            f"Waiting for {operation.value} of {resource_id} timed out after "
            f"{elapsed:.1f}s (last status: {status or 'none seen'})",
            resource_id=resource_id,
            operation=operation.value,
            last_status=status,
            elapsed=elapsed,
            history=self._history(watch, waiter),
        )

    def _leave(self, watch: _Watch, waiter: _Waiter) -> None:
        """Take a finished wait off its watch and the planner; the watch goes with its last."""
        operation = waiter.target.operation
        watch.waiters.discard(waiter)
        self.planner.release(waiter)
        if self.planner.leave(operation, self._key(watch, waiter), cohort=_in_fleet(waiter)):
            self._replan_fleets(operation)
        self._wake_promoted()
        if watch.leader is waiter:
            watch.leader = None
        if watch.waiters:
            watch.wake()
        elif self._watches.get(watch.resource_id) is watch:
            del self._watches[watch.resource_id]
        self._settle_close()

    async def _run(self, watch: _Watch, waiter: _Waiter) -> object:
        target = waiter.target
        while True:
            seen = watch.latest
            if watch.failure is not None and watch.version != waiter.seen_version:
                waiter.seen_version = watch.version
                error, failed_at = watch.failure
                if failed_at >= waiter.submitted:
                    # The poll this waiter shared failed: it fails too, as the leader did,
                    # rather than sending the same failing GET again on its own. A copy of
                    # its own keeps each waiter's traceback apart.
                    own = _copy_of(error)
                    if own is error:
                        raise error
                    raise own from error
            if seen is not None and watch.version != waiter.seen_version:
                waiter.seen_version = watch.version
                if seen.at >= waiter.submitted:
                    if self._judge(watch, waiter, seen):
                        return seen.value
                    age = seen.at - waiter.submitted
                    waiter.busy_age = max(waiter.busy_age, age)
                    if waiter.timed:
                        self.planner.saw(
                            target.operation, self._key(watch, waiter), age, done=False
                        )
                    waiter.due = self._plan(waiter, watch, spent=True)
                    self._wake_promoted()
            if self._closed:
                raise _Stop(closed=True)
            now = self._clock()
            if now >= waiter.deadline:
                raise _Stop(closed=False)
            if watch.leader is None:
                watch.leader = waiter
            if watch.leader is waiter:
                for other in watch.waiters:
                    if other.due == math.inf:  # held back while scouts looked: plan it now
                        other.due = self._plan(other, watch)
                due = min(w.due for w in watch.waiters)
                if due <= now:
                    await self._poll(watch, waiter)
                    continue
                # Sleep until a poll is due or some waiter's deadline passes, whichever is
                # first (wake() cuts it short); then wake them all, so the one whose time is
                # up sees it.
                deadline = min(w.deadline for w in watch.waiters)
                with anyio.CancelScope(
                    deadline=anyio.current_time() + min(due, deadline) - now
                ) as sleep:
                    watch.sleeping = sleep
                    try:
                        await anyio.sleep_forever()
                    finally:
                        watch.sleeping = None
                if deadline <= due and self._clock() >= deadline:
                    watch.wake()
            else:
                await watch.wait_for_news()

    def _judge(self, watch: _Watch, waiter: _Waiter, seen: Observation) -> bool:
        target = waiter.target
        if target.shows_underway(seen):
            waiter.underway_seen = True
        elapsed = seen.at - waiter.submitted
        if seen.value is not None and waiter.timed and target.within_window:
            # Found after 404s since its create: the service's 404 window is at least so long.
            for at, shown in reversed(watch.history):
                if at < waiter.submitted:
                    break
                if shown == _NOT_FOUND and at < seen.at:
                    self.saw_not_found(at - waiter.submitted)
                    break
        verdict, why = target.judge(
            seen,
            elapsed=elapsed,
            underway_seen=waiter.underway_seen,
            window=self.not_found_window(),
        )
        if verdict is Verdict.PENDING:
            return False
        fields = self._event_fields(waiter, watch)
        status = seen.status or _NOT_FOUND
        if verdict is Verdict.DONE:
            # One observation is one measurement, however many waiters shared it.
            if waiter.timed:
                if watch.learnt is None:
                    watch.learnt = set()
                measured = (watch.version, target.operation)
                if measured not in watch.learnt:
                    watch.learnt.add(measured)
                    key = self._key(watch, waiter)
                    if self.planner.saw(target.operation, key, elapsed, done=True):
                        self._replan_fleets(target.operation)
            self._publish(TargetReached(status=status, **fields))
            return True
        self._publish(WaitFailed(status=status, reason=why, **fields))
        raise WaitFailedError(
            f"{target.operation.value.capitalize()} of {watch.resource_id} failed: {why}",
            resource_id=watch.resource_id,
            operation=target.operation.value,
            last_status=status,
            elapsed=elapsed,
            history=self._history(watch, waiter),
        )

    async def _poll(self, watch: _Watch, leader: _Waiter) -> None:
        value: object | None = None
        # A poll may queue for a slot, the limiter and retries: it must not outlast the
        # earliest deadline of the waiters it serves.
        deadline = min(w.deadline for w in watch.waiters)
        limit = anyio.current_time() + max(0.0, deadline - self._clock())
        with anyio.CancelScope(deadline=limit) as polling:
            watch.polling = polling
            try:
                await self._gate.enter(lambda: self._chance(watch))
                try:
                    if self._closed:  # closed while this poll waited for its slot
                        raise _Stop(closed=True)
                    try:
                        value = await watch.fetch()
                    except NotFoundError:
                        value = None
                    except Exception as error:
                        watch.failure = (error, self._clock())
                        watch.version += 1
                        watch.wake()
                        raise
                finally:
                    self._gate.leave()
            finally:
                watch.polling = None
        if polling.cancelled_caught:
            if self._closed:  # close() cancelled the GET in flight
                raise _Stop(closed=True)
            # A deadline cut the poll short: let the waiters whose time is up leave; the
            # others go on (one of them polls again).
            watch.wake()
            return
        self.polls += 1
        now = self._clock()
        raw = getattr(value, "status", "") if value is not None else ""
        status = str(raw)
        previous = self._last_status(watch)
        shown = status or _NOT_FOUND
        watch.latest = Observation(value, status, now)
        watch.failure = None
        watch.version += 1
        # This poll answered every waiter submitted before it: none is due again before the
        # shortest gap. (Set here, not only when each waiter next runs and plans its next
        # poll, or the leader would see the others' old due times and poll again at once.)
        for waiter in watch.waiters:
            if waiter.submitted <= now:
                # (Never earlier than it was: a waiter that joined for another operation
                # keeps its own first poll.)
                waiter.due = max(waiter.due, now + self.policy.min_interval)
        watch.history.append((now, shown))
        if len(watch.history) > _HISTORY:
            del watch.history[: len(watch.history) - _HISTORY]
        fields = self._event_fields(leader, watch)
        self._publish(StatusObserved(status=shown, **fields))
        if previous and previous != shown:
            self._publish(StatusChanged(previous=previous, status=shown, **fields))
        if isinstance(raw, OpenEnum) and not raw.known:
            self._publish(UnknownStatusSeen(status=shown, **fields))
        watch.wake()

    def close(self) -> None:
        """Cancel every wait; each raises :class:`~aura_async.errors.WaitCancelledError`."""
        self._closed = True
        for watch in list(self._watches.values()):
            if watch.polling is not None:
                watch.polling.cancel()
            watch.wake()
        self._settle_close()

    def _settle_close(self) -> None:
        if self._closed and not self._watches:
            self._drained.set()

    async def drained(self) -> None:
        """Return once :meth:`close` was called and every wait has ended."""
        await self._drained.wait()
