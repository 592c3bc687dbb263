"""Soak: fleet up/down cycles for a given wall time; fails if memory or descriptors creep.

Each cycle creates a fleet (``aura.fleet.create``, 50 instances by default, a FileStore
ledger of its own) on an emulator whose clock runs 600 times faster than real time, waits
until all run, deletes them all (``aura.fleet.delete(Selector(ledger=store))``) and waits
until they are gone. One client serves the whole soak, as in a long-running service (its
token expires and is refreshed every few seconds of the soak); ``--fresh-client`` makes one
per cycle instead, as a script or the command would. The emulator serves on loopback HTTP in
a thread of this process (``--in-process`` for httpx's ASGI transport).

After each cycle (and ``gc.collect()``) the process is sampled: resident memory (VmRSS from
/proc/self/status; the peak ``ru_maxrss`` where /proc is missing), open file descriptors
(/proc/self/fd), asyncio tasks and threads. What the emulator keeps on purpose is reset
between cycles so that it does not count as growth: its counters (per-instance records for
benchmarks), the registry of issued secrets (``aura_async.emulator.secrets``, a testing
aid) and the ids of deleted instances, which it remembers so as never to reuse one (about
100 bytes per instance ever deleted: 2-3 MB per 5 minutes of this soak, shown in the
``del ids`` column with ``--keep-deleted-ids``).

Printed: a row per cycle (at most one every 15 s on long runs, and the last), then the
median of the first third of the cycles (the first cycle left out: warm-up) against the last
third. Exit status 1 if any cycle failed, or growth exceeds the bounds: RSS by more than
20 % or 30 MB, open descriptors by more than 10, asyncio tasks by more than 10.

    python benchmarks/soak.py                 # 30 minutes
    python benchmarks/soak.py --minutes 1     # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

from aura_async import AuraClient, RateLimit
from aura_async.emulator import (
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    EmulatorServer,
    ProjectSpec,
    create_app,
)
from aura_async.emulator import secrets as emulator_secrets
from aura_async.emulator.app import EmulatorState
from aura_async.fleet import FileStore, InstanceSpec, Outcome, Selector
from aura_async.lifecycle import PollPolicy

SPEC = InstanceSpec(
    name="soak", type="professional-db", region="europe-west1", memory="2GB", cloud_provider="gcp"
)


@dataclass
class Sample:
    cycle: int
    at: float  # seconds since the soak began
    seconds: float  # this cycle's wall time
    created: int
    deleted: int
    failed: int
    requests: int
    rate_limited: int
    rss_mb: float
    fds: int
    tasks: int
    threads: int
    deleted_ids: int  # ids the emulator remembers so as never to reuse them


def rss_mb() -> float:
    """Resident memory now (VmRSS); the peak (ru_maxrss) where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def open_fds() -> int:
    for where in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(where))
        except OSError:
            continue
    return -1


@asynccontextmanager
async def emulator(
    config: EmulatorConfig, in_process: bool
) -> AsyncIterator[tuple[EmulatorState, str, Callable[[], httpx.AsyncBaseTransport | None]]]:
    """The emulator's state, its base URL and a factory of transports for clients."""
    if in_process:
        app = create_app(config)
        yield (
            app.state.emulator,
            "http://emulator.test",
            lambda: httpx.ASGITransport(app=app),
        )
        return
    async with EmulatorServer(config) as server:
        yield server.state, server.base_url, lambda: None


async def soak(args: argparse.Namespace) -> list[Sample]:
    scale = args.time_scale
    config = EmulatorConfig(
        time_scale=scale,
        seed=args.seed,
        projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Soak", max_instances=100_000),),
    )
    credential = config.credentials[0]
    samples: list[Sample] = []
    workdir = Path(tempfile.mkdtemp(prefix="aura-soak-"))
    began = time.monotonic()
    deadline = began + args.minutes * 60
    last_printed = -1e9
    async with emulator(config, args.in_process) as (state, base_url, transport):

        def client() -> AuraClient:
            return AuraClient(
                credential.client_id,
                credential.client_secret,
                tenant_id=DEFAULT_PROJECT_ID,
                base_url=base_url,
                transport=transport(),
                rate_limit=RateLimit(125, 60 / scale),  # Aura's 125 per emulated minute
                poll=PollPolicy().scaled(1 / scale),
            )

        shared = None if args.fresh_client else client()
        header()
        try:
            cycle = 0
            while time.monotonic() < deadline:
                cycle += 1
                aura = shared or client()
                started = time.monotonic()
                ledger = workdir / f"cycle-{cycle}"
                store = FileStore(ledger)
                async with aura if shared is None else _nothing():
                    up = await aura.fleet.create(
                        SPEC, count=args.count, pattern=f"soak-{cycle}-{{n:02d}}", store=store
                    )
                    down = await aura.fleet.delete(Selector(ledger=store))
                seconds = time.monotonic() - started
                shutil.rmtree(ledger)
                with state.lock:
                    state.backend.counters.reset()
                    if not args.keep_deleted_ids:
                        state.backend.deleted_once.clear()
                    deleted_ids = len(state.backend.deleted_once)
                emulator_secrets.clear()
                gc.collect()
                created = sum(i.outcome is Outcome.SUCCEEDED for i in up.items)
                deleted = sum(i.outcome is Outcome.SUCCEEDED for i in down.items)
                sample = Sample(
                    cycle=cycle,
                    at=time.monotonic() - began,
                    seconds=seconds,
                    created=created,
                    deleted=deleted,
                    failed=(args.count - created) + (len(down.items) - deleted),
                    requests=up.requests + down.requests,
                    rate_limited=up.rate_limited + down.rate_limited,
                    rss_mb=rss_mb(),
                    fds=open_fds(),
                    tasks=len(asyncio.all_tasks()),
                    threads=threading.active_count(),
                    deleted_ids=deleted_ids,
                )
                samples.append(sample)
                if sample.failed:
                    failures = [i for i in (*up.items, *down.items) if i.error is not None]
                    print(f"cycle {cycle}: {up.summary()}; {down.summary()}")
                    for item in failures[:5]:
                        print(f"  {item.name}: {item.error}")
                if sample.at - last_printed >= 15 or time.monotonic() >= deadline:
                    row(sample)
                    last_printed = sample.at
        finally:
            if shared is not None:
                await shared.aclose()
            shutil.rmtree(workdir, ignore_errors=True)
    return samples


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


COLUMNS = (
    ("cycle", 6),
    ("at s", 7),
    ("cycle s", 8),
    ("up", 4),
    ("down", 5),
    ("fail", 5),
    ("req", 5),
    ("429", 4),
    ("RSS MB", 8),
    ("fds", 5),
    ("tasks", 6),
    ("threads", 8),
    ("del ids", 8),
)


def header() -> None:
    print(" ".join(f"{name:>{width}}" for name, width in COLUMNS), flush=True)


def row(s: Sample) -> None:
    values = (
        s.cycle,
        f"{s.at:.0f}",
        f"{s.seconds:.2f}",
        s.created,
        s.deleted,
        s.failed,
        s.requests,
        s.rate_limited,
        f"{s.rss_mb:.1f}",
        s.fds,
        s.tasks,
        s.threads,
        s.deleted_ids,
    )
    print(" ".join(f"{v:>{w}}" for v, (_, w) in zip(values, COLUMNS, strict=True)), flush=True)


def judge(samples: Sequence[Sample], args: argparse.Namespace) -> list[str]:
    """Print the growth from the first third to the last; return the bounds exceeded."""
    problems = [f"cycle {s.cycle}: {s.failed} items failed" for s in samples if s.failed]
    judged = list(samples[1:])  # the first cycle warms caches up
    if len(judged) < 3:
        print(f"\n{len(samples)} cycles: too few to judge growth (need at least 4)")
        return problems
    third = len(judged) // 3
    first, last = judged[:third], judged[-third:]

    def median(values: Sequence[float]) -> float:
        return statistics.median(values)

    rss0, rss1 = median([s.rss_mb for s in first]), median([s.rss_mb for s in last])
    fd0, fd1 = median([s.fds for s in first]), median([s.fds for s in last])
    t0, t1 = median([s.tasks for s in first]), median([s.tasks for s in last])
    c0, c1 = median([s.seconds for s in first]), median([s.seconds for s in last])
    rss_growth = rss1 - rss0
    rss_pct = 100 * rss_growth / rss0 if rss0 else 0.0
    instances = sum(s.created for s in samples)
    print(
        f"\n{len(samples)} cycles of {args.count} in {samples[-1].at:.0f} s: {instances} "
        f"instances created and deleted, {sum(s.requests for s in samples)} requests, "
        f"{sum(s.rate_limited for s in samples)} rate-limited, "
        f"{sum(s.failed for s in samples)} failed"
    )
    print(
        f"median of cycles {first[0].cycle}-{first[-1].cycle} against {last[0].cycle}-"
        f"{last[-1].cycle}:"
    )
    print(
        f"  RSS      {rss0:8.1f} MB -> {rss1:8.1f} MB: {rss_growth:+.1f} MB ({rss_pct:+.1f} %)"
        f"   bound +{args.max_rss_pct:g} % and +{args.max_rss_mb:g} MB"
    )
    print(f"  fds      {fd0:8.0f}    -> {fd1:8.0f}   : {fd1 - fd0:+.0f}   bound +{args.max_fds}")
    print(f"  tasks    {t0:8.0f}    -> {t1:8.0f}   : {t1 - t0:+.0f}   bound +{args.max_tasks}")
    print(f"  cycle s  {c0:8.2f}    -> {c1:8.2f}   : {c1 - c0:+.2f}   (not bounded)")
    print(f"  peak RSS {max(s.rss_mb for s in samples):.1f} MB")
    if rss_growth > args.max_rss_mb or rss_pct > args.max_rss_pct:
        problems.append(f"RSS grew {rss_growth:+.1f} MB ({rss_pct:+.1f} %)")
    if fd1 - fd0 > args.max_fds:
        problems.append(f"open descriptors grew by {fd1 - fd0:.0f}")
    if t1 - t0 > args.max_tasks:
        problems.append(f"asyncio tasks grew by {t1 - t0:.0f}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="wall time (default 30)")
    parser.add_argument("--count", type=int, default=50, help="instances per cycle (default 50)")
    parser.add_argument("--time-scale", type=float, default=600.0, help="emulator clock (600)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--in-process", action="store_true", help="ASGI transport, no sockets")
    parser.add_argument("--fresh-client", action="store_true", help="a new client per cycle")
    parser.add_argument(
        "--keep-deleted-ids",
        action="store_true",
        help="let the emulator's record of deleted ids grow (by design) instead of clearing it",
    )
    parser.add_argument("--max-rss-pct", type=float, default=20.0)
    parser.add_argument("--max-rss-mb", type=float, default=30.0)
    parser.add_argument("--max-fds", type=int, default=10)
    parser.add_argument("--max-tasks", type=int, default=10)
    args = parser.parse_args(argv)
    where = "in process" if args.in_process else "loopback HTTP"
    client = "a client per cycle" if args.fresh_client else "one client"
    print(
        f"soak: {args.minutes:g} min of fleet up/down cycles of {args.count}, emulator at "
        f"{args.time_scale:g}x over {where}, {client}",
        flush=True,
    )
    samples = anyio.run(soak, args)
    problems = judge(samples, args)
    if problems:
        print("FAILED: " + "; ".join(problems))
        return 1
    print("ok: within bounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
