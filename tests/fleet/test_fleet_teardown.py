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

from typing import Any

import anyio
import attrs
import pytest

from aura_async.emulator import EmulatorConfig, FaultPlan, ProjectSpec, RequestFilter
from aura_async.emulator.faults import DropFault
from aura_async.errors import WaitTimeoutError
from aura_async.fleet import EntryState, MemoryStore, Outcome, Selector
from aura_async.lifecycle import PollPolicy

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
