"""The shared limiter against a real Redis, with several limiters standing for several processes.

Each ``RedisRateLimiter`` has a process name of its own, so two of them in one test behave as
two processes sharing a credential (the multi-process tests run real processes). Nothing here
asserts on wall-clock durations: orders, counts and Redis's own records only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
import redis.asyncio
from click.testing import CliRunner

from aura_async import (
    AuraClient,
    AuraError,
    ConfigurationError,
    RateLimit,
    RateLimitBackendError,
    RateLimitBackendLost,
    RateLimitBackendRestored,
    RedisBackend,
    RetryPolicy,
)
from aura_async._http.limiter import Permit, Priority
from aura_async._http.redis_limiter import RedisRateLimiter, budget_keys
from aura_async.backends import redact_url
from aura_async.cli import cli
from aura_async.cli.commands import register
from aura_async.cli.output import describe
from aura_async.config import ClientSettings
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    create_app,
)
from aura_async.fleet import EntryState, InstanceSpec, MemoryStore
from tests.redis_server import RedisServer

API = "http://emulator.test/v1"

MakeLimiter = Callable[..., Any]


@pytest.fixture
async def make_limiter(redis_url: str) -> AsyncIterator[MakeLimiter]:
    """Build started limiters on this test's Redis (one per simulated process)."""
    made: list[RedisRateLimiter] = []
    # A budget that has lived before: a brand-new one holds its first grants a moment (see
    # test_a_new_budget_holds_its_first_grants_a_moment).
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        await client.set(keys(redis_url)["epoch"], "earlier")

    async def factory(
        rate: RateLimit, events: list[Any] | None = None, **options: Any
    ) -> RedisRateLimiter:
        lower_after = options.pop("lower_after", 3)
        options.setdefault("heartbeat", 0.05)
        options.setdefault("dead_after", 0.5)
        options.setdefault("timeout", 1.0)
        backend = RedisBackend(redis_url, **options)
        sink = events.append if events is not None else (lambda event: None)
        limiter = RedisRateLimiter(
            rate,
            backend,
            client_id="ci",
            api_url=API,
            emit=sink,  # type: ignore[arg-type]
            lower_after=lower_after,
        )
        await limiter.start()
        made.append(limiter)
        return limiter

    yield factory
    for limiter in made:
        await limiter.aclose()


async def _at_least(count: Awaitable[int], least: int) -> bool:
    return await count >= least


async def _at_most(count: Awaitable[int], most: int) -> bool:
    return await count <= most


async def _is_shared(limiter: RedisRateLimiter) -> bool:
    return limiter.shared


def keys(redis_url: str) -> dict[str, str]:
    names = ("flight", "log", "procs", "queue", "seen", "cool", "limit", "epoch")
    return dict(zip(names, budget_keys(RedisBackend(redis_url), "ci", API), strict=True))


async def redis_now(client: redis.asyncio.Redis) -> float:
    seconds, micros = await client.time()
    return seconds + micros / 1e6


async def drain(limiter: RedisRateLimiter, count: int, grants: list[tuple[float, str]], who: str):
    """Take and release ``count`` permits one after another, noting when each was granted."""
    for _ in range(count):
        permit = await limiter.acquire()
        grants.append((anyio.current_time(), who))
        permit.release()


async def eventually(check: Callable[[], Awaitable[bool]], limit: float = 10.0) -> None:
    """Wait until ``check()`` holds: Redis is another process, with no event to wait on."""
    with anyio.fail_after(limit):
        while not await check():  # noqa: ASYNC110
            await anyio.sleep(0.005)


def most_in_any_window(times: list[float], period: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_processes_share_one_budget(make_limiter: MakeLimiter) -> None:
    rate = RateLimit(8, 0.3)
    a, b = await make_limiter(rate), await make_limiter(rate)
    grants: list[tuple[float, str]] = []
    async with anyio.create_task_group() as tg:
        for index in range(3):
            tg.start_soon(drain, a, 8, grants, "a")
            tg.start_soon(drain, b, 8, grants, "b")
            del index
    assert len(grants) == 48
    # Each grant comes after the release of the one `limit` grants before it, plus a period.
    assert most_in_any_window([at for at, _ in grants], rate.period * 0.999) <= rate.limit
    # Both were paced: the budget was one, not two.
    assert a.held > 0
    assert b.held > 0


async def test_a_quiet_budget_gives_the_whole_limit_at_once(make_limiter: MakeLimiter) -> None:
    rate = RateLimit(10, 5.0)
    a, b = await make_limiter(rate), await make_limiter(rate)
    permits = [await a.acquire() for _ in range(5)] + [await b.acquire() for _ in range(5)]
    assert a.held == 0
    assert b.held == 0
    for permit in permits:
        permit.release()
    # The eleventh, in either process, must wait.
    with anyio.move_on_after(0.3) as scope:
        await b.acquire()
    assert scope.cancelled_caught


async def test_a_mutation_in_one_process_goes_before_reads_in_another(
    make_limiter: MakeLimiter, redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    rate = RateLimit(1, 0.4)  # one slot frees at a time: the queue's order decides alone
    a, b = await make_limiter(rate), await make_limiter(rate)
    (await a.acquire()).release()
    order: list[str] = []

    async def take(limiter: RedisRateLimiter, priority: Priority, name: str) -> None:
        permit = await limiter.acquire(priority)
        order.append(name)
        permit.release()

    async with anyio.create_task_group() as tg:
        tg.start_soon(take, a, Priority.READ, "read in a")
        queue = keys(redis_url)["queue"]
        await eventually(lambda: _at_least(redis_client.zcard(queue), 1))
        tg.start_soon(take, b, Priority.MUTATION, "mutation in b")
        await eventually(lambda: _at_least(redis_client.zcard(queue), 2))
    assert order[0] == "mutation in b", order


async def test_processes_take_turns(make_limiter: MakeLimiter) -> None:
    rate = RateLimit(3, 0.2)
    a, b = await make_limiter(rate), await make_limiter(rate)
    for permit in [await a.acquire() for _ in range(3)]:
        permit.release()
    grants: list[tuple[float, str]] = []
    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(drain, a, 3, grants, "a")
            tg.start_soon(drain, b, 3, grants, "b")
    order = "".join(who for _, who in grants)
    # While both have work left, neither takes every slot of a window: a process at the head
    # of the queue gets the next slot that frees, and one just served goes to the back.
    both = order[: min(order.rindex("a"), order.rindex("b"))]
    longest = max(len(list(run)) for _, run in itertools.groupby(both))
    assert longest <= rate.limit, order


async def test_a_429_in_one_process_holds_back_every_process(
    make_limiter: MakeLimiter, redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    rate = RateLimit(50, 1.0)
    a, b = await make_limiter(rate), await make_limiter(rate)
    a.cool_down(0.25)
    await eventually(lambda: _at_least(redis_client.exists(keys(redis_url)["cool"]), 1))
    cool_until = float(await redis_client.get(keys(redis_url)["cool"]))
    permit = await b.acquire()
    granted_at = await redis_now(redis_client)
    permit.release()
    assert b.held == 1
    assert granted_at >= cool_until


async def test_a_lowered_limit_is_kept_by_every_process(make_limiter: MakeLimiter) -> None:
    rate = RateLimit(10, 0.5)
    a, b = await make_limiter(rate, lower_after=1), await make_limiter(rate)
    assert a.note_rate_limited() is True
    assert a.rate.limit == 5
    for _ in range(100):
        permit = await b.acquire()
        permit.release()
        if b.rate.limit == 5:
            break
        await anyio.sleep(0.01)
    assert b.rate.limit == 5


async def test_a_silent_process_stops_holding_its_slots(
    make_limiter: MakeLimiter, redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    rate = RateLimit(4, 0.2)
    a = await make_limiter(rate, heartbeat=0.05, dead_after=0.3)
    b = await make_limiter(rate, heartbeat=0.05, dead_after=0.3)
    held: list[Permit] = [await a.acquire() for _ in range(4)]  # never released: "killed"
    assert a.budget._flusher is not None
    a.budget._flusher.cancel()  # no more heartbeats, as if the process died mid-request
    a.budget._closed = True  # and it will not say goodbye either
    with anyio.fail_after(10):
        permit = await b.acquire()
    permit.release()
    names = await redis_client.zrange(keys(redis_url)["flight"], 0, -1)
    assert not [name for name in names if name.startswith(a.budget._proc)]
    assert len(held) == 4
    await a.redis.aclose()  # the "dead" process's connection, which its aclose would close


async def test_an_unreachable_redis_is_a_clear_error_at_start(redis_server: RedisServer) -> None:
    redis_server.stop()
    url = f"redis://:hunter2-secret@127.0.0.1:{redis_server.port}/0"
    client = AuraClient("id", "secret", rate_limit_backend=RedisBackend(url, timeout=1.0))
    with pytest.raises(RateLimitBackendError) as caught:
        async with client:
            pass
    message = str(caught.value)
    assert "hunter2-secret" not in message
    assert "hunter2-secret" not in repr(caught.value)
    assert f"127.0.0.1:{redis_server.port}" in message
    assert "AURA_RATE_LIMIT_REDIS_URL" in message  # the hint says what to do


async def test_redis_gone_mid_run_fails_requests_and_recovers(
    make_limiter: MakeLimiter, redis_server: RedisServer
) -> None:
    events: list[Any] = []
    limiter = await make_limiter(RateLimit(10, 0.2), events)
    (await limiter.acquire()).release()
    redis_server.stop()
    with pytest.raises(RateLimitBackendError):
        await limiter.acquire()
    with pytest.raises(RateLimitBackendError):
        await limiter.acquire()
    assert [type(event) for event in events] == [RateLimitBackendLost]
    assert events[0].fallback is None
    assert limiter.in_flight == 0
    assert limiter.waiting == 0
    redis_server.start()
    (await limiter.acquire()).release()
    assert [type(event) for event in events] == [RateLimitBackendLost, RateLimitBackendRestored]
    # The command prints both as lines for people (and its JSON modes as events).
    assert "does not answer" in describe(events[0])
    assert "failing" in describe(events[0])
    assert "answers again" in describe(events[1])


async def test_redis_gone_mid_run_falls_back_to_a_local_share(
    make_limiter: MakeLimiter, redis_server: RedisServer, redis_client: redis.asyncio.Redis
) -> None:
    events: list[Any] = []
    rate = RateLimit(8, 0.6)
    limiter = await make_limiter(rate, events, on_unavailable="local", local_share=0.25)
    redis_server.stop()
    permits = [await limiter.acquire(), await limiter.acquire()]  # 8 * 0.25 = 2 alone
    assert limiter.shared is False
    assert events[0].fallback == "2/0.6s"
    # The first waited out the period that spans the loss (other processes may have filled
    # it); the second then went at once.
    assert limiter.held == 1
    with anyio.move_on_after(0.3) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught  # the third waits for the local share's window
    for permit in permits:
        permit.release()
    redis_server.start()  # empty: it forgot everything
    await eventually(lambda: _is_shared(limiter))
    assert isinstance(events[-1], RateLimitBackendRestored)
    # What this process sent while alone is back on the shared record.
    log = keys(redis_server.url)["log"]
    await eventually(lambda: _at_least(redis_client.zcard(log), 2))


async def test_processes_share_one_token(redis_url: str) -> None:
    app = create_app(EmulatorConfig(seed=1))
    backend = RedisBackend(redis_url, share_token=True)
    clients = [
        AuraClient(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            base_url="http://emulator.test",
            transport=httpx.ASGITransport(app=app),
            rate_limit_backend=backend,
        )
        for _ in range(3)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client)
        async with anyio.create_task_group() as tg:
            for client in clients:
                tg.start_soon(client.tenants.list)
    assert app.state.emulator.backend.counters.tokens_issued == 1
    assert sum(client._pipeline.auth.tokens_fetched for client in clients) == 1


def test_the_shared_budget_is_configured_from_the_environment() -> None:
    settings = ClientSettings.from_env(
        {
            "AURA_CLIENT_ID": "id",
            "AURA_CLIENT_SECRET": "secret",
            "AURA_RATE_LIMIT_REDIS_URL": "redis://:pw-123@cache:6379/2",
            "AURA_RATE_LIMIT_REDIS_FALLBACK": "local:0.5",
            "AURA_RATE_LIMIT_REDIS_SHARE_TOKEN": "1",
        },
        dotenv=None,
    )
    backend = settings.rate_limit_backend
    assert backend is not None
    assert (backend.on_unavailable, backend.local_share, backend.share_token) == (
        "local",
        0.5,
        True,
    )
    assert "pw-123" not in repr(backend)
    assert "pw-123" not in repr(settings)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"AURA_RATE_LIMIT_REDIS_URL": "http://cache:6379"}, "Redis URL"),
        ({"AURA_RATE_LIMIT_REDIS_URL": "redis://c", "AURA_RATE_LIMIT_REDIS_FALLBACK": "x"}, "fail"),
        (
            {"AURA_RATE_LIMIT_REDIS_URL": "redis://c", "AURA_RATE_LIMIT_REDIS_FALLBACK": "local:2"},
            "AURA_RATE_LIMIT_REDIS_FALLBACK: the local share",
        ),
        (
            {
                "AURA_RATE_LIMIT_REDIS_URL": "redis://c",
                "AURA_RATE_LIMIT_REDIS_FALLBACK": "local:abc",
            },
            "AURA_RATE_LIMIT_REDIS_FALLBACK: the local share",
        ),
        ({"AURA_RATE_LIMIT_REDIS_URL": "redis://c", "AURA_RATE_LIMIT": "none"}, "rate limit"),
    ],
)
def test_bad_shared_settings_are_refused_before_anything_starts(
    variables: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        ClientSettings.from_env(
            {"AURA_CLIENT_ID": "id", "AURA_CLIENT_SECRET": "s", **variables}, dotenv=None
        )


def test_a_shared_budget_needs_a_limit() -> None:
    with pytest.raises(ConfigurationError, match="needs a rate limit"):
        AuraClient("id", "secret", rate_limit=None, rate_limit_backend="redis://cache")


def test_the_command_takes_a_shared_budget_and_says_when_redis_is_away(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_CLIENT_ID", "id")
    monkeypatch.setenv("AURA_CLIENT_SECRET", "secret")
    monkeypatch.delenv("AURA_RATE_LIMIT_REDIS_URL", raising=False)
    register(cli)
    redis_server.stop()
    url = f"redis://:hunter2-secret@127.0.0.1:{redis_server.port}/0"
    result = CliRunner().invoke(cli, ["--rate-limit-redis", url, "instance", "list"])
    assert result.exit_code == 1, result.output
    assert "does not answer" in result.output
    assert "hunter2-secret" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    bad = CliRunner().invoke(cli, ["--rate-limit-redis", "http://cache", "instance", "list"])
    assert bad.exit_code == 2
    assert "--rate-limit-redis" in bad.output


async def test_a_fleet_loses_and_duplicates_nothing_when_redis_goes_away(
    redis_server: RedisServer,
) -> None:
    app = create_app(EmulatorConfig(seed=1))
    store = MemoryStore()
    spec = InstanceSpec(
        name="ci", type="professional-db", region="europe-west1", memory="2GB", cloud_provider="gcp"
    )
    async with AuraClient(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        tenant_id=DEFAULT_PROJECT_ID,
        base_url="http://emulator.test",
        transport=httpx.ASGITransport(app=app),
        rate_limit_backend=RedisBackend(redis_server.url, timeout=1.0),
    ) as aura:
        first = await aura.fleet.create(spec, count=3, pattern="a-{n}", store=store, wait=False)
        assert first.ok
        redis_server.stop()
        down = await aura.fleet.create(
            spec,
            count=3,
            pattern="b-{n}",
            store=store,
            wait=False,
            adopt=False,
            on_error="continue",
        )
        assert [type(item.error) for item in down.items] == [RateLimitBackendError] * 3
        states = {entry.name: entry.state for entry in await store.entries()}
        assert {states[f"b-{n}"] for n in (1, 2, 3)} == {EntryState.NOT_CREATED}
        redis_server.start()
        again = await aura.fleet.create(spec, count=3, pattern="b-{n}", store=store, wait=False)
        assert again.ok
    counters = app.state.emulator.backend.counters
    assert sorted(counters.creates_per_name) == ["a-1", "a-2", "a-3", "b-1", "b-2", "b-3"]
    assert set(counters.creates_per_name.values()) == {1}


async def test_a_more_urgent_waiter_arriving_during_a_take_hangs_nobody(
    make_limiter: MakeLimiter,
) -> None:
    limiter = await make_limiter(RateLimit(1, 0.3))
    done: list[str] = []

    async def take(priority: Priority) -> None:
        (await limiter.acquire(priority)).release()
        done.append(priority.name)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(take, Priority.READ)
            await anyio.lowlevel.checkpoint()  # the read's take is now waiting on Redis
            tg.start_soon(take, Priority.MUTATION)
            tg.start_soon(take, Priority.READ)
    assert sorted(done) == ["MUTATION", "READ", "READ"]
    assert limiter.waiting == 0


async def test_an_asyncio_cancel_leaves_no_slot_behind(
    make_limiter: MakeLimiter, redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    limiter = await make_limiter(RateLimit(1000, 0.5))

    async def grab() -> None:
        (await limiter.acquire()).release()

    for index in range(60):
        task = asyncio.get_running_loop().create_task(grab())
        for _ in range(index % 6):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    flight = keys(redis_url)["flight"]
    await eventually(lambda: _at_most(redis_client.zcard(flight), 0))
    assert limiter.in_flight == 0


async def test_a_failed_shared_token_fetch_frees_the_lock(redis_url: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    backend = RedisBackend(redis_url, share_token=True)
    async with AuraClient(
        "id",
        "secret",
        base_url="http://emulator.test",
        transport=httpx.MockTransport(refuse),
        rate_limit_backend=backend,
        retry=RetryPolicy(max_retries=0),
    ) as aura:
        with pytest.raises(AuraError):
            await aura.tenants.list()
        assert aura.limiter is not None
        token_key = aura.limiter.token_key  # type: ignore[attr-defined]
    async with redis.asyncio.Redis.from_url(redis_url, decode_responses=True) as client:
        assert await client.exists(token_key + "-lock") == 0


def test_a_password_in_the_query_never_shows() -> None:
    backend = RedisBackend("unix:///run/redis.sock?db=0&password=hunter2-secret")
    assert "hunter2-secret" not in repr(backend)
    assert "hunter2-secret" not in redact_url(backend.url)


async def test_a_redis_that_restarts_empty_lets_no_window_overflow(
    make_limiter: MakeLimiter, redis_server: RedisServer
) -> None:
    rate = RateLimit(5, 1.0)
    a, b = await make_limiter(rate), await make_limiter(rate)
    grants: list[float] = []
    for _ in range(5):
        (await a.acquire()).release()
        grants.append(anyio.current_time())
    await anyio.sleep(0.1)  # A's completions reached Redis...
    redis_server.restart()  # ...which forgets them
    for _ in range(5):
        (await b.acquire()).release()
        grants.append(anyio.current_time())
    # B could not use the slots A had filled: A put its record back within the hold.
    assert most_in_any_window(grants, rate.period * 0.999) <= rate.limit


async def test_a_new_budget_holds_its_first_grants_a_moment(redis_url: str) -> None:
    # No epoch: the budget is new, or Redis lost it; nobody may go until every live process
    # had a heartbeat to put its record back.
    limiter = RedisRateLimiter(
        RateLimit(5, 1.0), RedisBackend(redis_url, heartbeat=0.05), client_id="ci", api_url=API
    )
    try:
        (await limiter.acquire()).release()
        assert limiter.held == 1
        (await limiter.acquire()).release()
        assert limiter.held == 1  # once only
    finally:
        await limiter.aclose()
