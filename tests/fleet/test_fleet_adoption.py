"""Creates are idempotent by name: an instance already under a spec's name is adopted.

The emulator's ``creates_per_name`` counter proves that no name was created twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aura_async import InstanceStatus
from aura_async.emulator import Durations
from aura_async.errors import FleetError
from aura_async.fleet import EntryState, FileStore, MemoryStore, Outcome

from .conftest import POST_INSTANCES, PRO, Rig, RigFactory, config, spec

pytestmark = pytest.mark.timeout(30)


async def test_second_create_adopts_with_the_ledgers_credentials(rig: Rig, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "ledger")
    aura = rig.client()
    first = await aura.fleet.create(spec("same"), count=3, store=store)
    assert first.totals == {Outcome.SUCCEEDED: 3}
    await rig.reset_counters()

    # Again, with one more name: three adopted, one created.
    again = await rig.client().fleet.create(spec("same"), count=4, store=FileStore(store.directory))

    assert again.totals == {Outcome.ADOPTED: 3, Outcome.SUCCEEDED: 1}
    assert again.ok
    for before, after in zip(first.items, again.items[:3], strict=True):
        assert after.outcome is Outcome.ADOPTED
        assert after.instance_id == before.instance_id
        assert after.credentials_known
        assert after.credentials is not None
        assert before.credentials is not None
        assert after.credentials.password == before.credentials.password
        assert after.instance is not None
        assert after.instance.status is InstanceStatus.RUNNING
    counters = await rig.counters()
    assert counters["creates_per_name"] == {"same-4": 1}  # since the reset: only the new one
    assert counters["requests"][POST_INSTANCES] == {"202": 1}
    assert len(rig.statuses()) == 4
    # The ledger still has one entry per instance, none of them duplicated.
    entries = await store.entries()
    assert sorted(e.name for e in entries) == ["same-1", "same-2", "same-3", "same-4"]
    assert {e.state for e in entries} == {EntryState.CREATED}


async def test_instance_created_elsewhere_is_adopted_without_credentials(rig: Rig) -> None:
    aura = rig.client()
    # A plain create: the password is in `elsewhere` only, never in the fleet's store.
    elsewhere = await aura.instances.create(name="app-1", **PRO)
    store = MemoryStore()

    report = await aura.fleet.create([spec("app-1"), spec("app-2")], store=store)

    adopted, created = report.items
    assert adopted.outcome is Outcome.ADOPTED
    assert adopted.instance_id == elsewhere.id
    assert adopted.credentials_known is False
    assert adopted.credentials is None
    # It was still creating: adoption waited until it runs.
    assert adopted.instance is not None
    assert adopted.instance.status is InstanceStatus.RUNNING
    assert created.outcome is Outcome.SUCCEEDED
    assert created.credentials_known
    assert await rig.creates_per_name() == {"app-1": 1, "app-2": 1}
    # The ledger now knows the adopted instance (without a password) as well.
    entries = {e.name: e for e in await store.entries()}
    assert entries["app-1"].state is EntryState.ADOPTED
    assert entries["app-1"].instance_id == elsewhere.id
    assert entries["app-1"].credentials is None
    assert entries["app-2"].state is EntryState.CREATED
    # A third call adopts both; the adopted one has no password still, the other has it.
    third = await aura.fleet.create([spec("app-1"), spec("app-2")], store=store)
    assert [i.outcome for i in third.items] == [Outcome.ADOPTED, Outcome.ADOPTED]
    assert [i.credentials_known for i in third.items] == [False, True]
    assert await rig.creates_per_name() == {"app-1": 1, "app-2": 1}
    assert len(await store.entries()) == 2


async def test_instance_being_deleted_is_not_adopted(make_rig: RigFactory) -> None:
    # Deletes last five real seconds: the old instance is still "destroying" when listed.
    rig = await make_rig(config(durations=Durations(delete=5 * 3600.0)))
    aura = rig.client()
    old = await rig.raw_create("reborn")
    rig.settle(600)
    await rig.raw("DELETE", f"/instances/{old['id']}", expect=202)
    assert rig.statuses()[old["id"]] == "destroying"
    store = MemoryStore()

    report = await aura.fleet.create(spec("reborn"), store=store)

    (item,) = report.items
    assert item.outcome is Outcome.SUCCEEDED
    assert item.instance_id != old["id"]
    assert item.credentials_known
    assert await rig.creates_per_name() == {"reborn": 2}
    assert rig.statuses() == {old["id"]: "destroying", item.instance_id: "running"}
    (entry,) = await store.entries()
    assert entry.state is EntryState.CREATED
    assert entry.instance_id == item.instance_id


async def test_adopted_without_a_password_is_not_ok(rig: Rig) -> None:
    aura = rig.client()
    await aura.instances.create(name="orphan", **PRO)
    report = await aura.fleet.create(spec("orphan"), store=MemoryStore())
    (item,) = report.items
    assert item.outcome is Outcome.ADOPTED
    assert not item.credentials_known
    # Nobody can connect to it: the call did not give the caller what was asked.
    assert not report.ok
    with pytest.raises(FleetError):
        report.raise_for_failures()


async def test_adopt_false_sends_no_listing(rig: Rig) -> None:
    aura = rig.client()
    await aura.instances.create(name="twin-1", **PRO)
    await rig.reset_counters()

    report = await aura.fleet.create(spec("twin"), count=2, store=MemoryStore(), adopt=False)

    assert report.totals == {Outcome.SUCCEEDED: 2}
    requests = await rig.requests()
    assert "GET /v1/instances 200" not in requests
    assert requests[f"{POST_INSTANCES} 202"] == 2
    # What adopt=False trades away: a name already present gets a twin.
    assert list(rig.names().values()).count("twin-1") == 2
