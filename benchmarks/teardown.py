"""Teardown and create under live Aura's habits: the just-created 404 window, and 503s on create.

Every condition is drawn from a range the client is not told (seeded; printed with each row),
never from the client's own defaults: the window in which a new instance answers 404 (0.5x
to 3x the client's prior of 60 s; listed meanwhile, as seen live; for 50-100 % of the
instances), the create durations (60 s to 240 s, +-30 %), the share of creates answered 503
(5-30 %, half the time with a Retry-After of 1-10 s). Each trial runs every way on its own
emulator with the same seed and conditions. Everything is read from the emulator's record,
in emulated seconds: the client's claims are not trusted.

teardown (``fleet.create(wait=False)`` then, at once, a teardown of the prefix):
  ours    ``fleet.delete(Selector(prefix=...), wait=False)``: a 404 counts only once proven
  naive   one DELETE per listed instance (a 409 tried again every 10 s), a 404 taken for
          "deleted" (what the client did before, and what scripts usually do)
  figures: instances left behind (still there after an emulated hour), requests per
  instance the teardown spent, and how long it took (emulated s).

create (``fleet.create(count=N, on_error="continue")`` under 503s on create):
  ours        creates proven not created are sent again (``attempts=10``)
  no resend   ``attempts=1``: reconciled and given up (the client before)
  figures: items created (exactly once), failed, the most creates of one name, requests
  per instance, make-span from the first POST accepted to the last instance seen running.

Targets (ours): 0 instances left behind, 0 duplicates, every item created; the make-span under
503s within 1.5x of the same fleet without faults, the median over draws (each refused create
costs a window before it may be sent again, so a draw with many 503s and a long window costs
more).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from aura_async import AuraClient, PollPolicy, RateLimit
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    Durations,
    EmulatorConfig,
    ErrorFault,
    FaultPlan,
    ProjectSpec,
    RateLimitSettings,
    RequestFilter,
    create_app,
)
from aura_async.errors import NotFoundError, OngoingOperationError
from aura_async.fleet import MemoryStore, Selector
from aura_async.fleet.specs import InstanceSpec
from fleet_bench import POLL, ROUND_TRIP, SPEC, WINDOW, _Network

__all__ = ["teardown_benchmark"]

SCALE = 100.0  # emulated seconds per real second (the fleet benchmark's, in process)
LIMIT = 125
PRIOR = PollPolicy().not_found_grace  # what the client assumes, emulated seconds
CREATES = RequestFilter(methods=("POST",), route="/v1/instances")


@dataclass
class Conditions:
    """One trial's draw: what the service does, unknown to the client."""

    seed: int
    window: float  # emulated s a new instance answers 404
    hidden_share: float  # the share of new instances that do
    create: float  # emulated s a create takes (+-30 %)
    unavailable: float  # the share of creates answered 503
    retry_after: float | None  # the 503s' Retry-After, emulated s

    @classmethod
    def draw(cls, rng: random.Random, seed: int) -> Conditions:
        return cls(
            seed=seed,
            window=rng.uniform(0.5, 3.0) * PRIOR,
            hidden_share=rng.uniform(0.5, 1.0),
            create=rng.uniform(60.0, 240.0),
            unavailable=rng.uniform(0.05, 0.30),
            retry_after=rng.uniform(1.0, 10.0) if rng.random() < 0.5 else None,
        )

    def describe(self) -> str:
        after = "none" if self.retry_after is None else f"{self.retry_after:.0f} s"
        return (
            f"seed {self.seed}: 404 window {self.window:.0f} s for {self.hidden_share:.0%} of "
            f"new instances; creates {self.create:.0f} s +-30 %; {self.unavailable:.0%} of "
            f"creates 503 (Retry-After {after})"
        )


@dataclass
class Result:
    way: str
    n: int
    left: int = 0
    created: int = 0
    failed: int = 0
    most_per_name: int = 0
    requests: int = 0
    span: float | None = None
    note: str = ""
    per_route: dict[str, int] = field(default_factory=dict)

    @property
    def per_instance(self) -> float:
        return self.requests / self.n


def _service(conditions: Conditions, faults: FaultPlan) -> Any:
    """A fresh in-process emulator (its Starlette app) under the trial's conditions."""
    config = EmulatorConfig(
        time_scale=SCALE,
        seed=conditions.seed,
        token_lifetime=1e9,
        durations=Durations(create=conditions.create, jitter=0.3),
        # Retry-After with milliseconds: under a compressed clock a whole real second is
        # many emulated windows, which live Aura (at real speed) never asks for.
        rate_limit=RateLimitSettings(
            limit=LIMIT, window=WINDOW, model="fixed", retry_after="seconds"
        ),
        projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Benchmarks", max_instances=1_000_000),),
        faults=faults,
    )
    return create_app(config)


def _client(app: Any) -> AuraClient:
    return AuraClient(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        tenant_id=DEFAULT_PROJECT_ID,
        base_url="http://emulator",
        rate_limit=RateLimit(LIMIT, WINDOW / SCALE),
        transport=_Network(httpx.ASGITransport(app=app), ROUND_TRIP / SCALE),
        poll=PollPolicy().scaled(1 / SCALE),
    )


async def _counters(control: httpx.AsyncClient) -> dict[str, Any]:
    response = await control.get("/_emulator/counters")
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def _v1(counters: dict[str, Any]) -> dict[str, int]:
    return {
        route: sum(statuses.values())
        for route, statuses in counters["requests"].items()
        if route.split(" ", 1)[1].startswith("/v1/")
    }


def _left(app: Any) -> int:
    """Instances still there after an emulated hour (a delete takes seconds)."""
    state = app.state.emulator
    with state.backend.lock:
        state.clock.advance(3600.0)
        state.backend.settle_all()
        return len(state.backend.instances)


# -------------------------------------------------------------------------------- teardown

Teardown = Callable[[AuraClient, str], Awaitable[str]]


async def teardown_ours(aura: AuraClient, prefix: str) -> str:
    report = await aura.fleet.delete(Selector(prefix=prefix), wait=False)
    return report.summary()


async def teardown_naive(aura: AuraClient, prefix: str) -> str:
    listed = [s for s in await aura.instances.list() if s.name.startswith(prefix)]
    refused = 0

    async def one(instance_id: str) -> None:
        nonlocal refused
        while True:
            try:
                await aura.instances.delete(instance_id)
            except OngoingOperationError:  # still being created: try again in a while
                await anyio.sleep(POLL / SCALE)
                continue
            except NotFoundError:
                refused += 1  # taken for "already deleted"
            return

    async with anyio.create_task_group() as tg:
        for summary in listed:
            tg.start_soon(one, summary.id)
    return f"{len(listed)} deleted ({refused} of them on a 404)"


@asynccontextmanager
async def _trial(
    conditions: Conditions, *errors: ErrorFault
) -> AsyncIterator[tuple[Any, httpx.AsyncClient, AuraClient]]:
    """A fresh emulator under the trial's conditions, its control client and a client."""
    faults = FaultPlan(
        errors=errors,
        not_found_after_create=conditions.window,
        not_found_after_create_probability=conditions.hidden_share,
    )
    app = _service(conditions, faults)
    control = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e")
    aura = _client(app)
    try:
        yield app, control, aura
    finally:
        await aura.aclose()
        await control.aclose()


async def _teardown_trial(conditions: Conditions, n: int, way: str, body: Teardown) -> Result:
    result = Result(way, n)
    async with _trial(conditions) as (app, control, aura):
        made = await aura.fleet.create(
            InstanceSpec(name="td", **SPEC), count=n, wait=False, store=MemoryStore()
        )
        assert made.ok, made.summary()
        before = _v1(await _counters(control))
        began = app.state.emulator.clock.now()
        result.note = await body(aura, "td-")
        result.span = app.state.emulator.clock.now() - began
        after = _v1(await _counters(control))
        result.per_route = {k: v - before.get(k, 0) for k, v in after.items()}
        result.requests = sum(result.per_route.values())
        result.left = _left(app)
    return result


# ---------------------------------------------------------------------------------- create


async def _create_trial(
    conditions: Conditions, n: int, way: str, attempts: int, unavailable: bool
) -> Result:
    errors = (
        (ErrorFault(503, conditions.unavailable, conditions.retry_after, only=CREATES),)
        if unavailable
        else ()
    )
    result = Result(way, n)
    async with _trial(conditions, *errors) as (_, control, aura):
        report = await aura.fleet.create(
            InstanceSpec(name="cr", **SPEC),
            count=n,
            on_error="continue",
            store=MemoryStore(),
            attempts=attempts,
        )
        counters = await _counters(control)
    result.created = sum(1 for i in report.items if i.outcome.value == "succeeded")
    result.failed = sum(1 for i in report.items if i.outcome.value == "failed")
    per_name = counters["creates_per_name"]
    result.most_per_name = max(per_name.values(), default=0)
    result.per_route = _v1(counters)
    result.requests = sum(result.per_route.values())
    created: dict[str, float] = counters["created_at"]
    seen: dict[str, float] = counters["first_seen_running"]
    if created and all(i in seen for i in created):
        result.span = max(seen.values()) - min(created.values())
    result.note = f"503s: {counters['requests'].get('POST /v1/instances', {}).get('503', 0)}"
    return result


# ---------------------------------------------------------------------------------- report


def _row(result: Result, extra: str) -> str:
    span = "-" if result.span is None else f"{result.span:.0f}"
    return (
        f"| {result.way} | {result.n} | {extra} | {result.per_instance:.2f} | {span} | "
        f"{result.note} |"
    )


async def teardown_benchmark(
    trials: int = 4, ns: tuple[int, ...] = (25, 100), seed: int = 7
) -> None:
    """Print the teardown and create tables: ours beside the baselines, trial by trial."""
    rng = random.Random(seed)
    draws = [Conditions.draw(rng, seed + k) for k in range(trials)]
    began = time.perf_counter()
    print("\nteardown right after create (404 window listed; emulated s; fixed 125/60 s)")
    print("| way | N | left behind | requests / instance | took (s) | note |")
    print("| --- | --- | --- | --- | --- | --- |")
    leaks: dict[str, list[float]] = {"ours": [], "naive": []}
    for conditions in draws:
        print(f"| {conditions.describe()} | | | | | |")
        for n in ns:
            for way, body in (("ours", teardown_ours), ("naive", teardown_naive)):
                result = await _teardown_trial(conditions, n, way, body)
                leaks[way].append(result.left / n)
                print(_row(result, f"{result.left} of {n}"))
    print(
        f"\nleft behind, mean over trials: ours {statistics.mean(leaks['ours']):.1%}, "
        f"naive {statistics.mean(leaks['naive']):.1%}"
    )

    print("\ncreate under 503s on create (and the 404 window)")
    print(
        "| way | N | created / failed / most creates of a name | requests / instance | "
        "make-span (s) | note |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    ratios: list[float] = []
    for conditions in draws:
        print(f"| {conditions.describe()} | | | | | |")
        for n in ns:
            clean = await _create_trial(conditions, n, "ours, no 503", 10, False)
            ours = await _create_trial(conditions, n, "ours", 10, True)
            single = await _create_trial(conditions, n, "no resend", 1, True)
            for result in (clean, ours, single):
                print(_row(result, f"{result.created} / {result.failed} / {result.most_per_name}"))
            if ours.span is not None and clean.span:
                ratios.append(ours.span / clean.span)
    if ratios:
        print(
            f"\nours under 503s against the same fleet without: make-span x"
            f"{statistics.median(ratios):.2f} median, x{max(ratios):.2f} at worst"
        )
    print(f"(ran in {time.perf_counter() - began:.0f} s real)")
