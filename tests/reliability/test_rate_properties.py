"""The client's rate limiter against the emulator's own rate-limit models, on one fake clock.

For random arrival patterns, latencies, limits, windows, clock scales and window phases, the
client's :class:`RateLimiter` decides when each request starts (it is asked only when its
rule allows, so it never has to sleep: ``held`` stays 0), the request reaches the server at
some moment between its start and its completion (at the very start, at the very end, or
anywhere between: the network's share of the latency), and the emulator's limiter of each
model (:mod:`aura_async.emulator.ratelimit`, fed emulated time, ``count_rejected`` either way)
accepts or rejects it there, while the emulator's :class:`AcceptedWindow` witnesses the
densest window it accepted. Everything is a discrete-event simulation on fake clocks: no
wall time, deterministic.

Properties:

- safety: no window of the server ever holds more than the limit of the client's requests
  (``AcceptedWindow`` and an independent count over every arrival agree), and the server
  rejects none of them, whichever model it counts with: fixed windows at any phase of the
  clock, a sliding log, or the gateway's bucket of size ``limit`` refilling ``limit`` per
  window (a bucket that, unlike the client, may pass twice the limit in a window; the
  client must still never be refused by it);
- throughput when saturated: a slot frees one window (plus the limiter's 0.1 % slack) after
  its request COMPLETES, so with latencies up to ``L`` a saturated client starts at least
  ``limit`` requests in every span of ``W * 1.001 + L`` during which requests wait, and a
  backlog of ``M`` requests is all started within ``ceil(M / limit)`` such spans. That is at
  least 0.999 x ``limit`` per ``W + L``: within 10 % of the limit whenever the latency is at
  most a tenth of the window (the live API: W = 60 s, latency well under a second), and
  exactly the limit per window at zero latency. (With latency the period is ``W + L``, not
  ``W``: the cost of never having to guess when a request reached the server.)
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections import deque

import anyio
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_async._http.limiter import LocalBudget, Permit, RateLimit, RateLimiter
from aura_async.emulator.ratelimit import AcceptedWindow, Limiter, make_limiter

MODELS = ("fixed", "sliding", "bucket")
# Emulated time starts at a wall-clock epoch, as the emulator's clocks do; the phase of the
# fixed windows against it is drawn per example.
EPOCH = 1_767_225_600.0
# The limiter's margin for float noise, a fraction of the period (DESIGN.md: "+0.1 %").
SLACK = 1e-3


def report(line: str) -> None:
    """Show a measured figure (run with -s to see them)."""
    print(line)  # noqa: T201  (the figures are the point)


class FakeClock:
    """The client's clock: moves only when the simulation says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@attrs.define
class Request:
    arrival: float  # when the caller asked for it (client seconds)
    latency: float  # start -> completion
    uplink: float  # the share of the latency before it reaches the server, 0..1
    start: float = math.nan
    at_server: float = math.nan
    completion: float = math.nan
    accepted: bool | None = None


@attrs.define
class Server:
    """One emulator limiter of a model, on emulated time, and its witness."""

    model: str
    limit: int
    window: float  # emulated seconds
    scale: float
    origin: float
    count_rejected: bool
    limiter: Limiter = attrs.field(init=False)
    witness: AcceptedWindow = attrs.field(init=False)
    arrivals: list[float] = attrs.Factory(list)
    rejected: int = 0

    def __attrs_post_init__(self) -> None:
        self.limiter = make_limiter(
            self.model, self.limit, self.window, count_rejected=self.count_rejected
        )
        self.witness = AcceptedWindow(self.window)

    def receive(self, client_time: float) -> bool:
        now = self.origin + client_time * self.scale
        self.arrivals.append(now)
        wait = self.limiter.try_acquire(now)
        if wait is None:
            self.witness.record(now)
            return True
        self.rejected += 1
        return False


async def simulate(rate: RateLimit, server: Server, requests: list[Request]) -> RateLimiter:
    """Drive the client's limiter and the server's through every request, in time order.

    Requests wait in arrival order (first come, first served, as the limiter queues one
    priority). At each moment: arrivals at the server are judged, completions release their
    permits, new callers join the queue, then the queue's head starts while the rule allows.
    """
    clock = FakeClock()
    budget = LocalBudget(rate)
    limiter = RateLimiter(rate, budget=budget, clock=clock)
    ledger = budget.log  # the rule itself, to know when to ask
    order = sorted(range(len(requests)), key=lambda i: (requests[i].arrival, i))
    events: list[tuple[float, int, int, int]] = []  # (time, kind, sequence, index)
    permits: dict[int, Permit] = {}
    waiting: deque[int] = deque()
    sequence = 0
    joined = 0
    ARRIVE, COMPLETE = 0, 1  # at one instant, judge arrivals before releasing slots

    while joined < len(order) or waiting or events:
        moments = []
        if events:
            moments.append(events[0][0])
        if joined < len(order):
            moments.append(requests[order[joined]].arrival)
        if waiting:
            moments.append(ledger.ready_at(clock.now))
        now = min(moments)
        assert now < math.inf, "requests wait with nothing in flight: the limiter is stuck"
        assert now >= clock.now
        clock.now = now
        while True:
            while events and events[0][0] <= now:
                _, kind, _, index = heapq.heappop(events)
                request = requests[index]
                if kind == ARRIVE:
                    request.accepted = server.receive(now)
                else:
                    request.completion = now
                    permits.pop(index).release()
            while joined < len(order) and requests[order[joined]].arrival <= now:
                waiting.append(order[joined])
                joined += 1
            started = False
            while waiting and ledger.ready_at(now) <= now:
                index = waiting.popleft()
                with anyio.fail_after(1):  # it must not wait: the rule said it may start
                    permits[index] = await limiter.acquire()
                request = requests[index]
                request.start = now
                request.at_server = now + request.latency * request.uplink
                done = now + request.latency
                sequence += 1
                heapq.heappush(events, (request.at_server, ARRIVE, sequence, index))
                sequence += 1
                heapq.heappush(events, (max(done, request.at_server), COMPLETE, sequence, index))
                started = True
            if not started and not (events and events[0][0] <= now):
                break
    return limiter


def densest(times: list[float], window: float) -> int:
    """The most of ``times`` in any half-open interval ``(t - window, t]``."""
    ordered = sorted(times)
    return max(
        (i + 1 - bisect_right(ordered, t - window, 0, i + 1) for i, t in enumerate(ordered)),
        default=0,
    )


def check_safe(
    rate: RateLimit, server: Server, requests: list[Request], limiter: RateLimiter
) -> None:
    assert all(r.accepted is not None for r in requests), "a request never reached the server"
    assert limiter.held == 0, "the limiter made a request wait that its own rule admitted"
    assert limiter.in_flight == 0
    # No window of the server holds more than the limit, as the emulator witnesses it and as
    # counted independently over every arrival (accepted or not).
    assert server.witness.max_in_window <= rate.limit
    assert densest(server.arrivals, server.window) <= rate.limit
    # And whatever the model counts with, it refused nothing.
    assert server.rejected == 0, (server.model, server.rejected)


def check_saturated(rate: RateLimit, requests: list[Request], since: float) -> float:
    """The backlog waiting at ``since`` starts at the full rate.

    Returns the starts achieved per ``W + L`` (counting the last, perhaps partial, batch as
    a whole span), as a fraction of the limit.
    """
    backlog = sorted(r.start for r in requests if r.arrival <= since <= r.start)
    if not backlog:
        return math.nan
    latency = max(r.latency for r in requests)
    # How soon a slot is used again, at worst: its request completes at most L after it
    # started, and its slot frees one period plus the documented 0.1 % after that.
    span = rate.period * (1 + SLACK) + latency
    tolerance = 1e-9 * max(1.0, abs(since) + span)
    starts = sorted(r.start for r in requests)
    # While requests wait, the span just before each start held at least `limit` starts
    # (a start exactly one span earlier frees its slot only at that moment).
    for moment in sorted(set(backlog)):
        if moment > since:
            held = bisect_left(starts, moment) - bisect_left(starts, moment - span - tolerance)
            assert held >= rate.limit, (moment - since, held, rate.limit, span)
    # So the whole backlog is started within ceil(M / limit) spans: `limit` per span of
    # W * 1.001 + L, which is at least 0.9 x the limit per W + L, as the issue asks.
    batches = math.ceil(len(backlog) / rate.limit)
    assert backlog[-1] - since <= batches * span + tolerance, (backlog[-1] - since, batches, span)
    return len(backlog) / (batches * span) * (rate.period + latency) / rate.limit


# --------------------------------------------------------------------------- the properties


def traffic(draw: st.DrawFn, limit: int, period: float) -> tuple[list[Request], float]:
    """Random arrivals (bursts, gaps, quiet spells), then a saturating backlog.

    Returns the requests and the moment the backlog arrived.
    """
    requests: list[Request] = []
    now = 0.0
    shares = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1))
    for _ in range(draw(st.integers(0, 40))):
        now += period * draw(st.one_of(st.just(0.0), st.floats(0, 0.5), st.floats(0.5, 3)))
        latency = period * draw(st.one_of(st.just(0.0), st.floats(0, 0.3), st.floats(0.3, 3)))
        burst = draw(st.integers(1, 2 * limit))
        requests.extend(Request(now, latency, draw(shares)) for _ in range(burst))
    now += period * draw(st.one_of(st.just(0.0), st.floats(0, 2)))
    # The backlog: several windows' worth at once, latencies up to a window.
    most = period * draw(st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]))
    fixed = draw(st.booleans())
    for _ in range(limit * draw(st.integers(2, 5)) + draw(st.integers(0, limit - 1))):
        latency = most if fixed else draw(st.floats(0, most)) if most else 0.0
        requests.append(Request(now, latency, draw(shares)))
    return requests, now


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[RateLimit, Server, list[Request], float]:
    limit = draw(st.one_of(st.integers(1, 12), st.sampled_from([25, 40])))
    period = draw(st.sampled_from([0.05, 1.0, 60.0]))
    scale = draw(st.sampled_from([1.0, 60.0, 1200.0, 3600.0]))
    window = period * scale
    server = Server(
        model=draw(st.sampled_from(MODELS)),
        limit=limit,
        window=window,
        scale=scale,
        # The fixed windows' phase against the client's clock.
        origin=EPOCH + window * draw(st.floats(0, 1, exclude_max=True)),
        count_rejected=draw(st.booleans()),
    )
    requests, since = traffic(draw, limit, period)
    return RateLimit(limit, period), server, requests, since


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(scenario=scenarios())
def test_no_window_of_any_model_ever_holds_more_than_the_limit_and_throughput_is_full(
    scenario: tuple[RateLimit, Server, list[Request], float],
) -> None:
    rate, server, requests, since = scenario
    limiter = anyio.run(simulate, rate, server, requests)
    check_safe(rate, server, requests, limiter)
    check_saturated(rate, requests, since)


# --------------------------------------------------------------------------- the figures


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("latency", [0.0, 0.05, 1.0, 6.0, 30.0])
def test_saturated_throughput_at_the_paid_limit(model: str, latency: float) -> None:
    """1000 requests at once at 125 per 60 s: the backlog runs at 125 per (W + L)."""
    rate = RateLimit(125, 60.0)
    server = Server(model, 125, 60.0, 1.0, EPOCH + 17.0, count_rejected=True)
    requests = [Request(0.0, latency, 0.5) for _ in range(1000)]
    limiter = anyio.run(simulate, rate, server, requests)
    check_safe(rate, server, requests, limiter)
    achieved = check_saturated(rate, requests, 0.0)
    last = max(r.start for r in requests)
    per_window = (len(requests) - rate.limit) / last * rate.period  # batches after the first
    report(
        f"{model:>7}, latency {latency:>4g} s: {per_window:6.2f} requests per 60 s "
        f"({per_window / rate.limit:.1%} of the limit; {achieved:.1%} of 125 per W + L), "
        f"densest window at the server {server.witness.max_in_window}"
    )
    assert per_window >= 0.999 * rate.limit * rate.period / (rate.period + latency)
    if latency <= rate.period / 10:
        assert per_window >= 0.9 * rate.limit
