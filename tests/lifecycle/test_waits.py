"""Waiters for every asynchronous operation, against the emulator.

The main flows run over real loopback HTTP with the emulated clock 600 times faster than real
time (an emulated minute lasts 0.1 s). The edge cases run in process with a manual clock that
the test moves itself, once the waiter has seen what the case needs it to see, so every
status a waiter meets is chosen, not raced for. Polls follow ``PollPolicy().scaled(1/600)``
(or a variant of it that the test names), so a wait takes tenths of a second.

What a wait saw is read from the lifecycle events the client publishes (``on_event``); what
it sent, from the emulator's counters.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio
import attrs
import httpx
import pytest

from aura_async import (
    AuraClient,
    CreatedInstance,
    Instance,
    InstanceStatus,
    KeyStatus,
    NotFoundError,
    RateLimit,
    SessionStatus,
    SnapshotStatus,
    ValidationError,
)
from aura_async.emulator import (
    Durations,
    EmulatorConfig,
    EmulatorServer,
    FaultPlan,
    ManualClock,
    RateLimitSettings,
    create_app,
)
from aura_async.emulator.app import EmulatorState
from aura_async.emulator.backend import AuraBackend
from aura_async.errors import WaitFailedError, WaitTimeoutError
from aura_async.lifecycle import (
    Operation,
    OperationSubmitted,
    PollPolicy,
    StatusChanged,
    StatusObserved,
    TargetReached,
    UnknownStatusSeen,
    WaitFailed,
    WaitTimedOut,
)
from tests.client.conftest import HoldableClock
from tests.support.raw import raw_request, raw_token

pytestmark = pytest.mark.timeout(30)

E = TypeVar("E")

# An emulated minute passes in a tenth of a real second.
SCALE = 600.0
# Tokens outlive any test, however far a test moves the clock.
TOKEN_LIFETIME = 3600.0 * SCALE
# The emulator's durations without jitter, so a manual clock moved by DURATION + 1 ends an
# operation for certain.
DURATIONS = Durations(jitter=0.0)
# The policy the brief names, for the clock 600 times faster.
SCALED = PollPolicy().scaled(1 / SCALE)
# Over loopback the first poll comes at 30 % of an operation's usual duration rather than 50 %,
# so that even with the emulator's jitter (10 %) and a busy host, it meets the operation's
# transient status.
LOOPBACK_POLICY = PollPolicy(first_fraction=0.3).scaled(1 / SCALE)

PRO: dict[str, Any] = {
    "type": "professional-db",
    "region": "europe-west1",
    "memory": "2GB",
    "cloud_provider": "gcp",
}
KEY: dict[str, Any] = {
    "key_id": "arn:aws:kms:eu-west-1:123456789012:key/0000",
    "region": "europe-west1",
    "cloud_provider": "gcp",
    "instance_type": "enterprise-db",
}
SESSION: dict[str, Any] = {"memory": "2GB", "cloud_provider": "gcp", "region": "europe-west1"}

GET_INSTANCE = "GET /v1/instances/{instanceId}"
TRANSIENT = {
    Operation.OVERWRITE: "overwriting",
    Operation.RESTORE: "restoring",
    Operation.UPDATE: "updating",
}


def emulator_config(**overrides: Any) -> EmulatorConfig:
    """A compressed-time emulator configuration; keyword arguments override."""
    settings: dict[str, Any] = {
        "time_scale": SCALE,
        "seed": 4,
        "token_lifetime": TOKEN_LIFETIME,
        "durations": Durations(jitter=0.1),
    }
    settings.update(overrides)
    return EmulatorConfig(**settings)


class Events(list[object]):
    """Every event a client published, with the questions the tests ask of them.

    It may release a held clock (:meth:`release_after`) once polls have seen enough resources.
    """

    _holding: HoldableClock | None = None
    _count = 0
    _seen: frozenset[str] = frozenset()

    def append(self, event: object) -> None:
        super().append(event)
        if self._holding is not None and isinstance(event, StatusObserved):
            self._seen |= {event.resource_id}
            if len(self._seen) >= self._count:
                self._holding.release()
                self._holding = None

    def release_after(self, clock: HoldableClock, count: int) -> None:
        """Release ``clock`` once polls have seen ``count`` resources (each at least once)."""
        self._holding, self._count, self._seen = clock, count, frozenset()

    def of(self, kind: type[E], resource_id: str | None = None) -> list[E]:
        """The events of one kind, optionally about one resource."""
        return [
            e
            for e in self
            if isinstance(e, kind)
            and (resource_id is None or getattr(e, "resource_id", None) == resource_id)
        ]

    def observed(
        self, resource_id: str | None = None, operation: Operation | None = None
    ) -> list[str]:
        """The statuses the polls saw, in order ("not found" for a 404)."""
        return [
            e.status
            for e in self.of(StatusObserved, resource_id)
            if operation is None or e.operation is operation
        ]

    def reached(self, resource_id: str, operation: Operation) -> list[TargetReached]:
        """The TargetReached events of one operation on one resource."""
        return [e for e in self.of(TargetReached, resource_id) if e.operation is operation]


@attrs.define(eq=False)
class Emu:
    """One emulator, in process (manual clock) or on loopback, and another client for it.

    ``http`` is that other client: raw httpx with its own token, standing for Terraform, the
    console or a colleague. ``client()`` builds the AuraClients under test.
    """

    state: EmulatorState
    base_url: str
    http: httpx.AsyncClient
    transport: Callable[[], httpx.AsyncBaseTransport | None]
    clock: ManualClock | None = None
    holdable: HoldableClock | None = None
    clients: list[AuraClient] = attrs.Factory(list)
    token: str = ""

    @property
    def backend(self) -> AuraBackend:
        return self.state.backend

    def client(
        self,
        policy: PollPolicy = SCALED,
        events: Events | None = None,
        *,
        rate_limit: RateLimit | None = None,
    ) -> AuraClient:
        """An AuraClient for this emulator, closed when the test ends."""
        credential = self.state.config.credentials[0]
        client = AuraClient(
            credential.client_id,
            credential.client_secret,
            tenant_id=self.backend.default_project_id,
            base_url=self.base_url,
            transport=self.transport(),
            rate_limit=rate_limit,
            poll=policy,
            on_event=None if events is None else events.append,
        )
        self.clients.append(client)
        return client

    async def raw(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        """Call ``/v1{path}`` as the other client; return the answer's ``data``."""
        if not self.token:
            credential = self.state.config.credentials[0]
            self.token = await raw_token(self.http, credential.client_id, credential.client_secret)
        return await raw_request(self.http, self.token, method, path, body, expect)

    async def counts(self) -> Counter[str]:
        """Requests the emulator answered so far, as ``"METHOD /route STATUS"`` -> count."""
        response = await self.http.get("/_emulator/counters")
        assert response.status_code == 200, response.text
        return Counter(
            {
                f"{route} {status}": n
                for route, statuses in response.json()["requests"].items()
                for status, n in statuses.items()
            }
        )

    def hold_until_polled(self, events: Events, count: int = 1) -> None:
        """Stop the loopback clock until the client's polls have seen ``count`` resources.

        Call it before starting an operation: its first poll then meets the operation under
        way however slow the host (at 600x an update lasts 50 ms), and time runs on after.
        """
        assert self.holdable is not None, "only the loopback emulator has a holdable clock"
        self.holdable.hold()
        events.release_after(self.holdable, count)

    def advance(self, seconds: float) -> None:
        """Move the manual clock forward (emulated seconds)."""
        assert self.clock is not None, "only the in-process emulator has a manual clock"
        with self.backend.lock:
            self.clock.advance(seconds)

    def set_status(self, instance_id: str, status: str) -> None:
        """Make the emulator report another status for an instance, as if the service did."""
        with self.backend.lock:
            self.backend.instances[instance_id].status = status

    def in_flight(self, instance_id: str) -> bool:
        """Whether the emulator has an operation in flight on the instance."""
        with self.backend.lock:
            instance = self.backend.instances.get(instance_id)
            return instance is not None and instance.operation is not None

    async def created_elsewhere(self, name: str) -> str:
        """Start creating an instance as the other client; return its id."""
        data = await self.raw(
            "POST",
            "/instances",
            {**PRO, "name": name, "version": "5", "tenant_id": self.backend.default_project_id},
            202,
        )
        instance_id: str = data["id"]
        return instance_id

    async def running(self, name: str = "ready") -> str:
        """An instance created by the other client and running (manual clock only)."""
        instance_id = await self.created_elsewhere(name)
        self.advance(DURATIONS.create + 1)
        assert (await self.raw("GET", f"/instances/{instance_id}"))["status"] == "running"
        return instance_id

    async def completed_snapshot(self, instance_id: str) -> str:
        """A completed snapshot of a running instance, taken by the other client."""
        data = await self.raw("POST", f"/instances/{instance_id}/snapshots", None, 202)
        self.advance(DURATIONS.snapshot + 1)
        snapshot_id: str = data["snapshot_id"]
        return snapshot_id


async def until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Return once ``predicate()`` holds, checking every 2 ms; fail after ``within`` s."""
    with anyio.fail_after(within):
        while True:
            if predicate():
                return
            await anyio.sleep(0.002)


async def close(emu: Emu) -> None:
    for client in emu.clients:
        await client.aclose()


@pytest.fixture
async def loopback() -> AsyncIterator[Emu]:
    """An emulator on a loopback port, its clock 600 times faster than real time (and held
    when a test says so)."""
    clock = HoldableClock(SCALE)
    async with (
        EmulatorServer(emulator_config(), clock=clock) as server,
        httpx.AsyncClient(base_url=server.base_url) as http,
    ):
        emu = Emu(server.state, server.base_url, http, lambda: None, holdable=clock)
        yield emu
        await close(emu)


LocalFactory = Callable[..., Emu]


@pytest.fixture
async def local() -> AsyncIterator[LocalFactory]:
    """Build in-process emulators with a manual clock (no jitter, no rate limit)."""
    built: list[Emu] = []

    def factory(*, start: float | None = None, **overrides: Any) -> Emu:
        settings: dict[str, Any] = {
            "durations": DURATIONS,
            # The manual clock stands still, so every request would share one rate window.
            "rate_limit": RateLimitSettings(enabled=False),
            **overrides,
        }
        config = emulator_config(**settings)
        clock = (
            ManualClock(time_scale=SCALE) if start is None else ManualClock(start, time_scale=SCALE)
        )
        app = create_app(config, clock=clock)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://emulator.test"
        )
        emu = Emu(
            app.state.emulator,
            "http://emulator.test",
            http,
            lambda: httpx.ASGITransport(app=app),
            clock,
        )
        built.append(emu)
        return emu

    yield factory
    for emu in built:
        await close(emu)
        await emu.http.aclose()


def policy_for(operation: Operation, expected: float, **changes: Any) -> PollPolicy:
    """The scaled policy, where ``operation`` is expected to take ``expected`` real seconds."""
    return attrs.evolve(SCALED, expected={**SCALED.expected, operation: expected}, **changes)


def grace(policy: PollPolicy, operation: Operation) -> float:
    """How long after a create a 404 is tolerated: the first poll's delay plus the grace."""
    return policy.not_found_grace + policy.first_delay(policy.expected[operation])


# ------------------------------------------------------------------- every operation, loopback


async def test_every_instance_operation_waits_with_wait_true(loopback: Emu) -> None:
    """Each mutation with ``wait=True`` returns only once its own operation is done."""
    events = Events()
    aura = loopback.client(LOOPBACK_POLICY, events, rate_limit=RateLimit(125, 1.0))

    created: dict[str, CreatedInstance] = {}

    async def create(name: str) -> None:
        created[name] = await aura.instances.create(name=name, **PRO, wait=True)

    loopback.hold_until_polled(events, 2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(create, "source")
        tg.start_soon(create, "target")
    source, target = created["source"].id, created["target"].id
    for instance_id in (source, target):
        assert [e.status for e in events.reached(instance_id, Operation.CREATE)] == ["running"]
        seen = events.observed(instance_id, Operation.CREATE)
        assert seen[0] == "creating"
        assert seen[-1] == "running"
    assert (await aura.instances.get(target)).status is InstanceStatus.RUNNING

    paused = await aura.instances.pause(target, wait=True)
    assert paused.status is InstanceStatus.PAUSED
    assert events.observed(target, Operation.PAUSE)[-1] == "paused"

    loopback.hold_until_polled(events)
    resumed = await aura.instances.resume(target, wait=True)
    assert resumed.status is InstanceStatus.RUNNING
    assert events.observed(target, Operation.RESUME)[0] == "resuming"

    # A resize: the instance shows its old memory while resizing; done with the new one.
    loopback.hold_until_polled(events)
    resized = await aura.instances.update(target, memory="4GB", wait=True)
    assert resized.status is InstanceStatus.RUNNING
    assert resized.memory == "4GB"
    assert events.observed(target, Operation.RESIZE)[0] == "resizing"

    loopback.hold_until_polled(events)
    updated = await aura.instances.update(target, vector_optimized=True, wait=True)
    assert updated.status is InstanceStatus.RUNNING
    assert updated.vector_optimized is True
    seen = events.observed(target, Operation.UPDATE)
    assert seen[0] == "updating"
    assert seen[-1] == "running"

    loopback.hold_until_polled(events)
    overwritten = await aura.instances.overwrite(target, source_instance_id=source, wait=True)
    assert overwritten.status is InstanceStatus.RUNNING
    seen = events.observed(target, Operation.OVERWRITE)
    assert seen[0] == "overwriting"
    assert seen[-1] == "running"

    loopback.hold_until_polled(events)
    snapshot = await aura.snapshots.create(target, wait=True)
    assert [e.status for e in events.reached(snapshot.snapshot_id, Operation.SNAPSHOT)] == [
        "Completed"
    ]
    assert events.observed(snapshot.snapshot_id)[0] in ("Pending", "InProgress")
    stored = await aura.snapshots.get(target, snapshot.snapshot_id)
    assert stored.status is SnapshotStatus.COMPLETED

    loopback.hold_until_polled(events)
    restored = await aura.snapshots.restore(target, snapshot.snapshot_id, wait=True)
    assert restored.status is InstanceStatus.RUNNING
    seen = events.observed(target, Operation.RESTORE)
    assert seen[0] == "restoring"
    assert seen[-1] == "running"

    assert await aura.instances.delete(target, wait=True) is None
    assert events.observed(target, Operation.DELETE)[-1] == "not found"
    assert [e.status for e in events.reached(target, Operation.DELETE)] == ["not found"]
    with pytest.raises(NotFoundError):
        await aura.instances.get(target)

    # Every wait on the target named it in its events, and reached its own target once.
    lifecycle = [
        e
        for kind in (OperationSubmitted, StatusObserved, TargetReached)
        for e in events.of(kind, target)
    ]
    assert {e.name for e in lifecycle} == {"target"}
    every = [
        Operation.CREATE,
        Operation.PAUSE,
        Operation.RESUME,
        Operation.RESIZE,
        Operation.UPDATE,
        Operation.OVERWRITE,
        Operation.RESTORE,
        Operation.DELETE,
    ]
    assert [e.operation for e in events.of(TargetReached, target)] == every
    assert aura.watcher.active == 0


async def test_key_and_session_wait_with_wait_true(loopback: Emu) -> None:
    """A key waits until ready, a session until Ready."""
    events = Events()
    aura = loopback.client(LOOPBACK_POLICY, events, rate_limit=RateLimit(125, 1.0))
    key = await aura.customer_managed_keys.create(name="key", **KEY, wait=True)
    assert key.status is KeyStatus.READY
    assert events.observed(key.id, Operation.KEY)[-1] == "ready"
    loopback.hold_until_polled(events)
    session = await aura.graph_analytics.create(name="session", **SESSION, wait=True)
    assert session.status is SessionStatus.READY
    assert events.observed(session.id, Operation.SESSION)[0] == "Creating"


async def test_explicit_waits_for_instances_created_elsewhere(loopback: Emu) -> None:
    """``aura.<resource>.wait(...)`` waits for operations started by anyone."""
    events = Events()
    aura = loopback.client(LOOPBACK_POLICY, events, rate_limit=RateLimit(125, 1.0))
    # Created by another client (Terraform, the console): this client never saw the POST.
    loopback.hold_until_polled(events, 2)
    target = await loopback.created_elsewhere("elsewhere")
    source = await loopback.created_elsewhere("source")
    waited: dict[str, Instance | None] = {}

    async def wait_for(instance_id: str) -> None:
        waited[instance_id] = await aura.instances.wait(instance_id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_for, target)
        tg.start_soon(wait_for, source)
    for instance_id in (target, source):
        instance = waited[instance_id]
        assert instance is not None
        assert instance.id == instance_id
        assert instance.status is InstanceStatus.RUNNING
        assert events.observed(instance_id, Operation.CREATE)[0] == "creating"

    assert (await aura.instances.pause(target)).status is InstanceStatus.PAUSING
    paused = await aura.instances.wait(target, "pause")
    assert paused is not None
    assert paused.status is InstanceStatus.PAUSED

    await aura.instances.resume(target)
    resumed = await aura.instances.wait(target, Operation.RESUME)
    assert resumed is not None
    assert resumed.status is InstanceStatus.RUNNING

    loopback.hold_until_polled(events)
    accepted = await aura.instances.update(target, memory="4GB")
    assert accepted.status is InstanceStatus.RESIZING
    # The emulator, like the service, shows the old memory while resizing.
    during = await loopback.raw("GET", f"/instances/{target}")
    assert (during["status"], during["memory"]) == ("resizing", "2GB")
    resized = await aura.instances.wait(target, "resize", memory="4GB")
    assert resized is not None
    assert (resized.status, resized.memory) == (InstanceStatus.RUNNING, "4GB")
    assert "resizing" in events.observed(target, Operation.RESIZE)

    assert (
        await aura.instances.update(target, vector_optimized=True)
    ).status is InstanceStatus.UPDATING
    updated = await aura.instances.wait(target, "update")
    assert updated is not None
    assert updated.status is InstanceStatus.RUNNING
    assert updated.vector_optimized is True

    loopback.hold_until_polled(events)
    overwriting = await aura.instances.overwrite(target, source_instance_id=source)
    assert overwriting.status is InstanceStatus.OVERWRITING
    overwritten = await aura.instances.wait(target, "overwrite")
    assert overwritten is not None
    assert overwritten.status is InstanceStatus.RUNNING
    assert events.observed(target, Operation.OVERWRITE)[0] == "overwriting"

    taken = await aura.snapshots.create(target)
    snapshot = await aura.snapshots.wait(target, taken.snapshot_id)
    assert snapshot.snapshot_id == taken.snapshot_id
    assert snapshot.status is SnapshotStatus.COMPLETED

    loopback.hold_until_polled(events)
    restoring = await aura.snapshots.restore(target, taken.snapshot_id)
    assert restoring.status is InstanceStatus.RESTORING
    restored = await aura.instances.wait(target, "restore")
    assert restored is not None
    assert restored.status is InstanceStatus.RUNNING
    assert events.observed(target, Operation.RESTORE)[0] == "restoring"

    deleting = await aura.instances.delete(target)
    assert deleting is not None
    assert deleting.status is InstanceStatus.DESTROYING
    assert await aura.instances.wait(target, "delete") is None
    assert events.observed(target, Operation.DELETE)[-1] == "not found"

    pending = await aura.customer_managed_keys.create(name="key", **KEY)
    assert pending.status is KeyStatus.PENDING
    ready = await aura.customer_managed_keys.wait(pending.id)
    assert ready.status is KeyStatus.READY

    accepted_session = await aura.graph_analytics.create(name="session", **SESSION)
    assert accepted_session.status is not SessionStatus.READY
    session = await aura.graph_analytics.wait(accepted_session.id)
    assert session.status is SessionStatus.READY


# ------------------------------------------------------------- acceptors, in process


async def test_resize_is_done_only_when_the_new_memory_shows(local: LocalFactory) -> None:
    """``running`` with the old memory is not the end of a resize; the new memory is."""
    emu = local()
    events = Events()
    aura = emu.client(events=events)
    instance_id = await emu.running()
    result: dict[str, Instance] = {}

    async def resize() -> None:
        result["instance"] = await aura.instances.update(instance_id, memory="4GB", wait=True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(resize)
        await until(lambda: "resizing" in events.observed(instance_id))
        # As the service may: running again, still with the old memory, resize not landed.
        emu.set_status(instance_id, "running")
        shown = await emu.raw("GET", f"/instances/{instance_id}")
        assert (shown["status"], shown["memory"]) == ("running", "2GB")
        seen = len(events.observed(instance_id))
        await until(lambda: events.observed(instance_id)[seen:].count("running") >= 2)
        assert not result, "the wait ended on running with the old memory"
        emu.advance(DURATIONS.resize + 1)
    instance = result["instance"]
    assert (instance.status, instance.memory) == (InstanceStatus.RUNNING, "4GB")
    assert events.observed(instance_id, Operation.RESIZE)[-1] == "running"


async def start(
    emu: Emu, aura: AuraClient, operation: Operation
) -> tuple[str, Callable[[], Awaitable[Instance]]]:
    """Set up an instance for ``operation``; return its id and the mutation with wait=True."""
    target = await emu.running("target")
    if operation is Operation.OVERWRITE:
        source = await emu.running("source")
        return target, lambda: aura.instances.overwrite(
            target, source_instance_id=source, wait=True
        )
    if operation is Operation.RESTORE:
        snapshot = await emu.completed_snapshot(target)
        return target, lambda: aura.snapshots.restore(target, snapshot, wait=True)
    return target, lambda: aura.instances.update(target, vector_optimized=True, wait=True)


def duration(operation: Operation) -> float:
    value: float = getattr(DURATIONS, operation.value)
    return value


@pytest.mark.parametrize("operation", list(TRANSIENT))
async def test_running_after_the_operation_was_seen_is_done(
    local: LocalFactory, operation: Operation
) -> None:
    """Overwrite, restore, update: running after the transient status ends the wait at once."""
    # The operation usually takes 3 s, so "long enough" would be 3 s; polls 30 ms apart at most.
    policy = policy_for(operation, 3.0, max_interval=0.03)
    emu = local()
    events = Events()
    aura = emu.client(policy, events)
    target, mutation = await start(emu, aura, operation)
    result: dict[str, Instance] = {}

    async def run() -> None:
        result["instance"] = await mutation()

    began = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await until(lambda: TRANSIENT[operation] in events.observed(target, operation))
        emu.advance(duration(operation) + 1)
    took = time.monotonic() - began
    assert result["instance"].status is InstanceStatus.RUNNING
    seen = events.observed(target, operation)
    assert seen[-1] == "running"
    assert set(seen[:-1]) == {TRANSIENT[operation]}
    (reached,) = events.reached(target, operation)
    assert reached.elapsed < 1.5
    assert took < 1.5


@pytest.mark.parametrize("operation", list(TRANSIENT))
async def test_running_counts_after_long_enough_when_polls_missed_the_operation(
    local: LocalFactory, operation: Operation
) -> None:
    """Overwrite, restore, update: if no poll saw the transient status, running counts only
    once the operation's usual duration has passed, never at the first running seen."""
    settle_after = 0.3
    # The first poll at 60 ms, then every 30 ms.
    policy = policy_for(operation, settle_after, first_fraction=0.2)
    emu = local()
    events = Events()
    aura = emu.client(policy, events)
    target, mutation = await start(emu, aura, operation)
    result: dict[str, Instance] = {}

    async def run() -> None:
        result["instance"] = await mutation()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await until(lambda: emu.in_flight(target))
        assert not events.observed(target, operation)
        # The operation ends before the first poll: no poll can see it under way.
        emu.advance(duration(operation) + 1)
    assert result["instance"].status is InstanceStatus.RUNNING
    observed = [e for e in events.of(StatusObserved, target) if e.operation is operation]
    assert {e.status for e in observed} == {"running"}
    early = [e for e in observed if e.elapsed < settle_after]
    assert early, "no poll came before long enough (a very slow host?)"
    assert len(observed) > len(early), "a running poll before long enough ended the wait"
    (reached,) = events.reached(target, operation)
    assert reached.elapsed >= settle_after


# ------------------------------------------------------------------------ failure states


async def test_create_failure_fails_the_wait_with_the_history(local: LocalFactory) -> None:
    emu = local(faults=FaultPlan(create_failure=1.0))
    events = Events()
    aura = emu.client(events=events)

    async def fail_later() -> None:
        await until(lambda: "creating" in events.observed())
        emu.advance(DURATIONS.create + 1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(fail_later)
        with pytest.raises(WaitFailedError) as raised:
            await aura.instances.create(name="doomed", **PRO, wait=True)
    error = raised.value
    (instance_id,) = emu.backend.instances
    assert error.resource_id == instance_id
    assert error.operation == "create"
    assert error.last_status == "loading failed"
    statuses = [status for _, status in error.history]
    assert statuses[0] == "creating"
    assert statuses[-1] == "loading failed"
    times = [at for at, _ in error.history]
    assert times == sorted(times)
    assert times[0] > 0
    # The failed wait still hands back the create's answer: the password is not lost.
    assert isinstance(error.created, CreatedInstance)
    assert error.created.id == instance_id
    assert error.created.password
    assert error.created.password not in str(error)
    assert error.elapsed >= times[-1] - 0.001  # the history is rounded to milliseconds
    (failed,) = events.of(WaitFailed, instance_id)
    assert failed.status == "loading failed"
    assert "loading failed" in str(error)


@pytest.mark.parametrize(("probability", "word"), [(0.0, "destroying"), (1.0, "deleting")])
async def test_instance_deleted_elsewhere_fails_a_wait_for_running(
    local: LocalFactory, probability: float, word: str
) -> None:
    emu = local(faults=FaultPlan(deleting_status=probability))
    events = Events()
    # Polls 100 ms apart: the other client's delete lands between two of them.
    aura = emu.client(attrs.evolve(SCALED, min_interval=0.1, max_interval=0.1), events)
    instance_id = await emu.created_elsewhere("short-lived")

    async def delete_elsewhere() -> None:
        await until(lambda: "creating" in events.observed(instance_id))
        emu.advance(DURATIONS.create + 1)
        deleting = await emu.raw("DELETE", f"/instances/{instance_id}", expect=202)
        assert deleting["status"] == word

    async with anyio.create_task_group() as tg:
        tg.start_soon(delete_elsewhere)
        with pytest.raises(WaitFailedError) as raised:
            await aura.instances.wait(instance_id)
    error = raised.value
    assert error.last_status == word
    statuses = [status for _, status in error.history]
    assert statuses[0] == "creating"
    assert statuses[-1] == word
    assert "running" not in statuses
    assert word in str(error)


async def test_snapshot_failure_fails_the_wait(local: LocalFactory) -> None:
    emu = local()
    events = Events()
    aura = emu.client(events=events)
    instance_id = await emu.running()
    # Switched on at run time, as a test against a shared emulator would.
    response = await emu.http.put("/_emulator/faults", json={"snapshot_failure": 1.0})
    assert response.status_code == 200, response.text

    async def fail_later() -> None:
        await until(lambda: "Pending" in events.observed())
        emu.advance(DURATIONS.snapshot + 1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(fail_later)
        with pytest.raises(WaitFailedError) as raised:
            await aura.snapshots.create(instance_id, wait=True)
    (snapshot_id,) = emu.backend.snapshots
    error = raised.value
    assert (error.resource_id, error.operation) == (snapshot_id, "snapshot")
    assert error.last_status == "Failed"
    assert [status for _, status in error.history][-1] == "Failed"
    assert events.of(WaitFailed, snapshot_id)[0].status == "Failed"


@pytest.mark.parametrize("ending", ["Failed", "Expired"])
async def test_session_failed_or_expired_fails_the_wait(local: LocalFactory, ending: str) -> None:
    emu = local(faults=FaultPlan(session_failure=1.0 if ending == "Failed" else 0.0))
    events = Events()
    aura = emu.client(events=events)
    ttl = 60.0

    async def end_later() -> None:
        await until(lambda: "Creating" in events.observed())
        emu.advance(DURATIONS.session + (ttl if ending == "Expired" else 0) + 1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(end_later)
        with pytest.raises(WaitFailedError) as raised:
            await aura.graph_analytics.create(name="analysis", ttl="1m", **SESSION, wait=True)
    (session_id,) = emu.backend.sessions
    error = raised.value
    assert (error.resource_id, error.operation) == (session_id, "session")
    assert error.last_status == ending
    statuses = [status for _, status in error.history]
    assert set(statuses[:-1]) == {"Creating"}
    assert statuses[-1] == ending


async def test_a_brief_not_found_after_create_is_tolerated(local: LocalFactory) -> None:
    """With the default policy, the first poll of a create may answer 404 and it waits on."""
    emu = local(faults=FaultPlan(not_found_after_create=30.0))
    events = Events()
    aura = emu.client(SCALED, events)

    async def appear_later() -> None:
        await until(lambda: "not found" in events.observed())
        emu.advance(DURATIONS.create + 1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(appear_later)
        created = await aura.instances.create(name="shy", **PRO, wait=True)
    seen = events.observed(created.id, Operation.CREATE)
    assert seen[0] == "not found"
    assert seen[-1] == "running"
    assert not events.of(WaitFailed)
    assert (await emu.counts())[f"{GET_INSTANCE} 404"] >= 1


async def test_not_found_beyond_the_grace_and_unlisted_fails(local: LocalFactory) -> None:
    """Nowhere to be seen past the grace (no GET finds it, no listing shows it): failed."""
    emu = local(
        faults=FaultPlan(not_found_after_create=3600.0, not_found_after_create_unlisted=True)
    )
    events = Events()
    aura = emu.client(SCALED, events)
    with pytest.raises(WaitFailedError) as raised:
        await aura.instances.create(name="ghost", **PRO, wait=True)
    error = raised.value
    assert error.last_status == "not found"
    statuses = [status for _, status in error.history]
    assert set(statuses) == {"not found"}
    assert len(statuses) >= 2, "the first 404, within the grace, was not tolerated"
    assert error.history[-1][0] >= grace(SCALED, Operation.CREATE)
    # (The history is rounded to milliseconds.)
    assert error.history[-2][0] < grace(SCALED, Operation.CREATE) + 0.0005
    assert (await emu.counts())[f"{GET_INSTANCE} 404"] == len(statuses)


async def test_not_found_beyond_the_grace_but_listed_waits_on(local: LocalFactory) -> None:
    """Still listed past the grace: the instance exists and its 404 window is longer than
    allowed for. The wait learns the window and goes on until the instance shows up."""
    window = 10 * grace(SCALED, Operation.CREATE) * SCALE
    # (Its clock starts now: an instance stated to be years old would teach no window.)
    emu = local(faults=FaultPlan(not_found_after_create=window), start=time.time())
    events = Events()
    # Polls at least 50 ms apart: the clock moves a step per 404, and the 404s must outlast
    # the grace in the client's time too.
    aura = emu.client(attrs.evolve(SCALED, min_interval=0.05), events)

    async def let_time_pass() -> None:
        # (The manual clock moves only when told: a little per 404, until it is found.)
        while "running" not in events.observed():
            await until(lambda: len(events.observed()) > moved[0])
            moved[0] = len(events.observed())
            emu.advance(window / 8)

    moved = [0]
    async with anyio.create_task_group() as tg:
        tg.start_soon(let_time_pass)
        created = await aura.instances.create(name="late", **PRO, wait=True)
        tg.cancel_scope.cancel()
    seen = events.observed(created.id, Operation.CREATE)
    assert seen[0] == "not found"
    assert seen[-1] == "running"
    assert not events.of(WaitFailed)
    assert aura.watcher.not_found_window() > SCALED.not_found_grace
    assert (await emu.counts())["GET /v1/instances 200"] >= 1  # it looked again


async def test_not_found_fails_at_once_for_an_instance_that_existed(local: LocalFactory) -> None:
    """Only a create may briefly be missing: a 404 while waiting for a pause means gone."""
    emu = local()
    aura = emu.client()
    instance_id = await emu.running()
    await emu.raw("DELETE", f"/instances/{instance_id}", expect=202)
    emu.advance(DURATIONS.delete + 1)
    with pytest.raises(WaitFailedError) as raised:
        await aura.instances.wait(instance_id, "pause")
    assert raised.value.last_status == "not found"
    assert len(raised.value.history) == 1


async def test_unknown_statuses_are_reported_and_waiting_goes_on(local: LocalFactory) -> None:
    emu = local()
    events = Events()
    aura = emu.client(events=events)
    instance_id = await emu.running()
    emu.set_status(instance_id, "migrating")  # a status this SDK has never heard of
    result: dict[str, Instance | None] = {}

    async def wait() -> None:
        result["instance"] = await aura.instances.wait(instance_id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await until(lambda: len(events.of(UnknownStatusSeen, instance_id)) >= 2)
        assert not result, "an unknown status ended the wait"
        emu.set_status(instance_id, "running")
    instance = result["instance"]
    assert instance is not None
    assert instance.status is InstanceStatus.RUNNING
    unknown = events.of(UnknownStatusSeen, instance_id)
    assert {(e.status, e.operation) for e in unknown} == {("migrating", Operation.CREATE)}
    assert len(unknown) == events.observed(instance_id).count("migrating")
    assert [(e.previous, e.status) for e in events.of(StatusChanged, instance_id)] == [
        ("migrating", "running")
    ]
    assert not events.of(WaitFailed)


# ----------------------------------------------------------------------------- timeouts


async def test_timeouts_default_per_operation_and_overridable(local: LocalFactory) -> None:
    policy = attrs.evolve(
        SCALED, timeouts={**SCALED.timeouts, Operation.CREATE: 0.3, Operation.PAUSE: 0.15}
    )
    emu = local()  # the manual clock stands still: nothing ever finishes
    events = Events()
    aura = emu.client(policy, events)

    began = time.monotonic()
    with pytest.raises(WaitTimeoutError) as raised:
        await aura.instances.create(name="slow", **PRO, wait=True)
    took = time.monotonic() - began
    error = raised.value
    (instance_id,) = emu.backend.instances
    assert (error.resource_id, error.operation) == (instance_id, "create")
    assert error.last_status == "creating"
    assert 0.3 <= error.elapsed < 0.55
    assert error.elapsed <= took
    assert error.history
    assert {status for _, status in error.history} == {"creating"}
    assert all(0 < at <= error.elapsed for at, _ in error.history)
    (timed_out,) = events.of(WaitTimedOut, instance_id)
    assert timed_out.status == "creating"

    # Another operation, another default.
    with pytest.raises(WaitTimeoutError) as raised:
        await aura.instances.wait(instance_id, "pause")
    assert raised.value.operation == "pause"
    assert 0.15 <= raised.value.elapsed < 0.3

    # Overridden, on an explicit wait and on a mutation.
    with pytest.raises(WaitTimeoutError) as raised:
        await aura.instances.wait(instance_id, timeout=0.08)
    assert 0.08 <= raised.value.elapsed < 0.3
    with pytest.raises(WaitTimeoutError) as raised:
        await aura.instances.create(name="impatient", **PRO, wait=True, timeout=0.6)
    assert 0.6 <= raised.value.elapsed < 0.85
    assert aura.watcher.active == 0


async def test_timeout_zero_does_not_wait(local: LocalFactory) -> None:
    """``wait=True, timeout=0`` returns the accepted answer at once and sends no GET."""
    emu = local()
    events = Events()
    aura = emu.client(events=events)
    ids = [await emu.running(f"i{n}") for n in range(8)]
    await emu.raw("POST", f"/instances/{ids[7]}/pause", None, 202)
    emu.advance(DURATIONS.pause + 1)
    snapshot = await emu.completed_snapshot(ids[6])
    before = await emu.counts()

    began = time.monotonic()
    created = await aura.instances.create(name="new", **PRO, wait=True, timeout=0)
    answers = [
        await aura.instances.pause(ids[0], wait=True, timeout=0),
        await aura.instances.update(ids[1], memory="4GB", wait=True, timeout=0),
        await aura.instances.update(ids[2], vector_optimized=True, wait=True, timeout=0),
        await aura.instances.overwrite(ids[3], source_instance_id=ids[4], wait=True, timeout=0),
        await aura.snapshots.restore(ids[6], snapshot, wait=True, timeout=0),
        await aura.instances.resume(ids[7], wait=True, timeout=0),
    ]
    deleting = await aura.instances.delete(ids[5], wait=True, timeout=0)
    taken = await aura.snapshots.create(ids[4], wait=True, timeout=0)
    key = await aura.customer_managed_keys.create(name="key", **KEY, wait=True, timeout=0)
    session = await aura.graph_analytics.create(name="s", **SESSION, wait=True, timeout=0)
    assert time.monotonic() - began < 0.5
    await anyio.sleep(0.15)  # past every first poll: nothing waits in the background

    assert created.password
    assert [a.status for a in answers] == [
        InstanceStatus.PAUSING,
        InstanceStatus.RESIZING,
        InstanceStatus.UPDATING,
        InstanceStatus.OVERWRITING,
        InstanceStatus.RESTORING,
        InstanceStatus.RESUMING,
    ]
    assert deleting is not None
    assert deleting.status is InstanceStatus.DESTROYING
    assert taken.snapshot_id
    assert key.status is KeyStatus.PENDING
    assert session.status is not SessionStatus.READY
    sent = await emu.counts() - before
    # No poll: the one GET is the read of the project's offer, before the first create.
    catalogue = "GET /v1/tenants/{tenantId} 200"
    assert [route for route in sent if route.startswith("GET")] == [catalogue], sent
    assert sent[catalogue] == 1
    assert sum(sent.values()) == 11 + 1 + 1  # the eleven mutations, one token, the offer
    assert not events.of(OperationSubmitted)
    assert aura.watcher.polls == 0


async def test_timeout_zero_on_an_explicit_wait_times_out_at_once(local: LocalFactory) -> None:
    emu = local()
    events = Events()
    aura = emu.client(events=events)
    instance_id = await emu.running()
    before = await emu.counts()
    with pytest.raises(WaitTimeoutError) as raised:
        await aura.instances.wait(instance_id, timeout=0)
    assert raised.value.elapsed < 0.05
    assert raised.value.last_status == ""
    assert raised.value.history == ()
    await anyio.sleep(0.15)
    assert await emu.counts() == before
    assert len(events.of(WaitTimedOut, instance_id)) == 1


# --------------------------------------------------------------------------- validation

INSTANCE = "0123abcd"


def _calls() -> Iterator[tuple[str, Callable[[AuraClient], Awaitable[object]], str]]:
    yield "unknown operation", lambda a: a.instances.wait(INSTANCE, "explode"), "operation"
    yield (
        "not an instance operation",
        lambda a: a.instances.wait(INSTANCE, Operation.SNAPSHOT),
        "operation",
    )
    yield "resize without memory", lambda a: a.instances.wait(INSTANCE, "resize"), "memory"
    yield (
        "resize to a malformed size",
        lambda a: a.instances.wait(INSTANCE, "resize", memory="lots"),
        "memory",
    )
    yield "negative timeout", lambda a: a.instances.wait(INSTANCE, timeout=-1), "timeout"
    yield "NaN timeout", lambda a: a.snapshots.wait(INSTANCE, "s1", timeout=math.nan), "timeout"
    yield (
        "negative timeout on a create",
        lambda a: a.instances.create(name="x", **PRO, wait=True, timeout=-1),
        "timeout",
    )
    yield (
        "negative timeout on a pause",
        lambda a: a.instances.pause(INSTANCE, wait=True, timeout=-0.5),
        "timeout",
    )
    yield (
        "negative timeout on a snapshot",
        lambda a: a.snapshots.create(INSTANCE, wait=True, timeout=-1),
        "timeout",
    )
    yield (
        "negative timeout on a key",
        lambda a: a.customer_managed_keys.create(name="k", **KEY, wait=True, timeout=-1),
        "timeout",
    )
    yield (
        "negative timeout on a session",
        lambda a: a.graph_analytics.create(name="s", **SESSION, wait=True, timeout=-1),
        "timeout",
    )


CALLS = list(_calls())


@pytest.mark.parametrize(("call", "field"), [c[1:] for c in CALLS], ids=[c[0] for c in CALLS])
async def test_invalid_waits_send_nothing(
    local: LocalFactory, call: Callable[[AuraClient], Awaitable[object]], field: str
) -> None:
    emu = local()
    aura = emu.client()
    with pytest.raises(ValidationError) as raised:
        await call(aura)
    assert raised.value.field == field
    assert await emu.counts() == Counter()  # not even a token
    assert not emu.backend.instances
    assert aura.watcher.active == 0
