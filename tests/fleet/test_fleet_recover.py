"""Crash recovery: ``aura.fleet.recover(store)`` accounts for every intent of a ledger.

A crash is simulated by what it leaves behind: intents written to a :class:`FileStore`, some
of which produced an instance (created here directly, so the ledger never got its password)
and some of which did not; entries whose instance was since deleted by someone else; and a
healthy entry. Recovery runs with a fresh store on the same directory, as after a restart.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from aura_async.emulator import ProjectSpec
from aura_async.fleet import EntryState, FileStore, Intent, Outcome
from aura_async.fleet.store import new_intent_id

from .conftest import PRO, PROJECT, Rig, RigFactory, config, spec

pytestmark = pytest.mark.timeout(30)


def _intent(name: str, at: dt.datetime | None = None) -> Intent:
    return Intent(
        intent_id=new_intent_id(),
        name=name,
        spec={"name": name, **PRO},
        tenant_id=None,
        started_at=at or dt.datetime.now(dt.UTC),
    )


async def test_recover_after_a_crash(rig: Rig, tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    before = FileStore(directory)
    aura = rig.client()
    # A healthy entry, and one whose instance someone else deleted since.
    healthy = await aura.fleet.create([spec("kept"), spec("gone")], store=before)
    kept, gone = healthy.items
    await rig.raw("DELETE", f"/instances/{gone.instance_id}", expect=202)
    rig.settle(600)
    # The crash: intents recorded, two creates sent but their answers never saved, one not.
    now = dt.datetime.now(dt.UTC)
    crashed = {
        name: _intent(name, now + dt.timedelta(seconds=i))
        for i, name in enumerate(["lost-a", "lost-b", "never", "twice"])
    }
    second_twice = _intent("twice", now + dt.timedelta(seconds=10))
    for intent in [*crashed.values(), second_twice]:
        await before.record_intent(intent)
    made: dict[str, list[str]] = {}
    for name in ("lost-a", "lost-b", "twice", "twice"):
        created = await aura.instances.create(name=name, **PRO)  # the password is dropped here
        made.setdefault(name, []).append(created.id)
    await rig.reset_counters()

    store = FileStore(directory)  # after the restart
    report = await aura.fleet.recover(store)

    by_intent = {e.intent_id: e for e in report.entries}
    for name in ("lost-a", "lost-b"):
        entry = by_intent[crashed[name].intent_id]
        assert entry.state is EntryState.LOST
        assert entry.instance_id == made[name][0]
        assert entry.exists
        assert not entry.credentials_known
        assert not entry.deleted
    assert by_intent[crashed["never"].intent_id].state is EntryState.NOT_CREATED
    assert by_intent[crashed["never"].intent_id].instance_id is None
    # Two intents for one name: the earlier intent gets the earlier instance.
    assert by_intent[crashed["twice"].intent_id].instance_id == made["twice"][0]
    assert by_intent[second_twice.intent_id].instance_id == made["twice"][1]
    entries = {e.name: e for e in report.entries if e.name in ("kept", "gone")}
    assert entries["kept"].state is EntryState.CREATED
    assert entries["kept"].exists
    assert entries["kept"].credentials_known
    assert entries["gone"].state is EntryState.DELETED
    assert not entries["gone"].exists
    assert report.unknown == ()
    assert {e.name for e in report.lost} == {"lost-a", "lost-b", "twice"}
    assert report.requests == (await rig.counters())["requests_total"]
    # What recovery decided is in the ledger, for the next reader.
    states = {e.intent_id: e.state for e in await FileStore(directory).entries()}
    assert states == {e.intent_id: e.state for e in report.entries}
    assert not [s for s in states.values() if s is EntryState.INTENDED]
    # Every instance on the emulator is accounted for by a live ledger entry.
    live = {e.instance_id for e in report.entries if e.state is not EntryState.DELETED}
    live.discard(None)
    assert live == set(rig.statuses())

    # Now delete the instances nobody has a password for.
    cleaned = await aura.fleet.recover(store, delete_lost=True)
    deleted = {e.instance_id for e in cleaned.entries if e.deleted}
    assert deleted == {*made["lost-a"], *made["lost-b"], *made["twice"]}
    assert all(e.state is EntryState.DELETED for e in cleaned.entries if e.deleted)
    assert cleaned.unknown == ()
    rig.settle(600)
    assert rig.statuses() == {kept.instance_id: "running"}
    assert cleaned.lost == []
    # Running it again changes nothing and deletes nothing.
    await rig.reset_counters()
    third = await aura.fleet.recover(store, delete_lost=True)
    assert not [e for e in third.entries if e.deleted]
    assert "DELETE /v1/instances/{instanceId}" not in (await rig.counters())["requests"]
    assert {e.intent_id: e.state for e in third.entries} == {
        e.intent_id: e.state for e in await store.entries()
    }


async def test_an_instance_older_than_its_intent_is_not_claimed(rig: Rig, tmp_path: Path) -> None:
    """An instance under an intent's name, made long before the intent, is not its doing."""
    aura = rig.client()
    older = await aura.instances.create(name="reused", **PRO)
    store = FileStore(tmp_path / "ledger")
    # The intent was started (by the client's clock) well after the instance was created.
    late = _intent("reused", dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    await store.record_intent(late)

    report = await aura.fleet.recover(store)

    (entry,) = report.entries
    assert entry.state is EntryState.NOT_CREATED
    assert entry.instance_id is None
    assert [s.id for s in report.unknown] == [older.id]


async def test_a_fleet_cut_short_is_recovered_then_created_again(rig: Rig, tmp_path: Path) -> None:
    """After recovery, creating the fleet again adopts what exists and creates the rest."""
    store = FileStore(tmp_path / "ledger")
    aura = rig.client()
    lost = _intent("again-1")
    await store.record_intent(lost)
    await store.record_intent(_intent("again-2"))
    await aura.instances.create(name="again-1", **PRO)
    await aura.fleet.recover(store)

    report = await aura.fleet.create(spec("again"), count=2, store=store)

    first, second = report.items
    assert first.outcome is Outcome.ADOPTED
    assert first.credentials_known is False
    assert second.outcome is Outcome.SUCCEEDED
    assert second.credentials_known
    assert await rig.creates_per_name() == {"again-1": 1, "again-2": 1}


async def test_recovery_looks_in_every_project_the_ledger_names(
    make_rig: RigFactory, tmp_path: Path
) -> None:
    other = "11111111-2222-3333-4444-555555555555"
    rig = await make_rig(
        config(projects=(ProjectSpec(PROJECT, "Default"), ProjectSpec(other, "Other")))
    )
    store = FileStore(tmp_path / "ledger")
    aura = rig.client()  # its default project is PROJECT
    report = await aura.fleet.create(spec("elsewhere", tenant_id=other), store=store)
    assert report.totals == {Outcome.SUCCEEDED: 1}

    recovered = await aura.fleet.recover(store)
    (entry,) = recovered.entries
    # Not taken for gone because it lives in another project than the client's default.
    assert entry.state is EntryState.CREATED
    assert entry.exists
