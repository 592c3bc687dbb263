"""Timeout and cancellation of the wait for every asynchronous operation, against the emulator.

Each test runs the emulator in process (``httpx.ASGITransport``) on a ``ManualClock``: an
operation stays in its transient status until the test moves the emulated clock, while the
client polls on real, tiny intervals. So a wait can be made to time out for certain (the clock
never moves), and after a cancel the operation can be finished on purpose, which is exactly when
a poll that survived the cancel would be sent and noticed.

Each of the eleven operations is started two ways: by the client under test with ``wait=True``
and an explicit ``timeout=``, and by another client (Terraform, the console), then waited for
with ``aura.<resource>.wait(...)`` and the policy's own default timeout for that operation.

What a wait saw is read from the lifecycle events the client publishes; what it sent, from the
emulator's request counters, with a spy on the client's transport as a second witness that
tells resources apart.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import attrs
import httpx
import pytest

from aura_async import AuraClient
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    Durations,
    EmulatorConfig,
    ManualClock,
    RateLimitSettings,
    create_app,
)
from aura_async.emulator.backend import AuraBackend
from aura_async.errors import WaitTimeoutError
from aura_async.lifecycle import (
    Operation,
    OperationSubmitted,
    PollPolicy,
    StatusObserved,
    TargetReached,
    WaitCancelled,
    WaitFailed,
    WaitTimedOut,
)

pytestmark = pytest.mark.timeout(30)

BASE_URL = "http://emulator.test"
# Exact durations (emulated seconds): moving the clock by one plus a second ends it for certain.
DURATIONS = Durations(jitter=0.0)
# Polls every 10 ms after a first one at 10-11 ms.
INTERVAL = 0.01
# The timeout under test, in real seconds: several polls fit in it.
TIMEOUT = 0.1
# Every other timeout: a wait that ignored the one under test would end only after this long.
PATIENT = 5.0
# How late a timeout may fire on a busy host.
SLACK = 0.25


def policy(timeouts: dict[Operation, float] | None = None) -> PollPolicy:
    """Small intervals; every default timeout PATIENT unless ``timeouts`` says otherwise."""
    return PollPolicy(
        expected=dict.fromkeys(Operation, 2 * INTERVAL),
        timeouts={**dict.fromkeys(Operation, PATIENT), **(timeouts or {})},
        min_interval=INTERVAL,
        max_interval=2 * INTERVAL,
    )


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
GET_SNAPSHOT = "GET /v1/instances/{instanceId}/snapshots/{snapshotId}"
GET_KEY = "GET /v1/customer-managed-keys/{customerManagedKeyId}"
GET_SESSION = "GET /v1/graph-analytics/sessions/{sessionId}"


class Spy(httpx.AsyncBaseTransport):
    """Forwards to the emulator and notes every request the client lets out."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.log: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.log.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    @property
    def gets(self) -> list[str]:
        """The paths of every GET of a resource (the project's catalogue, read once before
        the first create, is not one), in order."""
        return [
            path
            for method, path in self.log
            if method == "GET" and not path.startswith("/v1/tenants/")
        ]

    def of(self, resource_id: str) -> int:
        """GETs sent for one resource (its id ends the path)."""
        return sum(1 for path in self.gets if path.endswith(f"/{resource_id}"))


class Recorder(list[object]):
    """Every event the client published (its ``append`` is the ``on_event`` callback)."""

    def of(self, kind: type[Any], resource_id: str | None = None) -> list[Any]:
        return [
            e
            for e in self
            if isinstance(e, kind) and (resource_id is None or e.resource_id == resource_id)
        ]


@attrs.define(eq=False)
class Rig:
    """The client under test, another client that sets things up, and the emulator's state."""

    aura: AuraClient
    other: AuraClient
    backend: AuraBackend
    clock: ManualClock
    spy: Spy
    events: Recorder

    def advance(self, seconds: float) -> None:
        """Move the emulated clock."""
        with self.backend.lock:
            self.clock.advance(seconds)

    def gets(self, route: str | None = None) -> int:
        """GETs the emulator answered (on one route, when given), by its own counters."""
        with self.backend.lock:
            requests = self.backend.counters.requests
            return sum(
                sum(statuses.values())
                for name, statuses in requests.items()
                if name.startswith("GET ")
                and (route is None or name == route)
                and (route is not None or name != "GET /v1/tenants/{tenantId}")
            )

    def ids(self, store: str) -> set[str]:
        """The ids in one of the emulator's stores (instances, snapshots, keys, sessions)."""
        with self.backend.lock:
            return set(getattr(self.backend, store))

    def status(self, store: str, resource_id: str) -> str:
        """The status the emulator would report for a resource now ("gone" once deleted)."""
        with self.backend.lock:
            self.backend.settle_all()  # finish what is due, as a GET of the resource would
            record = getattr(self.backend, store).get(resource_id)
            if record is None:
                return "gone"
            status = record.status
            return str(status(self.clock.now()) if callable(status) else status)

    async def running(self, name: str) -> str:
        """An instance created by the other client and running."""
        created = await self.other.instances.create(name=name, **PRO)
        self.advance(DURATIONS.create + 1)
        assert self.status("instances", created.id) == "running"
        return created.id


@pytest.fixture
async def make_rig() -> AsyncIterator[Callable[[PollPolicy], Rig]]:
    """Build rigs: an in-process emulator with a manual clock, and two clients for it."""
    clients: list[AuraClient] = []

    def factory(poll: PollPolicy) -> Rig:
        config = EmulatorConfig(
            seed=11, durations=DURATIONS, rate_limit=RateLimitSettings(enabled=False)
        )
        clock = ManualClock()
        app = create_app(config, clock=clock)
        spy = Spy(httpx.ASGITransport(app=app))
        events = Recorder()

        def client(transport: httpx.AsyncBaseTransport, **kw: Any) -> AuraClient:
            made = AuraClient(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                tenant_id=DEFAULT_PROJECT_ID,
                base_url=BASE_URL,
                rate_limit=None,
                transport=transport,
                **kw,
            )
            clients.append(made)
            return made

        aura = client(spy, poll=poll, on_event=events.append)
        other = client(httpx.ASGITransport(app=app))
        return Rig(aura, other, app.state.emulator.backend, clock, spy, events)

    yield factory
    for made in clients:
        await made.aclose()


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Return once ``condition()`` holds, checking every 2 ms; fail after ``within`` s."""
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.002)


# ---------------------------------------------------------------------- the eleven operations

Ready = dict[str, str]
Submit = Callable[[AuraClient, Ready, float | None], Awaitable[object]]
Start = Callable[[Rig, Ready], Awaitable[str]]
Wait = Callable[[AuraClient, Ready, str], Awaitable[object]]


async def _nothing(rig: Rig) -> Ready:
    return {}


async def _target(rig: Rig) -> Ready:
    return {"target": await rig.running("target")}


async def _paused(rig: Rig) -> Ready:
    target = await rig.running("target")
    await rig.other.instances.pause(target)
    rig.advance(DURATIONS.pause + 1)
    assert rig.status("instances", target) == "paused"
    return {"target": target}


async def _two(rig: Rig) -> Ready:
    return {"target": await rig.running("target"), "source": await rig.running("source")}


async def _snapshotted(rig: Rig) -> Ready:
    target = await rig.running("target")
    taken = await rig.other.snapshots.create(target)
    rig.advance(DURATIONS.snapshot + 1)
    assert rig.status("snapshots", taken.snapshot_id) == "Completed"
    return {"target": target, "snapshot": taken.snapshot_id}


async def _start_create(rig: Rig, ready: Ready) -> str:
    return (await rig.other.instances.create(name="target", **PRO)).id


async def _start_pause(rig: Rig, ready: Ready) -> str:
    return (await rig.other.instances.pause(ready["target"])).id


async def _start_resume(rig: Rig, ready: Ready) -> str:
    return (await rig.other.instances.resume(ready["target"])).id


async def _start_delete(rig: Rig, ready: Ready) -> str:
    await rig.other.instances.delete(ready["target"])
    return ready["target"]


async def _start_resize(rig: Rig, ready: Ready) -> str:
    return (await rig.other.instances.update(ready["target"], memory="4GB")).id


async def _start_update(rig: Rig, ready: Ready) -> str:
    return (await rig.other.instances.update(ready["target"], vector_optimized=True)).id


async def _start_overwrite(rig: Rig, ready: Ready) -> str:
    overwriting = await rig.other.instances.overwrite(
        ready["target"], source_instance_id=ready["source"]
    )
    return overwriting.id


async def _start_restore(rig: Rig, ready: Ready) -> str:
    return (await rig.other.snapshots.restore(ready["target"], ready["snapshot"])).id


async def _start_snapshot(rig: Rig, ready: Ready) -> str:
    ready["snapshot"] = (await rig.other.snapshots.create(ready["target"])).snapshot_id
    return ready["snapshot"]


async def _start_key(rig: Rig, ready: Ready) -> str:
    return (await rig.other.customer_managed_keys.create(name="key", **KEY)).id


async def _start_session(rig: Rig, ready: Ready) -> str:
    return (await rig.other.graph_analytics.create(name="session", **SESSION)).id


@attrs.frozen
class Case:
    """One operation: how to set it up, start it, wait for it, and what a poll sees meanwhile.

    Attributes:
        operation: the operation.
        prepare: what must exist first (running instances, a paused one, a snapshot).
        submit: the mutation by the client under test, with ``wait=True`` and a timeout.
        start: the same operation started by the other client; returns what to wait for.
        wait: the explicit wait of the client under test for it.
        store: the emulator's store of the resource waited for.
        route: the emulator's route of a poll of that resource.
        transient: the status a poll sees while the operation runs.
        later: for an operation with two transient statuses, the clock's move that leads from
            the first to the second, and the second.
        made: whether the mutation creates the resource waited for (its id is then found in
            the emulator), rather than acting on ``ready["target"]``.
    """

    operation: Operation
    prepare: Callable[[Rig], Awaitable[Ready]]
    submit: Submit
    start: Start
    wait: Wait
    store: str
    route: str
    transient: str
    later: tuple[float, str] | None = None
    made: bool = False

    @property
    def last(self) -> str:
        """The status the last poll sees when the clock only moved by ``later``."""
        return self.later[1] if self.later else self.transient

    @property
    def duration(self) -> float:
        value: float = getattr(DURATIONS, self.operation.value)
        return value


CASES = [
    Case(
        Operation.CREATE,
        _nothing,
        lambda a, r, t: a.instances.create(name="target", **PRO, wait=True, timeout=t),
        _start_create,
        lambda a, r, i: a.instances.wait(i, "create"),
        "instances",
        GET_INSTANCE,
        "creating",
        made=True,
    ),
    Case(
        Operation.PAUSE,
        _target,
        lambda a, r, t: a.instances.pause(r["target"], wait=True, timeout=t),
        _start_pause,
        lambda a, r, i: a.instances.wait(i, "pause"),
        "instances",
        GET_INSTANCE,
        "pausing",
    ),
    Case(
        Operation.RESUME,
        _paused,
        lambda a, r, t: a.instances.resume(r["target"], wait=True, timeout=t),
        _start_resume,
        lambda a, r, i: a.instances.wait(i, "resume"),
        "instances",
        GET_INSTANCE,
        "resuming",
    ),
    Case(
        Operation.DELETE,
        _target,
        lambda a, r, t: a.instances.delete(r["target"], wait=True, timeout=t),
        _start_delete,
        lambda a, r, i: a.instances.wait(i, "delete"),
        "instances",
        GET_INSTANCE,
        "destroying",
    ),
    Case(
        Operation.RESIZE,
        _target,
        lambda a, r, t: a.instances.update(r["target"], memory="4GB", wait=True, timeout=t),
        _start_resize,
        lambda a, r, i: a.instances.wait(i, "resize", memory="4GB"),
        "instances",
        GET_INSTANCE,
        "resizing",
    ),
    Case(
        Operation.UPDATE,
        _target,
        lambda a, r, t: a.instances.update(
            r["target"], vector_optimized=True, wait=True, timeout=t
        ),
        _start_update,
        lambda a, r, i: a.instances.wait(i, "update"),
        "instances",
        GET_INSTANCE,
        "updating",
    ),
    Case(
        Operation.OVERWRITE,
        _two,
        lambda a, r, t: a.instances.overwrite(
            r["target"], source_instance_id=r["source"], wait=True, timeout=t
        ),
        _start_overwrite,
        lambda a, r, i: a.instances.wait(i, "overwrite"),
        "instances",
        GET_INSTANCE,
        "overwriting",
    ),
    Case(
        Operation.RESTORE,
        _snapshotted,
        lambda a, r, t: a.snapshots.restore(r["target"], r["snapshot"], wait=True, timeout=t),
        _start_restore,
        lambda a, r, i: a.instances.wait(i, "restore"),
        "instances",
        GET_INSTANCE,
        "restoring",
    ),
    Case(
        Operation.SNAPSHOT,
        _target,
        lambda a, r, t: a.snapshots.create(r["target"], wait=True, timeout=t),
        _start_snapshot,
        lambda a, r, i: a.snapshots.wait(r["target"], i),
        "snapshots",
        GET_SNAPSHOT,
        "Pending",
        # Pending for the first fifth of a snapshot's duration, then InProgress.
        later=(DURATIONS.snapshot / 2, "InProgress"),
        made=True,
    ),
    Case(
        Operation.KEY,
        _nothing,
        lambda a, r, t: a.customer_managed_keys.create(name="key", **KEY, wait=True, timeout=t),
        _start_key,
        lambda a, r, i: a.customer_managed_keys.wait(i),
        "keys",
        GET_KEY,
        "pending",
        made=True,
    ),
    Case(
        Operation.SESSION,
        _nothing,
        lambda a, r, t: a.graph_analytics.create(name="session", **SESSION, wait=True, timeout=t),
        _start_session,
        lambda a, r, i: a.graph_analytics.wait(i),
        "sessions",
        GET_SESSION,
        "Creating",
        made=True,
    ),
]
assert {case.operation for case in CASES} == set(Operation), "an operation has no case"

# "mutation": the client under test starts it with wait=True, timeout=...;
# "elsewhere": another client starts it, the client under test waits with .wait(...).
VIAS = ["mutation", "elsewhere"]
PARAMS = [
    pytest.param(case, via, id=f"{case.operation.value}-{via}") for case in CASES for via in VIAS
]


@attrs.define(eq=False)
class Run:
    """One wait under test, begun by :func:`begin`."""

    rig: Rig
    case: Case
    via: str
    ready: Ready
    resource_id: str | None  # None until the mutation made it
    before: set[str]
    call: Callable[[], Awaitable[object]]

    def waited_for(self) -> str:
        """The id of the resource the wait was for."""
        if self.resource_id is None:
            (made,) = self.rig.ids(self.case.store) - self.before
            self.resource_id = made
        return self.resource_id


async def begin(rig: Rig, case: Case, via: str, limit: float | None) -> Run:
    """Set up ``case``; for ``elsewhere`` start it too. Awaiting ``Run.call()`` waits for it."""
    ready = await case.prepare(rig)
    before = rig.ids(case.store)
    if via == "mutation":
        resource_id = None if case.made else ready["target"]
        return Run(
            rig,
            case,
            via,
            ready,
            resource_id,
            before,
            lambda: case.submit(rig.aura, ready, limit),
        )
    assert limit is None, "a wait for an operation begun elsewhere uses the policy's timeout"
    resource_id = await case.start(rig, ready)
    assert rig.status(case.store, resource_id) == case.transient
    return Run(
        rig, case, via, ready, resource_id, before, lambda: case.wait(rig.aura, ready, resource_id)
    )


async def move_on_later(run: Run) -> None:
    """For an operation with two transient statuses, move to the second once a poll saw the
    first, and return once a poll saw the second."""
    if run.case.later is None:
        return
    events = run.rig.events
    await until(lambda: len(events.of(StatusObserved)) >= 1)
    seconds, status = run.case.later
    run.rig.advance(seconds)
    await until(lambda: status in [e.status for e in events.of(StatusObserved)])


# --------------------------------------------------------------------------------- timeout


@pytest.mark.parametrize(("case", "via"), PARAMS)
async def test_a_wait_that_cannot_finish_times_out(
    make_rig: Callable[[PollPolicy], Rig], case: Case, via: str
) -> None:
    """The wait gives up after its timeout (the mutation's ``timeout=``, else the policy's
    default for that very operation) with the last status seen and the time spent."""
    if via == "mutation":
        rig = make_rig(policy())
        timeout: float | None = TIMEOUT
    else:
        rig = make_rig(policy({case.operation: TIMEOUT}))
        timeout = None
    run = await begin(rig, case, via, timeout)
    # The manual clock never moves past the operation's end: nothing can finish it.

    began = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(move_on_later, run)
        with pytest.raises(WaitTimeoutError) as raised:
            await run.call()
    took = time.monotonic() - began

    error = raised.value
    resource_id = run.waited_for()
    assert (error.resource_id, error.operation) == (resource_id, case.operation.value)
    assert error.last_status == case.last
    assert TIMEOUT <= error.elapsed <= took
    assert error.elapsed < TIMEOUT + SLACK, "the wait did not keep to its timeout"
    # Every poll saw the operation still under way, and the last one is the status reported.
    statuses = [status for _, status in error.history]
    assert len(statuses) >= 2
    assert statuses[0] == case.transient
    assert statuses[-1] == case.last
    assert set(statuses) == {case.transient, case.last}
    times = [at for at, _ in error.history]
    assert times == sorted(times)
    assert times[0] > 0
    assert times[-1] <= error.elapsed + 0.0005  # (the history is rounded to milliseconds)
    assert rig.status(case.store, resource_id) == case.last  # it really is not done

    (timed_out,) = rig.events.of(WaitTimedOut)
    assert timed_out.resource_id == resource_id
    assert timed_out.operation is case.operation
    assert timed_out.status == case.last
    assert timed_out.elapsed == error.elapsed
    assert not rig.events.of(TargetReached)
    assert not rig.events.of(WaitFailed)
    assert not rig.events.of(WaitCancelled)
    observed = rig.events.of(StatusObserved, resource_id)
    assert [e.status for e in observed] == statuses
    # The polls were this wait's, on this resource only.
    watcher = rig.aura.watcher
    assert watcher.polls == len(statuses)
    sent, gets = rig.spy.of(resource_id), rig.gets(case.route)
    assert sent == len(rig.spy.gets)
    assert gets == rig.gets()
    # The deadline may land while a GET is in flight, before its answer counts as a poll.
    assert watcher.polls <= gets <= sent <= watcher.polls + 1
    assert watcher.active == 0
    assert not watcher._watches, "the timed-out wait left its resource watched"
    # A wait that timed out polls no more either.
    requests = len(rig.spy.log)
    await anyio.sleep(3 * INTERVAL)
    assert (len(rig.spy.log), rig.gets(), watcher.polls) == (requests, gets, len(statuses))


# ---------------------------------------------------------------------------- cancellation


@pytest.mark.parametrize(("case", "via"), PARAMS)
async def test_a_cancelled_wait_sends_nothing_more(
    make_rig: Callable[[PollPolicy], Rig], case: Case, via: str
) -> None:
    """Cancelling a wait (a cancel scope around it) stops its polling at once: however long
    time goes on, and even once the operation is done, no GET is sent for it any more."""
    rig = make_rig(policy())
    run = await begin(rig, case, via, None)
    tasks = len(anyio.get_running_tasks())
    scope = anyio.CancelScope()
    returned: list[object] = []

    async def wait() -> None:
        with scope:
            returned.append(await run.call())

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await move_on_later(run)
        polls = rig.aura.watcher.polls
        await until(lambda: rig.aura.watcher.polls >= polls + 2)  # it polls, round after round
        scope.cancel()
    assert scope.cancelled_caught
    assert returned == []

    resource_id = run.waited_for()
    watcher = rig.aura.watcher
    assert watcher.active == 0
    assert not watcher._watches, "the cancelled wait left its resource watched"
    polls = watcher.polls
    sent = rig.spy.of(resource_id)
    gets = rig.gets(case.route)
    assert sent == len(rig.spy.gets)  # every GET was for this resource
    assert rig.gets() == gets
    # The cancel may land while a GET is in flight, before its answer counts as a poll.
    assert polls <= gets <= sent <= polls + 1
    requests = len(rig.spy.log)

    # Time goes on: first the operation still runs, then it is done. A poll left running
    # after the cancel would be sent in either stretch.
    await anyio.sleep(3 * INTERVAL)
    rig.advance(case.duration + 1)
    assert rig.status(case.store, resource_id) not in (case.transient, case.last)
    await anyio.sleep(3 * INTERVAL)
    assert rig.gets(case.route) == gets, "a GET was sent after the cancel"
    assert rig.gets() == gets
    assert rig.spy.of(resource_id) == sent
    assert watcher.polls == polls
    assert watcher.active == 0
    assert len(anyio.get_running_tasks()) == tasks, "a task was left behind"

    (cancelled,) = rig.events.of(WaitCancelled)
    assert cancelled.resource_id == resource_id
    assert cancelled.operation is case.operation
    assert cancelled.status == case.last
    assert cancelled.elapsed > 0
    (submitted,) = rig.events.of(OperationSubmitted)
    assert (submitted.resource_id, submitted.operation) == (resource_id, case.operation)
    assert {e.status for e in rig.events.of(StatusObserved)} == {case.transient, case.last}
    assert not rig.events.of(TargetReached)
    assert not rig.events.of(WaitTimedOut)
    assert not rig.events.of(WaitFailed)
    # Nothing else went out after the cancel either.
    assert len(rig.spy.log) == requests
