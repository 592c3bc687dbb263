"""Fleet benchmark: create N instances and wait until all run, against the best possible.

No client can beat this lower bound. The server accepts at most R requests in any window W,
so request k (counting from 0) cannot be accepted before floor(k / R) x W; each instance
needs one POST and at least one GET that sees it running, and instance i runs T_i after its
POST. Giving the longest T_i the earliest slots:

    LB = max( max_i( floor(i / R) x W + T_i ), floor((2N - 1) / R) x W )

with i indexing the instances sorted by T descending. The T_i are the durations the emulator
actually drew (its counters' ``create_durations``), so the bound is exact for each run.

Every figure is the emulator's record, in EMULATED seconds, not the client's claim: the
make-span runs from the moment the first POST was accepted (``created_at``) to the first GET
answer that showed the last instance running (``first_seen_running``); requests per instance
are every /v1 request the emulator answered (429s included; the token is fetched before the
run, since the emulator does not count it against the limit) over N; 429s are its
``rate_limited``. Each run has its own emulator (seeded alike, so every way of creating draws
the same durations in the order its POSTs arrive), a fixed or sliding window of R per
W = 60 s, creates of 120 s +-20 %, and a clock 100 times faster than real time (a window
lasts 600 ms); the client gets ``RateLimit(R, W / scale)`` and ``PollPolicy().scaled(1 /
scale)`` and starts warm (token fetched, one window waited out, the emulator's counters and
windows reset). The emulator runs in process (httpx.ASGITransport) behind a modelled network
round trip of 0.1 emulated s, half each way: without one, an in-process request can finish
without yielding, and the first task's GET overtakes the other tasks' POSTs, which no client
on a real network sees. Measured with the oracle below (``--fleet-calibrate``; N = 100,
R = 125), the harness itself loses 0.1 % of LB at 20x, 0.5 % at 100x and 1.3 % at 200x in
process, against 0.8 %, 9 % and 21 % over loopback HTTP (uvicorn in a thread shares the GIL
with the client, so a burst of 100 POSTs takes 19 emulated s to arrive at 100x, against
1.5 s in process), hence in process at 100x: about 5 minutes for the whole table.

Ways compared:
  ours           ``aura.fleet.create(spec, count=N, wait=True, store=MemoryStore())``
  all at once    N tasks, each creates and then GETs every 10 s until running (how scripts
                 are usually written); same client, so the same limiter and retries
  one at a time  create, GET every 10 s until running, then the next; measured with a few
                 instances and extrapolated to N (the measured per-instance overhead beyond
                 its duration, times N, plus the durations the row's own run drew)
  oracle         (harness check) reads each drawn duration from the emulator and GETs exactly
                 when the instance turns running: what it loses against its own ideal is the
                 harness's error (request latency and sleep precision, times the time scale)

Targets (ours): make-span at most 1.05 x LB up to N = 100 and 1.10 x beyond; at most 3
requests per instance up to N = 100 and 2.3 beyond; no 429 anywhere. The plot (time on x,
instances by status on y, the status the emulator last ANSWERED to a GET, so what the client
was shown; the emulator's true "running" count as a dotted line) is written to
docs/fleet-benchmark.png when matplotlib is installed (``--group bench``).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
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
    EmulatorServer,
    ProjectSpec,
    RateLimitSettings,
    create_app,
)
from aura_async.emulator.app import EmulatorState
from aura_async.fleet.specs import InstanceSpec
from aura_async.fleet.store import MemoryStore

__all__ = ["fleet_benchmark", "harness_calibration", "lower_bound"]

WINDOW = 60.0  # emulated seconds
POLL = 10.0  # the scripts' fixed poll, emulated seconds
CREATE = 120.0  # the emulator's create duration, +-JITTER
JITTER = 0.2
SCALE = 100.0  # emulated seconds per real second (see harness_calibration)
ROUND_TRIP = 0.1  # in process, each request's network round trip, emulated seconds
SEED = 1
SPEC: dict[str, str] = {
    "type": "professional-db",
    "region": "europe-west1",
    "memory": "2GB",
    "cloud_provider": "gcp",
}
PLOT = Path(__file__).resolve().parent.parent / "docs" / "fleet-benchmark.png"
PLOT_SETTING = ("fixed", 125, 100)


def lower_bound(
    durations: Sequence[float], limit: int, window: float = WINDOW, n: int | None = None
) -> float:
    """The shortest make-span any client could reach: the longest durations in the first slots.

    ``n`` (default: one instance per duration) counts the requests when fewer durations are
    known than instances were asked for (a run that stopped early).
    """
    ordered = sorted(durations, reverse=True)
    n = len(ordered) if n is None else n
    creates = max((i // limit * window + t for i, t in enumerate(ordered)), default=0.0)
    return max(creates, (2 * n - 1) // limit * window)


def target(n: int) -> tuple[float, float]:
    """(make-span / LB, requests per instance) that ours must not exceed at this N."""
    return (1.05, 3.0) if n <= 100 else (1.10, 2.3)


# ------------------------------------------------------------------ one run's record


@dataclass
class Run:
    """What the emulator saw of one way of creating N instances."""

    way: str
    model: str
    limit: int
    n: int
    scale: float
    created: list[float] = field(default_factory=list)  # emulated, from the first POST
    durations: list[float] = field(default_factory=list)  # drawn, in creation order
    seen: list[float | None] = field(default_factory=list)  # first GET answer showing running
    requests: int = 0
    by_route: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    densest: int = 0
    real: float = 0.0
    cpu: float = 0.0  # process CPU seconds (client and in-process emulator alike)
    note: str = ""

    @property
    def complete(self) -> bool:
        return len(self.seen) == self.n and all(s is not None for s in self.seen)

    @property
    def make_span(self) -> float | None:
        return max(s for s in self.seen if s is not None) if self.complete else None

    @property
    def lb(self) -> float:
        return lower_bound(self.durations, self.limit, n=self.n)

    @property
    def ratio(self) -> float | None:
        span = self.make_span
        return None if span is None else span / self.lb

    @property
    def per_instance(self) -> float:
        return self.requests / self.n

    def lags(self) -> list[float]:
        """Seconds from each instance turning running to the first answer showing it."""
        return [
            s - (c + t)
            for c, t, s in zip(self.created, self.durations, self.seen, strict=True)
            if s is not None
        ]

    def overheads(self) -> list[float]:
        """Per instance: its share of the make-span beyond its own duration (one at a time)."""
        ends = [0.0] + [s for s in self.seen if s is not None]
        return [b - a - t for a, b, t in zip(ends, ends[1:], self.durations, strict=False)]

    def met(self) -> bool:
        most_ratio, most_requests = target(self.n)
        ratio = self.ratio
        return (
            ratio is not None
            and ratio <= most_ratio
            and self.per_instance <= most_requests
            and self.rate_limited == 0
        )


# ------------------------------------------------------------------------- harness


class _Network(httpx.AsyncBaseTransport):
    """An in-process transport with a network's round trip: half each way, in real seconds.

    Without it an in-process request can complete without ever yielding, so the first task's
    GET overtakes the other tasks' POSTs, which no client on a real network sees.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, round_trip: float) -> None:
        self.inner = inner
        self.half = round_trip / 2

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await anyio.sleep(self.half)
        response = await self.inner.handle_async_request(request)
        await anyio.sleep(self.half)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Emulator:
    state: EmulatorState
    base_url: str
    transport: Callable[[], httpx.AsyncBaseTransport | None]


@asynccontextmanager
async def _emulator(
    model: str, limit: int, scale: float, transport: str, seed: int
) -> AsyncIterator[Emulator]:
    config = EmulatorConfig(
        time_scale=scale,
        seed=seed,
        token_lifetime=1e9,
        durations=Durations(create=CREATE, jitter=JITTER),
        rate_limit=RateLimitSettings(limit=limit, window=WINDOW, model=model),
        projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Benchmarks", max_instances=1_000_000),),
    )
    if transport == "asgi":
        app = create_app(config)
        yield Emulator(
            app.state.emulator,
            "http://emulator",
            lambda: _Network(httpx.ASGITransport(app=app), ROUND_TRIP / scale),
        )
    else:
        async with EmulatorServer(config) as server:
            yield Emulator(server.state, server.base_url, lambda: None)


def _client(emulator: Emulator, limit: int, scale: float) -> AuraClient:
    return AuraClient(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        tenant_id=DEFAULT_PROJECT_ID,
        base_url=emulator.base_url,
        rate_limit=RateLimit(limit, WINDOW / scale),
        transport=emulator.transport(),
        poll=PollPolicy().scaled(1 / scale),
    )


Way = Callable[[AuraClient, int, float, Emulator], Awaitable[str]]


async def _run(
    way: str,
    body: Way,
    model: str,
    limit: int,
    n: int,
    scale: float,
    transport: str,
    seed: int = SEED,
) -> Run:
    """Run one way of creating ``n`` instances on a fresh emulator; read the emulator's record."""
    run = Run(way, model, limit, n, scale)
    async with _emulator(model, limit, scale, transport, seed) as emulator:
        control = httpx.AsyncClient(transport=emulator.transport(), base_url=emulator.base_url)
        aura = _client(emulator, limit, scale)
        try:
            await aura.tenants.list()  # the token and a connection: warm
            await anyio.sleep(WINDOW * 1.01 / scale)  # both limiters forget that request
            (await control.post("/_emulator/reset")).raise_for_status()
            # Generous: four times the bound if every duration were the longest possible.
            budget = 4 * (lower_bound([CREATE * (1 + JITTER)] * n, limit) + 10 * POLL) / scale
            start, cpu = time.perf_counter(), time.process_time()
            with anyio.move_on_after(budget + 30) as scope:
                try:
                    run.note = await body(aura, n, scale, emulator)
                except Exception as exc:  # report it with the figures, go on with the next
                    run.note = f"failed: {type(exc).__name__}: {exc}"[:200]
            run.real = time.perf_counter() - start
            run.cpu = time.process_time() - cpu
            if scope.cancelled_caught:
                run.note = f"did not finish within {budget + 30:.0f} s real"
            counters = (await control.get("/_emulator/counters")).json()
        finally:
            await aura.aclose()
            await control.aclose()
    created: dict[str, float] = counters["created_at"]
    drawn: dict[str, float] = counters["create_durations"]
    seen: dict[str, float] = counters["first_seen_running"]
    origin = min(created.values(), default=0.0)
    run.created = [t - origin for t in created.values()]
    run.durations = list(drawn.values())
    run.seen = [seen[i] - origin if i in seen else None for i in created]
    run.by_route = {
        route.replace(" /v1/", " /").replace("{instanceId}", "{id}"): sum(statuses.values())
        for route, statuses in counters["requests"].items()
        if route.split(" ", 1)[1].startswith("/v1/")
    }
    run.requests = sum(run.by_route.values())
    run.rate_limited = counters["rate_limited"]
    run.densest = max(counters["max_accepted_in_window"].values(), default=0)
    if len(created) != n and not run.note:
        run.note = f"{len(created)} creates accepted of {n}"
    return run


# ---------------------------------------------------------------------- the ways


async def ours(aura: AuraClient, n: int, scale: float, emulator: Emulator) -> str:
    """The SDK's fleet create: ``aura.fleet.create(spec, count=n, wait=True, store=...)``."""
    report = await aura.fleet.create(
        InstanceSpec(name="bench", **SPEC), count=n, wait=True, store=MemoryStore()
    )
    outcomes = Counter(str(item.outcome) for item in report.items)
    return (
        f"the client's report: {report.requests} requests, {report.rate_limited} rate-limited, "
        f"{report.elapsed * scale:.0f} s emulated; "
        + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    )


async def ours_fresh(aura: AuraClient, n: int, scale: float, emulator: Emulator) -> str:
    """Ours for names known to be new: ``adopt=False`` skips the listing before the creates."""
    report = await aura.fleet.create(
        InstanceSpec(name="bench", **SPEC), count=n, wait=True, store=MemoryStore(), adopt=False
    )
    return f"the client's report: {report.requests} requests; {report.summary()}"


async def _create_and_poll(aura: AuraClient, index: int, scale: float) -> None:
    created = await aura.instances.create(name=f"bench-{index}", **SPEC)
    while True:
        if (await aura.instances.get(created.id)).status == "running":
            return
        await anyio.sleep(POLL / scale)


async def all_at_once(aura: AuraClient, n: int, scale: float, emulator: Emulator) -> str:
    """N tasks at once, each: create, then GET every 10 s until running."""
    async with anyio.create_task_group() as group:
        for index in range(n):
            group.start_soon(_create_and_poll, aura, index, scale)
    return ""


async def one_at_a_time(aura: AuraClient, n: int, scale: float, emulator: Emulator) -> str:
    """For each instance: create, then GET every 10 s until running; then the next."""
    for index in range(n):
        await _create_and_poll(aura, index, scale)
    return ""


async def oracle(aura: AuraClient, n: int, scale: float, emulator: Emulator) -> str:
    """Knows each drawn duration (read from the emulator) and GETs just when it is due."""
    clock = emulator.state.clock
    counters = emulator.state.backend.counters

    async def one(index: int) -> None:
        created = await aura.instances.create(name=f"bench-{index}", **SPEC)
        with emulator.state.lock:
            due = counters.created_at[created.id] + counters.create_durations[created.id]
        while True:
            await anyio.sleep(max(0.0, due - clock.now()) / scale)
            if (await aura.instances.get(created.id)).status == "running":
                return

    async with anyio.create_task_group() as group:
        for index in range(n):
            group.start_soon(one, index)
    return ""


def oracle_ideal(run: Run) -> float:
    """The oracle's make-span with no harness error: POSTs in their slots, GETs on the dot."""
    return max(
        (k // run.limit * WINDOW + t for k, t in enumerate(run.durations)),
        default=0.0,
    )


# ---------------------------------------------------------------------- reporting


def _f(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _detail(run: Run) -> str:
    """Two lines of figures about one run, for whoever tunes the client."""
    lags = run.lags()
    posts = max(run.created, default=0.0)
    ideal_posts = (run.n - 1) // run.limit * WINDOW
    seen = sum(s is not None for s in run.seen)
    gets = run.by_route.get("GET /instances/{id}", 0)
    routes = ", ".join(f"{route} {count}" for route, count in sorted(run.by_route.items()))
    text = (
        f"  {run.model:7s} R={run.limit:3d} N={run.n:4d} {run.way:13s} "
        f"LB {run.lb:5.0f} s  make-span {_f(run.make_span, '5.0f')} s  "
        f"ratio {_f(run.ratio, '5.3f')}  req/inst {run.per_instance:5.2f}  429s "
        f"{run.rate_limited}  densest window {run.densest}"
    )
    text += (
        f"\n      requests: {routes or 'none'} (GETs that did not show a new instance running: "
        f"{gets - seen}); last POST at {posts:.0f} s (its slot: {ideal_posts:.0f} s)"
    )
    if lags:
        text += f"; lag median {statistics.median(lags):.1f} s, max {max(lags):.1f} s"
    text += (
        f"; took {run.real:.1f} s real, {run.cpu:.2f} s CPU (as much as "
        f"{run.cpu * run.scale:.0f} emulated s at this scale, if all of it were in the way)"
    )
    if not run.complete:
        text += f"\n      INCOMPLETE: {len(run.created)} created, {seen} seen running of {run.n}"
    if run.note:
        text += f"\n      {run.note}"
    return text


def _table(
    ours_runs: list[Run],
    fresh: dict[tuple[str, int, int], Run],
    at_once: dict[tuple[str, int, int], Run],
    sequential: Run | None,
) -> str:
    head = (
        "| model | R/min | N | LB (s) | make-span (s) | make-span / LB | requests / instance "
        "| 429s | target met | ours with adopt=False: make-span / LB (req/inst, 429s) "
        "| all at once, 10 s poll: make-span / LB (req/inst) "
        "| one at a time, 10 s poll: make-span / LB (extrapolated) |"
    )
    lines = [head, "|" + " --- |" * 12]
    per_instance = (
        statistics.fmean(sequential.overheads()) if sequential and sequential.complete else None
    )
    for run in ours_runs:
        most_ratio, most_requests = target(run.n)
        unlisted = fresh.get((run.model, run.limit, run.n))
        fresh_text = (
            f"{_f(unlisted.ratio, '.3f')} ({unlisted.per_instance:.2f}, {unlisted.rate_limited})"
            if unlisted is not None
            else "-"
        )
        base = at_once.get((run.model, run.limit, run.n))
        base_text = (
            f"{_f(base.ratio, '.2f')}x ({base.per_instance:.1f})" if base is not None else "-"
        )
        seq_text = "-"
        if per_instance is not None and run.durations:
            # A run that stopped early drew fewer durations: the rest at their mean.
            drawn = sum(run.durations) * run.n / len(run.durations)
            extrapolated = drawn + run.n * per_instance
            seq_text = f"~{extrapolated / run.lb:.0f}x"
        met = "yes" if run.met() else "no"
        span = _f(run.make_span, ".0f")
        if not run.complete:
            seen = sum(s is not None for s in run.seen)
            span = f"stopped: {seen} of {run.n} seen running"
        lines.append(
            f"| {run.model} | {run.limit} | {run.n} | {run.lb:.0f} | {span} "
            f"| {_f(run.ratio, '.3f')} (<= {most_ratio:.2f}) "
            f"| {run.per_instance:.2f} (<= {most_requests:g}) | {run.rate_limited} | {met} "
            f"| {fresh_text} | {base_text} | {seq_text} |"
        )
    return "\n".join(lines)


def _plot(path: Path, ours_run: Run, at_once: Run | None, sequential: Run | None) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        return "plot skipped: matplotlib is not installed (uv sync --group bench)"

    def counts(run: Run, grid: list[float]) -> tuple[list[int], list[int], list[int], list[int]]:
        posted = sorted(run.created)
        seen = sorted(s for s in run.seen if s is not None)
        truth = sorted(c + t for c, t in zip(run.created, run.durations, strict=True))
        waiting, creating, running, true_running = [], [], [], []
        for moment in grid:
            p = sum(1 for x in posted if x <= moment)
            s = sum(1 for x in seen if x <= moment)
            waiting.append(run.n - p)
            creating.append(p - s)
            running.append(s)
            true_running.append(sum(1 for x in truth if x <= moment))
        return waiting, creating, running, true_running

    def panel(ax: Any, run: Run, title: str, end: float) -> None:
        grid = [end * k / 600 for k in range(601)]
        waiting, creating, running, truth = counts(run, grid)
        minutes = [g / 60 for g in grid]
        ax.stackplot(
            minutes,
            running,
            creating,
            waiting,
            labels=["running (seen by a GET)", "creating", "not yet created"],
            colors=["#2e7d32", "#f9a825", "#cfd8dc"],
            step="post",
        )
        ax.step(
            minutes,
            truth,
            where="post",
            color="black",
            linestyle=":",
            linewidth=1.2,
            label="running (emulator's truth)",
        )
        ax.axvline(run.lb / 60, color="#c62828", linewidth=1, label="lower bound")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("emulated minutes since the first POST")
        ax.set_xlim(0, end / 60)
        ax.set_ylim(0, ours_run.n)

    model, limit, n = ours_run.model, ours_run.limit, ours_run.n
    runs = [r for r in (ours_run, at_once) if r is not None and r.make_span is not None]
    end = max(r.make_span or 0.0 for r in runs) * 1.05 if runs else 600.0
    columns = 3 if sequential is not None and sequential.complete else 2
    fig, axes = plt.subplots(1, columns, figsize=(5 * columns, 4), sharey=True)
    panel(
        axes[0],
        ours_run,
        f"ours: {_f(ours_run.ratio, '.3f')} x LB, {ours_run.per_instance:.2f} req/instance",
        end,
    )
    axes[0].set_ylabel(f"instances (N = {n})")
    if at_once is not None:
        panel(
            axes[1],
            at_once,
            f"all at once, 10 s poll: {_f(at_once.ratio, '.2f')} x LB, "
            f"{at_once.per_instance:.1f} req/instance",
            end,
        )
    if columns == 3 and sequential is not None:
        ax = axes[2]
        measured_end = max(s for s in sequential.seen if s is not None)
        each = statistics.fmean(sequential.overheads())
        # Extrapolated: the row's own draws, one after another, each plus the measured overhead.
        t, xs, ys = 0.0, [0.0], [0]
        for k, duration in enumerate(ours_run.durations, 1):
            t += duration + each
            xs.append(t / 60)
            ys.append(k)
        grid_end = measured_end * 1.02
        grid = [grid_end * k / 300 for k in range(301)]
        _, creating, running, _ = counts(sequential, grid)
        ax.stackplot(
            [g / 60 for g in grid],
            running,
            creating,
            colors=["#2e7d32", "#f9a825"],
            step="post",
        )
        ax.step(
            xs,
            ys,
            where="post",
            color="#2e7d32",
            linestyle="--",
            linewidth=1,
            label=f"extrapolated to N = {n}",
        )
        ax.set_title(
            f"one at a time, 10 s poll: measured N = {sequential.n}, extrapolated\n"
            f"~{t / ours_run.lb:.0f} x LB (x axis not to the others' scale)",
            fontsize=9,
        )
        ax.set_xlabel("emulated minutes since the first POST")
        ax.set_xlim(0, t / 60 * 1.02)
        ax.legend(loc="upper left", fontsize=7)
    axes[0].legend(loc="upper left", fontsize=7)
    fig.suptitle(
        f"Create {n} instances and wait until all run: Aura emulator, {limit} requests per "
        f"60 s ({model} window), creates of 120 s +-20 %; status as the emulator answered GETs",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot written to {path}"


# --------------------------------------------------------------------------- entry points


async def fleet_benchmark(
    ns: Sequence[int] = (25, 100, 500, 1000),
    limits: Sequence[int] = (125, 25),
    models: Sequence[str] = ("fixed", "sliding"),
    baseline_ns: Sequence[int] = (25, 100),
    sequential_n: int = 5,
    scale: float = SCALE,
    transport: str = "asgi",
    plot: Path | None = PLOT,
) -> None:
    """Print ours against the lower bound and the two baselines, a markdown table, a plot."""
    started = time.perf_counter()
    print(
        f"fleet create: N instances until all run, against the lower bound (emulator over "
        f"{transport}, time scale {scale:g}x: a 60 s window is {WINDOW / scale * 1000:.0f} ms "
        f"real; times in emulated s)",
        flush=True,
    )
    ours_runs: list[Run] = []
    fresh: dict[tuple[str, int, int], Run] = {}
    at_once: dict[tuple[str, int, int], Run] = {}
    for model in models:
        for limit in limits:
            for n in ns:
                run = await _run("ours", ours, model, limit, n, scale, transport)
                ours_runs.append(run)
                print(_detail(run), flush=True)
                unlisted = await _run(
                    "ours, adopt=False", ours_fresh, model, limit, n, scale, transport
                )
                fresh[(model, limit, n)] = unlisted
                print(_detail(unlisted), flush=True)
                if n in baseline_ns:
                    base = await _run("all at once", all_at_once, model, limit, n, scale, transport)
                    at_once[(model, limit, n)] = base
                    print(_detail(base), flush=True)
    sequential = None
    if sequential_n:
        # Its pace (one request per 10 s at most) never comes near either limit.
        sequential = await _run(
            "one at a time", one_at_a_time, "fixed", max(limits), sequential_n, scale, transport
        )
        print(_detail(sequential), flush=True)
        if sequential.complete:
            overheads = sequential.overheads()
            print(
                f"      one at a time costs {statistics.fmean(overheads):.1f} s per instance "
                f"beyond its duration (mean of {len(overheads)}), extrapolated in the table",
                flush=True,
            )
    check = await _run("oracle", oracle, "fixed", 125, 100, scale, transport)
    if check.make_span is not None:
        ideal = oracle_ideal(check)
        print(
            f"  harness check: an oracle client that GETs each instance just as it turns running "
            f"took {check.make_span:.1f} s against its ideal {ideal:.1f} s: harness error "
            f"{check.make_span - ideal:+.1f} s = {(check.make_span - ideal) / check.lb:+.2%} "
            f"of LB (N = 100, R = 125)",
            flush=True,
        )
    print(f"\nfleet create, measured in one run ({time.perf_counter() - started:.0f} s real):\n")
    print(_table(ours_runs, fresh, at_once, sequential))
    print(
        "\nmake-span: emulated s from the first POST accepted to the first GET answer showing "
        "the last instance running; LB as above from the drawn durations; requests: every /v1 "
        "request the emulator answered, over N; all at once / one at a time: the same client "
        "waiting by a fixed 10 s poll"
        + (f"; one at a time extrapolated from N = {sequential_n} measured." if sequential else ".")
    )
    if plot is not None:
        key = PLOT_SETTING
        chosen = next(
            (r for r in ours_runs if (r.model, r.limit, r.n) == key),
            ours_runs[0] if ours_runs else None,
        )
        if chosen is not None:
            base = at_once.get((chosen.model, chosen.limit, chosen.n))
            print(_plot(plot, chosen, base, sequential))


async def harness_calibration(
    scales: Sequence[float] = (20, 50, 100, 200),
    transports: Sequence[str] = ("asgi", "loopback"),
    n: int = 100,
    limit: int = 125,
) -> None:
    """Print the harness's own error (the oracle against its ideal) per transport and scale."""
    print(
        f"harness calibration: an oracle client (knows each drawn duration) creating {n} at "
        f"R = {limit}; error = its make-span minus its ideal (emulated s, and per cent of LB)"
    )
    for transport in transports:
        for scale in scales:
            run = await _run("oracle", oracle, "fixed", limit, n, scale, transport)
            if run.make_span is None:
                print(f"  {transport:8s} scale {scale:5g}x  did not finish: {run.note}")
                continue
            ideal = oracle_ideal(run)
            lags = run.lags()
            print(
                f"  {transport:8s} scale {scale:5g}x  error {run.make_span - ideal:+6.2f} s "
                f"({(run.make_span - ideal) / run.lb:+6.2%} of LB)  last POST at "
                f"{max(run.created):5.2f} s  GET lag median {statistics.median(lags):5.2f} s "
                f"max {max(lags):5.2f} s  ({run.real:4.1f} s real)",
                flush=True,
            )


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - a script
    """Run the fleet benchmark alone: ``python benchmarks/fleet.py [--quick]``."""
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    if quick:
        anyio.run(lambda: fleet_benchmark(ns=(25, 100), models=("fixed",), baseline_ns=(25,)))
    else:
        anyio.run(fleet_benchmark)


if __name__ == "__main__":
    main()
