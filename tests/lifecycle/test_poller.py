"""The one poller per client: shared polls, when polls happen, cancellation, the event stream.

Every test runs the emulator in process (``httpx.ASGITransport``) behind a spy transport that
notes each request the client lets out: when it started, when it was answered, how many instance
GETs were in flight at once. Most use a ``ManualClock``: instances stay ``creating`` until the
test moves the emulated clock, while the client polls on its real (tiny) intervals, so a test
decides exactly when an operation finishes. The emulator's own counters are the second witness.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import json
import logging
import math
import re
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import attrs
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aura_async import AuraClient, RateLimit, RetryPolicy
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    Clock,
    Durations,
    EmulatorConfig,
    ErrorFault,
    FaultPlan,
    ManualClock,
    RateLimitSettings,
    RequestFilter,
    ScaledClock,
    create_app,
)
from aura_async.errors import ServerError, WaitCancelledError, WaitTimeoutError
from aura_async.events import (
    RateLimited,
    RequestSent,
    ResponseReceived,
    RetryScheduled,
    TokenRefreshed,
)
from aura_async.lifecycle import (
    Operation,
    OperationSubmitted,
    PollPolicy,
    StatusChanged,
    StatusObserved,
    Subscription,
    TargetReached,
    UnknownStatusSeen,
    WaitCancelled,
    WaitFailed,
    WaitTimedOut,
    to_json,
)
from aura_async.models import Instance, InstanceStatus

BASE_URL = "http://emulator.test"
GET_ROUTE = "GET /v1/instances/{instanceId}"
INSTANCE_PATH = re.compile(r"^/v1/instances/([0-9a-f]{8})$")
CREATE_SECONDS = 120.0  # emulated; Durations(jitter=0) makes it exact
LIFECYCLE_KINDS = (
    OperationSubmitted,
    StatusObserved,
    StatusChanged,
    UnknownStatusSeen,
    TargetReached,
    WaitFailed,
    WaitTimedOut,
    WaitCancelled,
)

# First poll after max(min_interval, 0.5 * 0.04) = 20 ms, then every 20 ms: rounds are short
# enough to run dozens in a test, long enough that the spacing between them is unmistakable.
INTERVAL = 0.02
FAST = PollPolicy(
    expected=dict.fromkeys(Operation, 2 * INTERVAL),
    min_interval=INTERVAL,
    max_interval=2.5 * INTERVAL,
)
# Timer noise: asyncio may fire a timer a hair early, never a tenth of an interval early.
EARLY = 0.9


@attrs.define
class Sent:
    """One request the client let out, as the spy saw it."""

    method: str
    path: str
    started: float
    answered: float | None = None

    @property
    def instance(self) -> str | None:
        """The instance a GET polled, or None for any other request."""
        match = INSTANCE_PATH.match(self.path)
        return match.group(1) if match and self.method == "GET" else None


class Spy(httpx.AsyncBaseTransport):
    """Forwards to the emulator, noting every request and the instance GETs in flight."""

    def __init__(self, inner: httpx.AsyncBaseTransport, latency: float = 0.0) -> None:
        self.inner = inner
        self.latency = latency
        self.log: list[Sent] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = Sent(request.method, request.url.path, anyio.current_time())
        self.log.append(sent)
        poll = sent.instance is not None
        if poll:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await anyio.sleep(self.latency)
            response = await self.inner.handle_async_request(request)
        finally:
            if poll:
                self.in_flight -= 1
        sent.answered = anyio.current_time()
        return response

    def polls(self, instance_id: str | None = None) -> list[Sent]:
        """The answered GETs of one instance (of any instance when None), in order."""
        return [
            s
            for s in self.log
            if s.instance is not None
            and s.answered is not None
            and (instance_id is None or s.instance == instance_id)
        ]

    def polled(self) -> Counter[str]:
        """Answered GETs per instance."""
        return Counter(s.instance for s in self.polls() if s.instance is not None)


class Recorder:
    """An ``on_event`` callback that keeps everything it is given."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def __call__(self, event: object) -> None:
        self.events.append(event)

    def of(self, kind: type[Any], resource_id: str | None = None) -> list[Any]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (resource_id is None or e.resource_id == resource_id)
        ]


@attrs.define
class Rig:
    """A client wired to an in-process emulator, with the witnesses the tests read."""

    aura: AuraClient
    clock: Clock
    spy: Spy
    control: httpx.AsyncClient
    recorder: Recorder

    def advance(self, seconds: float = CREATE_SECONDS) -> None:
        """Move the emulated clock (a create finishes after ``CREATE_SECONDS``)."""
        self.clock.advance(seconds)

    async def create(self, name: str = "db") -> str:
        """Start creating an instance (no wait); return its id."""
        created = await self.aura.instances.create(
            name=name,
            type="professional-db",
            region="europe-west1",
            memory="2GB",
            cloud_provider="gcp",
        )
        return created.id

    async def counters(self) -> dict[str, Any]:
        response = await self.control.get("/_emulator/counters")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def gets(self, status: str | None = None) -> int:
        """Instance GETs the emulator answered (with ``status`` only, when given)."""
        by_status = (await self.counters())["requests"].get(GET_ROUTE, {})
        return sum(n for s, n in by_status.items() if status is None or s == status)

    @property
    def polls(self) -> int:
        return self.aura.watcher.polls

    def idle(self) -> bool:
        """No wait runs and no watch of any resource is left behind."""
        watcher = self.aura.watcher
        return watcher.active == 0 and not watcher._watches


def emulator_config(**overrides: Any) -> EmulatorConfig:
    options: dict[str, Any] = {
        "seed": 7,
        "durations": Durations(jitter=0),
        "rate_limit": RateLimitSettings(enabled=False),
    }
    options.update(overrides)
    return EmulatorConfig(**options)


@asynccontextmanager
async def make_rig(
    *,
    poll: PollPolicy = FAST,
    latency: float = 0.0,
    clock: Clock | None = None,
    config: EmulatorConfig | None = None,
    rate_limit: RateLimit | None = None,
    retry: RetryPolicy | None = None,
    on_event: Callable[[object], None] | None = None,
) -> AsyncIterator[Rig]:
    app = create_app(config or emulator_config(), clock=clock or ManualClock())
    spy = Spy(httpx.ASGITransport(app=app), latency=latency)
    recorder = Recorder()
    aura = AuraClient(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        tenant_id=DEFAULT_PROJECT_ID,
        base_url=BASE_URL,
        rate_limit=rate_limit,
        retry=retry,
        transport=spy,
        poll=poll,
        on_event=on_event or recorder,
    )
    control = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
    try:
        yield Rig(aura, app.state.emulator.clock, spy, control, recorder)
    finally:
        await aura.aclose()
        await control.aclose()


async def until(condition: Callable[[], bool], *, within: float = 3.0) -> None:
    """Let the client run until ``condition()`` holds; fail after ``within`` seconds."""
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.002)


def gaps(polls: list[Sent]) -> list[float]:
    """Seconds between each answer and the start of the next GET of the same instance."""
    return [
        later.started - earlier.answered
        for earlier, later in itertools.pairwise(polls)
        if earlier.answered is not None
    ]


def assert_one_get_per_round(spy: Spy, policy: PollPolicy = FAST) -> None:
    """No instance was polled again before the interval after its previous answer passed."""
    for instance in spy.polled():
        short = [g for g in gaps(spy.polls(instance)) if g < EARLY * policy.min_interval]
        assert not short, f"{instance} polled twice within one round: gaps {short}"


async def drain(subscription: Subscription) -> list[Any]:
    """Everything a subscription still holds, once it is closed."""
    subscription.close()
    return [event async for event in subscription]


async def task_count() -> int:
    await anyio.sleep(0.01)  # let finished tasks be reaped
    return len(anyio.get_running_tasks())


# --- shared polling --------------------------------------------------------------------------


async def test_many_waiters_on_one_instance_share_one_get_per_round() -> None:
    """Twenty waiters on one instance cost what one waiter on another instance costs."""
    async with make_rig() as rig:
        alone, shared = await rig.create("alone"), await rig.create("shared")
        results: dict[str, list[Instance | None]] = {alone: [], shared: []}

        async def wait(instance_id: str) -> None:
            results[instance_id].append(await rig.aura.instances.wait(instance_id))

        started = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait, alone)
            for _ in range(20):
                tg.start_soon(wait, shared)
            await until(lambda: rig.polls >= 16)
            rig.advance()
        elapsed = anyio.current_time() - started

        assert [r.status for r in results[shared] if r] == [InstanceStatus.RUNNING] * 20
        assert {r.id for r in results[shared] if r} == {shared}
        (lone,) = results[alone]
        assert lone is not None
        assert lone.id == alone
        polled = rig.spy.polled()
        # N waiters do not multiply GETs: the shared instance costs what the lone one costs.
        assert abs(polled[shared] - polled[alone]) <= 1, polled
        # Every GET the emulator answered is one of the watcher's polls: one per round, and
        # the rounds can be no more than the time allows at one per interval.
        assert await rig.gets() == rig.polls == polled[shared] + polled[alone]
        rounds = math.floor(elapsed / INTERVAL) + 1
        assert polled[shared] <= rounds, (polled, rounds)
        assert_one_get_per_round(rig.spy)
        # One observation per round, seen by all twenty, published once.
        assert len(rig.recorder.of(StatusObserved, shared)) == polled[shared]
        assert rig.idle()


async def test_waiters_on_different_instances_each_get_polled() -> None:
    async with make_rig() as rig:
        ids = [await rig.create(f"db-{i}") for i in range(5)]
        results: list[Instance | None] = []

        async def wait(instance_id: str) -> None:
            results.append(await rig.aura.instances.wait(instance_id))

        async with anyio.create_task_group() as tg:
            for instance_id in ids:
                tg.start_soon(wait, instance_id)
                tg.start_soon(wait, instance_id)
            await until(lambda: all(rig.spy.polled()[i] >= 3 for i in ids))
            rig.advance()

        assert sorted(r.id for r in results if r) == sorted(ids * 2)
        polled = rig.spy.polled()
        assert set(polled) == set(ids)
        # Fair: no instance starves while another is polled (all are on the same interval).
        assert max(polled.values()) - min(polled.values()) <= 2, polled
        assert sum(polled.values()) == rig.polls == await rig.gets()
        assert_one_get_per_round(rig.spy)
        assert rig.idle()


async def test_polls_in_flight_are_bounded_by_the_policy() -> None:
    policy = attrs.evolve(FAST, max_in_flight=3)
    # Each GET takes 30 ms, longer than the interval: twelve instances would all be in flight.
    async with make_rig(poll=policy, latency=0.03) as rig:
        ids = [await rig.create(f"db-{i}") for i in range(12)]
        async with anyio.create_task_group() as tg:
            for instance_id in ids:
                tg.start_soon(rig.aura.instances.wait, instance_id)
            await until(lambda: all(rig.spy.polled()[i] >= 2 for i in ids))
            rig.advance()

        assert rig.spy.max_in_flight == 3
        assert set(rig.spy.polled()) == set(ids)
        assert rig.idle()


async def test_a_failed_poll_fails_every_waiter_that_shared_it() -> None:
    """A poll whose retries ran out is not sent again by each waiter in turn."""
    only_gets = RequestFilter(methods=("GET",), route="/instances/{instanceId}")
    config = emulator_config(faults=FaultPlan(errors=(ErrorFault(503, 1.0, only=only_gets),)))
    retry = RetryPolicy(max_retries=1, base_delay=0.001, max_delay=0.001)
    async with make_rig(config=config, retry=retry) as rig:
        instance_id = await rig.create()
        errors: list[BaseException] = []

        async def wait() -> None:
            try:
                await rig.aura.instances.wait(instance_id)
            except ServerError as error:
                errors.append(error)

        with anyio.fail_after(2):
            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(wait)

        assert len(errors) == 10
        assert await rig.gets("503") == 2  # one poll and its one resend, for all ten
        assert rig.idle()


# --- when polls happen -----------------------------------------------------------------------


async def test_a_first_wait_scouts_from_the_shortest_gap_up_a_geometric_ladder() -> None:
    """Nothing known of creates: polls at min_interval, then each scout_growth x the last age."""
    policy = PollPolicy(
        expected={Operation.CREATE: 100.0},  # a hint far off: it must not delay anything
        min_interval=0.02,
        max_interval=10.0,
        scout_growth=1.5,
    )
    async with make_rig(poll=policy) as rig:
        instance_id = await rig.create()
        started = anyio.current_time()
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(rig.aura.instances.wait, instance_id)
                await until(lambda: len(rig.spy.polls()) >= 5)
                scope.cancel()
    ages = [poll.started - started for poll in rig.spy.polls()[:5]]
    # 0.02, then max(age + min_interval, 1.5 x age): 0.04, 0.06, 0.09, 0.135 (plus latency)
    assert 0.02 <= ages[0] < 0.02 + 0.05
    for before, after in itertools.pairwise(ages):
        assert after >= max(before + 0.02, 1.5 * before) * EARLY, ages
    assert ages[4] < 0.135 + 0.15, ages


async def _create_and_time(rig: Rig, name: str) -> tuple[float, int]:
    """Create with wait=True; return the seconds it took and the GETs it cost."""
    before = len(rig.spy.polls())
    started = anyio.current_time()
    created = await rig.aura.instances.create(
        name=name,
        type="professional-db",
        region="europe-west1",
        memory="2GB",
        cloud_provider="gcp",
        wait=True,
    )
    took = anyio.current_time() - started
    assert rig.spy.polls()[-1].instance == created.id
    return took, len(rig.spy.polls()) - before


def _scaled(real_create_seconds: float) -> dict[str, Any]:
    """A real-time emulator in which a create takes ``real_create_seconds``."""
    scale = CREATE_SECONDS / real_create_seconds
    return {
        "clock": ScaledClock(scale),
        "config": emulator_config(time_scale=scale, token_lifetime=3600 * scale),
    }


async def test_a_hint_far_too_long_does_not_delay_a_quick_operation() -> None:
    """The hint says 6 s; creates take 0.2 s: even the first wait sees it done within 30 %."""
    policy = PollPolicy(expected={Operation.CREATE: 6.0}, min_interval=0.01, max_interval=1.0)
    async with make_rig(poll=policy, **_scaled(0.2)) as rig:
        first, _ = await _create_and_time(rig, "first")
        learnt = rig.aura.watcher.expected(Operation.CREATE)
        second, second_gets = await _create_and_time(rig, "second")

    assert first < 0.2 * 1.3 + 0.1  # the ladder's step, plus a request's latency
    assert 0.15 < learnt < 0.3  # what it measured, not the hint
    assert second < 0.2 * 1.3 + 0.1
    assert second_gets <= 3  # planned from what the first taught, not scouted again


async def test_waits_poll_fewer_times_once_the_client_saw_operations_take_long() -> None:
    """The hint says 20 ms; creates take 0.4 s: the second wait spends far fewer GETs.

    The first climbs the scouting ladder from 5 ms (each poll 1.3 times the last age, about
    15 GETs); the second polls where the first one finished: a GET or two.
    """
    policy = PollPolicy(
        expected={Operation.CREATE: 0.02},
        min_interval=0.005,
        max_interval=1.0,
    )
    async with make_rig(poll=policy, **_scaled(0.4)) as rig:
        _, first_gets = await _create_and_time(rig, "first")
        learnt = rig.aura.watcher.expected(Operation.CREATE)
        _, second_gets = await _create_and_time(rig, "second")

    assert learnt >= 0.3
    assert first_gets >= 10
    assert second_gets * 3 <= first_gets, (first_gets, second_gets)


async def test_a_duration_shared_by_many_waiters_is_learnt_once() -> None:
    """Five waiters on a quick create and one on a slow one: two measurements, not six."""
    policy = PollPolicy(expected={Operation.CREATE: 0.02}, min_interval=0.01, max_interval=0.01)
    async with make_rig(poll=policy) as rig:
        quick = await rig.create("quick")
        rig.advance(CREATE_SECONDS / 2)
        slow = await rig.create("slow")
        # Waits told when their operation started: only those teach durations.
        submitted = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(partial(rig.aura.instances.wait, quick, submitted=submitted))
            tg.start_soon(partial(rig.aura.instances.wait, slow, submitted=submitted))
            await anyio.sleep(0.05)
            rig.advance(CREATE_SECONDS / 2)  # the quick one is done, the slow one half way
            await until(lambda: len(rig.recorder.of(TargetReached, quick)) == 5)
            await anyio.sleep(0.15)
            rig.advance(CREATE_SECONDS / 2)

    (took_slow,) = (e.elapsed for e in rig.recorder.of(TargetReached, slow))
    took_quick = min(e.elapsed for e in rig.recorder.of(TargetReached, quick))
    assert took_slow - took_quick > 0.1
    # Two measurements; five copies of the quick one would make six.
    estimate = rig.aura.watcher.planner.estimate(Operation.CREATE)
    assert estimate.finished == 2
    assert estimate.busy == 0


async def test_polls_wait_behind_mutations_for_the_rate_limit() -> None:
    """Polls are reads: a create queued after them at the limiter is still sent first."""
    policy = PollPolicy(expected={Operation.CREATE: 0.0}, min_interval=0.001)
    async with make_rig(poll=policy, rate_limit=RateLimit(1, 0.05)) as rig:
        ids = [await rig.create(f"db-{i}") for i in range(3)]
        limiter = rig.aura.limiter
        assert limiter is not None
        async with anyio.create_task_group() as tg:
            for instance_id in ids:
                tg.start_soon(rig.aura.instances.wait, instance_id)
            # Right after a GET was let through, with two more queued: the next slot is a
            # whole period away, and the create joins the queue long before it.
            sent = len(rig.spy.log)
            await until(lambda: len(rig.spy.log) > sent and limiter.waiting >= 2)
            sent_before = len(rig.spy.log)
            tg.start_soon(rig.create, "urgent")
            await until(lambda: len(rig.spy.log) > sent_before)
            assert (rig.spy.log[sent_before].method, rig.spy.log[sent_before].path) == (
                "POST",
                "/v1/instances",
            )
            tg.cancel_scope.cancel()


# --- cancellation ----------------------------------------------------------------------------


async def _cancel_by(how: str, rig: Rig, instance_id: str) -> None:
    """Run one wait until it has polled three times or so, then cancel it as ``how`` says."""
    wait = rig.aura.instances.wait
    if how == "move_on_after":  # a deadline around the wait
        with anyio.move_on_after(INTERVAL * 7.5) as deadline:
            await wait(instance_id)
        assert deadline.cancelled_caught
    elif how == "cancel_scope":  # a handle cancelled from outside, by another task
        scope = anyio.CancelScope()

        async def run() -> None:
            with scope:
                await wait(instance_id)

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await until(lambda: rig.polls >= 3)
            scope.cancel()
    else:  # the task group it runs in is cancelled
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait, instance_id)
            await until(lambda: rig.polls >= 3)
            tg.cancel_scope.cancel()


@pytest.mark.parametrize("how", ["move_on_after", "cancel_scope", "task_group"])
async def test_a_cancelled_wait_sends_nothing_more_and_leaves_nothing_behind(how: str) -> None:
    async with make_rig() as rig:
        instance_id = await rig.create()
        tasks = await task_count()
        await _cancel_by(how, rig, instance_id)

        assert rig.idle()
        assert await task_count() == tasks
        gets = await rig.gets()
        assert rig.polls >= 1
        # A deadline may land while a GET is in flight: the server may have answered it.
        assert rig.polls <= gets <= rig.polls + 1
        sent = len(rig.spy.log)
        for _ in range(3):  # the operation goes on; nobody asks any more
            rig.advance(CREATE_SECONDS / 3)
            await anyio.sleep(3 * INTERVAL)
        assert await rig.gets() == gets
        assert len(rig.spy.log) == sent
        (cancelled,) = rig.recorder.of(WaitCancelled, instance_id)
        assert cancelled.status == InstanceStatus.CREATING
        assert cancelled.operation is Operation.CREATE
        assert rig.recorder.of(TargetReached) == []


@pytest.mark.parametrize("moment", ["between polls", "during a poll"])
async def test_when_the_leader_is_cancelled_another_waiter_takes_over(moment: str) -> None:
    async with make_rig(latency=0.01) as rig:
        instance_id = await rig.create()
        results: list[Instance | None] = []
        scopes = [anyio.CancelScope() for _ in range(3)]

        async def wait(scope: anyio.CancelScope) -> None:
            with scope:
                results.append(await rig.aura.instances.wait(instance_id))

        async with anyio.create_task_group() as tg:
            for scope in scopes:  # the first to start leads
                tg.start_soon(wait, scope)
            await until(lambda: rig.polls >= 2)
            watch = rig.aura.watcher._watches[instance_id]
            leader = watch.leader
            assert leader is not None
            if moment == "during a poll":
                await until(lambda: rig.spy.in_flight == 1)
            else:
                await until(lambda: rig.spy.in_flight == 0)
            polls = rig.polls
            scopes[0].cancel()
            await until(lambda: leader not in watch.waiters)
            assert len(watch.waiters) == 2
            assert watch.leader is not leader
            await until(lambda: rig.polls >= polls + 2)  # the others keep polling
            rig.advance()

        assert [r.status for r in results if r] == [InstanceStatus.RUNNING] * 2
        assert len(rig.recorder.of(WaitCancelled, instance_id)) == 1
        assert len(rig.recorder.of(TargetReached, instance_id)) == 2
        assert_one_get_per_round(rig.spy)
        assert rig.idle()


@pytest.mark.parametrize("close", ["aclose", "async with"])
async def test_closing_the_client_ends_every_wait_at_once(close: str) -> None:
    errors: list[BaseException] = []
    closed_at: list[float] = []
    done_at: list[float] = []

    async with make_rig(latency=0.005) as rig:
        ids = [await rig.create(f"db-{i}") for i in range(3)]

        async def wait(instance_id: str) -> None:
            try:
                await rig.aura.instances.wait(instance_id)
            except WaitCancelledError as error:
                errors.append(error)
            done_at.append(anyio.current_time())

        async with anyio.create_task_group() as tg:
            if close == "async with":
                async with rig.aura:
                    for instance_id in ids * 2:
                        tg.start_soon(wait, instance_id)
                    await until(lambda: rig.polls >= 6)
                    closed_at.append(anyio.current_time())
            else:
                for instance_id in ids * 2:
                    tg.start_soon(wait, instance_id)
                await until(lambda: rig.polls >= 6)
                closed_at.append(anyio.current_time())
                await rig.aura.aclose()

        assert len(errors) == 6
        assert max(done_at) - closed_at[0] < 0.5  # not when the creates end: never
        for error in errors:
            assert isinstance(error, WaitCancelledError)
            assert error.resource_id in ids
            assert error.operation == "create"
            assert error.last_status == InstanceStatus.CREATING
        assert rig.idle()
        assert len(rig.recorder.of(WaitCancelled)) == 6

        gets, sent = await rig.gets(), len(rig.spy.log)
        rig.advance()
        await anyio.sleep(5 * INTERVAL)
        assert (await rig.gets(), len(rig.spy.log)) == (gets, sent)
        with pytest.raises(WaitCancelledError):
            await rig.aura.instances.wait(ids[0])
        assert len(rig.spy.log) == sent


async def test_subscribers_see_the_waits_that_closing_the_client_cancelled() -> None:
    async with make_rig() as rig:
        instance_id = await rig.create()
        subscription = rig.aura.events(kinds=[WaitCancelled])
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(_expect_cancelled, rig, instance_id))
            await until(lambda: rig.polls >= 1)
            await rig.aura.aclose()
        assert len(rig.recorder.of(WaitCancelled)) == 1  # the callback has it
        received = await drain(subscription)
        assert [(type(e), e.resource_id) for e in received] == [(WaitCancelled, instance_id)]


async def _expect_cancelled(rig: Rig, instance_id: str) -> None:
    with pytest.raises(WaitCancelledError):
        await rig.aura.instances.wait(instance_id)


async def test_closing_sends_nothing_even_from_a_poll_just_given_its_slot() -> None:
    """A poll woken by the in-flight limiter right as the client closes does not go out.

    One poll at a time: B's poll waits for A's slot. The moment A's answer frees it, the
    client is closed (from the event hook, in that same step), so B wakes holding the slot
    with its wait already cancelled.
    """
    sent_at_close: list[int] = []
    holder: list[Rig] = []

    def close_on_first_answer(event: object) -> None:
        if isinstance(event, StatusObserved) and not sent_at_close:
            holder[0].aura.watcher.close()
            sent_at_close.append(len(holder[0].spy.log))

    policy = attrs.evolve(FAST, max_in_flight=1)
    async with make_rig(poll=policy, latency=0.01, on_event=close_on_first_answer) as rig:
        holder.append(rig)
        ids = [await rig.create("a"), await rig.create("b")]
        errors: list[BaseException] = []

        async def wait(instance_id: str) -> None:
            try:
                await rig.aura.instances.wait(instance_id)
            except WaitCancelledError as error:
                errors.append(error)

        with anyio.fail_after(2):
            async with anyio.create_task_group() as tg:
                for instance_id in ids:
                    tg.start_soon(wait, instance_id)
        await anyio.sleep(3 * INTERVAL)

        assert len(errors) == 2
        assert len(rig.spy.log) == sent_at_close[0]
        assert rig.idle()


# --- events ----------------------------------------------------------------------------------


async def _two_creates(rig: Rig, names: tuple[str, ...] = ("alpha", "beta")) -> dict[str, str]:
    """Create instances with wait=True, seen ``creating`` twice each; return name -> id."""

    def observed(name: str) -> int:
        return sum(1 for e in rig.recorder.of(StatusObserved) if e.name == name)

    async def create(name: str) -> None:
        await rig.aura.instances.create(
            name=name,
            type="professional-db",
            region="europe-west1",
            memory="2GB",
            cloud_provider="gcp",
            wait=True,
        )

    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(create, name)
        await until(lambda: all(observed(name) >= 2 for name in names))
        rig.advance()
    return {e.name: e.resource_id for e in rig.recorder.of(OperationSubmitted)}


def _lifecycle(events: list[object], resource_id: str) -> list[Any]:
    return [
        e
        for e in events
        if isinstance(e, LIFECYCLE_KINDS) and getattr(e, "resource_id", None) == resource_id
    ]


async def test_a_create_wait_streams_its_events_in_order_each_once() -> None:
    async with make_rig() as rig, rig.aura.events() as everything:
        ids = await _two_creates(rig)
        received = await drain(everything)

    assert everything.dropped == 0
    assert received == rig.recorder.events  # the callback's events, in the same order
    assert len(set(map(id, received))) == len(received)
    for name, instance_id in ids.items():
        mine = _lifecycle(received, instance_id)
        kinds = [type(e) for e in mine]
        middle = kinds[1:-3]
        assert kinds[0] is OperationSubmitted
        assert middle
        assert set(middle) == {StatusObserved}
        assert kinds[-3:] == [StatusObserved, StatusChanged, TargetReached]
        statuses = [e.status for e in mine[1:-2]]
        assert statuses == ["creating"] * len(middle) + ["running"]
        changed = mine[-2]
        assert (changed.previous, changed.status) == ("creating", "running")
        assert mine[-1].status == "running"
        assert len(set(mine)) == len(mine)  # none twice (equal events would collapse)
        assert all(e.name == name and e.operation is Operation.CREATE for e in mine)
        times = [e.monotonic for e in mine]
        assert times == sorted(times)
        assert all(e.elapsed >= 0 for e in mine)
    # Client events share the stream.
    assert any(isinstance(e, TokenRefreshed) for e in received)
    assert any(isinstance(e, RequestSent) and e.method == "POST" for e in received)


async def test_subscriptions_filter_by_resource_and_kind() -> None:
    async with make_rig() as rig:
        first = await rig.create("first")
        second = await rig.create("second")
        events = rig.aura.events
        async with (
            events(resource_ids=[first]) as only_first,
            events(kinds=[StatusChanged, TargetReached]) as only_changes,
            events(resource_ids=[second], kinds=[TargetReached]) as second_done,
        ):
            async with anyio.create_task_group() as tg:
                tg.start_soon(rig.aura.instances.wait, first)
                tg.start_soon(rig.aura.instances.wait, second)
                await until(lambda: min(rig.spy.polled()[i] for i in (first, second)) >= 2)
                rig.advance()
            by_first, by_kind, by_both = (
                await drain(only_first),
                await drain(only_changes),
                await drain(second_done),
            )

    assert by_first == _lifecycle(rig.recorder.events, first)
    assert {type(e) for e in by_first} >= {OperationSubmitted, StatusObserved, TargetReached}
    for instance_id in (first, second):
        mine = [type(e) for e in by_kind if e.resource_id == instance_id]
        assert mine == [StatusChanged, TargetReached]
    assert len(by_kind) == 4
    assert [(type(e), e.resource_id) for e in by_both] == [(TargetReached, second)]


async def test_a_slow_subscriber_loses_the_newest_events_and_slows_nothing() -> None:
    async with make_rig() as rig:
        instance_id = await rig.create()
        async with (
            rig.aura.events(resource_ids=[instance_id], buffer=2) as slow,
            rig.aura.events(resource_ids=[instance_id]) as reader,
        ):
            seen: list[object] = []

            async def read() -> None:
                seen.extend([event async for event in reader])

            with anyio.fail_after(2):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(read)
                    tg.start_soon(rig.aura.instances.wait, instance_id)
                    await until(lambda: rig.polls >= 10)
                    rig.advance()
                    await until(lambda: bool(rig.recorder.of(TargetReached)))
                    reader.close()
            kept = await drain(slow)

    assert len(seen) >= 13  # submitted, ten or more observations, changed, reached
    assert kept == seen[:2]
    assert slow.dropped == len(seen) - 2
    assert reader.dropped == 0
    assert isinstance(seen[-1], TargetReached)


async def test_a_subscription_opened_after_the_client_closed_ends_at_once() -> None:
    async with make_rig() as rig:
        pass
    with anyio.fail_after(1):
        async with rig.aura.events() as late:
            assert [event async for event in late] == []


async def test_a_subscription_needs_room_for_one_event() -> None:
    async with make_rig() as rig:
        with pytest.raises(ValueError, match="at least one event"):
            rig.aura.events(buffer=0)


async def test_a_subscription_read_to_its_end_leaves_nothing_open() -> None:
    """``async for`` without ``async with``: closing the client ends it and frees it."""
    async with make_rig() as rig:
        subscription = rig.aura.events()
        await rig.create()
    received = [event async for event in subscription]  # the client closed: it ends
    assert any(isinstance(e, RequestSent) for e in received)
    assert [event async for event in subscription] == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del subscription
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_every_lifecycle_event_serialises_to_json() -> None:
    config = emulator_config(faults=FaultPlan(create_failure=1.0))
    async with make_rig(config=config) as rig:
        broken = await rig.create("broken")
        async with anyio.create_task_group() as tg:
            tg.start_soon(_expect_failure, rig, broken)
            await until(lambda: rig.polls >= 2)
            rig.advance()
        async with anyio.create_task_group() as tg:  # a delete waits for the 404
            tg.start_soon(partial(rig.aura.instances.delete, broken, wait=True))
            await until(lambda: bool(rig.recorder.of(OperationSubmitted, broken)[1:]))
            rig.advance(30)
        slow = await rig.create("slow")
        with pytest.raises(Exception, match="timed out"):
            await rig.aura.instances.wait(slow, timeout=3 * INTERVAL)
        with anyio.move_on_after(2 * INTERVAL):
            await rig.aura.instances.wait(slow)

    events: list[Any] = [e for e in rig.recorder.events if isinstance(e, LIFECYCLE_KINDS)]
    events.append(
        UnknownStatusSeen(
            resource_id=slow,
            name=None,
            operation=Operation.CREATE,
            at=dt.datetime.now(dt.UTC),
            monotonic=1.0,
            elapsed=0.5,
            status="hibernating",
        )
    )
    assert {type(e) for e in events} == set(LIFECYCLE_KINDS)
    for event in events:
        data = json.loads(json.dumps(to_json(event)))
        assert data["kind"] == type(event).__name__
        assert data["resource_id"] == event.resource_id
        assert data["name"] == event.name
        assert data["operation"] == event.operation.value
        at = dt.datetime.fromisoformat(data["at"])
        assert at.tzinfo is not None
        assert abs((at - dt.datetime.now(dt.UTC)).total_seconds()) < 60
        assert isinstance(data["monotonic"], float)
        assert data["elapsed"] >= 0
        assert {f.name for f in attrs.fields(type(event))} <= set(data)
    client = [e for e in rig.recorder.events if not isinstance(e, LIFECYCLE_KINDS)]
    assert client
    for event in client:
        assert json.loads(json.dumps(to_json(event)))["kind"] == type(event).__name__


async def _expect_failure(rig: Rig, instance_id: str) -> None:
    with pytest.raises(Exception, match="loading failed"):
        await rig.aura.instances.wait(instance_id)


async def test_client_events_reach_subscribers_and_the_callback() -> None:
    # Two requests per emulated minute; Retry-After comes in 1/6000 of the emulated wait.
    config = emulator_config(
        rate_limit=RateLimitSettings(limit=2, window=60, retry_after="seconds")
    )
    clock = ManualClock(time_scale=6000)
    kinds = [RateLimited, TokenRefreshed, RequestSent]
    async with make_rig(config=config, clock=clock, rate_limit=RateLimit(100, 1.0)) as rig:
        subscription = rig.aura.events(kinds=kinds)
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(rig.aura.instances.list)
            await until(lambda: bool(rig.recorder.of(RateLimited)))
            rig.advance(60)
        received = await drain(subscription)

    counted = Counter(type(e) for e in received)
    assert counted[TokenRefreshed] == 1
    assert counted[RateLimited] >= 1
    assert counted[RequestSent] >= 4  # three lists and at least one resend
    assert set(counted) == set(kinds)
    callback = [e for e in rig.recorder.events if type(e) in counted]
    assert callback == received
    assert rig.recorder.of(RetryScheduled)
    assert any(isinstance(e, ResponseReceived) and e.status == 429 for e in rig.recorder.events)


async def test_a_raising_callback_is_logged_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[object] = []

    def hook(event: object) -> None:
        calls.append(event)
        raise RuntimeError("the hook broke")

    async with make_rig(on_event=hook) as rig:
        instance_id = await rig.create()
        with caplog.at_level(logging.ERROR, logger="aura_async"):
            async with rig.aura.events(resource_ids=[instance_id]) as sub:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(rig.aura.instances.wait, instance_id)
                    await until(lambda: rig.polls >= 2)
                    rig.advance()
                received = await drain(sub)

    assert isinstance(received[-1], TargetReached)
    assert [e for e in calls if isinstance(e, LIFECYCLE_KINDS)] == received
    logged = [r for r in caplog.records if "on_event hook raised" in r.getMessage()]
    assert len(logged) >= len(received)
    assert all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in logged)


# --- many waiters at random ------------------------------------------------------------------


@attrs.frozen
class Plan:
    """A random run: when each instance was created, and each waiter's start and cancel."""

    created: tuple[float, ...]  # emulated seconds between creates
    waiters: tuple[tuple[int, float, float | None], ...]  # instance, start, cancel after


plans = st.builds(
    Plan,
    created=st.tuples(*[st.sampled_from([0.0, 15.0, 30.0, 60.0])] * 3),
    waiters=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.sampled_from([0.0, 0.005, 0.02, 0.05, 0.1]),
            st.none() | st.sampled_from([0.0, 0.005, 0.015, 0.03, 0.06]),
        ),
        min_size=1,
        max_size=24,
    ).map(tuple),
)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(plan=plans)
async def test_random_waiters_and_cancellations(plan: Plan) -> None:
    CANCELLED = object()
    async with make_rig(latency=0.002) as rig:
        ids = []
        for gap in plan.created:
            rig.advance(gap)
            ids.append(await rig.create())
        outcomes: dict[int, object] = {}
        tasks = await task_count()

        async def waiter(index: int, instance: int, start: float, cancel: float | None) -> None:
            await anyio.sleep(start)
            with anyio.CancelScope() as scope:
                if cancel is not None:
                    scope.deadline = anyio.current_time() + cancel
                outcomes[index] = await rig.aura.instances.wait(ids[instance])
            if scope.cancelled_caught:
                outcomes[index] = CANCELLED

        async def drive() -> None:  # emulated time runs at 1000x, in 10 ms steps
            while True:
                await anyio.sleep(0.01)
                rig.advance(10)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(drive)
                async with anyio.create_task_group() as waiters:
                    for index, spec in enumerate(plan.waiters):
                        waiters.start_soon(waiter, index, *spec)
                tg.cancel_scope.cancel()

        assert len(outcomes) == len(plan.waiters)
        for index, (instance, _, cancel) in enumerate(plan.waiters):
            outcome = outcomes[index]
            if outcome is CANCELLED:
                assert cancel is not None
                continue
            assert isinstance(outcome, Instance)
            assert (outcome.id, outcome.status) == (ids[instance], InstanceStatus.RUNNING)
        cancelled = sum(1 for o in outcomes.values() if o is CANCELLED)
        assert len(rig.recorder.of(WaitCancelled)) == cancelled
        assert len(rig.recorder.of(TargetReached)) == len(plan.waiters) - cancelled

        assert rig.idle()
        assert await task_count() == tasks
        assert_one_get_per_round(rig.spy)
        assert len(rig.spy.polls()) == rig.polls
        for instance_id in ids:
            observed = rig.recorder.of(StatusObserved, instance_id)
            assert len(observed) == len(rig.spy.polls(instance_id))
        sent = len(rig.spy.log)
        await anyio.sleep(3 * INTERVAL)
        assert len(rig.spy.log) == sent


# ------------------------------------------------------------- review: deadlines, failures


async def test_a_poll_stuck_in_the_queue_does_not_outlast_the_deadlines() -> None:
    """One poll slot, slow GETs: a wait queued behind others still ends at its timeout."""
    policy = attrs.evolve(FAST, max_in_flight=1)
    async with make_rig(poll=policy, latency=0.3) as rig:
        ids = [await rig.create(f"db{i}") for i in range(4)]
        ended: list[float] = []

        async def wait(instance_id: str) -> None:
            started = anyio.current_time()
            with pytest.raises(WaitTimeoutError):
                await rig.aura.instances.wait(instance_id, timeout=0.05)
            ended.append(anyio.current_time() - started)

        async with anyio.create_task_group() as tg:
            for instance_id in ids:
                tg.start_soon(wait, instance_id)
    # Without the deadline on the poll they ended at 0.32, 0.62, 0.93 and 1.23 s.
    assert len(ended) == 4
    assert max(ended) < 0.3


async def test_a_poll_that_fails_for_good_ends_the_wait_with_an_event() -> None:
    only_gets = RequestFilter(methods=("GET",), route="/instances/{instanceId}")
    config = emulator_config(faults=FaultPlan(errors=(ErrorFault(503, 1.0, only=only_gets),)))
    async with make_rig(config=config, retry=RetryPolicy(max_retries=0)) as rig:
        instance_id = await rig.create()
        with pytest.raises(ServerError):
            await rig.aura.instances.wait(instance_id, submitted=anyio.current_time())
    (failed,) = rig.recorder.of(WaitFailed, instance_id)
    assert failed.reason == "polling failed: ServerError"


async def test_waits_that_do_not_know_their_start_teach_no_durations() -> None:
    policy = attrs.evolve(FAST, expected={**FAST.expected, Operation.CREATE: 0.4})
    async with make_rig(poll=policy) as rig:
        instance_id = await rig.create()
        rig.advance()
        for _ in range(4):
            await rig.aura.instances.wait(instance_id)
        # Each found it running at once; that says nothing of how long a create takes.
        assert rig.aura.watcher.expected(Operation.CREATE) == 0.4


async def test_a_waiter_joining_for_another_operation_keeps_its_first_delay() -> None:
    policy = attrs.evolve(
        FAST,
        expected={**FAST.expected, Operation.CREATE: 0.02, Operation.PAUSE: 2.0},
        max_interval=5.0,
    )
    async with make_rig(poll=policy) as rig:
        # Pauses are known to take about 2 s: the pause wait plans its first poll there.
        rig.aura.watcher.planner.estimate(Operation.PAUSE).add(1.9, 2.0)
        instance_id = await rig.create()
        rig.advance()
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(rig.aura.instances.wait, instance_id, "create"))
            with anyio.move_on_after(0.6):
                await rig.aura.instances.wait(instance_id, "pause", timeout=5)
            tg.cancel_scope.cancel()
        # In 0.6 s, only the create wait's poll may go out (it once made 12).
        assert rig.spy.polled()[instance_id] <= 2


async def test_cancelling_a_fleets_waits_stops_their_polls_and_frees_the_plan() -> None:
    """A fleet's waits, cancelled while a scout climbs: no GET after, no booking, no scout."""
    policy = PollPolicy(expected={Operation.CREATE: 1.0}, min_interval=0.01, max_interval=1.0)
    async with make_rig(poll=policy) as rig:
        ids = [await rig.create(f"db{i}") for i in range(5)]
        submitted = anyio.current_time()
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                for instance_id in ids:
                    tg.start_soon(
                        partial(
                            rig.aura.instances.wait, instance_id, submitted=submitted, cohort=True
                        )
                    )
                await until(lambda: rig.polls >= 3)  # the ladder, one item a rung
                scope.cancel()
        planner = rig.aura.watcher.planner
        assert rig.idle()
        assert planner.bookings == 0
        assert not planner.knows(Operation.CREATE)
        gets = await rig.gets()
        await anyio.sleep(0.2)  # the ladder's next rungs would have come by now
        assert await rig.gets() == gets
        # Each rung went to a different item (one scout at a time, each on a fresh one).
        polled = rig.spy.polled()
        assert len(polled) >= 3
        assert max(polled.values()) == 1
        # A new fleet scouts from scratch: one wait polls.
        rig.advance()
        assert await rig.aura.instances.wait(ids[0], submitted=anyio.current_time(), cohort=True)
