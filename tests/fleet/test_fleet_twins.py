"""Two create calls at once on one client never make twins (fleet/claims.py).

Each call lists the project once, before its first create; without a claim per name, two
calls running together would both find a name absent and both create it. The emulator's
``creates_per_name`` counter proves each name was created once.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import httpx
import pytest

from aura_async.fleet import FileStore, FleetReport, InstanceSpec, Outcome

from .conftest import Rig, spec

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
