"""The client's own rate limit: never more than R requests in any W seconds, at the server.

The Aura API allows R requests per period W per credential, and nobody outside Neo4j knows
whether its gateway counts with a fixed window, a sliding log or a token bucket. The limiter
therefore keeps the one promise that satisfies all three: no interval of length W ever carries
more than R of this client's requests as the server sees them. It still lets a client that was
quiet for a whole period send R requests at once, which every one of those models accepts.

It keeps a record of the client's own recent requests, each stamped with its *completion* time
(when its answer arrived or its attempt failed); a request still in flight has no completion
time yet and holds its slot until it has one. A new request may start while fewer than R
requests are in flight or completed within the last W seconds. A request reaches the server
somewhere between its start and its completion, so if B starts at least W after A completed,
B reaches the server at least W after A did, whatever the latency or the wait for a pooled
connection: no margin has to be guessed. See DESIGN.md, "The rate limit, exactly".

The limiter keeps the queue, the limit and the cool-down; it counts slots in a budget
(:mod:`aura_async._http.budget`): by default a :class:`LocalBudget`, the record described
above, kept in this process alone.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import anyio.lowlevel

from aura_async._http.budget import Budget, BudgetHost
from aura_async.policies import Priority, RateLimit

# Priority and RateLimit are defined in aura_async.policies and re-exported here.
__all__ = ["LocalBudget", "Permit", "Priority", "RateLimit", "RateLimiter", "RequestLog"]

logger = logging.getLogger("aura_async")

# A fraction of the period added to every expiry, so float noise in clocks and sums never
# lets a request in a hair before the period has really passed.
_SLACK = 1e-3


class RequestLog:
    """The admission rule alone, with no waiting: the record of this client's requests.

    Kept apart from :class:`RateLimiter` so that tests can drive the exact rule through
    thousands of simulated requests without an event loop (and a shared budget keeps one of
    its own).
    """

    __slots__ = ("_completed", "_in_flight", "limit", "period", "slack")

    def __init__(self, rate: RateLimit) -> None:
        self._completed: deque[float] = deque()
        self._in_flight = 0
        self.set_rate(rate)

    def set_rate(self, rate: RateLimit) -> None:
        """Use ``rate`` from now on; the record of past requests is kept as it is."""
        self.limit = rate.limit
        self.period = rate.period
        self.slack = rate.period * _SLACK

    @property
    def in_flight(self) -> int:
        """Requests started and not yet completed."""
        return self._in_flight

    def ready_at(self, now: float) -> float:
        """When one more request may start: ``now`` or earlier if it may start at once.

        Returns ``math.inf`` when every slot is held by a request in flight, since only a
        completion can change that.
        """
        completed = self._completed
        keep = self.period + self.slack
        # The expiry is computed by the same expression here and when checked again at that
        # moment, so a caller that waits until exactly the returned time is then admitted.
        while completed and completed[0] + keep <= now:
            completed.popleft()
        excess = self._in_flight + len(completed) - self.limit
        if excess < 0:
            return now
        if excess >= len(completed):
            return math.inf
        return completed[excess] + keep

    def start(self) -> None:
        """Count one more request in flight (the caller checked :meth:`ready_at`)."""
        self._in_flight += 1

    def abandon(self) -> None:
        """Return the slot of a request that was never sent: it leaves no record."""
        self._in_flight -= 1

    def complete(self, now: float) -> None:
        """Mark one request in flight as completed at ``now``."""
        self._in_flight -= 1
        # A clock that steps back must not unsort the record; a later stamp is only stricter.
        if self._completed and now < self._completed[-1]:
            now = self._completed[-1]
        self._completed.append(now)


class LocalBudget:
    """The budget kept in this process alone: a :class:`RequestLog` of its own requests.

    Implements :class:`~aura_async._http.budget.Budget`; nothing to start or close, and
    :meth:`take` never yields.
    """

    __slots__ = ("_host", "log")

    _host: BudgetHost

    def __init__(self, rate: RateLimit) -> None:
        self.log = RequestLog(rate)

    @property
    def in_flight(self) -> int:
        """Permits taken and not yet released."""
        return self.log.in_flight

    @property
    def max_wait(self) -> float:
        """Infinite: only a completion (which wakes the head) or time frees a slot."""
        return math.inf

    def attach(self, host: BudgetHost) -> None:
        """Serve ``host`` from now on."""
        self._host = host

    async def start(self) -> None:
        """Nothing to connect."""

    async def aclose(self) -> None:
        """Nothing to let go of."""

    async def take(self, priority: Priority) -> str | float:
        """Take a slot now if the record and the cool-down allow, else say how long to wait."""
        host = self._host
        now = host.clock()
        delay = max(self.log.ready_at(now), host.cool_until) - now
        if delay > 0:
            return delay
        self.log.start()
        return ""

    def complete(self, key: str, *, sent: bool) -> bool:
        """Record the completion (or free the slot of a request never sent); always True."""
        if sent:
            self.log.complete(self._host.clock())
        else:
            self.log.abandon()
        # A slot held in flight now has an expiry: the first waiter may stop waiting forever.
        return True

    def left_queue(self) -> None:
        """Nothing to tell anyone."""

    def cooled(self, seconds: float) -> None:
        """Nothing to share: the host keeps the cool-down."""

    def lowered(self, limit: int) -> None:
        """Nothing to share: the host keeps the limit."""

    def rate_set(self, rate: RateLimit) -> None:
        """Count against ``rate`` from now on."""
        self.log.set_rate(rate)


class Permit:
    """The right to send one request, taken from a :class:`RateLimiter`.

    The request holds its slot until :meth:`release` marks it complete; a permit that is never
    released keeps its slot for good, because the limiter cannot know when (or whether) the
    server saw that request.
    """

    __slots__ = ("_on_release", "_released", "generation", "key", "priority")

    def __init__(
        self,
        on_release: Callable[[Permit, bool], None],
        priority: Priority,
        key: str,
        generation: int,
    ) -> None:
        # What releasing does (the limiter's), called once with this permit and ``sent``.
        self._on_release = on_release
        self._released = False
        self.priority = priority
        # The permit's name in its budget ("" in the in-process one).
        self.key = key
        # Which limit it was granted under: a 429 for it says nothing about a later one.
        self.generation = generation

    @property
    def released(self) -> bool:
        """Whether :meth:`release` was called."""
        return self._released

    def release(self, *, sent: bool = True) -> None:
        """Mark the request complete now: its answer arrived or its attempt failed.

        The slot stays taken for one more period from now; with ``sent=False`` (the request
        never left) it is free at once. Calling this again does nothing. Never raises.
        """
        if not self._released:
            self._released = True
            self._on_release(self, sent)

    def __repr__(self) -> str:
        state = "released" if self._released else "in flight"
        return f"<Permit {self.priority.name} {state}>"


class _QueuedRequest:
    """One caller of :meth:`RateLimiter.acquire` in the queue: woken by ``event``."""

    __slots__ = ("cancelled", "event")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.cancelled = False


_PRESETS = (RateLimit.PAID_LIMIT, RateLimit.FREE_LIMIT)


def _lower(rate: RateLimit) -> RateLimit | None:
    """The next lower guess at the server's limit, or None at 1 request per period."""
    for preset in _PRESETS:
        if preset < rate.limit:
            return RateLimit(preset, rate.period)
    if rate.limit == 1:
        return None
    return RateLimit(max(1, rate.limit // 2), rate.period)


class RateLimiter:
    """Admits requests so that no ``rate.period`` seconds ever carry more than ``rate.limit``.

    Every request (token requests and retries too) takes a :class:`Permit` before it is sent
    and releases it when its answer arrives or its attempt fails. Waiting requests go in
    :class:`Priority` order, first come first served within a priority; only the first waiter
    keeps a timer, so a thousand waiters cost no more wake-ups than one.

    One limiter serves one credential within one event loop. It counts slots in its budget
    and is its :class:`~aura_async._http.budget.BudgetHost`; :meth:`start` and :meth:`aclose`
    start and close the budget (nothing to do for the local one).

    Args:
        rate: the limit to keep.
        budget: where the slots are counted (default: a :class:`LocalBudget` at ``rate``); it
            serves this limiter alone.
        clock: the time source, in seconds; waiting sleeps on anyio's clock, so a clock of
            one's own must run at the same pace (tests that never wait may stop it).
        lower_after: this many 429 answers within one period, while the client keeps to its
            own limit, lower the limit (see :meth:`note_rate_limited`).
        on_lowered: called with the old and the new limit each time the limit is lowered
            that way.

    Raises:
        ValueError: if ``lower_after`` is below 1.
    """

    def __init__(
        self,
        rate: RateLimit,
        *,
        budget: Budget | None = None,
        clock: Callable[[], float] = anyio.current_time,
        lower_after: int = 3,
        on_lowered: Callable[[RateLimit, RateLimit], None] | None = None,
    ) -> None:
        if lower_after < 1:
            raise ValueError(f"lower_after must be at least 1, got {lower_after!r}")
        self._rate = rate
        self._clock = clock
        self._budget: Budget = budget if budget is not None else LocalBudget(rate)
        self._lower_after = lower_after
        self._on_lowered = on_lowered
        self._cool_until = -math.inf
        # Heap of (priority, arrival number, waiter); cancelled waiters are removed lazily.
        self._queue: list[tuple[int, int, _QueuedRequest]] = []
        self._arrivals = 0
        self._waiting = 0
        self._taking = False
        self._held = 0
        self._rejections: deque[float] = deque()
        self._evidence_from = -math.inf
        self._generation = 0
        self._budget.attach(self)

    async def start(self) -> None:
        """Start the budget: connect a shared budget's Redis (nothing to do for a local one).

        A shared budget's first take starts it if nobody did.

        Raises:
            Whatever the budget's start raises (:class:`~aura_async.errors.RateLimitBackendError`
            for a shared budget whose Redis does not answer).
        """
        await self._budget.start()

    async def aclose(self) -> None:
        """Close the budget (a shared one flushes and leaves Redis's queue). Never raises."""
        await self._budget.aclose()

    @property
    def rate(self) -> RateLimit:
        """The limit kept now."""
        return self._rate

    @property
    def in_flight(self) -> int:
        """This process's permits taken and not yet released."""
        return self._budget.in_flight

    @property
    def waiting(self) -> int:
        """Callers of :meth:`acquire` still waiting for a permit."""
        return self._waiting

    @property
    def queue_length(self) -> int:
        """Entries in the queue: the waiters, and cancelled ones not yet dropped.

        Cancelled waiters are dropped lazily, so this may exceed :attr:`waiting`, but never by
        much (tests check that a storm of cancellations cannot grow it without bound).
        """
        return len(self._queue)

    @property
    def cool_until(self) -> float:
        """When the cool-down ends, on :meth:`clock` (``-inf`` if there never was one)."""
        return self._cool_until

    def clock(self) -> float:
        """The time now, on this limiter's clock."""
        return self._clock()

    @property
    def held(self) -> int:
        """How many times a caller at the head of the queue found no budget and had to wait.

        0 exactly when no request has been paced (or held by a cool-down) since this limiter
        was made. A caller counts once however long it waited; callers released together
        behind it, when a window frees several slots at once, are not counted again. Tests and
        benchmarks read it to tell a paced burst from a free one without timing anything.
        """
        return self._held

    async def acquire(self, priority: Priority = Priority.READ) -> Permit:
        """Wait until one more request may start, and take a permit for it.

        A request may start when fewer than ``rate.limit`` requests are in flight or completed
        within the last ``rate.period`` seconds, any cool-down has passed, and no waiter of a
        more urgent priority (or of the same priority, arrived earlier) is still waiting.
        Returns at once, without yielding, when all that holds already and the budget grants
        without waiting (the local one does; a shared one asks Redis).

        Raises:
            anyio's cancellation exception: if cancelled while waiting; the caller then holds
                no permit and the next waiter is woken.
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        waiter = _QueuedRequest()
        self._arrivals += 1
        heapq.heappush(self._queue, (int(priority), self._arrivals, waiter))
        self._waiting += 1
        held = False
        try:
            while True:
                # One take at a time: a shared budget's take awaits Redis, and a more urgent
                # waiter may arrive and become the head meanwhile; it asks after this one.
                if self._head() is waiter and not self._taking:
                    self._taking = True
                    try:
                        taken = await self._budget.take(priority)
                    finally:
                        self._taking = False
                    if isinstance(taken, str):
                        permit = Permit(self._release, priority, taken, self._generation)
                        break
                    if not held:
                        held = True
                        self._held += 1
                    if self._head() is waiter:
                        with anyio.move_on_after(min(taken, self._budget.max_wait)):
                            await waiter.event.wait()
                    else:
                        self.wake_head()
                        await waiter.event.wait()
                else:
                    await waiter.event.wait()
                waiter.event = anyio.Event()
        except BaseException:
            waiter.cancelled = True
            self._waiting -= 1
            self._compact()
            if self._head() is None:
                # (A shared budget takes this process out of its queue.)
                self._budget.left_queue()
            self.wake_head()
            raise
        # Not necessarily the heap's top any more (see above): leave it to be skipped lazily.
        waiter.cancelled = True
        self._waiting -= 1
        self._compact()
        # The next waiter may be able to go at once, or must now start its own timer.
        self.wake_head()
        return permit

    def slot(self, priority: Priority = Priority.READ) -> AbstractAsyncContextManager[Permit]:
        """Hold a permit for the body of an ``async with``, released on exit, error or not.

        Raises:
            anyio's cancellation exception: if cancelled while waiting for the permit.
        """
        return self._slot(priority)

    @asynccontextmanager
    async def _slot(self, priority: Priority) -> AsyncIterator[Permit]:
        permit = await self.acquire(priority)
        try:
            yield permit
        finally:
            permit.release()

    def cool_down(self, seconds: float) -> None:
        """Hold every request back until ``seconds`` from now (a 429's Retry-After).

        Extends a cool-down already running, never shortens it. Waiters are not woken: the
        first one notices when its timer next fires. A shared budget holds back every process
        sharing it.

        Raises:
            ValueError: if ``seconds`` is negative, infinite or not a number.
        """
        if not 0 <= seconds < math.inf:
            raise ValueError(f"a cool-down must be a finite, non-negative time, got {seconds!r}")
        self._extend_cool_down(seconds)
        self._budget.cooled(seconds)

    def _extend_cool_down(self, seconds: float) -> None:
        self._cool_until = max(self._cool_until, self._clock() + seconds)

    async def sit_out_cool_down(self) -> None:
        """Sleep until no cool-down is running: for a request that took its permit earlier.

        Raises:
            anyio's cancellation exception: if cancelled while sleeping.
        """
        if self._cool_until - self._clock() > 0:
            self._held += 1
        # (A sleep, not an Event: a cool-down only ever ends by time passing.)
        while (delay := self._cool_until - self._clock()) > 0:  # noqa: ASYNC110
            await anyio.sleep(delay)

    @property
    def generation(self) -> int:
        """How many times the limit was lowered (a permit remembers the one it was granted in)."""
        return self._generation

    def note_rate_limited(self, generation: int | None = None) -> bool:
        """Count one 429 answer; lower the limit if the server evidently counts a lower one.

        When ``lower_after`` 429s arrive within one period while this client keeps to its own
        limit, the server must be counting a lower limit (or other clients share the
        credential). The limit then drops to the next preset below it (125 -> 25; from 25
        down it halves, to no less than 1), ``on_lowered`` is called once, one WARNING is
        logged on the ``aura_async`` logger, the budget is told (a shared budget has every
        process keep the lower limit), and True is returned. Otherwise returns False.

        For one period after the limit was lowered, 429s are not counted: requests sent under
        the old limit may still be answered. Nor, ever, is a 429 for a request granted under
        an older limit (``generation``, the permit's): on a slow network its answer may come
        more than a period late.

        Raises:
            Whatever ``on_lowered`` raises, after the limit was lowered.
        """
        now = self._clock()
        if now < self._evidence_from:
            return False
        if generation is not None and generation != self._generation:
            return False
        rejections = self._rejections
        rejections.append(now)
        while rejections and rejections[0] <= now - self._rate.period:
            rejections.popleft()
        if len(rejections) < self._lower_after:
            return False
        old = self._rate
        new = _lower(old)
        if new is None:
            return False
        count = len(rejections)
        self.set_rate(new)
        logger.warning(
            "The Aura API answered 429 to %d requests within %g s although this client kept to "
            "%s; it evidently counts a lower limit. Lowering the client's limit to %s "
            "(set AURA_RATE_LIMIT to choose the limit explicitly).",
            count,
            old.period,
            old,
            new,
        )
        if self._on_lowered is not None:
            self._on_lowered(old, new)
        self._budget.lowered(self._rate.limit)
        return True

    def set_rate(self, rate: RateLimit) -> None:
        """Keep ``rate`` from now on; waiters re-evaluate at once.

        Requests already made keep counting against the new limit. Never raises.
        """
        old = self._rate
        self._rate = rate
        self._budget.rate_set(rate)
        if rate.limit < old.limit or rate.period > old.period:
            # Traffic sent under the old limit may exceed the new one for a period; 429s
            # caused by it say nothing about the new limit.
            self._evidence_from = self._clock() + max(rate.period, old.period)
            self._rejections.clear()
            self._generation += 1
        self.wake_head()

    def adopt(self, limit: int, cool_left: float) -> None:
        """Keep what other processes sharing the budget decided (a shared budget calls this).

        A cool-down of ``cool_left`` seconds from now extends this one (nothing when not above
        0); a ``limit`` below this one's is kept from now on, with a WARNING. Neither is
        shared back. Never raises.
        """
        if cool_left > 0:
            self._extend_cool_down(cool_left)
        if limit < self._rate.limit:
            logger.warning(
                "another process sharing this credential lowered the limit to %d per %g s",
                limit,
                self._rate.period,
            )
            self.set_rate(RateLimit(limit, self._rate.period))

    def _release(self, permit: Permit, sent: bool) -> None:
        """What :meth:`Permit.release` does: tell the budget, and wake the head if it may go."""
        if self._budget.complete(permit.key, sent=sent):
            self.wake_head()

    def _head(self) -> _QueuedRequest | None:
        queue = self._queue
        while queue and queue[0][2].cancelled:
            heapq.heappop(queue)
        return queue[0][2] if queue else None

    def wake_head(self) -> None:
        """Let the head of the queue ask the budget again now, without waiting out its timer."""
        head = self._head()
        if head is not None:
            head.event.set()

    def _compact(self) -> None:
        # Cancelled waiters deep in the heap are skipped lazily; rebuild only when they
        # outnumber the live ones, so a storm of cancellations cannot grow the heap unbounded.
        queue = self._queue
        if len(queue) > 2 * self._waiting + 16:
            self._queue = [entry for entry in queue if not entry[2].cancelled]
            heapq.heapify(self._queue)
