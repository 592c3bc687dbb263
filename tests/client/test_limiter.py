"""The client's rate limiter: the admission rule, proven on simulated traffic, then in real time.

The safety property is checked against an adversarial server: each request may reach the
server at any moment between its start and its completion, and no half-open interval of one
period may then hold more than the limit. Real-time tests use periods of a fraction of a
second; everything that need not wait runs on a fake clock.
"""

from __future__ import annotations

import heapq
import logging
import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence

import anyio
import anyio.abc
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_async._http.limiter import (
    Permit,
    Priority,
    RateLimit,
    RateLimiter,
    RequestLog,
)

# --------------------------------------------------------------------------- helpers


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def until(predicate: Callable[[], bool], within: float = 2.0) -> None:
    """Yield until ``predicate`` holds; fail after ``within`` seconds."""
    with anyio.fail_after(within):
        # The limiter exposes counters, not events, so the test polls them.
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.001)


def max_at_server(spans: Sequence[tuple[float, float]], period: float) -> int:
    """The most requests an adversarial server can see in one half-open window of ``period``.

    ``spans`` are (start, completion) pairs; a request may arrive at the server at any moment
    of its span, so a window ``[a, a + period)`` can catch every request with
    ``start < a + period`` and ``completion >= a``. That count only grows as ``a`` moves right
    until ``a`` passes a completion, so trying ``a`` = every completion finds the maximum.
    """
    starts = sorted(start for start, _ in spans)
    completions = sorted(completion for _, completion in spans)
    return max(
        (bisect_left(starts, a + period) - bisect_left(completions, a) for a in completions),
        default=0,
    )


def test_max_at_server_sees_overlapping_spans() -> None:
    # Starts one period apart (what a record of send times ensures) are not enough: the first
    # request is answered late, so a server may see all three within one second.
    assert max_at_server([(0.0, 1.5), (1.0, 1.1), (2.0, 2.1)], 1.0) == 3
    assert max_at_server([(0.0, 0.5), (1.0, 1.1), (2.0, 2.1)], 1.0) == 2
    assert max_at_server([(0.0, 0.0), (1.0, 1.0)], 1.0) == 1  # half-open: exactly W apart


# --------------------------------------------------------------------------- the rule, simulated


@attrs.define
class Request:
    arrival: float
    latency: float
    priority: int
    start: float = math.nan
    completion: float = math.nan


def simulate(rate: RateLimit, requests: list[Request]) -> list[Request]:
    """Drive the limiter's own admission rule through a discrete-event simulation.

    Each request waits from its arrival (in priority order, first come first served within a
    priority, as the limiter queues them), starts when the rule allows, and completes
    ``latency`` later. Returns the requests in the order they started.
    """
    ledger = RequestLog(rate)
    by_arrival = sorted(range(len(requests)), key=lambda i: (requests[i].arrival, i))
    waiting: list[tuple[int, int, int]] = []
    running: list[tuple[float, int]] = []
    started: list[Request] = []
    pending = 0
    now = requests[by_arrival[0]].arrival if requests else 0.0
    while pending < len(by_arrival) or waiting or running:
        while running and running[0][0] <= now:
            _, index = heapq.heappop(running)
            requests[index].completion = now
            ledger.complete(now)
        while pending < len(by_arrival) and requests[by_arrival[pending]].arrival <= now:
            index = by_arrival[pending]
            heapq.heappush(waiting, (requests[index].priority, pending, index))
            pending += 1
        while waiting and ledger.ready_at(now) <= now:
            _, _, index = heapq.heappop(waiting)
            ledger.start()
            request = requests[index]
            request.start = now
            heapq.heappush(running, (now + request.latency, index))
            started.append(request)
        moments = []
        if pending < len(by_arrival):
            moments.append(requests[by_arrival[pending]].arrival)
        if running:
            moments.append(running[0][0])
        if waiting:
            moments.append(ledger.ready_at(now))
        if not moments:
            break
        now = min(moments)
        assert now < math.inf, "requests wait with nothing in flight: the limiter is stuck"
    return started


def check_traffic(rate: RateLimit, requests: list[Request]) -> None:
    """Assert the limiter's promises about one simulated run."""
    started = simulate(rate, requests)
    assert len(started) == len(requests)
    spans = [(r.start, r.completion) for r in requests]
    ledger = RequestLog(rate)
    keep = ledger.period + ledger.slack  # the limiter's period plus its slack, to the bit

    # (1) Whatever moment of its span each request reaches the server, no half-open window of
    # one period holds more than the limit.
    assert max_at_server(spans, rate.period) <= rate.limit

    # (2) The limiter never idles: a request that waited started at a moment when the slots
    # had just been full (or together with others that took the freed slots first).
    starts = [r.start for r in started]
    ends_so_far: list[float] = []
    for k, request in enumerate(started):
        if request.start > request.arrival and not (k and starts[k - 1] == request.start):
            probe = max(request.arrival, request.start - rate.period * 1e-6)
            expired = bisect_right(ends_so_far, probe, key=lambda end: end + keep)
            not_yet_started = k - bisect_right(starts, probe, 0, k)
            held = (k - expired) - not_yet_started
            assert held >= rate.limit, (k, request, held)
        ends_so_far.insert(bisect_right(ends_so_far, request.completion), request.completion)

    # (3) After a quiet spell (nothing in flight, nothing completed within the period), the
    # next `limit` requests to start all start on arrival, without waiting.
    latest_end = -math.inf
    free_until = -1
    for k, request in enumerate(started):
        if latest_end + keep <= request.arrival:
            free_until = k + rate.limit
        if k < free_until:
            assert request.start == request.arrival, (k, request)
        latest_end = max(latest_end, request.completion)


priorities = st.sampled_from([p.value for p in Priority])
small_traffic = st.lists(
    st.tuples(
        st.floats(0, 3, allow_nan=False),  # gap before this arrival, in periods
        st.one_of(st.just(0.0), st.floats(0, 2.5, allow_nan=False)),  # latency, in periods
        priorities,
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(1, 8),
    period=st.sampled_from([0.001, 0.2, 1.0, 60.0, 3600.0]),
    traffic=small_traffic,
)
def test_rule_keeps_every_window_at_the_server_small(
    limit: int, period: float, traffic: list[tuple[float, float, int]]
) -> None:
    now = 0.0
    requests = []
    for gap, latency, priority in traffic:
        now += gap * period
        requests.append(Request(now, latency * period, priority))
    check_traffic(RateLimit(limit, period), requests)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    limit=st.sampled_from([1, 2, 5, 25, 125]),
    period=st.sampled_from([0.2, 1.0, 60.0]),
    count=st.integers(500, 3000),
    pressure=st.floats(0.1, 10),  # mean demand, in multiples of the limit
    slow=st.floats(0, 1.5),  # mean latency, in periods
)
def test_rule_keeps_every_window_at_the_server_thousands(
    seed: int, limit: int, period: float, count: int, pressure: float, slow: float
) -> None:
    rng = random.Random(seed)
    mean_gap = period / (limit * pressure)
    requests = []
    now = 0.0
    for _ in range(count):
        draw = rng.random()
        if draw < 0.02:
            now += rng.uniform(1, 3) * period  # a quiet spell
        elif draw < 0.3:
            pass  # part of a burst: same instant as the previous one
        else:
            now += rng.expovariate(1 / mean_gap)
        shape = rng.random()
        if shape < 0.1:
            latency = 0.0
        elif shape < 0.13:
            latency = rng.uniform(2, 4) * period  # a request stuck far longer than a period
        else:
            latency = rng.expovariate(1.0) * slow * period
        requests.append(Request(now, latency, rng.randrange(3)))
    check_traffic(RateLimit(limit, period), requests)


# --------------------------------------------------------------------------- RateLimit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("125", RateLimit(125, 60)),
        ("25/60", RateLimit(25, 60)),
        ("125/1s", RateLimit(125, 1)),
        ("125/1m", RateLimit(125, 60)),
        ("125/min", RateLimit(125, 60)),
        ("10/500ms", RateLimit(10, 0.5)),
        ("3/0.25s", RateLimit(3, 0.25)),
        ("1/2h", RateLimit(1, 7200)),
        (" 25 / 60 s ", RateLimit(25, 60)),
        ("paid", RateLimit(125, 60)),
        ("FREE", RateLimit(25, 60)),
        ("125/60s", RateLimit(125, 60)),
    ],
)
def test_parse(text: str, expected: RateLimit) -> None:
    assert RateLimit.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cannot read"),
        ("fast", "cannot read"),
        ("-5", "cannot read"),
        ("1.5", "cannot read"),
        ("125/", "cannot read"),
        ("125/1w", "cannot read"),
        ("125/60/1", "cannot read"),
        ("0", "at least 1 request"),
        ("0/60", "at least 1 request"),
        ("5/0", "positive number of seconds"),
        ("5/0ms", "positive number of seconds"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        RateLimit.parse(text)
    assert repr(text) in str(caught.value)


def test_presets_and_str() -> None:
    assert RateLimit.paid() == RateLimit(125, 60.0)
    assert RateLimit.free() == RateLimit(25, 60.0)
    assert str(RateLimit.paid()) == "125/60s"
    assert str(RateLimit(5, 0.25)) == "5/0.25s"


@pytest.mark.parametrize(
    ("limit", "period"),
    [(0, 60), (-1, 60), (True, 60), (5, 0), (5, -1), (5, math.inf), (5, math.nan)],
)
def test_rate_limit_validates(limit: int, period: float) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit(limit, period)


@settings(deadline=None)
@given(
    limit=st.integers(1, 10**6),
    period=st.floats(1e-6, 1e9, allow_nan=False, allow_infinity=False),
)
def test_str_round_trips(limit: int, period: float) -> None:
    rate = RateLimit(limit, period)
    assert RateLimit.parse(str(rate)) == rate


def test_priority_order() -> None:
    assert Priority.TOKEN < Priority.MUTATION < Priority.READ


# --------------------------------------------------------------------------- fake clock


async def test_quiet_client_sends_the_whole_limit_at_once() -> None:
    clock = FakeClock()
    rate = RateLimit(125, 60)
    limiter = RateLimiter(rate, clock=clock)
    # On a stopped clock any wait would last at least a real minute.
    with anyio.fail_after(1):
        permits = [await limiter.acquire() for _ in range(125)]
    assert limiter.in_flight == 125
    assert limiter.held == 0
    with anyio.move_on_after(0.05) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught
    assert (limiter.in_flight, limiter.waiting, limiter.held) == (125, 0, 1)

    for permit in permits:
        permit.release()
    clock.advance(59.9)
    with anyio.move_on_after(0.05) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught, "a slot freed before a whole period had passed"

    clock.advance(0.2)
    with anyio.fail_after(1):
        for _ in range(125):
            await limiter.acquire(Priority.MUTATION)
    assert limiter.in_flight == 125


async def test_unreleased_permit_keeps_its_slot() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(1, 1), clock=clock)
    permit = await limiter.acquire()
    clock.advance(1000)
    with anyio.move_on_after(0.05) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught
    permit.release()
    with anyio.move_on_after(0.05) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught, "the slot is taken for a period after completion"
    clock.advance(1.01)
    with anyio.fail_after(1):
        await limiter.acquire()


async def test_release_is_idempotent() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(2, 10), clock=clock)
    permit = await limiter.acquire()
    states = [permit.released]
    permit.release()
    permit.release()
    states.append(permit.released)
    assert states == [False, True]
    assert limiter.in_flight == 0
    with anyio.fail_after(1):
        await limiter.acquire()  # a second release would have taken this slot


async def test_slot_releases_on_error() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(2, 10), clock=clock)
    permits: list[Permit] = []

    async def fail_in_slot() -> None:
        async with limiter.slot(Priority.MUTATION) as permit:
            permits.append(permit)
            assert limiter.in_flight == 1
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_in_slot()
    (permit,) = permits
    assert permit.priority is Priority.MUTATION
    assert permit.released
    assert limiter.in_flight == 0


async def test_lowered_after_three_429s_within_a_period(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    lowered: list[tuple[RateLimit, RateLimit]] = []
    limiter = RateLimiter(
        RateLimit.paid(), clock=clock, on_lowered=lambda old, new: lowered.append((old, new))
    )
    caplog.set_level(logging.WARNING, logger="aura_async")
    assert not limiter.note_rate_limited()
    clock.advance(20)
    assert not limiter.note_rate_limited()
    clock.advance(20)
    assert limiter.note_rate_limited()
    assert limiter.rate == RateLimit.free()
    assert lowered == [(RateLimit.paid(), RateLimit.free())]
    warnings = [r for r in caplog.records if r.name == "aura_async"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "125/60s" in warnings[0].getMessage()
    assert "25/60s" in warnings[0].getMessage()

    # Answers to requests sent under the old limit say nothing about the new one.
    for _ in range(10):
        clock.advance(1)
        assert not limiter.note_rate_limited()
    assert len(lowered) == 1
    assert len([r for r in caplog.records if r.name == "aura_async"]) == 1

    clock.advance(60)
    assert [limiter.note_rate_limited() for _ in range(3)] == [False, False, True]
    assert limiter.rate == RateLimit(12, 60)
    assert lowered[-1] == (RateLimit(25, 60), RateLimit(12, 60))


async def test_429s_spread_over_more_than_a_period_do_not_lower() -> None:
    clock = FakeClock()
    lowered: list[tuple[RateLimit, RateLimit]] = []
    limiter = RateLimiter(
        RateLimit.paid(), clock=clock, on_lowered=lambda old, new: lowered.append((old, new))
    )
    for _ in range(10):
        assert not limiter.note_rate_limited()
        clock.advance(30.5)
    assert limiter.rate == RateLimit.paid()
    assert lowered == []


@pytest.mark.parametrize(
    ("start", "steps"),
    [
        (200, [125, 25, 12, 6, 3, 1]),
        (100, [25, 12, 6, 3, 1]),
        (2, [1]),
    ],
)
async def test_lowering_steps(start: int, steps: list[int]) -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(start, 1), clock=clock, lower_after=1)
    seen = []
    for _ in range(len(steps) + 2):
        clock.advance(5)
        if limiter.note_rate_limited():
            seen.append(limiter.rate.limit)
    assert seen == steps
    assert limiter.rate == RateLimit(1, 1)


def test_constructor_and_cool_down_validate() -> None:
    with pytest.raises(ValueError, match="lower_after"):
        RateLimiter(RateLimit.paid(), lower_after=0)
    limiter = RateLimiter(RateLimit.paid(), clock=FakeClock())
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="cool-down"):
            limiter.cool_down(bad)


# --------------------------------------------------------------------------- real time


async def test_burst_of_three_times_the_limit() -> None:
    rate = RateLimit(5, 0.2)
    limiter = RateLimiter(rate)
    latency = 0.02
    spans: list[tuple[float, float]] = []
    origin = anyio.current_time()

    async def request() -> None:
        async with limiter.slot():
            start = anyio.current_time() - origin
            await anyio.sleep(latency)
        spans.append((start, anyio.current_time() - origin))

    with anyio.fail_after(3):
        async with anyio.create_task_group() as tg:
            for _ in range(15):
                tg.start_soon(request)

    starts = sorted(start for start, _ in spans)
    assert starts[4] < 0.05, "the first `limit` requests go at once"
    first_done = min(end for _, end in spans)
    assert starts[5] >= first_done + rate.period
    assert starts[5] < first_done + rate.period + 0.1, "no needless waiting"
    assert starts[10] >= first_done + 2 * rate.period
    assert max_at_server(spans, rate.period) <= rate.limit
    assert (limiter.in_flight, limiter.waiting) == (0, 0)


async def until_waiting(limiter: RateLimiter, count: int) -> None:
    """Yield until exactly ``count`` callers wait on ``limiter``."""
    await until(lambda: limiter.waiting == count)


async def _queue_up(
    limiter: RateLimiter,
    tg: anyio.abc.TaskGroup,
    names: Sequence[tuple[str, Priority]],
    order: list[str],
) -> None:
    async def request(name: str, priority: Priority) -> None:
        async with limiter.slot(priority):
            order.append(name)

    for count, (name, priority) in enumerate(names, start=1):
        tg.start_soon(request, name, priority)
        await until_waiting(limiter, count)


async def test_priority_then_first_come_first_served() -> None:
    limiter = RateLimiter(RateLimit(1, 0.04))
    held = await limiter.acquire()  # everyone queues behind it, however slow the set-up
    order: list[str] = []
    names = [
        ("read-1", Priority.READ),
        ("mutation-1", Priority.MUTATION),
        ("read-2", Priority.READ),
        ("token", Priority.TOKEN),
        ("mutation-2", Priority.MUTATION),
        ("read-3", Priority.READ),
    ]
    with anyio.fail_after(3):
        async with anyio.create_task_group() as tg:
            await _queue_up(limiter, tg, names, order)
            held.release()
    assert order == ["token", "mutation-1", "mutation-2", "read-1", "read-2", "read-3"]


async def test_cancelled_waiter_leaves_no_trace() -> None:
    limiter = RateLimiter(RateLimit(2, 0.3))
    held = await limiter.acquire()  # in flight throughout
    (await limiter.acquire()).release()
    origin = anyio.current_time()
    admitted: list[float] = []
    timeouts: list[anyio.CancelScope] = []

    async def doomed() -> None:
        with anyio.move_on_after(math.inf) as scope:
            timeouts.append(scope)
            await limiter.acquire(Priority.TOKEN)
            pytest.fail("the doomed waiter got a permit")

    async def patient() -> None:
        await limiter.acquire()
        admitted.append(anyio.current_time() - origin)

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(doomed)
            await until(lambda: limiter.waiting == 1)
            tg.start_soon(patient)
            await until(lambda: limiter.waiting == 2)
            # Its timeout strikes while it heads the queue, waiting for the slot to expire.
            timeouts[0].deadline = anyio.current_time()
            await until(lambda: limiter.waiting == 1)
            assert limiter.in_flight == 1
    # The patient waiter was not head while the doomed one waited: it was woken to take over.
    assert 0.29 < admitted[0] < 0.6
    assert (limiter.in_flight, limiter.waiting) == (2, 0)
    held.release()


async def test_cancelled_head_waiting_for_a_release_passes_the_turn() -> None:
    limiter = RateLimiter(RateLimit(1, 0.05))
    held = await limiter.acquire()
    order: list[str] = []

    async def waiter(name: str) -> None:
        async with limiter.slot():
            order.append(name)

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            doomed = anyio.CancelScope()

            async def first() -> None:
                with doomed:
                    await waiter("first")

            tg.start_soon(first)
            await until(lambda: limiter.waiting == 1)
            tg.start_soon(waiter, "second")
            await until(lambda: limiter.waiting == 2)
            doomed.cancel()
            await until(lambda: limiter.waiting == 1)
            held.release()
    assert order == ["second"]


async def test_many_cancelled_waiters_do_not_pile_up() -> None:
    limiter = RateLimiter(RateLimit(1, 10))
    await limiter.acquire()
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            for _ in range(1000):
                tg.start_soon(limiter.acquire)
            await until(lambda: limiter.waiting == 1000)
            tg.cancel_scope.cancel()
    assert (limiter.waiting, limiter.in_flight) == (0, 1)
    assert limiter.queue_length <= 16


async def test_a_thousand_waiters_in_order_without_a_herd() -> None:
    rate = RateLimit(1000, 0.2)
    limiter = RateLimiter(rate)
    rng = random.Random(7)
    held = [await limiter.acquire() for _ in range(1000)]
    order: list[tuple[int, int]] = []

    async def request(priority: Priority, seq: int) -> None:
        async with limiter.slot(priority):
            order.append((priority, seq))

    with anyio.fail_after(3):
        async with anyio.create_task_group() as tg:
            for seq in range(1000):
                tg.start_soon(request, Priority(rng.randrange(3)), seq)
            await until(lambda: limiter.waiting == 1000)
            for permit in held:
                permit.release()
            released = anyio.current_time()
            await until(lambda: len(order) == 1000)
            cascade = anyio.current_time() - released - rate.period
    assert order == sorted(order)
    assert cascade < 1.0, f"1000 admissions took {cascade:.3f} s after the slots freed"


async def test_cool_down_delays_everyone_and_never_shortens() -> None:
    limiter = RateLimiter(RateLimit(10, 0.1))
    origin = anyio.current_time()
    limiter.cool_down(0.15)
    limiter.cool_down(0.05)  # shorter: ignored
    limiter.cool_down(0)
    with anyio.fail_after(2):
        await limiter.acquire(Priority.TOKEN)
    assert anyio.current_time() - origin >= 0.15
    assert limiter.held == 1  # a cool-down holds a request as the budget does

    origin = anyio.current_time()
    limiter.cool_down(0.05)
    waited: list[float] = []

    async def request(priority: Priority) -> None:
        await limiter.acquire(priority)
        waited.append(anyio.current_time() - origin)

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(request, Priority.READ)
            tg.start_soon(request, Priority.MUTATION)
            await anyio.sleep(0.02)
            limiter.cool_down(0.15)  # a longer one while they wait: it holds them
    assert len(waited) == 2
    assert min(waited) >= 0.17
    assert max(waited) < 0.4


async def test_set_rate_wakes_waiters_at_once() -> None:
    limiter = RateLimiter(RateLimit(1, 5))
    (await limiter.acquire()).release()
    origin = anyio.current_time()
    with anyio.fail_after(1):
        async with anyio.create_task_group() as tg:
            tg.start_soon(limiter.acquire)
            await until(lambda: limiter.waiting == 1)
            limiter.set_rate(RateLimit(2, 5))
    assert anyio.current_time() - origin < 0.5  # instead of 5 s
    assert limiter.rate == RateLimit(2, 5)
    assert limiter.in_flight == 1

    limiter.set_rate(RateLimit(1, 5))  # lower: the record counts against the new limit
    with anyio.move_on_after(0.05) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught


async def test_a_permit_never_sent_frees_its_slot_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(1, 60), clock=clock)
    permit = await limiter.acquire()
    permit.release(sent=False)  # nothing left with it: no record, no period to wait
    with anyio.fail_after(1):
        sent = await limiter.acquire()
    sent.release()
    with anyio.move_on_after(0.05) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught, "a sent request's slot must stay taken for a period"


async def test_a_late_429_for_a_request_granted_under_an_older_limit_is_no_evidence() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(125, 1), clock=clock, lower_after=3)
    early = [await limiter.acquire() for _ in range(3)]
    for _ in range(3):
        limiter.note_rate_limited(early[0].generation)
    assert limiter.rate == RateLimit(25, 1)
    clock.advance(5)  # far past the one period of grace: the answers simply came late
    for _ in range(5):
        assert not limiter.note_rate_limited(early[0].generation)
    assert limiter.rate == RateLimit(25, 1)
    # 429s for requests granted under the new limit still count.
    fresh = await limiter.acquire()
    for _ in range(3):
        limiter.note_rate_limited(fresh.generation)
    assert limiter.rate.limit < 25
