"""A faithful local emulator of the Neo4j Aura management API (v1).

It answers every v1 operation of the official spec plus ``POST /oauth/token``, runs each
operation's lifecycle on a clock that tests can compress, enforces a per-credential rate
limit in a chosen model, and injects faults on demand. Use it:

- from the shell: ``python -m aura_async.emulator --port 8080 --time-scale 60``;
- in Python, on a loopback port: ``with EmulatorServer(config) as emulator: ...``;
- in process: ``httpx.ASGITransport(app=create_app(config))``;
- in pytest: the ``aura_emulator`` fixture (installed with the package);
- with the ``neo4j`` driver: ``EmulatorConfig(bolt=True)`` (on in the ``live`` and ``chaos``
  presets) serves Bolt for running instances (:class:`BoltListener`), and their
  ``connection_url`` reads ``neo4j://127.0.0.1:PORT?instance=ID``.

The HTTP server needs the ``emulator`` extra: ``pip install 'aura-async[emulator]'``.
"""

from __future__ import annotations

from aura_async.emulator.bolt import BoltListener, BoltStats
from aura_async.emulator.clock import Clock, ManualClock, ScaledClock
from aura_async.emulator.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    Credential,
    Durations,
    DurationShape,
    EmulatorConfig,
    ProjectSpec,
    RateLimitSettings,
)
from aura_async.emulator.faults import (
    DropFault,
    ErrorFault,
    FaultPlan,
    LatencyFault,
    RequestFilter,
)

try:
    from aura_async.emulator.app import ConnectionDropped, create_app
    from aura_async.emulator.server import EmulatorServer
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by the packaging test
    if exc.name not in ("starlette", "uvicorn"):
        raise
    _missing = exc.name

    def __getattr__(name: str) -> object:
        if name in ("create_app", "EmulatorServer", "ConnectionDropped"):
            raise ModuleNotFoundError(
                f"the Aura emulator's HTTP server needs {_missing!r}; install it with "
                "pip install 'aura-async[emulator]'",
                name=_missing,
            )
        raise AttributeError(name)


__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PROJECT_ID",
    "BoltListener",
    "BoltStats",
    "Clock",
    "ConnectionDropped",
    "Credential",
    "DropFault",
    "DurationShape",
    "Durations",
    "EmulatorConfig",
    "EmulatorServer",
    "ErrorFault",
    "FaultPlan",
    "LatencyFault",
    "ManualClock",
    "ProjectSpec",
    "RateLimitSettings",
    "RequestFilter",
    "ScaledClock",
    "create_app",
]
