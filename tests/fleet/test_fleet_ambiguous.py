"""Ambiguous creates are reconciled by listing, and resent only once proven not created.

The emulator drops the connection after doing the work (over real loopback HTTP, where uvicorn
really closes the socket), answers 503 before doing any (the gateway's 5xx fault), or its
answer is mangled on the way so that it cannot be parsed. ``creates_per_name`` and the POST
count prove that nothing that was created was sent again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from aura_async import InstanceStatus
from aura_async.emulator import (
    DropFault,
    ErrorFault,
    FaultPlan,
    LatencyFault,
    ProjectSpec,
    RequestFilter,
)
from aura_async.errors import CreateFailedError
from aura_async.fleet import EntryState, FileStore, MemoryStore, Outcome

from .conftest import POST_INSTANCES, PROJECT, Rig, config, loopback, spec

pytestmark = pytest.mark.timeout(30)

ONLY_CREATES = RequestFilter(methods=("POST",), route="/v1/instances")
# Every create's answer is lost (after the work), and every listing takes 0.15 real seconds.
DROP_CREATES = FaultPlan(
    drop=DropFault(1.0, only=ONLY_CREATES),
    latency=(LatencyFault(1.0, 0.15, only=RequestFilter(methods=("GET",))),),
)
NAMES = ["drop-1", "drop-2", "drop-3"]


async def _ledger_matches_emulator(rig: Rig, store: Any) -> None:
    """Every instance on the emulator is in the ledger, and no live entry names a missing one."""
    entries = await store.entries()
    live = {
        e.instance_id
        for e in entries
        if e.state in (EntryState.CREATED, EntryState.LOST, EntryState.ADOPTED)
    }
    assert live == set(rig.statuses())
    assert not [e for e in entries if e.state is EntryState.INTENDED]


async def test_dropped_answers_are_reconciled_without_duplicates(tmp_path: Path) -> None:
    async with loopback(config(faults=DROP_CREATES)) as rig:
        store = FileStore(tmp_path / "ledger")
        aura = rig.client()
        report = await aura.fleet.create(spec("drop"), count=3, store=store, on_error="continue")

        counters = await rig.counters()
        # Each create went out once, and did its work once: nothing was resent.
        assert counters["creates_per_name"] == dict.fromkeys(NAMES, 1)
        assert counters["requests"][POST_INSTANCES] == {"202": 3}
        assert counters["faults_injected"]["drop"] == 3
        on_server = {name: instance_id for instance_id, name in rig.names().items()}
        assert set(on_server) == set(NAMES)
        assert report.totals == {Outcome.FAILED: 3}
        assert not report.ok
        for item in report.items:
            # Found by listing: the instance is known, its password is not, and the error
            # says so (not "may or may not exist").
            assert item.instance_id == on_server[item.name]
            assert item.credentials_known is False
            assert item.credentials is None
            assert isinstance(item.error, CreateFailedError)
            assert item.error.instance_id == item.instance_id
            assert "password never arrived" in str(item.error)
        entries = {e.name: e for e in await store.entries()}
        for name in NAMES:
            assert entries[name].state is EntryState.LOST
            assert entries[name].instance_id == on_server[name]
            assert entries[name].credentials is None
        await _ledger_matches_emulator(rig, store)


@pytest.mark.parametrize("policy", ["stop", "rollback"])
async def test_a_stop_during_reconciliation_still_accounts_for_every_instance(
    policy: str,
) -> None:
    """A failure stops the call while the dropped creates are still being looked up.

    The project's quota is three instances: the last spec's create is refused at once (405,
    no work), while the listings of the reconciliations take 0.15 s. The stop cuts them
    short; the call must still find what they created: under ``stop`` the ledger and the
    report name every instance, under ``rollback`` every one of them is deleted.
    """
    quota = (ProjectSpec(PROJECT, "Quota of three", max_instances=3),)
    async with loopback(config(faults=DROP_CREATES, projects=quota)) as rig:
        # A memory store records intents without yielding: the POSTs leave in list order.
        store = MemoryStore()
        aura = rig.client()
        specs = [spec(name) for name in NAMES] + [spec("refused")]
        report = await aura.fleet.create(specs, store=store, on_error=policy)

        assert await rig.creates_per_name() == dict.fromkeys(NAMES, 1)
        assert (await rig.requests())[f"{POST_INSTANCES} 405"] == 1
        *dropped, refused = report.items
        assert refused.outcome is Outcome.FAILED
        assert refused.instance_id is None
        entries = {e.name: e for e in await store.entries()}
        assert entries["refused"].state is EntryState.NOT_CREATED
        for item in dropped:
            assert item.instance_id is not None
            assert item.credentials_known is False
            assert entries[item.name].instance_id == item.instance_id
            assert isinstance(item.error, CreateFailedError)
            assert item.error.instance_id == item.instance_id
        assert len({item.instance_id for item in dropped}) == 3
        if policy == "stop":
            # Under way when the call stopped: cancelled, not "skipped" (they were sent).
            assert [i.outcome for i in dropped] == [Outcome.CANCELLED] * 3
            assert {entries[name].state for name in NAMES} == {EntryState.LOST}
            assert rig.names() == {item.instance_id: item.name for item in dropped}
            await _ledger_matches_emulator(rig, store)
        else:
            assert [i.outcome for i in dropped] == [Outcome.ROLLED_BACK] * 3
            assert {entries[name].state for name in NAMES} == {EntryState.DELETED}
            deletes = (await rig.counters())["requests"]["DELETE /v1/instances/{instanceId}"]
            assert deletes["202"] == 3
            rig.settle()
            assert rig.statuses() == {}


async def test_a_5xx_every_time_is_resent_then_fails_as_not_created(rig: Rig) -> None:
    """A create answered 503 is proven not created (listed after the window), sent again
    under a fresh intent, and after the last attempt the item says it was not created."""
    rig.backend.faults = FaultPlan(errors=(ErrorFault(503, 1.0, only=ONLY_CREATES),))
    store = MemoryStore()
    aura = rig.client()

    report = await aura.fleet.create(
        [spec("five-1"), spec("five-2")], store=store, on_error="continue", attempts=3
    )

    assert report.totals == {Outcome.FAILED: 2}
    for item in report.items:
        assert isinstance(item.error, CreateFailedError)
        assert item.error.attempts == 3
        assert item.error.instance_id is None
        assert "it was not created" in str(item.error)
        assert "may or may not" not in str(item.error)
        assert item.instance_id is None
    counters = await rig.counters()
    assert counters["requests"][POST_INSTANCES] == {"503": 6}
    assert counters["creates_per_name"] == {}
    assert rig.statuses() == {}
    entries = await store.entries()
    # A fresh intent for every attempt, each reconciled as not created.
    assert [e.state for e in entries] == [EntryState.NOT_CREATED] * 6
    assert sorted(e.name for e in entries) == ["five-1"] * 3 + ["five-2"] * 3
    assert all(e.instance_id is None for e in entries)


class Mangle(httpx.AsyncBaseTransport):
    """Passes requests to the emulator; removes ``tenant_id`` from a create's answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.mangled = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "POST" or request.url.path != "/v1/instances":
            return response
        await response.aread()
        body = json.loads(response.content)
        del body["data"]["tenant_id"]
        self.mangled += 1
        return httpx.Response(
            response.status_code, headers={"Content-Type": "application/json"}, json=body
        )


async def test_an_unparseable_answer_keeps_the_credentials_it_holds(rig: Rig) -> None:
    transport = Mangle(rig.transport())  # type: ignore[arg-type]
    store = MemoryStore()
    aura = rig.client(transport=transport)

    report = await aura.fleet.create(spec("odd"), count=2, store=store)

    assert transport.mangled == 2
    assert report.totals == {Outcome.SUCCEEDED: 2}
    assert report.ok
    for item in report.items:
        assert item.credentials_known
        assert item.credentials is not None
        assert item.credentials.password
        assert item.error is None
        # Waited for, as asked, although the answer could not be parsed.
        assert item.instance is not None
        assert item.instance.status is InstanceStatus.RUNNING
        saved = await store.lookup(instance_id=item.instance_id)
        assert saved is not None
        assert saved.password == item.credentials.password
    assert await rig.creates_per_name() == {"odd-1": 1, "odd-2": 1}
    assert {e.state for e in await store.entries()} == {EntryState.CREATED}
