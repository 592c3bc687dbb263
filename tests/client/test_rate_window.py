"""The client's rate limit against the emulator's, over real loopback HTTP, in all three models.

Every test runs an :class:`EmulatorServer` whose clock runs 60 times faster than real time, so
a window of 30 emulated seconds lasts half a real second; the client is given the same limit
per real period. The emulator's ``max_accepted_in_window`` witnesses the densest window it saw
(whatever model it counts with), and ``rate_limited`` counts its 429s.

Times are taken in the ``on_event`` hook (``RequestSent`` is emitted the moment the limiter
lets a request go), so they measure the client's pacing, not the server's speed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from aura_async import (
    AuraClient,
    ClientEvent,
    RateLimit,
    RateLimited,
    RateLowered,
    RequestSent,
    ResponseReceived,
)
from aura_async.emulator import EmulatorConfig, EmulatorServer, RateLimitSettings

SCALE = 60.0  # emulated seconds per real second
PERIOD = 0.5  # real seconds: 30 emulated seconds
MODELS = ("fixed", "sliding", "bucket")
# A RequestSent is emitted a few microseconds after the limiter's decision; allow that much.
EPSILON = 0.002


def report(line: str) -> None:
    """Show a measured figure (run with -s to see them)."""
    print(line)  # noqa: T201  (the figures are the point of these tests)


class Recorder:
    """An ``on_event`` hook keeping every event with the monotonic time it arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, ClientEvent]] = []

    def __call__(self, event: ClientEvent) -> None:
        self.events.append((time.monotonic(), event))

    def times(
        self, kind: type[Any], *, since: float = -1.0, method: str | None = None
    ) -> list[float]:
        return [
            t
            for t, e in self.events
            if isinstance(e, kind) and t >= since and (method is None or e.method == method)
        ]

    def of(self, kind: type[Any]) -> list[tuple[float, Any]]:
        return [(t, e) for t, e in self.events if isinstance(e, kind)]


def limited_emulator(
    model: str, limit: int, period: float = PERIOD, **settings: Any
) -> EmulatorServer:
    """An emulator allowing ``limit`` requests per ``period`` real seconds.

    Its Retry-After keeps milliseconds: these windows last under a second, and the tests
    check that the client waits exactly what it is told.
    """
    settings.setdefault("retry_after", "seconds")
    rate = RateLimitSettings(limit=limit, window=period * SCALE, model=model, **settings)  # type: ignore[arg-type]
    return EmulatorServer(EmulatorConfig(seed=7, time_scale=SCALE, rate_limit=rate))


@asynccontextmanager
async def client(
    server: EmulatorServer,
    limit: int,
    hook: Callable[[ClientEvent], None],
    period: float = PERIOD,
) -> AsyncIterator[AuraClient]:
    async with AuraClient(
        server.client_id,
        server.client_secret,
        tenant_id=server.project_id,
        base_url=server.base_url,
        rate_limit=RateLimit(limit, period),
        on_event=hook,
    ) as aura:
        yield aura


async def counters(server: EmulatorServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.get("/_emulator/counters")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


def max_in_window(data: dict[str, Any], server: EmulatorServer) -> int:
    value: int = data["max_accepted_in_window"][server.client_id]
    return value


async def create(aura: AuraClient, name: str) -> str:
    created = await aura.instances.create(
        name=name,
        type="professional-db",
        region="europe-west1",
        memory="2GB",
        cloud_provider="gcp",
    )
    return created.id


def assert_cool_downs_held(recorder: Recorder) -> None:
    """No request left between a 429's arrival and the end of the wait it announced."""
    sent = recorder.times(RequestSent)
    for at, event in recorder.of(RateLimited):
        assert 0 < event.retry_after <= PERIOD + EPSILON
        early = [t - at for t in sent if at < t < at + event.retry_after - EPSILON]
        assert not early, (
            f"{len(early)} request(s) left {early[:3]} s after a 429 that asked every request "
            f"to wait {event.retry_after} s"
        )


# --------------------------------------------------------------------------- the window


@pytest.mark.parametrize("model", MODELS)
async def test_window_holds_burst_is_free_and_throughput_is_the_limit(model: str) -> None:
    limit = 40
    reads, creates = 190, 10  # 5 whole windows after the first burst
    recorder = Recorder()
    async with limited_emulator(model, limit) as server, client(server, limit, recorder) as aura:
        instance_id = await create(aura, "window-0")
        # Quiet for a whole period (plus a margin): the client may now send the full limit.
        await anyio.sleep(PERIOD * 1.2)

        limiter = aura.limiter
        assert limiter is not None
        held = limiter.held
        launched = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(limit):
                tg.start_soon(aura.instances.get, instance_id)
        burst = recorder.times(RequestSent, since=launched)
        assert len(burst) == limit
        spread = max(burst) - launched
        report(f"\n[{model}] {limit} requests after a quiet period all left within {spread:.3f} s")
        # Judged by the limiter's own count, not by the clock: a loaded machine may take its
        # time to send 40 requests, but none of them may have been paced.
        assert limiter.held == held, "the burst after a quiet period was paced"

        # Saturate: several hundred reads and some creates at once.
        async with anyio.create_task_group() as tg:
            for _ in range(reads):
                tg.start_soon(aura.instances.get, instance_id)
            for n in range(creates):
                tg.start_soon(create, aura, f"window-{n + 1}")
        sent = recorder.times(RequestSent, since=launched)
        assert len(sent) == limit + reads + creates
        # The first burst took one window's budget at once; the rest needed 5 more windows.
        throughput = (reads + creates) / (max(sent) - launched)
        nominal = limit / PERIOD
        # A slot frees one period after its request COMPLETED (DESIGN.md), so each window
        # also costs the slowest answer of its batch: on a loaded machine that is no longer
        # small against a half-second period. The floor allows for the answers measured.
        slowest = max(e.elapsed for t, e in recorder.of(ResponseReceived) if t >= launched)
        floor = limit / (PERIOD + slowest)
        report(
            f"[{model}] saturated throughput {throughput:.1f}/s of {nominal:.0f}/s "
            f"(slowest answer {slowest * 1000:.0f} ms)"
        )
        assert 0.85 * floor <= throughput <= 1.01 * nominal

        data = await counters(server)
    report(f"[{model}] emulator: max accepted in one window {max_in_window(data, server)}")
    assert data["rate_limited"] == 0
    assert max_in_window(data, server) == limit  # never more, and the burst used it all
    statuses = [e.status for _, e in recorder.of(ResponseReceived)]
    assert set(statuses) <= {200, 202}, statuses


async def test_token_requests_count_against_the_limit() -> None:
    # When the server counts POST /oauth/token too, the first burst still fits: the token
    # and limit - 1 calls go at once, the next limit + 1 calls are paced.
    limit = 10
    recorder = Recorder()
    async with (
        limited_emulator("sliding", limit, count_token_requests=True) as server,
        client(server, limit, recorder) as aura,
    ):
        limiter = aura.limiter
        assert limiter is not None
        async with anyio.create_task_group() as tg:
            for _ in range(limit - 1):
                tg.start_soon(aura.tenants.list)
        assert limiter.held == 0, "the first window's requests were paced"
        async with anyio.create_task_group() as tg:
            for _ in range(limit + 1):
                tg.start_soon(aura.tenants.list)
        assert limiter.held > 0, "a second window's worth went out unpaced"
        data = await counters(server)
    assert data["tokens_issued"] == 1
    assert data["rate_limited"] == 0
    assert max_in_window(data, server) == limit
    assert next(e.path for _, e in recorder.of(RequestSent)) == "/oauth/token"


# --------------------------------------------------------------------------- priorities


async def test_mutations_go_ahead_of_reads_when_both_wait() -> None:
    limit, period = 10, 0.2
    recorder = Recorder()
    finished: list[str] = []

    async def read(instance_id: str) -> None:
        await aura.instances.get(instance_id)
        finished.append("read")

    async def mutate(n: int) -> None:
        await create(aura, f"urgent-{n}")
        finished.append("create")

    async with (
        limited_emulator("fixed", limit, period) as server,
        client(server, limit, recorder, period) as aura,
    ):
        instance_id = await create(aura, "first")
        await anyio.sleep(period * 1.2)
        limiter = aura.limiter
        assert limiter is not None
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(read, instance_id)
            with anyio.fail_after(period):
                while limiter.waiting < 50 - limit:  # noqa: ASYNC110
                    await anyio.sleep(0.001)
            for n in range(5):
                tg.start_soon(mutate, n)
        data = await counters(server)
    last_create = max(i for i, what in enumerate(finished) if what == "create")
    reads_before = finished[:last_create].count("read")
    # The first window's 10 reads were gone before the creates came; in the next window the
    # creates take 5 of the 10 slots, whose other 5 reads may finish first.
    assert reads_before <= limit + 5, finished
    assert data["rate_limited"] == 0


# --------------------------------------------------------------------------- 429s


async def test_a_429_holds_every_task_until_retry_after() -> None:
    # The server allows 10 per window, the client believes 20: after 10 requests the client
    # still has free slots, and only the 429's cool-down keeps the other tasks from using them.
    # A sliding log: its Retry-After (until the oldest request leaves the window) is long
    # enough to watch; a fixed window's may end a moment after the 429.
    recorder = Recorder()
    async with limited_emulator("sliding", 10) as server, client(server, 20, recorder) as aura:
        limiter = aura.limiter
        assert limiter is not None
        launched = 0
        succeeded = 0

        async def get() -> None:
            nonlocal launched, succeeded
            launched += 1
            await aura.tenants.list()
            succeeded += 1

        async with anyio.create_task_group() as tg:
            # One request after another until the server refuses one.
            with anyio.fail_after(3 * PERIOD):
                while not recorder.of(RateLimited):
                    tg.start_soon(get)
                    await anyio.sleep(0.01)
            limited_at, first = recorder.of(RateLimited)[0]
            for _ in range(9):
                tg.start_soon(get)
            # All of them, and the refused request's resend, wait though the client's own
            # limit has room for them.
            with anyio.fail_after(first.retry_after / 2):
                while limiter.waiting < 10:  # noqa: ASYNC110
                    await anyio.sleep(0.001)
        data = await counters(server)

    later = recorder.times(RequestSent, since=limited_at)
    assert len(later) >= 10
    assert min(later) >= limited_at + first.retry_after - EPSILON
    assert_cool_downs_held(recorder)
    assert succeeded == launched
    assert data["rate_limited"] >= 1


async def test_429s_that_keep_coming_lower_the_rate_and_the_work_completes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aura_async")
    recorder = Recorder()
    calls = 40
    async with limited_emulator("sliding", 10) as server, client(server, 20, recorder) as aura:
        ok = 0

        async def get() -> None:
            nonlocal ok
            await aura.tenants.list()
            ok += 1

        async with anyio.create_task_group() as tg:
            for _ in range(calls):
                tg.start_soon(get)
            for n in range(3):
                tg.start_soon(create, aura, f"storm-{n}")
        assert aura.limiter is not None
        assert aura.limiter.rate == RateLimit(10, PERIOD)
        data = await counters(server)

    assert ok == calls  # every call succeeded (and the creates did not raise)
    assert data["creates_per_name"] == {f"storm-{n}": 1 for n in range(3)}
    lowered = recorder.of(RateLowered)
    assert [e for _, e in lowered] == [RateLowered(old=f"20/{PERIOD}s", new=f"10/{PERIOD}s")]
    warnings = [
        r for r in caplog.records if r.name == "aura_async" and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1
    assert "Lowering the client's limit to 10/0.5s" in warnings[0].getMessage()
    assert_cool_downs_held(recorder)
    # After the lowering (plus one period for traffic already sent), no more 429s.
    settled = lowered[0][0] + PERIOD + EPSILON
    assert not [t for t, _ in recorder.of(RateLimited) if t > settled]
    assert data["rate_limited"] == len(recorder.of(RateLimited))
    report(f"\n429s before the client lowered its rate: {data['rate_limited']}")
