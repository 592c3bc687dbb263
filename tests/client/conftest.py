"""Client tests over real loopback HTTP: an emulator server, a client for it, what it counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import anyio
import httpx
import pytest

from aura_async import AuraClient, RateLimit
from aura_async.emulator import (
    DEFAULT_PROJECT_ID,
    Durations,
    EmulatorConfig,
    EmulatorServer,
    ProjectSpec,
    ScaledClock,
)

T = TypeVar("T")

# An emulated hour passes in a real second: operations finish in tens of milliseconds.
TIME_SCALE = 3600.0
# Tokens outlive any test (an emulated hour would last one real second at this scale).
TOKEN_LIFETIME = 3600.0 * TIME_SCALE
# The client's default project, and another one, so that filters by project are seen to work.
PROJECTS = (
    ProjectSpec(DEFAULT_PROJECT_ID, "Emulator Project"),
    ProjectSpec("2d7a4f0e-93b1-4c5e-8f6a-1b2c3d4e5f60", "Other Project"),
)


def emulator_config(**overrides: Any) -> EmulatorConfig:
    """A compressed-time emulator configuration; keyword arguments override."""
    settings: dict[str, Any] = {
        "time_scale": TIME_SCALE,
        "seed": 20240611,
        "token_lifetime": TOKEN_LIFETIME,
        "projects": PROJECTS,
        # A resize lasts long enough (~0.2 s real) to be seen in progress, even on a busy host.
        "durations": Durations(resize=720),
    }
    settings.update(overrides)
    return EmulatorConfig(**settings)


class HoldableClock(ScaledClock):
    """A compressed clock a test can stop, to see a state that compressed time would end.

    While :meth:`held`, emulated time stands still except for :meth:`advance`: an operation
    in progress stays in progress, a session's TTL does not run out, however slow the host.
    Released, it runs on at its scale (never backwards).
    """

    def __init__(self, time_scale: float) -> None:
        super().__init__(time_scale)
        self._held: float | None = None

    def now(self) -> float:
        held = self._held
        return super().now() if held is None else held

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        if self._held is not None:
            self._held += seconds

    def hold(self) -> None:
        """Stop emulated time where it is now (only :meth:`advance` moves it)."""
        if self._held is None:
            self._held = super().now()

    def release(self) -> None:
        """Let emulated time run again."""
        self._held = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Emulated time stands still within the block."""
        self.hold()
        try:
            yield
        finally:
            self.release()


def clock_of(server: EmulatorServer) -> HoldableClock:
    """The clock of a server the ``emulator`` fixture made."""
    clock = server.state.clock
    assert isinstance(clock, HoldableClock)
    return clock


def make_client(server: EmulatorServer, *, tenant: bool = True) -> AuraClient:
    """An AuraClient for ``server``, with the project as its default tenant unless told not."""
    return AuraClient(
        server.client_id,
        server.client_secret,
        tenant_id=server.project_id if tenant else None,
        base_url=server.base_url,
        rate_limit=RateLimit(125, 1.0),
    )


class Witness:
    """Reads what the emulator counted, over its own HTTP control endpoint."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self._http = httpx.AsyncClient(base_url=server.base_url)

    async def counters(self) -> dict[str, Any]:
        """The whole ``/_emulator/counters`` answer."""
        response = await self._http.get("/_emulator/counters")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def requests(self) -> Counter[str]:
        """Requests answered so far, as ``"METHOD /route STATUS"`` -> count."""
        counters = await self.counters()
        return Counter(
            {
                f"{route} {status}": count
                for route, statuses in counters["requests"].items()
                for status, count in statuses.items()
            }
        )

    @asynccontextmanager
    async def sends(self, *expected: str) -> AsyncIterator[None]:
        """Assert the block sends exactly ``expected`` (one request each, any order).

        Each item reads ``"POST /v1/instances 202"``: the route template and the status.
        """
        before = await self.requests()
        yield
        after = await self.requests()
        sent = after - before
        assert sent == Counter(expected), f"sent {dict(sent)}, expected {list(expected)}"

    async def advance(self, seconds: float) -> None:
        """Jump the emulated clock forward."""
        response = await self._http.post("/_emulator/clock/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.text

    async def aclose(self) -> None:
        await self._http.aclose()


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    """A fresh emulator server on loopback (compressed time, :class:`HoldableClock`), one per
    test."""
    async with EmulatorServer(emulator_config(), clock=HoldableClock(TIME_SCALE)) as server:
        yield server


@pytest.fixture
async def witness(emulator: EmulatorServer) -> AsyncIterator[Witness]:
    """What the test's emulator counted."""
    reader = Witness(emulator)
    yield reader
    await reader.aclose()


@pytest.fixture
async def aura(emulator: EmulatorServer) -> AsyncIterator[AuraClient]:
    """An AuraClient for the test's emulator, the project as its default tenant."""
    async with make_client(emulator) as client:
        yield client


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    within: float = 5.0,
) -> T:
    """Call ``fetch`` every ~10 ms until ``done(result)``; fail after ``within`` seconds."""
    with anyio.fail_after(within):
        while True:
            result = await fetch()
            if done(result):
                return result
            await anyio.sleep(0.01)
