"""Status polling for every wait of one client, on the client's shared request budget.

There is no background task. The waiters on one resource elect a leader among themselves: the
leader sleeps until the earliest moment any of them wants a poll, sends the one GET, and
publishes what it saw to all of them. If the leader is cancelled or done, another waiter takes
over at once; when the last waiter leaves, polling of that resource stops. So several waiters
share one GET, cancelling a wait stops its polling at once and leaves no task behind, and
closing the client cancels every wait.

When polls happen: the first no sooner than part of the time the operation takes (as this
client has measured it, else a prior), then at a fraction of that duration, within bounds.
Polls are reads, so the rate limiter lets mutations go first; a capacity limiter bounds the
polls in flight across all resources.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import random
import statistics
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable

import anyio
import attrs

from aura_async.errors import (
    NotFoundError,
    WaitCancelledError,
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
from aura_async.models import OpenEnum

__all__ = ["Fetch", "Watcher"]

Fetch = Callable[[], Awaitable[object]]
_HISTORY = 500  # observations kept per resource for error reports
_NOT_FOUND = "not found"  # what the history and the events call a 404


@attrs.define(eq=False)
class _Waiter:
    target: Target
    name: str | None
    submitted: float
    due: float
    deadline: float
    timed: bool  # whether ``submitted`` is when the operation started, and it teaches durations
    underway_seen: bool = False
    seen_version: int = 0
    # Part of a fleet: paced for the fleet's make-span by the operation's _FirstPoll.
    cohort: bool = False
    epoch: int = -1
    first_due: float = 0.0
    first_counted: bool = False
    started_known: bool = False  # ``submitted`` is when the operation started (fleet waits too)


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


class _FirstPoll:
    """When a fleet's waits first poll: the ``quantile`` of the operation's duration, learnt.

    A fleet is done when its slowest item is, so polling items before most of them can be
    done only spends requests. The first poll therefore aims at the time by which a share
    ``quantile`` of them is done, tracked by stochastic approximation: each first poll that
    came on time finds its item done (a hit) or not; after ``batch`` of them the time moves
    by ``exp(step * (quantile - hit rate))``. Only first polls planned with the current time
    count (an epoch), so a fleet of 500 moves it once, not 500 times. Learnt this way, the
    time does not creep up with the polling delay as durations seen by polls would.
    """

    __slots__ = ("_hits", "_seen", "epoch", "quantile", "value")

    def __init__(self, prior: float, quantile: float) -> None:
        self.value = prior
        self.quantile = quantile
        self.epoch = 0
        self._hits = 0
        self._seen = 0

    def observe(self, epoch: int, hit: bool, *, batch: int = 8, step: float = 0.4) -> None:
        """Count one first poll planned in ``epoch``; move the time after a batch."""
        if epoch != self.epoch:
            return
        self._seen += 1
        self._hits += hit
        if self._seen >= batch:
            rate = self._hits / self._seen
            self.value *= math.exp(step * (self.quantile - rate))
            self.epoch += 1
            self._hits = self._seen = 0


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


class Watcher:
    """The one poller of a client: all its waits go through here.

    Args:
        policy: when to poll and when to give up.
        publish: receives every lifecycle event.
        clock: monotonic seconds (anyio's by default).
    """

    def __init__(
        self,
        policy: PollPolicy,
        publish: Callable[[object], None],
        *,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.policy = policy
        self._publish = publish
        self._clock = clock
        self._watches: dict[str, _Watch] = {}
        self._durations: defaultdict[Operation, deque[float]] = defaultdict(
            lambda: deque(maxlen=50)
        )
        self._first_polls: dict[Operation, _FirstPoll] = {}
        # The longest a resource this client created went on answering 404 after its create.
        self._not_found_seen = 0.0
        self._in_flight = anyio.CapacityLimiter(policy.max_in_flight)
        self._closed = False
        self._drained = anyio.Event()  # set once closed and the last wait has left
        self.polls = 0

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def active(self) -> int:
        """How many waits are running."""
        return sum(len(w.waiters) for w in self._watches.values())

    def expected(self, operation: Operation) -> float:
        """The seconds an operation takes: the median this client saw, else the prior."""
        seen = self._durations.get(operation)
        if seen:
            return statistics.median(seen)
        return self.policy.expected.get(operation, 60.0)

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

    def first_delay(self, operation: Operation) -> float:
        """Seconds from submission to the first poll of an operation.

        Part of its expected duration, or just under the quickest this client has seen, so
        the first poll can already find it done; jittered a little (never earlier), so a fleet
        submitted at once does not poll all at once.
        """
        policy = self.policy
        seen = self._durations.get(operation)
        delay = policy.first_delay(self.expected(operation))
        if seen:
            delay = min(delay, max(policy.min_interval, 0.9 * min(seen)))
        return delay * random.uniform(1.0, 1.1)

    def first_poll_time(self, operation: Operation) -> float:
        """Seconds after submission at which a fleet's wait for ``operation`` first polls.

        Learnt from the fleets this client ran (see :class:`_FirstPoll`); before any, 1.2
        times the expected duration.
        """
        return self._first_poll(operation).value

    def _first_poll(self, operation: Operation) -> _FirstPoll:
        first = self._first_polls.get(operation)
        if first is None:
            # Until fleets have taught it: the typical duration and the spread seen around
            # it (Aura's operations vary by about a fifth either way).
            prior = self.expected(operation) * 1.2
            first = self._first_polls[operation] = _FirstPoll(prior, self.policy.fleet_quantile)
        return first

    def _interval(self, waiter: _Waiter, now: float) -> float:
        policy = self.policy
        operation = waiter.target.operation
        if waiter.cohort:
            aim = self._first_poll(operation).value
            elapsed = now - waiter.submitted
            # Far past what fleets usually take, the learnt time is off: back off rather
            # than poll densely for as long again.
            dense = elapsed <= 1.5 * aim
            wanted = aim * policy.fleet_interval_fraction if dense else 0.15 * elapsed
        else:
            # Even steps after the first poll: completions spread over a range are found
            # with the least lag for the GETs spent (measured against steps that grow with
            # the time spent, which cost 30 % more GETs for the same lag).
            wanted = self.expected(operation) * policy.interval_fraction
        return min(max(wanted, policy.min_interval), policy.max_interval)

    def _event_fields(self, waiter: _Waiter, watch: _Watch) -> dict[str, object]:
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
        delete, the return value is None. A ``cohort`` wait is one of a fleet's: it is paced
        for the fleet's make-span (see :meth:`first_poll_time`) rather than for its own lag.

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
        if cohort:
            first = self._first_poll(operation)
            delay, epoch = first.value, first.epoch
        else:
            delay, epoch = self.first_delay(operation), -1
        waiter = _Waiter(
            target,
            name,
            submitted,
            due=submitted + delay,
            deadline=submitted + max(0.0, limit),
            timed=timed and not cohort,  # a fleet's waits teach the first poll instead
            cohort=cohort,
            epoch=epoch if timed else -1,
            first_due=submitted + delay,
            started_known=timed,
        )
        watch = self._watches.get(resource_id)
        if watch is None:
            watch = self._watches[resource_id] = _Watch(resource_id, fetch)
        watch.waiters.add(waiter)
        watch.wake()
        self._publish(OperationSubmitted(**self._event_fields(waiter, watch)))  # type: ignore[arg-type]
        # No cancel scope per wait (thousands may be parked): the deadline and close() are
        # checked by the wait itself, and the leader's sleep never outlasts a deadline.
        try:
            return await self._run(watch, waiter)
        except _Stop as stop:
            fields = self._event_fields(waiter, watch)
            status = self._last_status(watch)
            elapsed = float(fields["elapsed"])  # type: ignore[arg-type]
            if stop.closed:
                self._publish(WaitCancelled(status=status, **fields))  # type: ignore[arg-type]
                raise WaitCancelledError(
                    f"Waiting for {operation.value} of {resource_id} stopped: the client was "
                    "closed",
                    resource_id=resource_id,
                    operation=operation.value,
                    last_status=status,
                    elapsed=elapsed,
                    history=self._history(watch, waiter),
                ) from None
            self._publish(WaitTimedOut(status=status, **fields))  # type: ignore[arg-type]
            raise WaitTimeoutError(
                f"Waiting for {operation.value} of {resource_id} timed out after "
                f"{elapsed:.1f}s (last status: {status or 'none seen'})",
                resource_id=resource_id,
                operation=operation.value,
                last_status=status,
                elapsed=elapsed,
                history=self._history(watch, waiter),
            ) from None
        except anyio.get_cancelled_exc_class():
            fields = self._event_fields(waiter, watch)
            self._publish(WaitCancelled(status=self._last_status(watch), **fields))  # type: ignore[arg-type]
            raise
        except WaitFailedError:
            raise  # its WaitFailed event is out already
        except Exception as error:
            # A poll failed for good (its retries ran out): the wait ends, and says so.
            fields = self._event_fields(waiter, watch)
            status = self._last_status(watch)
            reason = f"polling failed: {type(error).__name__}"
            self._publish(WaitFailed(status=status, reason=reason, **fields))  # type: ignore[arg-type]
            raise
        finally:
            watch.waiters.discard(waiter)
            if watch.leader is waiter:
                watch.leader = None
            if watch.waiters:
                watch.wake()
            elif self._watches.get(resource_id) is watch:
                del self._watches[resource_id]
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
                    done = self._judge(watch, waiter, seen)
                    if waiter.cohort and not waiter.first_counted:
                        waiter.first_counted = True
                        # Only a poll that came when planned says whether the plan was right
                        # (one held back by the rate limit finds most items done anyway).
                        late = seen.at - waiter.first_due
                        if 0 <= late <= self._interval(waiter, seen.at):
                            self._first_poll(target.operation).observe(waiter.epoch, done)
                    if done:
                        return seen.value
                    waiter.due = max(waiter.due, seen.at + self._interval(waiter, seen.at))
            if self._closed:
                raise _Stop(closed=True)
            now = self._clock()
            if now >= waiter.deadline:
                raise _Stop(closed=False)
            if watch.leader is None:
                watch.leader = waiter
            if watch.leader is waiter:
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
        if seen.value is not None and waiter.started_known and target.within_window:
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
                    self._durations[target.operation].append(elapsed)
            self._publish(TargetReached(status=status, **fields))  # type: ignore[arg-type]
            return True
        self._publish(WaitFailed(status=status, reason=why, **fields))  # type: ignore[arg-type]
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
                async with self._in_flight:
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
        # This poll answered every waiter submitted before it: none is due again before its
        # interval has passed. (Set here, not when each waiter next runs, or the leader would
        # see the others' old due times and poll again at once.)
        for waiter in watch.waiters:
            if waiter.submitted <= now:
                # (Never earlier than it was: a waiter that joined for another operation
                # keeps its own first-poll delay.)
                waiter.due = max(waiter.due, now + self._interval(waiter, now))
        watch.history.append((now, shown))
        if len(watch.history) > _HISTORY:
            del watch.history[: len(watch.history) - _HISTORY]
        fields = self._event_fields(leader, watch)
        self._publish(StatusObserved(status=shown, **fields))  # type: ignore[arg-type]
        if previous and previous != shown:
            self._publish(StatusChanged(previous=previous, status=shown, **fields))  # type: ignore[arg-type]
        if isinstance(raw, OpenEnum) and not raw.known:
            self._publish(UnknownStatusSeen(status=shown, **fields))  # type: ignore[arg-type]
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
