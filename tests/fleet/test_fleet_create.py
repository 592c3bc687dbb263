"""``aura.fleet.create``: many instances at once, credentials saved before anything else.

Each test runs the emulator in process with a clock 3600 times faster than real time. The
emulator's counters are the witness of what was sent; the events the client published, of
what the fleet did and in which order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aura_async import InstanceStatus
from aura_async.emulator import FaultPlan, ProjectSpec
from aura_async.events import CredentialsSaved, RequestSent
from aura_async.fleet import (
    EntryState,
    FileStore,
    FleetFinished,
    FleetItemFinished,
    FleetStarted,
    MemoryStore,
    Outcome,
)
from aura_async.fleet.store import CredentialStore
from aura_async.lifecycle import OperationSubmitted, TargetReached

from .conftest import (
    POST_INSTANCES,
    PROJECT,
    Recorder,
    Rig,
    RigFactory,
    config,
    saved_now,
    spec,
)

pytestmark = pytest.mark.timeout(30)


def make_store(kind: str, tmp_path: Path) -> CredentialStore:
    return FileStore(tmp_path / "ledger") if kind == "file" else MemoryStore()


@pytest.mark.parametrize("kind", ["file", "memory"])
async def test_create_copies_by_pattern(rig: Rig, tmp_path: Path, kind: str) -> None:
    store = make_store(kind, tmp_path)
    events = Recorder()
    # For every event about an instance: were its credentials in the store when it fired?
    saved_when: list[tuple[str, str, bool]] = []

    def on_event(event: object) -> None:
        resource_id = getattr(event, "resource_id", None)
        if resource_id is not None:
            saved_when.append((type(event).__name__, resource_id, saved_now(store, resource_id)))
        events.append(event)

    aura = rig.client(on_event=on_event)
    report = await aura.fleet.create(
        spec("ci"), count=4, pattern="{name}-{n:02d}", store=store, on_error="continue"
    )

    assert [item.name for item in report.items] == ["ci-01", "ci-02", "ci-03", "ci-04"]
    assert report.ok
    assert report.totals == {Outcome.SUCCEEDED: 4}
    ids = [item.instance_id for item in report.items]
    assert all(ids)
    assert len(set(ids)) == 4
    # Every instance runs, on the emulator and in the report.
    statuses = rig.statuses()
    for item in report.items:
        assert item.instance is not None
        assert item.instance.status is InstanceStatus.RUNNING
        assert statuses[item.instance_id or ""] == "running"
        assert item.credentials is not None
        assert item.credentials.password
        assert item.credentials_known
        assert item.saved_to == store.location
    # Each password is in the store, under its instance, in state CREATED.
    entries = {e.instance_id: e for e in await store.entries()}
    assert set(entries) == set(ids)
    for item in report.items:
        entry = entries[item.instance_id]
        assert entry.state is EntryState.CREATED
        assert entry.name == item.name
        assert entry.credentials is not None
        assert item.credentials is not None
        assert entry.credentials.password == item.credentials.password
        found = await store.lookup(instance_id=item.instance_id)
        assert found is not None
        assert found.password == item.credentials.password
    # No event about an instance fired before its credentials were stored.
    assert saved_when
    assert all(saved for _, _, saved in saved_when), saved_when
    for instance_id in ids:
        first = next(name for name, rid, _ in saved_when if rid == instance_id)
        assert first == "CredentialsSaved"
        assert events.of(OperationSubmitted, instance_id)
        assert events.of(TargetReached, instance_id)
    # One POST per name, and the report counted exactly what the emulator answered.
    counters = await rig.counters()
    assert counters["creates_per_name"] == dict.fromkeys(["ci-01", "ci-02", "ci-03", "ci-04"], 1)
    assert counters["requests"][POST_INSTANCES] == {"202": 4}
    assert report.requests == counters["requests_total"]


async def test_create_from_a_list_of_specs(rig: Rig, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "ledger")
    events = Recorder()
    aura = rig.client(on_event=events.append)
    await aura.tenants.list()  # the token is fetched before the fleet: not the fleet's request
    await rig.reset_counters()
    specs = [spec("alpha"), spec("beta", memory="4GB"), spec("gamma", region="us-central1")]

    report = await aura.fleet.create(specs, store=store)

    assert report.ok
    assert [i.outcome for i in report.items] == [Outcome.SUCCEEDED] * 3
    by_name = {item.name: item for item in report.items}
    assert by_name["beta"].instance is not None
    assert by_name["beta"].instance.memory == "4GB"
    assert by_name["gamma"].instance is not None
    assert by_name["gamma"].instance.region == "us-central1"
    assert (await rig.counters())["requests_total"] == report.requests
    # The ledger on disk has one credentials file per instance, each private.
    for item in report.items:
        path = store.directory / "credentials" / f"{item.instance_id}.json"
        assert path.stat().st_mode & 0o777 == 0o600
        assert item.credentials is not None
        assert json.loads(path.read_text())["password"] == item.credentials.password

    # The fleet's own events: one start, one end per item, one finish with the totals.
    (started,) = events.of(FleetStarted)
    assert (started.operation, started.items) == ("create", 3)
    finished_items = events.of(FleetItemFinished)
    assert sorted(e.name for e in finished_items) == ["alpha", "beta", "gamma"]
    assert {e.outcome for e in finished_items} == {"succeeded"}
    assert {e.resource_id for e in finished_items} == {i.instance_id for i in report.items}
    (finished,) = events.of(FleetFinished)
    assert finished.totals == {"succeeded": 3}
    assert finished.requests == report.requests
    order = [type(e) for e in events if type(e) in (FleetStarted, FleetItemFinished, FleetFinished)]
    assert order[0] is FleetStarted
    assert order[-1] is FleetFinished
    # Each item's CredentialsSaved came before its FleetItemFinished.
    for item in report.items:
        kinds = [type(e) for e in events if getattr(e, "resource_id", None) == item.instance_id]
        assert kinds.index(CredentialsSaved) < kinds.index(FleetItemFinished)


async def test_create_without_waiting_returns_while_creating(rig: Rig) -> None:
    store = MemoryStore()
    aura = rig.client()
    report = await aura.fleet.create(spec("nowait"), count=2, wait=False, store=store)
    assert report.totals == {Outcome.SUCCEEDED: 2}
    assert all(item.instance is None for item in report.items)
    assert set(rig.statuses().values()) == {"creating"}
    assert {e.state for e in await store.entries()} == {EntryState.CREATED}


async def test_report_and_events_hold_no_password(make_rig: RigFactory, tmp_path: Path) -> None:
    from aura_async.errors import FleetError
    from aura_async.lifecycle.events import to_json

    events = Recorder()
    store = FileStore(tmp_path / "ledger")
    # One item fails (the project's quota is two instances), so the report raises.
    quota = (ProjectSpec(PROJECT, "Quota of two", max_instances=2),)
    rig = await make_rig(config(projects=quota))
    aura = rig.client(on_event=events.append)
    report = await aura.fleet.create(
        [spec("sec-1"), spec("sec-2"), spec("sec-3")],
        store=store,
        on_error="continue",
    )
    passwords = [e.credentials.password for e in await store.entries() if e.credentials]
    assert len(passwords) == 2
    assert all(len(p) >= 16 for p in passwords)
    assert report.totals == {Outcome.SUCCEEDED: 2, Outcome.FAILED: 1}
    with pytest.raises(FleetError) as caught:
        report.raise_for_failures()
    texts: list[str] = [
        repr(report),
        json.dumps(report.to_json()),
        report.summary(),
        str(caught.value),
        repr(caught.value),
        *(repr(item) for item in report.items),
        *(json.dumps(item.to_json()) for item in report.items),
        *(repr(event) for event in events),
        *(json.dumps(to_json(event), default=str) for event in events),
    ]
    for text in texts:
        for password in passwords:
            assert password not in text, text
    # The password is there when asked for by name.
    assert sorted(i.credentials.password for i in report.items if i.credentials) == sorted(
        passwords
    )


async def test_intent_is_recorded_before_the_post(rig: Rig) -> None:
    """The intent is on record before the create request leaves (a crash cannot lose it)."""
    store = MemoryStore()
    intents_at_post: list[int] = []

    def on_event(event: object) -> None:
        if (
            isinstance(event, RequestSent)
            and event.method == "POST"
            and event.path.endswith("/instances")
        ):
            intents_at_post.append(len(list(store._all("intents", []))))

    aura = rig.client(on_event=on_event)
    report = await aura.fleet.create(spec("intent"), count=3, store=store)
    assert report.ok
    # The n-th POST left with at least n intents on record.
    assert len(intents_at_post) == 3
    assert all(count >= n for n, count in enumerate(intents_at_post, 1)), intents_at_post
    entries = await store.entries()
    assert all(e.intent is not None and e.intent.spec["memory"] == "2GB" for e in entries)


async def test_a_null_connection_url_is_filled_in_once_the_instance_runs(
    make_rig: RigFactory, tmp_path: Path
) -> None:
    """The live service answers some creates with ``connection_url: null``: the address
    saved in the ledger (and so in every .env written from it) is the running instance's."""
    rig = await make_rig(
        config(faults=FaultPlan(null_connection_url=1.0, null_connection_url_until_running=True))
    )
    store = FileStore(tmp_path / "ledger")
    report = await rig.client().fleet.create(spec("addr"), count=3, store=store)

    assert report.ok
    for item in report.items:
        url = f"neo4j+s://{item.instance_id}.databases.neo4j.io"
        assert item.credentials is not None
        assert item.credentials.connection_url == url
        saved = await store.lookup(instance_id=item.instance_id)
        assert saved is not None
        assert saved.connection_url == url
        assert saved.password == item.credentials.password
    states = [e.state for e in await store.entries()]
    assert states == [EntryState.CREATED] * 3
