"""One process of the multi-process tests: a fleet up and down with a shared (or own) budget.

Run by tests/shared_limit/test_processes.py as ``python worker.py --mode ... ...``; it talks
on its standard streams, one line at a time:

1. it builds its client, enters it (with a Redis backend that connects to Redis), and prints
   ``ready``;
2. it waits for a line on standard input (the test sends ``go`` to every worker at once, so
   their first requests leave together);
3. ``--mode fleet``: ``aura.fleet.create`` of ``--count`` instances named
   ``<prefix>-01``..., then ``aura.fleet.delete`` of the ids it got, both waiting; prints
   ``progress`` after its ``--announce-after``-th request left (when asked), and at the end
   ``result {json}``: per call the outcomes, the requests and 429s the client counted, and
   the ids (never a password);
   ``--mode hold``: takes ``--limit`` permits from the client's limiter and never releases
   them (requests "in flight" for good), prints ``holding`` and sleeps until killed.

The client secret comes from ``AURA_CLIENT_SECRET``, not the command line. SIGUSR1 writes
every thread's stack and every asyncio task's stack to standard error (the test sends it to a
worker that hangs, before killing it).
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import os
import signal
import sys
from collections import Counter
from typing import Any

import anyio
import anyio.to_thread

from aura_async import (
    AuraClient,
    InstanceSpec,
    MemoryStore,
    PollPolicy,
    Priority,
    RateLimit,
    RequestSent,
    RetryPolicy,
)

SPEC: dict[str, str] = {
    "type": "professional-db",
    "region": "europe-west1",
    "memory": "2GB",
    "cloud_provider": "gcp",
}


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("fleet", "hold"), default="fleet")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--period", type=float, required=True, help="real seconds")
    parser.add_argument("--scale", type=float, required=True, help="emulated s per real s")
    parser.add_argument("--redis", default="", help="shared budget on this Redis ('' = own)")
    parser.add_argument("--heartbeat", type=float, default=1.0)
    parser.add_argument("--dead-after", type=float, default=5.0)
    parser.add_argument("--prefix", default="w")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--announce-after", type=int, default=0)
    return parser.parse_args(argv)


def _outcomes(report: Any) -> dict[str, int]:
    return dict(Counter(str(item.outcome) for item in report.items))


def _dump_tasks() -> None:
    faulthandler.dump_traceback(all_threads=True)
    for task in asyncio.all_tasks():
        sys.stderr.write(f"--- {task!r}\n")
        task.print_stack(file=sys.stderr)
    sys.stderr.flush()


async def main(args: argparse.Namespace) -> None:
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks)
    sent = 0

    def on_event(event: object) -> None:
        nonlocal sent
        if isinstance(event, RequestSent):
            sent += 1
            if sent == args.announce_after:
                say("progress")

    shared: dict[str, Any] = {}
    if args.redis:  # else the client's own in-process budget, as before the shared one
        from aura_async import RedisBackend

        shared["rate_limit_backend"] = RedisBackend(
            args.redis, heartbeat=args.heartbeat, dead_after=args.dead_after
        )
    aura = AuraClient(
        args.client_id,
        os.environ["AURA_CLIENT_SECRET"],
        tenant_id=args.tenant,
        base_url=args.base_url,
        rate_limit=RateLimit(args.limit, args.period),
        **shared,
        poll=PollPolicy().scaled(1 / args.scale),
        retry=RetryPolicy(base_delay=0.01, max_delay=0.1),
        on_event=on_event,
    )
    async with aura:
        say("ready")
        await anyio.to_thread.run_sync(sys.stdin.readline)
        if args.mode == "hold":
            limiter = aura.limiter
            assert limiter is not None
            held = [await limiter.acquire(Priority.MUTATION) for _ in range(args.limit)]
            say(f"holding {len(held)}")
            await anyio.sleep_forever()
        up = await aura.fleet.create(
            InstanceSpec(name=args.prefix, **SPEC),
            count=args.count,
            pattern="{name}-{n:02d}",
            store=MemoryStore(),
        )
        ids = [item.instance_id for item in up.items if item.instance_id is not None]
        down = await aura.fleet.delete(ids)
        say(
            "result "
            + json.dumps(
                {
                    "created": _outcomes(up),
                    "deleted": _outcomes(down),
                    "ids": ids,
                    "deleted_ids": [item.instance_id for item in down.items],
                    "requests": up.requests + down.requests,
                    "rate_limited": up.rate_limited + down.rate_limited,
                    "errors": [
                        f"{item.name}: {type(item.error).__name__}: {item.error}"
                        for item in (*up.items, *down.items)
                        if item.error is not None
                    ],
                }
            )
        )


if __name__ == "__main__":
    anyio.run(main, _arguments())
