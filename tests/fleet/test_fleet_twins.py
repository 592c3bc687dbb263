"""Two create calls at once on one client never make twins (fleet/claims.py).

Each call lists the project once, before its first create; without a claim per name, two
calls running together would both find a name absent and both create it. The emulator's
``creates_per_name`` counter proves each name was created once.
"""

from __future__ import annotations

import contextvars
import functools
import json
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from aura_async.emulator import Durations, FaultPlan
from aura_async.errors import CredentialStoreError
from aura_async.fleet import FileStore, FleetReport, InstanceSpec, MemoryStore, Outcome
from aura_async.fleet.store import LedgerEntry

from .conftest import POLICY, PROJECT, SCALE, Rig, RigFactory, config, spec, until

pytestmark = pytest.mark.timeout(30)

LISTING = "/v1/instances"


class _SlowListing(httpx.AsyncBaseTransport):
    """Leaves ``hidden`` names out of the project's listing, as a listing that has not caught
    up with new instances would."""

    def __init__(self, inner: httpx.AsyncBaseTransport, hidden: set[str]) -> None:
        self.inner = inner
        self.hidden = hidden

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "GET" or request.url.path != LISTING:
            return response
        await response.aread()
        body = json.loads(response.content)
        body["data"] = [i for i in body["data"] if i["name"] not in self.hidden]
        return httpx.Response(response.status_code, json=body, headers=response.headers)


async def _both(rig: Rig, store: FileStore, hidden: set[str] | None = None) -> list[FleetReport]:
    transport = rig.transport()
    assert transport is not None
    aura = rig.client(transport=_SlowListing(transport, hidden or set()))
    # Overlapping names: b-3..b-6 are in both calls.
    first = [spec(f"b-{n}") for n in range(1, 7)]
    second = [spec(f"b-{n}") for n in range(3, 10)]
    reports: list[FleetReport] = []

    async def run(specs: list[InstanceSpec]) -> None:
        reports.append(await aura.fleet.create(specs, store=store))

    async with anyio.create_task_group() as group:
        group.start_soon(run, first)
        group.start_soon(run, second)
    assert len(aura.fleet._context.names) == 0  # every claim and record let go
    return reports


def _check_one_instance_per_name(reports: list[FleetReport]) -> None:
    by_name: dict[str, set[tuple[str | None, str | None]]] = {}
    for report in reports:
        for item in report.items:
            assert item.outcome in (Outcome.SUCCEEDED, Outcome.ADOPTED), item
            assert item.credentials_known, item
            assert item.credentials is not None
            by_name.setdefault(item.name, set()).add((item.instance_id, item.credentials.password))
    # Both calls' items for a shared name hold the same instance and the same password.
    assert all(len(seen) == 1 for seen in by_name.values()), by_name


async def test_two_calls_at_once_create_each_name_once(rig: Rig, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "ledger")
    reports = await _both(rig, store)

    assert await rig.creates_per_name() == {f"b-{n}": 1 for n in range(1, 10)}
    assert sorted(rig.names().values()) == [f"b-{n}" for n in range(1, 10)]
    _check_one_instance_per_name(reports)
    adopted = sum(r.totals.get(Outcome.ADOPTED, 0) for r in reports)
    assert adopted == 4  # the four shared names, each made by one call, adopted by the other
    # One ledger entry per instance: the adopting call found the other's entry.
    entries = await store.entries()
    assert sorted(e.name for e in entries) == [f"b-{n}" for n in range(1, 10)]


async def test_what_another_call_made_is_adopted_before_the_listing_shows_it(
    rig: Rig, tmp_path: Path
) -> None:
    # The listing never shows the shared names: only what the other call made says so.
    store = FileStore(tmp_path / "ledger")
    reports = await _both(rig, store, hidden={f"b-{n}" for n in range(3, 7)})

    assert await rig.creates_per_name() == {f"b-{n}": 1 for n in range(1, 10)}
    _check_one_instance_per_name(reports)


class _CancelsWhileReconciling(httpx.AsyncBaseTransport):
    """The first create is made, but its answer is a 503 (ambiguous); when that call then
    lists the project to reconcile, its caller cancels it. Until then listings leave ``x``
    out (the other call's first listing cannot have seen it)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.first: str | None = None
        self.scopes: dict[str, anyio.CancelScope] = {}
        self.cancelled = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        caller = _CALLER.get()
        if request.method == "POST" and request.url.path == LISTING and self.first is None:
            self.first = caller
            await response.aread()
            return httpx.Response(503, json={"errors": [{"message": "gateway"}]})
        if request.method == "GET" and request.url.path == LISTING:
            if caller == self.first and caller in self.scopes:
                self.scopes.pop(caller).cancel()
                self.cancelled = True
                return response
            if self.cancelled:
                return response
            await response.aread()
            body = json.loads(response.content)
            body["data"] = [i for i in body["data"] if i["name"] != "x"]
            return httpx.Response(response.status_code, json=body, headers=response.headers)
        return response


_CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="")


async def test_a_call_cancelled_while_reconciling_does_not_free_the_name(
    rig: Rig, tmp_path: Path
) -> None:
    transport = rig.transport()
    assert transport is not None
    cancelling = _CancelsWhileReconciling(transport)
    aura = rig.client(transport=cancelling)
    store = FileStore(tmp_path / "ledger")

    async def run(caller: str) -> None:
        _CALLER.set(caller)
        with anyio.CancelScope() as scope:
            cancelling.scopes[caller] = scope
            await aura.fleet.create([spec("x")], store=store, wait=False)

    async with anyio.create_task_group() as group:
        group.start_soon(run, "A")
        group.start_soon(run, "B")

    assert cancelling.cancelled  # the race happened: an ambiguous create was cut short
    # The other call knew a create had been sent, looked again and adopted; no twin.
    assert await rig.creates_per_name() == {"x": 1}


async def test_a_rollback_leaves_what_another_call_adopted(make_rig: RigFactory) -> None:
    rig = await make_rig(config(durations=Durations(create=600.0, jitter=0.0)))
    aura = rig.client()
    store = MemoryStore()
    reports: dict[str, FleetReport] = {}

    async def run(caller: str, specs: list[InstanceSpec], **options: Any) -> None:
        reports[caller] = await aura.fleet.create(specs, store=store, **options)

    async with anyio.create_task_group() as group:
        # A's waits time out long before its creates end: it rolls back what it made.
        group.start_soon(
            functools.partial(
                run, "A", [spec("x"), spec("y")], timeout=60 / SCALE, on_error="rollback"
            )
        )
        group.start_soon(functools.partial(run, "B", [spec("x")], wait=False))

    (adopted,) = reports["B"].items
    assert adopted.outcome is Outcome.ADOPTED
    assert adopted.credentials_known
    rig.settle()
    # y was A's alone and is rolled back; x is B's caller's now and stays.
    assert list(rig.names().values()) == ["x"]
    assert rig.names() == {adopted.instance_id: "x"}
    assert await rig.creates_per_name() == {"x": 1, "y": 1}


async def test_a_spec_naming_the_clients_project_claims_the_same_name(rig: Rig) -> None:
    aura = rig.client()
    store = MemoryStore()

    async with anyio.create_task_group() as group:
        group.start_soon(functools.partial(aura.fleet.create, [spec("x")], store=store))
        named = spec("x", tenant_id=PROJECT)
        group.start_soon(functools.partial(aura.fleet.create, [named], store=store))

    assert await rig.creates_per_name() == {"x": 1}


class _UnreadableLedger(MemoryStore):
    async def entries(self) -> list[LedgerEntry]:
        raise CredentialStoreError("the ledger cannot be read", location="memory")


async def test_a_call_whose_ledger_cannot_be_read_leaves_no_claim_behind(rig: Rig) -> None:
    await rig.raw_create("x")  # present: the call reads the ledger to adopt it
    aura = rig.client()

    with pytest.raises(CredentialStoreError):
        await aura.fleet.create([spec("x")], store=_UnreadableLedger(), wait=False)
    await aura.fleet.create([spec("y")], store=MemoryStore(), wait=False)

    assert len(aura.fleet._context.names) == 0


async def test_a_cancelled_call_leaves_what_a_later_call_adopted_from_it(
    make_rig: RigFactory,
) -> None:
    # B starts after A's creates were answered: its own listing shows x, no claim is needed.
    rig = await make_rig(config(durations=Durations(create=1200.0, jitter=0.0)))
    aura = rig.client()
    store = MemoryStore()

    async def both_made() -> bool:
        return sorted(rig.names().values()) == ["x", "y"] and len(await store.entries()) == 2

    async with anyio.create_task_group() as group:
        a = anyio.CancelScope()

        async def run_a() -> None:
            with a:
                await aura.fleet.create([spec("x"), spec("y")], store=store, on_error="rollback")

        group.start_soon(run_a)
        await until(both_made)
        b = await aura.fleet.create([spec("x")], store=store, wait=False)
        a.cancel()  # A rolls back what it made

    (adopted,) = b.items
    assert adopted.outcome is Outcome.ADOPTED
    rig.settle()
    assert rig.names() == {adopted.instance_id: "x"}


# New instances missing from listings (and answering 404) for their first ten minutes, as
# BEHAVIOUR.md allows; the client allows for a window that long.
_UNLISTED = FaultPlan(not_found_after_create=600.0, not_found_after_create_unlisted=True)
_PATIENT = attrs.evolve(POLICY, not_found_grace=900 / SCALE)


async def test_a_later_call_adopts_what_an_earlier_one_made_before_listings_show_it(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(config(faults=_UNLISTED))
    aura = rig.client(policy=_PATIENT)
    store = MemoryStore()

    async def made() -> bool:
        return len([e for e in await store.entries() if e.credentials is not None]) == 1

    async with anyio.create_task_group() as group:
        group.start_soon(functools.partial(aura.fleet.create, [spec("x")], store=store))
        await until(made)  # A's create was answered; listings will not show x for a while
        later = await aura.fleet.create([spec("x")], store=store, wait=False)

    (item,) = later.items
    assert item.outcome is Outcome.ADOPTED
    assert item.credentials_known
    assert await rig.creates_per_name() == {"x": 1}


async def test_no_call_adopts_what_a_rollback_is_deleting(make_rig: RigFactory) -> None:
    rig = await make_rig(config(durations=Durations(create=600.0, jitter=0.0)))
    aura = rig.client()
    store = MemoryStore()

    async def rolling_back() -> bool:
        deletes = (await rig.counters())["requests"].get("DELETE /v1/instances/{instanceId}")
        return bool(deletes and deletes.get("409"))

    async with anyio.create_task_group() as group:
        # A's wait times out long before x runs: its rollback meets 409s until it does.
        group.start_soon(
            functools.partial(
                aura.fleet.create, [spec("x")], store=store, timeout=60 / SCALE, on_error="rollback"
            )
        )
        await until(rolling_back)
        later = await aura.fleet.create([spec("x")], store=store, wait=False)

    (item,) = later.items
    rig.settle()
    # B did not take the instance being deleted: it made its own, which is still there.
    assert item.outcome is Outcome.SUCCEEDED
    assert rig.names() == {item.instance_id: "x"}
