"""Deleted means absent: every teardown path against live Aura's just-created 404 window.

Live Aura answers 404 for a just-created instance for a while, on GET and (as both look the
instance up the same way) on DELETE. A client that takes that 404 for "deleted" leaves the
instance running and its ledger saying otherwise. Here the emulator hides every new instance
for a window the client is not told (longer than the client's own prior when the listing
shows the instance; shorter when it does not, since then nothing the client can see tells
the window apart from absence). Each path must leave nothing on the emulator (its own state,
after an emulated hour) and mark the ledger ``deleted`` only for what is gone.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import anyio
import attrs
import httpx
import pytest

from aura_async.emulator import Durations, EmulatorConfig, FaultPlan, ProjectSpec, RequestFilter
from aura_async.emulator.clock import ScaledClock
from aura_async.emulator.faults import DropFault
from aura_async.errors import WaitTimeoutError
from aura_async.fleet import EntryState, MemoryStore, Outcome, Selector
from aura_async.fleet.store import Intent, new_intent_id
from aura_async.lifecycle import Operation, PollPolicy

from .conftest import PRO, PROJECT, Rig, RigFactory, spec, until
from .conftest import config as fleet_config

pytestmark = pytest.mark.timeout(60)

# Slower than the other fleet tests (600x, not 3600x): the windows then outlast, by far, the
# real time the tests' own requests take, so the deletes do meet them.
SCALE = 600.0
POLICY = PollPolicy().scaled(1 / SCALE)
# The client's prior for the window, in emulated seconds.
PRIOR = POLICY.not_found_grace * SCALE
# Listed while hidden (as seen live): a window 2.5 times the client's prior.
LISTED = FaultPlan(not_found_after_create=2.5 * PRIOR)
# Unlisted too: absence from every answer is all a client can see, so the window must lie
# within what the client allows for; here a client that allows five times the usual prior
# (so that the window outlasts the test's own requests) meets a window of 3.5 times it.
UNLISTED = FaultPlan(not_found_after_create=3.5 * PRIOR, not_found_after_create_unlisted=True)
PATIENT = attrs.evolve(POLICY, not_found_grace=5 * POLICY.not_found_grace)
WINDOWS = [
    pytest.param(LISTED, POLICY, id="listed"),
    pytest.param(UNLISTED, PATIENT, id="unlisted"),
]


def config(**overrides: Any) -> EmulatorConfig:
    """The fleet tests' emulator configuration at this file's scale."""
    return fleet_config(time_scale=SCALE, token_lifetime=24 * 3600.0 * SCALE, **overrides)


def nothing_left(rig: Rig) -> None:
    """Nothing is running or being created now, and after an emulated hour nothing is left."""
    assert not [s for s in rig.statuses().values() if s not in ("destroying", "deleting")]
    rig.settle()
    assert rig.statuses() == {}


async def hidden_count(rig: Rig) -> int:
    return int((await rig.counters())["faults_injected"].get("not_found_after_create", 0))


@pytest.mark.parametrize(("faults", "policy"), WINDOWS)
async def test_a_delete_right_after_create_leaves_nothing_running(
    make_rig: RigFactory, faults: FaultPlan, policy: PollPolicy
) -> None:
    """``fleet.create(wait=False)`` then ``fleet.delete`` at once: every delete meets 404s."""
    rig = await make_rig(config(faults=faults))
    aura = rig.client(policy=policy)
    store = MemoryStore()
    made = await aura.fleet.create(spec("leak"), count=20, wait=False, store=store)
    assert made.ok
    # (The unlisted window hides them from a prefix selector: the ledger names them.)
    selector = Selector(prefix="leak-", ledger=store if faults is UNLISTED else None)

    report = await aura.fleet.delete(selector, wait=False, store=store)

    assert report.totals == {Outcome.SUCCEEDED: 20}, report.totals
    # (How many deletes meet the window depends on the machine's speed; one is enough for
    # a leak to show, and on a quiet machine all twenty do.)
    assert await hidden_count(rig) >= 1, "the deletes never met the window"
    nothing_left(rig)
    assert {e.state for e in await store.entries()} == {EntryState.DELETED}
    assert await rig.creates_per_name() == {f"leak-{n}": 1 for n in range(1, 21)}


@pytest.mark.parametrize(("faults", "policy"), WINDOWS)
async def test_a_rollback_leaves_nothing_running(
    make_rig: RigFactory, faults: FaultPlan, policy: PollPolicy
) -> None:
    """A quota refusal rolls the call back while its instances still answer 404."""
    quota = (ProjectSpec(PROJECT, "Quota of twelve", max_instances=12),)
    rig = await make_rig(config(faults=faults, projects=quota))
    aura = rig.client(policy=policy)
    store = MemoryStore()

    report = await aura.fleet.create(spec("back"), count=13, store=store, on_error="rollback")

    assert report.totals == {Outcome.ROLLED_BACK: 12, Outcome.FAILED: 1}, report.totals
    assert await hidden_count(rig) >= 1
    nothing_left(rig)
    states = sorted(e.state.value for e in await store.entries())
    assert states == ["deleted"] * 12 + ["not-created"]


@pytest.mark.parametrize(("faults", "policy"), WINDOWS)
async def test_a_cancelled_rollback_leaves_nothing_running(
    make_rig: RigFactory, faults: FaultPlan, policy: PollPolicy
) -> None:
    """The call is cancelled once every create was accepted: the shielded rollback deletes
    them all, through their 404s."""
    rig = await make_rig(config(faults=faults))
    aura = rig.client(policy=policy)
    store = MemoryStore()

    async def all_created() -> bool:
        return len(await rig.creates_per_name()) == 10

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: aura.fleet.create(spec("cut"), count=10, store=store, on_error="rollback")
            )
            await until(all_created)
            scope.cancel()
    assert scope.cancelled_caught
    nothing_left(rig)
    assert {e.state for e in await store.entries()} == {EntryState.DELETED}


async def test_recover_deletes_lost_instances_through_the_window(make_rig: RigFactory) -> None:
    """Creates whose answers were lost are found by listing (credentials lost) and deleted by
    ``recover(delete_lost=True)`` while they still answer 404."""
    drop = DropFault(1.0, only=RequestFilter(methods=("POST",), route="/v1/instances"))
    rig = await make_rig(config(faults=FaultPlan(drop=drop, not_found_after_create=2.5 * PRIOR)))
    aura = rig.client(policy=POLICY)
    store = MemoryStore()
    made = await aura.fleet.create(spec("lost"), count=5, store=store, on_error="continue")
    assert [i.credentials_known for i in made.items] == [False] * 5
    rig.backend.faults = LISTED  # nothing more is dropped

    recovered = await aura.fleet.recover(store, delete_lost=True)

    assert [(e.state, e.deleted, e.error) for e in recovered.entries] == [
        (EntryState.DELETED, True, None)
    ] * 5
    nothing_left(rig)


async def test_a_waited_delete_right_after_create_deletes_it(make_rig: RigFactory) -> None:
    """``instances.delete(wait=True)`` straight after ``instances.create``: 404s, then 409s
    while it is created, then the delete, and only absence ends the wait."""
    rig = await make_rig(config(faults=LISTED))
    aura = rig.client(policy=POLICY)
    created = await aura.instances.create(name="once", **PRO)

    assert await aura.instances.delete(created.id, wait=True) is None

    assert await hidden_count(rig) >= 1
    assert rig.statuses() == {}
    deletes = (await rig.counters())["requests"]["DELETE /v1/instances/{instanceId}"]
    assert deletes["202"] == 1


async def test_a_delete_not_proven_in_time_says_so(make_rig: RigFactory) -> None:
    """A window longer than the delete's timeout: the wait fails, naming what it saw, and
    the instance is still there (it was never reported deleted)."""
    rig = await make_rig(config(faults=FaultPlan(not_found_after_create=50 * PRIOR)))
    aura = rig.client(policy=POLICY)
    created = await aura.instances.create(name="stuck", **PRO)

    with pytest.raises(WaitTimeoutError, match="not proven gone") as raised:
        await aura.instances.delete(created.id, wait=True, timeout=5 * POLICY.not_found_grace)

    assert raised.value.operation == "delete"
    assert "listed" in raised.value.last_status
    assert list(rig.statuses()) == [created.id]


async def test_a_fleet_delete_by_ledger_marks_only_what_is_gone(make_rig: RigFactory) -> None:
    """Deletes that cannot be proven in time fail, and their ledger entries stay live."""
    rig = await make_rig(config(faults=FaultPlan(not_found_after_create=50 * PRIOR)))
    aura = rig.client(policy=POLICY)
    store = MemoryStore()
    await aura.fleet.create(spec("keep"), count=3, wait=False, store=store)

    report = await aura.fleet.delete(
        Selector(ledger=store), wait=False, timeout=5 * POLICY.not_found_grace, store=store
    )

    assert report.totals == {Outcome.FAILED: 3}
    assert all(isinstance(i.error, WaitTimeoutError) for i in report.items)
    assert {e.state for e in await store.entries()} == {EntryState.CREATED}
    assert len(rig.statuses()) == 3


async def test_the_client_learns_a_longer_window_from_what_it_sees(make_rig: RigFactory) -> None:
    """A create waited for through a window 1.6 times the prior teaches the client: its
    window becomes half as long again as the span it saw."""
    rig = await make_rig(config(faults=FaultPlan(not_found_after_create=1.6 * PRIOR)))
    aura = rig.client(policy=POLICY)
    assert aura.watcher.not_found_window() == POLICY.not_found_grace

    await aura.instances.create(name="teach", **PRO, wait=True)

    assert await hidden_count(rig) >= 1
    # (The last 404 came before the window's end: the span seen is a little shorter.)
    assert aura.watcher.not_found_window() >= 1.5 * 1.2 * POLICY.not_found_grace


async def test_a_rerun_inside_the_window_adopts_rather_than_duplicates(
    make_rig: RigFactory,
) -> None:
    """A job run again at once (its first run did not wait): the listing shows the names,
    their GETs answer 404, and each is taken over, not created a second time."""
    rig = await make_rig(config(faults=LISTED))
    aura = rig.client(policy=POLICY)
    store = MemoryStore()
    first = await aura.fleet.create(spec("again"), count=6, wait=False, store=store)
    assert first.ok

    again = await aura.fleet.create(spec("again"), count=6, store=store)

    assert again.totals == {Outcome.ADOPTED: 6}, [(i.name, str(i.error)) for i in again.items]
    assert await hidden_count(rig) >= 1
    assert await rig.creates_per_name() == {f"again-{n}": 1 for n in range(1, 7)}
    assert all(i.credentials_known for i in again.items)  # the ledger had their passwords
    assert all(i.instance is not None and i.instance.status == "running" for i in again.items)


# ------------------------------------------------------------------ edges found in review


class Tamper(httpx.AsyncBaseTransport):
    """Passes requests to the emulator, but answers some itself (``rule``); logs them all."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        rule: Callable[[httpx.Request], httpx.Response | None],
    ) -> None:
        self.inner, self.rule = inner, rule
        self.log: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.log.append((request.method, request.url.path))
        answer = self.rule(request)
        if answer is not None:
            return answer
        return await self.inner.handle_async_request(request)

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.log if m == method)


def _error(status: int, reason: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"message": reason, "reason": reason}]})


async def test_a_409_while_the_instance_answers_404_does_not_spin(make_rig: RigFactory) -> None:
    """DELETE says busy, GET says missing: the delete pauses between tries and gives up at
    its deadline, rather than sending both back to back until the rate limit stops it."""
    rig = await make_rig(config())

    def rule(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.startswith("/v1/instances/") and request.method == "DELETE":
            return _error(409, "ongoing-database-operation")
        if request.url.path.startswith("/v1/instances/") and request.method == "GET":
            return _error(404, "db-not-found")
        return None

    tamper = Tamper(rig.transport(), rule)
    aura = rig.client(policy=POLICY, transport=tamper)
    created = await aura.instances.create(name="busy", **PRO)
    tamper.log.clear()

    with anyio.fail_after(5), pytest.raises(WaitTimeoutError, match="not proven gone"):
        await aura.instances.ensure_deleted(created.id, timeout=0.5)
    assert tamper.count("DELETE") < 20, tamper.count("DELETE")


async def test_a_delete_answered_503_then_404_is_sent_again(make_rig: RigFactory) -> None:
    """The pipeline resends a DELETE answered 503; inside the window the resend meets a 404,
    which proves nothing: the delete is sent again after the window and the instance goes."""
    rig = await make_rig(config(faults=FaultPlan(not_found_after_create=10 * PRIOR)))
    first: set[str] = set()

    def rule(request: httpx.Request) -> httpx.Response | None:
        if request.method == "DELETE" and request.url.path not in first:
            first.add(request.url.path)
            return _error(503, "unavailable")
        return None

    tamper = Tamper(rig.transport(), rule)
    aura = rig.client(policy=POLICY, transport=tamper)
    created = await aura.instances.create(name="flaky", **PRO)

    assert await aura.instances.delete(created.id, wait=True, timeout=20.0) is None

    assert rig.statuses() == {}
    assert (await rig.requests())["DELETE /v1/instances/{instanceId} 202"] == 1


async def test_an_old_instance_refused_once_teaches_no_window(make_rig: RigFactory) -> None:
    """A stray 404 from an instance older than any window, then its delete taken: its age is
    no 404 span to learn."""
    # (The emulated clock starts two hours back: the instance's stated age is real.)
    rig = await make_rig(config(), clock=ScaledClock(SCALE, start=time.time() - 7200))
    stray = [True]

    def rule(request: httpx.Request) -> httpx.Response | None:
        if request.method == "DELETE" and stray[0]:
            stray[0] = False
            return _error(404, "db-not-found")
        return None

    aura = rig.client(policy=POLICY, transport=Tamper(rig.transport(), rule))
    old = await rig.raw_create("old")
    rig.settle()  # running; two hours old by its stated creation time
    await aura.instances.list()  # seen now
    await anyio.sleep(0.2)  # two windows of the client's later

    await aura.instances.ensure_deleted(old["id"], wait=False, timeout=5.0)

    assert aura.watcher.not_found_window() == POLICY.not_found_grace


async def test_recover_does_not_take_an_older_namesake_for_proof(make_rig: RigFactory) -> None:
    """An intent whose instance is not listed yet, beside an old instance of the same name:
    the namesake proves nothing, recovery looks again after the window and finds the new one."""
    clock = ScaledClock(SCALE, start=time.time() - 7200)
    unlisted = FaultPlan(not_found_after_create=3.5 * PRIOR, not_found_after_create_unlisted=True)
    rig = await make_rig(config(faults=unlisted), clock=clock)
    aura = rig.client(policy=PATIENT)
    await rig.raw_create("db-1")  # someone else's, older
    rig.advance(3600)
    store = MemoryStore()
    started = dt.datetime.fromtimestamp(clock.now(), dt.UTC)
    intent = Intent(
        intent_id=new_intent_id(),
        name="db-1",
        spec=spec("db-1").to_json(),
        tenant_id=PROJECT,
        started_at=started,
    )
    await store.record_intent(intent)
    new = await rig.raw_create("db-1")  # what the crashed create made: not listed yet

    report = await aura.fleet.recover(store)

    (entry,) = report.entries
    assert (entry.state, entry.instance_id) == (EntryState.LOST, new["id"])


# A create (a clone of a large snapshot, say) that outlasts the policy's delete timeout:
# 5 emulated minutes, against a delete timeout of 2.
_LONG_CREATE = Durations(create=300.0, jitter=0.0)
_SHORT_DELETES = attrs.evolve(POLICY, timeouts={**POLICY.timeouts, Operation.DELETE: 120 / SCALE})


async def test_a_delete_waits_out_a_create_longer_than_its_own_timeout(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(config(durations=_LONG_CREATE))
    aura = rig.client(policy=_SHORT_DELETES)
    created = await aura.instances.create(name="slow", **PRO)

    assert await aura.instances.ensure_deleted(created.id) is True

    assert rig.statuses() == {}
    deletes = (await rig.counters())["requests"]["DELETE /v1/instances/{instanceId}"]
    assert deletes["202"] == 1


async def test_a_chosen_timeout_still_bounds_the_wait_for_a_create(make_rig: RigFactory) -> None:
    rig = await make_rig(config(durations=_LONG_CREATE))
    aura = rig.client(policy=_SHORT_DELETES)
    created = await aura.instances.create(name="slow", **PRO)

    with pytest.raises(WaitTimeoutError, match="still creating"):
        await aura.instances.ensure_deleted(created.id, timeout=120 / SCALE)

    assert list(rig.statuses()) == [created.id]


async def test_a_rollback_deletes_creates_that_outlast_the_delete_timeout(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(config(durations=_LONG_CREATE))
    aura = rig.client(policy=_SHORT_DELETES)
    store = MemoryStore()

    # Their waits time out after an emulated minute, still creating: the call rolls back.
    report = await aura.fleet.create(
        spec("slow"), count=3, timeout=60 / SCALE, on_error="rollback", store=store
    )

    assert report.totals == {Outcome.ROLLED_BACK: 3}, [i.error for i in report.items]
    nothing_left(rig)
    assert {e.state for e in await store.entries()} == {EntryState.DELETED}


async def test_a_delete_goes_once_a_long_create_it_waited_out_has_failed(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(config(durations=_LONG_CREATE, faults=FaultPlan(create_failure=1.0)))
    aura = rig.client(policy=_SHORT_DELETES)
    created = await aura.instances.create(name="broken", **PRO)

    assert await aura.instances.ensure_deleted(created.id) is True

    assert rig.statuses() == {}
    deletes = (await rig.counters())["requests"]["DELETE /v1/instances/{instanceId}"]
    assert deletes["202"] == 1
