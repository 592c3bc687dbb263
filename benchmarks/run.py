"""Benchmarks: figures and ratios measured side by side in one run. Nothing here asserts on time.

limiter designs: aiolimiter's AsyncLimiter(R, W), a small bucket (b + r*W <= R) and the
client's completion-time record, each sending 400 requests as fast as it allows at R = 125,
W = 1 s with 0 and 50 ms of simulated latency: when the 100th request left, and the most
requests any 1 s window can hold at the server (each placed anywhere between its start and
its completion, the worst case).

sdk overhead: CPU time per ``aura.instances.get`` through the whole pipeline (auth flow,
transport, classification, model parsing; limiter disabled) against a bare
``httpx.AsyncClient.get`` of the same URL on the same in-process transport. Target <= 1.3x.

emulator throughput: how many API requests per second the emulator answers, in process
(httpx.ASGITransport) and over loopback HTTP (uvicorn), for reads (GET an instance) and for
creates, with the ratio between the two transports. It tells how much of a test suite's time
the emulator itself costs, and which transport to use where speed matters.

waits, lag: see benchmarks/lifecycle.py (run one with ``--only waits`` or ``--only lag``).

fleet: see benchmarks/fleet_bench.py (``--only fleet``: the default matrix, then the single waits;
``--fleet-full`` for the whole product, ``--fleet-shape``/``--fleet-median``/``--fleet-n``/
``--fleet-limit``/``--fleet-model`` to keep only some cells, ``--fleet-quick`` for three,
``--fleet-calibrate`` for the harness's own error per transport and time scale).

single: see benchmarks/single.py (``--only single``, also run by ``--only fleet``).

shared: see benchmarks/shared_limit.py (``--only shared``): 4 processes x 50 instances with
one credential, a shared Redis budget against per-process ones, and the cost of an acquire.

teardown: see benchmarks/teardown.py (``--only teardown``): teardown right after create in
live Aura's 404 window, and creates under 503s, against the ways that take 404 for deleted
and never resend.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx

import fleet_bench
import lifecycle
import shared_limit
import single
import teardown
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    EmulatorServer,
    ProjectSpec,
    RateLimitSettings,
    create_app,
)

CONFIG = EmulatorConfig(
    time_scale=1000.0,
    seed=1,
    token_lifetime=1e9,
    rate_limit=RateLimitSettings(enabled=False),
    projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Benchmarks", max_instances=1_000_000),),
)


async def _measure(
    http: httpx.AsyncClient, project: str, requests: int, concurrency: int
) -> tuple[float, float]:
    token = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    body = {
        "version": "5",
        "region": "europe-west1",
        "memory": "2GB",
        "name": "bench",
        "type": "professional-db",
        "tenant_id": project,
        "cloud_provider": "gcp",
    }
    created = await http.post("/v1/instances", json=body, headers=headers)
    instance_id = created.json()["data"]["id"]

    async def run(call: Callable[[], Awaitable[httpx.Response]]) -> float:
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                response = await call()
                assert response.status_code < 300, response.text

        start = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker)
        return requests / (time.perf_counter() - start)

    reads = await run(lambda: http.get(f"/v1/instances/{instance_id}", headers=headers))
    creates = await run(lambda: http.post("/v1/instances", json=body, headers=headers))
    return reads, creates


async def emulator_throughput(requests: int, concurrency: int) -> None:
    """Print requests per second in process and over loopback HTTP, and their ratio."""
    app = create_app(CONFIG)
    project = app.state.emulator.backend.default_project_id
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
        asgi = await _measure(http, project, requests, concurrency)
    with EmulatorServer(CONFIG) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            loopback = await _measure(http, server.project_id, requests, concurrency)
    print(f"emulator throughput ({requests} requests, {concurrency} concurrent)")
    for label, index in (("GET instance", 0), ("POST create", 1)):
        ratio = asgi[index] / loopback[index]
        print(
            f"  {label:13s} in process {asgi[index]:8.0f}/s   loopback HTTP "
            f"{loopback[index]:8.0f}/s   in-process/loopback = {ratio:4.1f}x"
        )


def _most_in_window(spans: list[tuple[float, float]], period: float) -> int:
    """The most spans that can fall into one window when each lands anywhere within itself."""
    starts = sorted(s for s, _ in spans)
    ends = sorted(e for _, e in spans)
    return max(bisect_left(starts, a + period) - bisect_left(ends, a) for a in ends)


async def limiter_designs(requests: int = 400, limit: int = 125, period: float = 1.0) -> None:
    """Print how each limiter design paces a burst, side by side."""
    from aiolimiter import AsyncLimiter

    from aura_async import RateLimit, RateLimiter

    async def run(design: str, latency: float) -> tuple[float, int, float]:
        spans: list[tuple[float, float]] = []
        origin = anyio.current_time()
        ours = RateLimiter(RateLimit(limit, period)) if design == "ours" else None
        naive = AsyncLimiter(limit, period)
        small = AsyncLimiter(5, 5 * period / (limit - 10))

        async def one() -> None:
            permit = None
            if ours is not None:
                permit = await ours.acquire()
            else:
                await (naive if design == "naive" else small).acquire()
            start = anyio.current_time() - origin
            await anyio.sleep(latency)
            if permit is not None:
                permit.release()
            spans.append((start, anyio.current_time() - origin))

        async with anyio.create_task_group() as group:
            for _ in range(requests):
                group.start_soon(one)
        starts = sorted(s for s, _ in spans)
        return starts[99], _most_in_window(spans, period), max(e for _, e in spans)

    print(f"limiter designs ({requests} requests, limit {limit} per {period:g} s)")
    for latency in (0.0, 0.05):
        for name, design in (
            (f"AsyncLimiter({limit}, {period:g})", "naive"),
            (f"AsyncLimiter(5, 5/{limit - 10})", "small"),
            ("completion-time record", "ours"),
        ):
            hundredth, most, done = await run(design, latency)
            print(
                f"  latency {latency * 1000:3.0f} ms  {name:24s} 100th sent after "
                f"{hundredth * 1000:6.1f} ms   most in one window at the server {most:4d} "
                f"(limit {limit})   all done {done:5.2f} s"
            )


async def sdk_overhead(calls: int) -> None:
    """Print CPU time per call, SDK against bare httpx, on one in-process emulator."""
    from aura_async import AuraClient

    app = create_app(CONFIG)
    project = app.state.emulator.backend.default_project_id
    aura = AuraClient(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        tenant_id=project,
        base_url="http://emulator",
        rate_limit=None,
        transport=httpx.ASGITransport(app=app),
    )
    created = await aura.instances.create(
        name="bench",
        type="professional-db",
        region="europe-west1",
        memory="2GB",
        cloud_provider="gcp",
    )
    bare = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emulator")
    token = await bare.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    bare.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    path = f"/v1/instances/{created.id}"

    async def timed(call: Callable[[], Awaitable[object]]) -> float:
        for _ in range(50):  # warm up both paths alike
            await call()
        start = time.process_time()
        for _ in range(calls):
            await call()
        return (time.process_time() - start) / calls

    async def bare_get() -> object:
        response = await bare.get(path)
        response.raise_for_status()
        return response.json()

    # Interleave the two so drift (caches, the emulator's growing state) hits both alike.
    sdk_times, bare_times = [], []
    for _ in range(3):
        bare_times.append(await timed(bare_get))
        sdk_times.append(await timed(lambda: aura.instances.get(created.id)))
    await bare.aclose()
    await aura.aclose()
    sdk, plain = min(sdk_times), min(bare_times)
    print(f"sdk overhead ({calls} sequential GETs of one instance, in process, best of 3)")
    print(
        f"  bare httpx {plain * 1e6:7.0f} us CPU/call   aura.instances.get {sdk * 1e6:7.0f} us "
        f"CPU/call   sdk/bare = {sdk / plain:4.2f}x (target <= 1.30x)"
    )


BENCHMARKS = (
    "throughput",
    "overhead",
    "limiter",
    "waits",
    "lag",
    "fleet",
    "single",
    "shared",
    "teardown",
)


def _fleet_cells(args: argparse.Namespace) -> list[fleet_bench.Cell]:
    """The fleet cells asked for: a matrix, then the axis filters."""
    if args.fleet_quick:
        cells = [
            fleet_bench.Cell("narrow", 30.0, 25, 125, "fixed", naive=True),
            fleet_bench.Cell("wide", 120.0, 100, 125, "fixed"),
            fleet_bench.Cell("stragglers", 300.0, 100, 25, "sliding"),
        ]
    else:
        cells = fleet_bench.full_matrix() if args.fleet_full else fleet_bench.default_matrix()
    filters = (
        ("shape", args.fleet_shape),
        ("median", args.fleet_median),
        ("n", args.fleet_n),
        ("limit", args.fleet_limit),
        ("model", args.fleet_model),
    )
    for name, wanted in filters:
        if wanted:
            cells = [c for c in cells if getattr(c, name) in wanted]
    if args.fleet_naive:
        cells = [dataclasses.replace(c, naive=True) for c in cells]
    return cells


def main() -> None:
    """Run the chosen benchmarks (all by default) and print their figures."""
    parser = argparse.ArgumentParser(
        description="\n".join(
            doc or ""
            for doc in (
                __doc__,
                lifecycle.__doc__,
                fleet_bench.__doc__,
                single.__doc__,
                shared_limit.__doc__,
                teardown.__doc__,
            )
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        help="run only this benchmark (repeat for several); all of them by default",
    )
    parser.add_argument("--requests", type=int, default=2000, help="throughput, overhead")
    parser.add_argument("--concurrency", type=int, default=20, help="throughput")
    parser.add_argument("--waits", type=int, default=10_000, help="waits: concurrent waits")
    parser.add_argument(
        "--waits-per-instance", type=int, default=1, help="waits: waits sharing one instance"
    )
    parser.add_argument("--lag-instances", type=int, default=100, help="lag: instances per way")
    parser.add_argument(
        "--lag-time-scale", type=float, default=20.0, help="lag: emulated s per real s"
    )
    parser.add_argument(
        "--lag-stagger",
        type=float,
        default=240.0,
        help="lag: spread the second run's creates over this many emulated s (0: skip it)",
    )
    parser.add_argument(
        "--lag-rate-limit",
        type=int,
        default=None,
        help="lag: give the shared client this many requests per emulated minute (default none)",
    )
    parser.add_argument(
        "--fleet-full",
        action="store_true",
        help="fleet: the whole product of the axes (400 cells, about 2 hours) instead of the "
        "default matrix (every value of every axis at least once, about 10-15 minutes)",
    )
    parser.add_argument(
        "--fleet-shape",
        action="append",
        choices=tuple(fleet_bench.SHAPES),
        help="fleet: keep only cells of this duration shape (repeat)",
    )
    parser.add_argument(
        "--fleet-median",
        type=float,
        action="append",
        help="fleet: keep only cells of this median create, emulated s (repeat; 30, 120, 300, 900)",
    )
    parser.add_argument(
        "--fleet-n",
        type=int,
        action="append",
        help="fleet: keep only cells of this many instances (repeat; 25, 100, 200, 500, 1000)",
    )
    parser.add_argument(
        "--fleet-limit",
        type=int,
        action="append",
        help="fleet: keep only cells of this many requests per 60 s window (repeat; 125, 25)",
    )
    parser.add_argument(
        "--fleet-model",
        action="append",
        choices=("fixed", "sliding", "bucket"),
        help="fleet: keep only cells of this rate-limit model (repeat; fixed, sliding)",
    )
    parser.add_argument(
        "--fleet-naive",
        action="store_true",
        help="fleet: run the all-at-once script (10 s poll) beside ours in every chosen cell",
    )
    parser.add_argument(
        "--fleet-quick",
        action="store_true",
        help="fleet: three cells for development (no plot, no markdown, no single waits)",
    )
    parser.add_argument(
        "--fleet-no-single", action="store_true", help="fleet: skip the single waits"
    )
    parser.add_argument(
        "--fleet-quirks",
        choices=("live", "none"),
        default="live",
        help="fleet and single: the emulator's live-preset quirks on (default) or off",
    )
    parser.add_argument(
        "--fleet-transport", choices=("asgi", "loopback"), default="asgi", help="fleet"
    )
    parser.add_argument(
        "--fleet-plot",
        default=str(fleet_bench.PLOT),
        help="fleet: where to write the PNG ('' for none)",
    )
    parser.add_argument(
        "--fleet-markdown",
        default=str(fleet_bench.MARKDOWN),
        help="fleet: where to write the table as Markdown ('' for none)",
    )
    parser.add_argument(
        "--fleet-calibrate",
        action="store_true",
        help="fleet: print the harness's error per transport and time scale instead",
    )
    parser.add_argument(
        "--single-waits",
        type=int,
        default=single.WAITS,
        help="single: sequential waits per way and setting",
    )
    parser.add_argument(
        "--shared-processes", type=int, default=shared_limit.PROCESSES, help="shared"
    )
    parser.add_argument(
        "--shared-per-process",
        type=int,
        default=shared_limit.PER_PROCESS,
        help="shared: instances each process creates",
    )
    parser.add_argument(
        "--shared-model",
        action="append",
        choices=("fixed", "sliding", "bucket"),
        help="shared: the server's rate-limit model (repeat; default fixed and sliding)",
    )
    parser.add_argument(
        "--shared-time-scale",
        type=float,
        default=shared_limit.SCALE,
        help="shared: emulated s per real s",
    )
    parser.add_argument(
        "--shared-acquires", type=int, default=2000, help="shared: acquires timed in a row"
    )
    parser.add_argument(
        "--shared-redis-url",
        default=None,
        help="shared: a running Redis to use (default: start one on loopback)",
    )
    parser.add_argument(
        "--teardown-trials", type=int, default=4, help="teardown: draws of the conditions"
    )
    parser.add_argument(
        "--teardown-n",
        type=int,
        action="append",
        help="teardown: instances per run (repeat; default 25 and 100)",
    )
    args = parser.parse_args()
    chosen = args.only or BENCHMARKS
    if "throughput" in chosen:
        anyio.run(emulator_throughput, args.requests, args.concurrency)
    if "overhead" in chosen:
        anyio.run(sdk_overhead, args.requests)
    if "limiter" in chosen:
        anyio.run(limiter_designs)
    if "waits" in chosen:
        anyio.run(lifecycle.parked_waits, args.waits, args.waits_per_instance)
    if "lag" in chosen:
        anyio.run(
            functools.partial(
                lifecycle.detection_lag,
                args.lag_instances,
                args.lag_time_scale,
                stagger=args.lag_stagger,
                rate_limit=args.lag_rate_limit,
            )
        )
    fleet_bench.QUIRKS = args.fleet_quirks
    if "fleet" in chosen:
        if args.fleet_calibrate:
            anyio.run(fleet_bench.harness_calibration)
        else:
            anyio.run(
                functools.partial(
                    fleet_bench.fleet_benchmark,
                    cells=_fleet_cells(args),
                    transport=args.fleet_transport,
                    plot=Path(args.fleet_plot)
                    if args.fleet_plot and not args.fleet_quick
                    else None,
                    markdown=(
                        Path(args.fleet_markdown)
                        if args.fleet_markdown and not args.fleet_quick
                        else None
                    ),
                    full=args.fleet_full,
                )
            )
    if "single" in chosen or (
        "fleet" in chosen and not (args.fleet_no_single or args.fleet_quick or args.fleet_calibrate)
    ):
        anyio.run(functools.partial(single.single_waits, waits=args.single_waits))
    if "teardown" in chosen:
        anyio.run(
            functools.partial(
                teardown.teardown_benchmark,
                trials=args.teardown_trials,
                ns=tuple(args.teardown_n or (25, 100)),
            )
        )
    if "shared" in chosen:
        shared_limit.shared_limit_benchmark(
            processes=args.shared_processes,
            per_process=args.shared_per_process,
            models=args.shared_model or ("fixed", "sliding"),
            scale=args.shared_time_scale,
            acquires=args.shared_acquires,
            redis_url=args.shared_redis_url,
        )


if __name__ == "__main__":
    main()
