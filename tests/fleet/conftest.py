"""Fleet tests against the emulator: in process (ASGI) for speed, on loopback where it matters.

The emulated clock runs 3600 times faster than real time (an emulated hour per real second),
so a create of two emulated minutes lasts about 33 real milliseconds and the client polls with
``PollPolicy().scaled(1 / 3600)``. What the client sent is read from the emulator's own
counters (``/_emulator/counters``); what the fleet saw, from the events it published.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import attrs
import httpx
import pytest

from aura_async import AuraClient, RateLimit, RetryPolicy
from aura_async.emulator import (
    DEFAULT_PROJECT_ID,
    BoltListener,
    EmulatorConfig,
    EmulatorServer,
    ManualClock,
    RateLimitSettings,
    create_app,
)
from aura_async.emulator.app import EmulatorState
from aura_async.emulator.backend import AuraBackend
from aura_async.emulator.clock import Clock
from aura_async.fleet import InstanceSpec, MemoryStore
from aura_async.fleet.store import CredentialStore, FileStore
from aura_async.lifecycle import PollPolicy
from tests.support.raw import raw_request, raw_token

E = TypeVar("E")

# An emulated hour per real second.
SCALE = 3600.0
# Tokens outlive any test, however far a test moves the clock.
TOKEN_LIFETIME = 24 * 3600.0 * SCALE
POLICY = PollPolicy().scaled(1 / SCALE)
PROJECT = DEFAULT_PROJECT_ID
PRO: dict[str, Any] = {
    "type": "professional-db",
    "region": "europe-west1",
    "memory": "2GB",
    "cloud_provider": "gcp",
}
POST_INSTANCES = "POST /v1/instances"


def spec(name: str, **overrides: Any) -> InstanceSpec:
    """A Professional 2GB spec named ``name``."""
    return InstanceSpec(name=name, **{**PRO, **overrides})


def config(**overrides: Any) -> EmulatorConfig:
    """A compressed-time emulator configuration; keyword arguments override."""
    settings: dict[str, Any] = {
        "time_scale": SCALE,
        "seed": 7,
        "token_lifetime": TOKEN_LIFETIME,
        # Retry-After with milliseconds: at this scale a whole real second is an hour.
        "rate_limit": RateLimitSettings(retry_after="seconds"),
    }
    settings.update(overrides)
    return EmulatorConfig(**settings)


class Recorder(list[object]):
    """Every event a client published (``append`` is the ``on_event`` hook)."""

    def of(self, kind: type[E], resource_id: str | None = None) -> list[E]:
        return [
            e
            for e in self
            if isinstance(e, kind)
            and (resource_id is None or getattr(e, "resource_id", None) == resource_id)
        ]


def saved_now(store: CredentialStore, instance_id: str) -> bool:
    """Whether ``store`` holds credentials for ``instance_id`` at this very moment (no await).

    For a :class:`FileStore` the file is read from disk; a :class:`MemoryStore` is read
    through its (private) synchronous lookup.
    """
    if isinstance(store, FileStore):
        path = store.directory / "credentials" / f"{instance_id}.json"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        return bool(document.get("password"))
    assert isinstance(store, MemoryStore)
    return store._lookup(None, instance_id) is not None


@attrs.define(eq=False)
class Rig:
    """One emulator, clients for it, and a control client that reads its counters."""

    state: EmulatorState
    base_url: str
    transport: Callable[[], httpx.AsyncBaseTransport | None]
    control: httpx.AsyncClient
    clients: list[AuraClient] = attrs.Factory(list)
    token: str = ""
    bolt: BoltListener | None = None  # the Bolt listener, when served on loopback with one

    @property
    def backend(self) -> AuraBackend:
        return self.state.backend

    def client(
        self,
        *,
        rate_limit: RateLimit | None = None,
        on_event: Callable[[object], None] | None = None,
        policy: PollPolicy = POLICY,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> AuraClient:
        """An AuraClient for this emulator (closed when the test ends)."""
        credential = self.state.config.credentials[0]
        client = AuraClient(
            credential.client_id,
            credential.client_secret,
            tenant_id=PROJECT,
            base_url=self.base_url,
            transport=transport or self.transport(),
            rate_limit=rate_limit or RateLimit(125, 1.0),
            poll=policy,
            on_event=on_event,
            retry=retry,
        )
        self.clients.append(client)
        return client

    async def counters(self) -> dict[str, Any]:
        response = await self.control.get("/_emulator/counters")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def reset_counters(self) -> None:
        response = await self.control.post("/_emulator/reset", json={})
        assert response.status_code == 200, response.text

    async def requests(self) -> Counter[str]:
        """Answered requests as ``"METHOD /route STATUS"`` -> count."""
        counters = await self.counters()
        return Counter(
            {
                f"{route} {status}": n
                for route, statuses in counters["requests"].items()
                for status, n in statuses.items()
            }
        )

    async def creates_per_name(self) -> dict[str, int]:
        return dict((await self.counters())["creates_per_name"])

    def advance(self, seconds: float) -> None:
        """Move the emulated clock forward."""
        with self.backend.lock:
            self.state.clock.advance(seconds)

    def statuses(self) -> dict[str, str]:
        """Every instance the emulator still has, id -> current status."""
        with self.backend.lock:
            self.backend.settle_all()
            return {i.id: i.status for i in self.backend.instances.values()}

    def names(self) -> dict[str, str]:
        """Every instance the emulator still has, id -> name."""
        with self.backend.lock:
            self.backend.settle_all()
            return {i.id: i.name for i in self.backend.instances.values()}

    async def raw(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        """Call ``/v1{path}`` as another client (Terraform, the console); return ``data``."""
        if not self.token:
            credential = self.state.config.credentials[0]
            self.token = await raw_token(
                self.control, credential.client_id, credential.client_secret
            )
        return await raw_request(self.control, self.token, method, path, body, expect)

    async def raw_create(self, name: str, **overrides: Any) -> dict[str, Any]:
        """Create an instance as another client; the fleet never sees its password."""
        body = {"version": "5", "name": name, "tenant_id": PROJECT, **PRO, **overrides}
        data: dict[str, Any] = await self.raw("POST", "/instances", body, expect=202)
        return data

    def settle(self, seconds: float = 3600.0) -> None:
        """Let every operation in flight end (an emulated hour passes at once)."""
        self.advance(seconds)


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig() -> AsyncIterator[RigFactory]:
    """Build in-process emulators (ASGI transport); the clock is scaled unless one is given."""
    rigs: list[Rig] = []

    async def factory(cfg: EmulatorConfig | None = None, *, clock: Clock | None = None) -> Rig:
        cfg = cfg or config()
        app = create_app(cfg, clock=clock)
        control = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://emulator.test"
        )
        rig = Rig(
            app.state.emulator,
            "http://emulator.test",
            lambda: httpx.ASGITransport(app=app),
            control,
        )
        rigs.append(rig)
        return rig

    yield factory
    for rig in rigs:
        for client in rig.clients:
            await client.aclose()
        await rig.control.aclose()


@pytest.fixture
async def rig(make_rig: RigFactory) -> Rig:
    """An in-process emulator with a clock 3600 times faster than real time."""
    return await make_rig()


@asynccontextmanager
async def loopback(cfg: EmulatorConfig | None = None) -> AsyncIterator[Rig]:
    """The emulator served over real loopback HTTP (uvicorn in a thread)."""
    async with EmulatorServer(cfg or config()) as server:
        control = httpx.AsyncClient(base_url=server.base_url, timeout=10)
        rig = Rig(server.state, server.base_url, lambda: None, control, bolt=server.bolt)
        try:
            yield rig
        finally:
            for client in rig.clients:
                await client.aclose()
            await control.aclose()


def manual_clock(start: float) -> ManualClock:
    """A clock that moves only when the test says so (still scaled for Retry-After)."""
    return ManualClock(start, time_scale=SCALE)


async def until(condition: Callable[[], Awaitable[bool]], *, limit: float = 10.0) -> None:
    """Poll ``condition`` (a few ms apart) until it holds; fail after ``limit`` real seconds."""
    with anyio.fail_after(limit):
        while not await condition():  # noqa: ASYNC110  (the emulator has no event to wait on)
            await anyio.sleep(0.002)
