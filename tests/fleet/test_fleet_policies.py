"""What a fleet create does when an item fails: stop, continue, or roll back.

Failures are real refusals of the emulator: the project's instance quota (``max_instances``)
answers 405 to the creates beyond it. The client's own rate limit is made small where the
test needs the creates to leave one by one.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import attrs
import pytest

from aura_async import RateLimit
from aura_async.errors import NotAllowedError
from aura_async.events import CredentialsSaved
from aura_async.fleet import (
    EntryState,
    FileStore,
    FleetFinished,
    FleetItemFinished,
    MemoryStore,
    Outcome,
)
from aura_async.lifecycle import Operation

from .conftest import (
    POLICY,
    POST_INSTANCES,
    PROJECT,
    Recorder,
    Rig,
    RigFactory,
    config,
    spec,
)

pytestmark = pytest.mark.timeout(30)


def quota(n: int) -> object:
    from aura_async.emulator import ProjectSpec

    return config(projects=(ProjectSpec(PROJECT, "Quota Project", max_instances=n),))


async def test_stop_sends_nothing_after_the_first_failure(make_rig: RigFactory) -> None:
    rig: Rig = await make_rig(quota(1))
    store = MemoryStore()
    # One request per 50 ms: the creates leave one at a time, in order.
    aura = rig.client(rate_limit=RateLimit(1, 0.05))

    report = await aura.fleet.create(spec("stop"), count=5, store=store, on_error="stop")

    counters = await rig.counters()
    # The first create was accepted, the second refused; the other three were never sent.
    assert counters["requests"][POST_INSTANCES] == {"202": 1, "405": 1}
    first, second, *rest = report.items
    assert second.outcome is Outcome.FAILED
    assert isinstance(second.error, NotAllowedError)
    # The first was waiting for its instance: under way, so cancelled, and its password kept.
    assert first.outcome is Outcome.CANCELLED
    assert first.credentials is not None
    assert [item.outcome for item in rest] == [Outcome.SKIPPED] * 3
    assert all(item.instance_id is None for item in rest)
    entries = {e.name: e for e in await store.entries()}
    assert entries["stop-1"].state is EntryState.CREATED
    assert entries["stop-1"].credentials is not None
    assert entries["stop-1"].instance_id == first.instance_id
    for name in ("stop-2", "stop-3", "stop-4", "stop-5"):
        assert entries[name].state is EntryState.NOT_CREATED
    assert set(rig.statuses()) == {first.instance_id}
    assert not report.ok


async def test_continue_finishes_every_other_item(make_rig: RigFactory, tmp_path: Path) -> None:
    rig: Rig = await make_rig(quota(2))
    store = FileStore(tmp_path / "ledger")
    aura = rig.client()

    report = await aura.fleet.create(spec("cont"), count=4, store=store, on_error="continue")

    assert report.totals == {Outcome.SUCCEEDED: 2, Outcome.FAILED: 2}
    assert (await rig.counters())["requests"][POST_INSTANCES] == {"202": 2, "405": 2}
    succeeded = [i for i in report.items if i.outcome is Outcome.SUCCEEDED]
    failed = [i for i in report.items if i.outcome is Outcome.FAILED]
    assert all(isinstance(i.error, NotAllowedError) for i in failed)
    assert rig.statuses() == {i.instance_id: "running" for i in succeeded}
    entries = {e.name: e for e in await store.entries()}
    assert {entries[i.name].state for i in succeeded} == {EntryState.CREATED}
    assert {entries[i.name].state for i in failed} == {EntryState.NOT_CREATED}
    assert len(report.failed) == 2


async def test_rollback_deletes_everything_the_call_created(
    make_rig: RigFactory, tmp_path: Path
) -> None:
    rig: Rig = await make_rig(quota(2))
    store = FileStore(tmp_path / "ledger")
    events = Recorder()
    aura = rig.client(on_event=events.append)

    report = await aura.fleet.create(spec("rb"), count=4, store=store, on_error="rollback")

    assert report.totals == {Outcome.ROLLED_BACK: 2, Outcome.FAILED: 2}
    rolled = [i for i in report.items if i.outcome is Outcome.ROLLED_BACK]
    counters = await rig.counters()
    assert counters["requests"][POST_INSTANCES] == {"202": 2, "405": 2}
    # Each was deleted once (a delete refused with 409 while it was still creating is retried).
    assert counters["requests"]["DELETE /v1/instances/{instanceId}"]["202"] == 2
    rig.settle()
    assert rig.statuses() == {}
    entries = {e.name: e for e in await store.entries()}
    for item in rolled:
        assert entries[item.name].state is EntryState.DELETED
        assert entries[item.name].instance_id == item.instance_id
    assert {e.state for e in entries.values()} == {EntryState.DELETED, EntryState.NOT_CREATED}
    (finished,) = events.of(FleetFinished)
    assert finished.totals == {"failed": 2, "rolled back": 2}
    # Each rolled-back item's last word in the event stream says so.
    last = {e.name: e.outcome for e in events.of(FleetItemFinished)}
    assert sorted(last.values()) == ["failed", "failed", "rolled back", "rolled back"]


async def test_rollback_when_cancelled_from_outside(rig: Rig, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "ledger")
    events = Recorder()
    scope = anyio.CancelScope()

    def on_event(event: object) -> None:
        events.append(event)
        if isinstance(event, CredentialsSaved):
            scope.cancel()  # as soon as the first instance exists, give up on the whole call

    # Four requests per 200 ms: the token, the read of the project's offer, the listing and
    # the first create take them all, so the other creates are still waiting for the rate
    # limiter when the cancel comes.
    aura = rig.client(on_event=on_event, rate_limit=RateLimit(4, 0.2))
    with scope:
        await aura.fleet.create(spec("gone"), count=4, store=store, on_error="rollback")
    assert scope.cancelled_caught

    counters = await rig.counters()
    ((sent, times),) = counters["creates_per_name"].items()  # one create left, no more
    assert times == 1
    assert counters["requests"]["DELETE /v1/instances/{instanceId}"]["202"] == 1
    (finished,) = events.of(FleetFinished)
    assert finished.totals == {"rolled back": 1, "skipped": 3}
    rig.settle()
    assert rig.statuses() == {}
    entries = {e.name: e for e in await store.entries()}
    rolled_back = entries.pop(sent)
    assert rolled_back.state is EntryState.DELETED
    assert rolled_back.credentials is not None
    assert {e.state for e in entries.values()} == {EntryState.NOT_CREATED}
    assert all(e.instance_id is None for e in entries.values())


async def test_rollback_when_cancelled_while_every_create_is_waited_for(rig: Rig) -> None:
    store = MemoryStore()
    events = Recorder()
    scope = anyio.CancelScope()

    def on_event(event: object) -> None:
        events.append(event)
        if len(events.of(CredentialsSaved)) == 3:
            scope.cancel()

    aura = rig.client(on_event=on_event)
    with scope:
        await aura.fleet.create(spec("all"), count=3, store=store, on_error="rollback")
    assert scope.cancelled_caught
    (finished,) = events.of(FleetFinished)
    assert finished.totals == {"rolled back": 3}
    assert await rig.creates_per_name() == {"all-1": 1, "all-2": 1, "all-3": 1}
    rig.settle()
    assert rig.statuses() == {}
    assert {e.state for e in await store.entries()} == {EntryState.DELETED}


async def test_stop_applies_to_other_verbs_too(rig: Rig) -> None:
    ids = [(await rig.raw_create(f"p-{n}"))["id"] for n in range(2)]
    rig.settle(600)
    # One request per 50 ms: the pauses leave one at a time; the first is of a missing id.
    aura = rig.client(rate_limit=RateLimit(1, 0.05))

    report = await aura.fleet.pause(["0badc0de", *ids], on_error="stop")

    missing, *rest = report.items
    assert missing.outcome is Outcome.FAILED
    assert [item.outcome for item in rest] == [Outcome.SKIPPED] * 2
    requests = (await rig.counters())["requests"]
    assert requests["POST /v1/instances/{instanceId}/pause"] == {"404": 1}
    assert set(rig.statuses().values()) == {"running"}


async def test_waits_do_not_time_out_while_the_fleets_own_creates_queue(rig: Rig) -> None:
    # 12 creates at 2 per 0.05 s take 0.3 s to send, far past the create timeout of the
    # policy (0.1 s): the first items' polls queue behind the others' creates, and that
    # queue must not count against them.
    policy = attrs.evolve(POLICY, timeouts={**POLICY.timeouts, Operation.CREATE: 0.1})
    aura = rig.client(rate_limit=RateLimit(2, 0.05), policy=policy)
    report = await aura.fleet.create(spec("queued"), count=12, store=MemoryStore())
    assert report.totals == {Outcome.SUCCEEDED: 12}, [str(i.error) for i in report.items]
