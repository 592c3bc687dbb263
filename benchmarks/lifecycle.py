"""Lifecycle benchmarks: waits parked by the thousand, and how soon a finished create is seen.

parked waits: ``waits`` concurrent ``aura.instances.wait(id, "create")`` calls in one process
(one instance each by default, ``per_instance`` waits sharing each instance otherwise) against
an in-process emulator at real speed without a rate limit, so that no poll falls due while
they are measured. Memory per wait is tracemalloc's count beyond a baseline taken just before
the waits start (current once all are parked, and the peak on the way there), shown next to
the same number of bare tasks parked in ``anyio.sleep_forever()`` (what the task alone costs).
Idle CPU is ``time.process_time`` over a quiet interval while they are parked, next to the same
interval with nothing parked; the CPU it takes to park them all and to cancel them all, and
the GETs sent meanwhile (none are due), come with it, each next to the bare tasks' figure.
Target: at most 3 KB per wait.

detection lag: ``instances`` creates whose emulated durations are drawn uniformly between
``low`` and ``high`` seconds, each submitted twice at the same moment with the same duration:
once awaited by the client's poller (``aura.instances.wait``, what ``create(wait=True)``
runs) and once by a plain fixed-interval loop (GET, and sleep ``fixed_interval`` scaled
seconds until the status is running), on the same client, emulator and transport, concurrently.
The lag is the time from the emulator's transition (the instance record's
``operation.ends_at``, emulated, mapped to the monotonic clock through the emulator's scale) to
the poller's ``TargetReached`` event, or to the loop's answer that shows running. GETs are
counted at the transport, per instance, and so is the densest emulated minute of them (the
paid tier allows 125 requests a minute). Two schedules: every create at once, and creates
spread over ``stagger`` emulated seconds (the poller learns from durations it has seen).
The client has no rate limit unless ``rate_limit`` (requests per emulated minute) is given;
then both ways share that one budget, as they share the client.
"""

from __future__ import annotations

import bisect
import gc
import math
import random
import statistics
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable

import anyio
import httpx

from aura_async import AuraClient, RateLimit
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    Durations,
    EmulatorConfig,
    ProjectSpec,
    RateLimitSettings,
    ScaledClock,
    create_app,
)
from aura_async.events import EventHook
from aura_async.lifecycle import PollPolicy, TargetReached

__all__ = ["detection_lag", "parked_waits"]

BASE_URL = "http://emulator"
PAID_PER_MINUTE = 125
_BODY = {
    "version": "5",
    "region": "europe-west1",
    "memory": "2GB",
    "type": "professional-db",
    "tenant_id": DEFAULT_PROJECT_ID,
    "cloud_provider": "gcp",
}


def _config(time_scale: float, durations: Durations) -> EmulatorConfig:
    return EmulatorConfig(
        time_scale=time_scale,
        seed=1,
        token_lifetime=1e9,
        durations=durations,
        rate_limit=RateLimitSettings(enabled=False),
        projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Benchmarks", max_instances=100_000),),
    )


class _CountingTransport(httpx.AsyncBaseTransport):
    """Passes requests through and notes every GET's path and the moment its answer came."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.gets: list[tuple[str, float]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "GET":
            self.gets.append((request.url.path, anyio.current_time()))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _client(
    transport: httpx.AsyncBaseTransport,
    poll: PollPolicy,
    on_event: EventHook | None = None,
    rate_limit: RateLimit | None = None,
) -> AuraClient:
    return AuraClient(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        tenant_id=DEFAULT_PROJECT_ID,
        base_url=BASE_URL,
        rate_limit=rate_limit,
        transport=transport,
        poll=poll,
        on_event=on_event,
    )


def _kb(n: float) -> str:
    return f"{n / 1024:5.2f} KB"


# --------------------------------------------------------------------------- parked waits


async def parked_waits(waits: int = 10_000, per_instance: int = 1, quiet: float = 1.0) -> None:
    """Print memory per parked wait, the idle CPU while parked, and the cost to park/cancel."""
    if waits < 1 or per_instance < 1:
        raise ValueError("waits and per_instance must be positive")
    # Real speed, and a policy whose first poll is a minute away: parked waits, not polls,
    # are what is measured (with nothing known, a wait's first poll is min_interval away).
    app = create_app(_config(1.0, Durations()))
    backend = app.state.emulator.backend
    count = math.ceil(waits / per_instance)
    setup = time.perf_counter()
    with backend.lock:  # straight into the backend: the creates are not what is measured
        ids = [
            backend.create_instance({**_BODY, "name": f"w{i}"}).instance.id for i in range(count)
        ]
    setup = time.perf_counter() - setup
    targets = [ids[i // per_instance] for i in range(waits)]
    transport = _CountingTransport(httpx.ASGITransport(app=app))
    aura = _client(transport, PollPolicy(min_interval=60.0, max_interval=60.0))
    await aura.instances.get(ids[0])  # the token, the connection, the parsing: warm
    watcher = aura.watcher

    async def park(
        body: Callable[[int], Awaitable[object]], n: int, measure: bool
    ) -> dict[str, float]:
        """Start ``n`` tasks running ``body``, measure them parked, cancel them."""
        count = 0
        ready = anyio.Event()

        async def task(index: int) -> None:
            nonlocal count
            count += 1
            if count == n:
                ready.set()
            await body(index)

        figures: dict[str, float] = {}
        gets = len(transport.gets)
        if measure:
            gc.collect()
            tracemalloc.start()
            baseline = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
        cpu, wall = time.process_time(), time.perf_counter()
        async with anyio.create_task_group() as group:
            for index in range(n):
                group.start_soon(task, index)
            await ready.wait()
            for _ in range(3):  # waiters sharing a resource re-park after each newcomer
                await anyio.sleep(0.02)
            figures["park_cpu"] = (time.process_time() - cpu) / n
            figures["park_wall"] = time.perf_counter() - wall
            if measure:
                current, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                figures["current"] = (current - baseline) / n
                figures["peak"] = (peak - baseline) / n
            else:
                cpu = time.process_time()
                await anyio.sleep(quiet)
                figures["idle_cpu"] = (time.process_time() - cpu) / quiet
            figures["active"] = watcher.active
            cpu = time.process_time()
            group.cancel_scope.cancel()
        figures["cancel_cpu"] = (time.process_time() - cpu) / n
        figures["left"] = watcher.active
        figures["gets"] = len(transport.gets) - gets
        return figures

    def wait(index: int) -> Awaitable[object]:
        return aura.instances.wait(targets[index], "create")

    def sleep(index: int) -> Awaitable[object]:
        return anyio.sleep_forever()

    await park(wait, min(waits, 200), measure=False)  # warm every path once
    await park(sleep, min(waits, 200), measure=False)
    cpu = time.process_time()
    await anyio.sleep(quiet)
    idle_empty = (time.process_time() - cpu) / quiet
    memory = await park(wait, waits, measure=True)
    timing = await park(wait, waits, measure=False)
    task_memory = await park(sleep, waits, measure=True)
    task_timing = await park(sleep, waits, measure=False)
    await aura.aclose()

    us = 1e6
    print(
        f"parked waits ({waits} concurrent instances.wait(create) on {count} instances, "
        f"in process, PollPolicy(min_interval=60): first poll due after 60 s; "
        f"{count} emulator creates took {setup:.1f} s)"
    )
    task = task_memory["current"]
    print(
        f"  memory per wait    {_kb(memory['current'])} parked (peak {_kb(memory['peak'])}):  "
        f"the task running it {_kb(task)} (same task parked in sleep_forever),  "
        f"the wait itself {_kb(memory['current'] - task)}   target <= 3.00 KB"
    )
    print(
        f"  idle CPU           {timing['idle_cpu'] * 100:5.2f}% of a core with "
        f"{int(timing['active'])} parked   {idle_empty * 100:5.2f}% with none   "
        f"(over {quiet:g} s)"
    )
    print(
        f"  park               {timing['park_cpu'] * us:5.0f} us CPU/wait "
        f"({timing['park_wall']:.2f} s wall for all)   bare task "
        f"{task_timing['park_cpu'] * us:4.0f} us   "
        f"wait/bare = {timing['park_cpu'] / task_timing['park_cpu']:4.1f}x"
    )
    print(
        f"  cancel             {timing['cancel_cpu'] * us:5.0f} us CPU/wait   bare task "
        f"{task_timing['cancel_cpu'] * us:4.0f} us   waits left {int(timing['left'])}   "
        f"GETs sent while parked {int(memory['gets'] + timing['gets'])} (none due)"
    )


# -------------------------------------------------------------------------- detection lag


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _densest(times: list[float], period: float) -> int:
    """The most of ``times`` that fall within one ``period``."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_right(ordered, t + period) - i for i, t in enumerate(ordered)), default=0
    )


async def _lag_run(
    instances: int,
    time_scale: float,
    fixed_interval: float,
    low: float,
    high: float,
    stagger: float,
    seed: int,
    rate_limit: int | None,
) -> dict[str, dict[str, float]]:
    """Run both ways side by side; return per-method figures."""
    clock = ScaledClock(time_scale)
    middle = (low + high) / 2
    config = _config(time_scale, Durations(create=middle, jitter=(high - low) / (2 * middle)))
    app = create_app(config, clock=clock)
    backend = app.state.emulator.backend
    reached: dict[str, float] = {}

    def on_event(event: object) -> None:
        if isinstance(event, TargetReached):
            reached[event.resource_id] = event.monotonic

    transport = _CountingTransport(httpx.ASGITransport(app=app))
    limit = RateLimit(rate_limit, 60 / time_scale) if rate_limit else None
    aura = _client(transport, PollPolicy().scaled(1 / time_scale), on_event, limit)
    await aura.tenants.list()  # the token and the connection: warm
    rng = random.Random(seed)
    durations = [rng.uniform(low, high) for _ in range(instances)]
    offsets = sorted(rng.uniform(0, stagger) for _ in range(instances)) if stagger else None
    group_of: dict[str, str] = {}
    transition: dict[str, float] = {}
    seen_fixed: dict[str, float] = {}

    def to_monotonic(emulated: float) -> float:
        return time.monotonic() + (emulated - clock.now()) / time_scale

    async def submit(method: str, index: int) -> tuple[str, float]:
        submitted = anyio.current_time()
        created = await aura.instances.create(
            name=f"{method}{index}",
            type="professional-db",
            region="europe-west1",
            memory="2GB",
            cloud_provider="gcp",
        )
        with backend.lock:  # the same duration for both twins, counted from the create
            record = backend.instances[created.id]
            assert record.operation is not None
            record.operation.ends_at = record.created_at + durations[index]
            transition[created.id] = to_monotonic(record.operation.ends_at)
        group_of[created.id] = method
        return created.id, submitted

    async def by_poller(index: int) -> None:
        instance_id, submitted = await submit("poller", index)
        await aura.instances.wait(instance_id, "create", submitted=submitted)

    async def by_loop(index: int) -> None:
        instance_id, _ = await submit("fixed", index)
        while True:
            instance = await aura.instances.get(instance_id)
            if instance.status == "running":
                seen_fixed[instance_id] = anyio.current_time()
                return
            await anyio.sleep(fixed_interval / time_scale)

    async def both(index: int) -> None:
        if offsets:
            await anyio.sleep(offsets[index] / time_scale)
        async with anyio.create_task_group() as pair:
            pair.start_soon(by_poller, index)
            pair.start_soon(by_loop, index)

    start = anyio.current_time()
    async with anyio.create_task_group() as group:
        for index in range(instances):
            group.start_soon(both, index)
    elapsed = anyio.current_time() - start
    await aura.aclose()

    gets: defaultdict[str, list[float]] = defaultdict(list)
    per_instance: Counter[str] = Counter()
    for path, at in transport.gets:
        instance_id = path.rsplit("/", 1)[-1]
        if instance_id in group_of:
            gets[group_of[instance_id]].append(at)
            per_instance[instance_id] += 1
    results: dict[str, dict[str, float]] = {}
    for method, seen in (("poller", reached), ("fixed", seen_fixed)):
        ids = [i for i, m in group_of.items() if m == method]
        lags = [(seen[i] - transition[i]) * time_scale for i in ids]
        results[method] = {
            "median": statistics.median(lags),
            "p95": _percentile(lags, 0.95),
            "max": max(lags),
            "early": sum(lag < 0 for lag in lags),
            "gets": statistics.fmean(per_instance[i] for i in ids),
            "gets_max": max(per_instance[i] for i in ids),
            "densest": _densest(gets[method], 60 / time_scale),
        }
    results["run"] = {"elapsed": elapsed}
    return results


async def detection_lag(
    instances: int = 100,
    time_scale: float = 20.0,
    fixed_interval: float = 10.0,
    low: float = 60.0,
    high: float = 240.0,
    stagger: float = 240.0,
    seed: int = 1,
    rate_limit: int | None = None,
) -> None:
    """Print detection lag and GETs per instance, the poller against a fixed-interval loop."""
    print(
        f"detection lag ({instances} creates of {low:g}-{high:g} emulated s, each awaited "
        f"by the poller and by a fixed {fixed_interval:g} s loop, same client; "
        f"time scale {time_scale:g}x, lags in emulated s (real ms); client rate limit "
        + (f"{rate_limit}/min shared by both ways)" if rate_limit else "off)")
    )
    for label, spread in (("all at once", 0.0), (f"spread over {stagger:g} s", stagger)):
        if label != "all at once" and not stagger:
            continue
        figures = await _lag_run(
            instances, time_scale, fixed_interval, low, high, spread, seed, rate_limit
        )
        print(f"  submitted {label} (run took {figures['run']['elapsed']:.1f} s)")
        for method, name in (("poller", "client poller"), ("fixed", f"fixed {fixed_interval:g} s")):
            f = figures[method]
            ms = 1000 / time_scale
            print(
                f"    {name:14s} lag median {f['median']:5.2f} s ({f['median'] * ms:4.0f} ms)   "
                f"p95 {f['p95']:5.2f} s ({f['p95'] * ms:4.0f} ms)   max {f['max']:5.2f} s   "
                f"GETs/instance {f['gets']:5.1f} (max {f['gets_max']:2.0f})   densest minute "
                f"{f['densest']:4d} GETs (paid limit {PAID_PER_MINUTE})"
                + (f"   {f['early']:.0f} seen early!" if f["early"] else "")
            )
        poller, fixed = figures["poller"], figures["fixed"]
        print(
            f"    poller/fixed   lag median {poller['median'] / fixed['median']:4.2f}x   "
            f"p95 {poller['p95'] / fixed['p95']:4.2f}x   "
            f"GETs {poller['gets'] / fixed['gets']:4.2f}x"
        )
