"""``python -m aura_async.emulator``: serve the Aura API emulator, or run its scripted tour."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Sequence

import attrs

from aura_async.emulator.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Credential,
    EmulatorConfig,
    parse_rate_limit,
)
from aura_async.emulator.durations import parse_duration_shape, parse_durations
from aura_async.emulator.faults import DropFault, parse_fault
from aura_async.emulator.presets import PRESETS, describe


def build_parser() -> argparse.ArgumentParser:
    """Return the command's argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m aura_async.emulator",
        description="Serve a local emulator of the Neo4j Aura management API (v1). It prints "
        "its base URL (clients append /v1) and the default project id, then serves until "
        "interrupted.",
    )
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        default="live",
        help="live: every behaviour the live service shows, varied durations (default); "
        "ideal: the spec's quirk-free service, narrow durations; chaos: a random mix of "
        "quirks, faults and rate models drawn from --seed (printed; the same seed replays). "
        "The flags below change the preset's choices",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="emulated seconds per real second: 60 makes a minute last a second",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for ids, durations' jitter, faults and the chaos mix (default random)",
    )
    parser.add_argument(
        "--rate-limit",
        default=None,
        help="requests per window in emulated seconds: 125/60 (the presets' limit), 25/60, "
        "125/1m; or 'off'",
    )
    parser.add_argument(
        "--rate-model",
        choices=("fixed", "sliding", "bucket"),
        default=None,
        help="how the server counts requests (live: sliding; ideal: fixed)",
    )
    parser.add_argument(
        "--retry-after",
        choices=("seconds", "integer", "date"),
        default=None,
        help="Retry-After on 429: whole real seconds rounded up (integer, the default), an "
        "HTTP date, or seconds with milliseconds under a compressed clock (not valid HTTP)",
    )
    parser.add_argument(
        "--count-token-requests",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="make POST /oauth/token spend from the rate limit (live: yes; ideal: no)",
    )
    parser.add_argument(
        "--count-rejected",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="count rejected requests too, a sliding log's behaviour (live: yes; ideal: no)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=float,
        default=None,
        help="access token lifetime in emulated seconds (default: an hour of real time, "
        "whatever the time scale)",
    )
    parser.add_argument(
        "--client-id",
        default=os.environ.get("AURA_EMULATOR_CLIENT_ID", DEFAULT_CLIENT_ID),
        help=f"accepted client id (default {DEFAULT_CLIENT_ID}, or $AURA_EMULATOR_CLIENT_ID)",
    )
    parser.add_argument(
        "--client-secret",
        default=os.environ.get("AURA_EMULATOR_CLIENT_SECRET", DEFAULT_CLIENT_SECRET),
        help="accepted client secret (default documented in the README, or "
        "$AURA_EMULATOR_CLIENT_SECRET)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND=VALUE[,k=v]",
        help="inject a fault, e.g. error=0.05,status=503,retry_after=2; "
        "latency=0.1,seconds=2; drop=0.02; not-found-after-create=5; "
        "null-connection-url=0.5[,until_running=1]; deleting-status=1; "
        "memory-missing-while-deleting=1; pause-resume-200=1; "
        "create-failure=0.1; snapshot-failure=0.1; session-failure=0.1 "
        "(repeatable)",
    )
    parser.add_argument(
        "--durations",
        action="append",
        default=[],
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="durations for every operation: bases in emulated seconds (create=300,pause=30; "
        "90s, 5m, 1h work too) of create, pause, resume, delete, resize, update, overwrite, "
        "restore, snapshot, key, session; jitter=0.2 (the spread); "
        "distribution=uniform|lognormal|heavy; stragglers=0.05 (share of draws) and "
        "straggler_factor=4 (how many times slower) (repeatable)",
    )
    parser.add_argument(
        "--duration-shape",
        action="append",
        default=[],
        metavar="OPERATION:KEY=VALUE[,KEY=VALUE]",
        help="override one operation's durations, e.g. create:median=300,spread=0.5,"
        "distribution=heavy,stragglers=0.1,straggler_factor=6; keys: median, spread, "
        "distribution, stragglers, straggler_factor (repeatable)",
    )
    parser.add_argument(
        "--resize-status",
        choices=("resizing", "updating"),
        default=None,
        help="status shown while memory or storage changes (default resizing)",
    )
    parser.add_argument(
        "--duplicate-names",
        choices=("allow", "reject"),
        default=None,
        help="allow a second instance with the same name (default), or answer 409",
    )
    parser.add_argument(
        "--rename-while-busy",
        choices=("reject", "allow"),
        default=None,
        help="answer a rename during an ongoing operation with 409 as every other change "
        "(reject, the default) or accept it",
    )
    parser.add_argument(
        "--bolt",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve Bolt for running instances on a second loopback port, so the neo4j "
        "driver can connect (connection_url becomes neo4j://127.0.0.1:PORT?instance=ID) "
        "(live, chaos: yes; ideal: no)",
    )
    parser.add_argument(
        "--bolt-delay",
        type=float,
        default=None,
        metavar="SECONDS",
        help="emulated seconds after an instance runs before Bolt accepts its connections "
        "(live: 15; chaos: drawn; ideal: 0)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run a short scripted scenario against the emulator and exit",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """Turn parsed arguments into an :class:`EmulatorConfig`: the preset, then the flags given.

    Raises:
        ValueError: for a malformed rate limit, fault or duration setting, or inconsistent
            settings.
    """
    if not 0 <= args.port <= 65535:
        raise ValueError(f"port must be between 0 and 65535; got {args.port}")
    if not args.client_id or not args.client_secret:
        raise ValueError("the client id and secret must not be empty")
    base = EmulatorConfig(
        credentials=(Credential(args.client_id, args.client_secret),),
        preset=args.preset,
        time_scale=args.time_scale,
        seed=args.seed,
        token_lifetime=args.token_lifetime,
    )
    rate = base.rate_limit
    if args.rate_limit is not None:
        if args.rate_limit.strip().lower() == "off":
            rate = attrs.evolve(rate, enabled=False)
        else:
            limit, window = parse_rate_limit(args.rate_limit)
            rate = attrs.evolve(rate, limit=limit, window=window, enabled=True)
    flags = {
        "model": args.rate_model,
        "retry_after": args.retry_after,
        "count_token_requests": args.count_token_requests,
        "count_rejected": args.count_rejected,
    }
    rate = attrs.evolve(rate, **{k: v for k, v in flags.items() if v is not None})
    plan = base.faults
    for text in args.fault:
        plan = parse_fault(text, plan)
    durations = base.durations
    if args.durations:  # all at once: jitter=2 may need the distribution=lognormal of another
        try:
            durations = parse_durations(",".join(args.durations), durations)
        except ValueError as exc:
            raise ValueError(f"invalid --durations: {exc}") from None
    for text in args.duration_shape:
        try:
            durations = parse_duration_shape(text, durations)
        except ValueError as exc:
            raise ValueError(f"invalid --duration-shape {text!r}: {exc}") from None
    switches = {
        "resize_status": args.resize_status,
        "duplicate_names": args.duplicate_names,
        "rename_while_busy": args.rename_while_busy,
        "bolt": args.bolt,
        "bolt_delay": args.bolt_delay,
    }
    return attrs.evolve(
        base,
        rate_limit=rate,
        durations=durations,
        faults=plan,
        **{k: v for k, v in switches.items() if v is not None},
    )


def describe_run(config: EmulatorConfig, seed: int) -> list[str]:
    """The lines ``serve`` prints about the service it emulates: preset, seed, behaviours."""
    lines = [f"preset:              {config.preset}"]
    if config.preset == "chaos":
        lines.append(f"chaos seed:          {seed} (replay: --preset chaos --seed {seed})")
    lines.extend(f"  - {line}" for line in describe(config))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code (2 for a usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        from aura_async.emulator.server import EmulatorServer
    except ModuleNotFoundError as exc:
        print(
            f"error: {exc}. Install the server with: pip install 'aura-async[emulator]'",
            file=sys.stderr,
        )
        return 1
    if args.demo and args.time_scale == 1.0:
        # The tour at real speed would take minutes; two minutes of Aura pass in a second.
        config = attrs.evolve(config, time_scale=120.0)
    if args.demo:
        # The tour is a raw-HTTP script that shows the API, not a client: it retries
        # nothing, so the faults that need a client's care (5xx, dropped connections,
        # latency, operations that fail) stay out of it; the quirks stay in.
        calm = attrs.evolve(
            config.faults,
            errors=(),
            latency=(),
            drop=DropFault(),
            create_failure=0.0,
            snapshot_failure=0.0,
            session_failure=0.0,
        )
        config = attrs.evolve(config, faults=calm)
    server = EmulatorServer(
        config, host=args.host, port=args.port, log_level="warning" if args.demo else "info"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        server.start()
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    try:
        if args.demo:
            from aura_async.emulator.tour import run_tour

            return run_tour(server)
        print(f"Aura API emulator serving at {server.base_url} (clients append /v1)", flush=True)
        print(f"token endpoint:      {server.token_url}", flush=True)
        print(f"default project id:  {server.project_id}", flush=True)
        print(f"client id:           {server.client_id}", flush=True)
        print(f"time scale:          x{config.time_scale:g}", flush=True)
        if server.bolt is not None:
            print(
                f"bolt:                {server.bolt.address} "
                f"(neo4j://{server.bolt.address}?instance=ID, user neo4j)",
                flush=True,
            )
        for line in describe_run(config, server.backend.seed):
            print(line, flush=True)
        print("Press Ctrl+C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
