"""Cancelling a fleet create mid-way, over real loopback HTTP.

The client allows itself four requests per 300 ms: the token, the read of the project's
offer, the listing and the first create take them all, so every other create is still queued
behind the rate limiter when the test cancels the call. Afterwards the ledger must say exactly
what exists: the creates that were sent with their credentials, the others ``not-created``,
and nothing sent any more.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from aura_async import RateLimit
from aura_async.emulator import FaultPlan, LatencyFault, RequestFilter
from aura_async.events import CredentialsSaved, RequestSent
from aura_async.fleet import EntryState, FileStore, FleetFinished

from .conftest import POST_INSTANCES, Recorder, Rig, config, loopback, spec

pytestmark = pytest.mark.timeout(30)

WINDOW = 0.3
COUNT = 8


async def _check_after_cancel(rig: Rig, store: FileStore, events: Recorder) -> None:
    sent = await rig.counters()
    # Nothing is sent any more, not even once the rate limiter would allow it again.
    await anyio.sleep(WINDOW * 1.5)
    later = await rig.counters()
    assert later["requests"] == sent["requests"]
    assert sent["requests"][POST_INSTANCES] == {"202": 1}
    ((name, times),) = sent["creates_per_name"].items()
    assert times == 1

    entries = await store.entries()
    assert len(entries) == COUNT
    created = [e for e in entries if e.state is EntryState.CREATED]
    assert [e.name for e in created] == [name]
    (entry,) = created
    assert entry.credentials is not None
    assert entry.credentials.password
    assert entry.credentials.instance_id == entry.instance_id
    # Every intent that was never sent is marked so.
    others = [e for e in entries if e is not entry]
    assert {e.state for e in others} == {EntryState.NOT_CREATED}
    assert all(e.instance_id is None for e in others)
    # The ledger says exactly what exists.
    assert {entry.instance_id} == set(rig.statuses())
    (finished,) = events.of(FleetFinished)
    assert finished.totals == {"cancelled": 1, "skipped": COUNT - 1}


async def test_cancel_stops_new_creates_at_once(tmp_path: Path) -> None:
    async with loopback() as rig:
        store = FileStore(tmp_path / "ledger")
        events = Recorder()
        scope = anyio.CancelScope()

        def on_event(event: object) -> None:
            events.append(event)
            if isinstance(event, CredentialsSaved):
                scope.cancel()

        aura = rig.client(on_event=on_event, rate_limit=RateLimit(4, WINDOW))
        with scope:
            await aura.fleet.create(spec("cx"), count=COUNT, store=store)
        assert scope.cancelled_caught
        await _check_after_cancel(rig, store, events)


async def test_cancel_while_a_create_is_in_flight_keeps_its_credentials(tmp_path: Path) -> None:
    # Each create takes 0.2 s to be answered: the cancel comes while it is on the wire.
    slow = FaultPlan(
        latency=(
            LatencyFault(1.0, 0.2, only=RequestFilter(methods=("POST",), route="/v1/instances")),
        )
    )
    async with loopback(config(faults=slow)) as rig:
        store = FileStore(tmp_path / "ledger")
        events = Recorder()
        scope = anyio.CancelScope()

        def on_event(event: object) -> None:
            events.append(event)
            if (
                isinstance(event, RequestSent)
                and event.method == "POST"
                and event.path.endswith("/v1/instances")
            ):
                scope.cancel()

        aura = rig.client(on_event=on_event, rate_limit=RateLimit(4, WINDOW))
        with scope:
            await aura.fleet.create(spec("fly"), count=COUNT, store=store)
        assert scope.cancelled_caught
        # The create's answer arrived after the cancel, and its password was still saved.
        (saved,) = events.of(CredentialsSaved)
        cancelled_at = next(
            i
            for i, e in enumerate(events)
            if isinstance(e, RequestSent) and e.method == "POST" and e.path == "/v1/instances"
        )
        assert events.index(saved) > cancelled_at
        await _check_after_cancel(rig, store, events)
