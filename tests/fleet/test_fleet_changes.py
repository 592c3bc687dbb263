"""Pause, resume, resize, snapshot and delete many instances, by ids or by selector.

The emulator's own state is the witness of what changed; its counters, of what was sent.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import attrs
import pytest

from aura_async import InstanceStatus
from aura_async.emulator import Durations, FaultPlan
from aura_async.fleet import EntryState, FileStore, FleetReport, MemoryStore, Outcome, Selector

from .conftest import POLICY, SCALE, Rig, RigFactory, config, manual_clock, spec, until

pytestmark = pytest.mark.timeout(30)

GET_ONE = "GET /v1/instances/{instanceId}"
# The client knows the service's 404 window after a create (90 emulated seconds, > 60).
POLICY_WITH_WINDOW = attrs.evolve(POLICY, not_found_grace=90.0 / SCALE)


async def _fleet_of_three(rig: Rig, store: MemoryStore | FileStore) -> list[str]:
    """web-1..3 created by the fleet (in ``store``), and "keep" created by someone else."""
    await rig.raw_create("keep")
    report = await rig.client().fleet.create(spec("web"), count=3, store=store)
    assert report.ok
    rig.settle(600)
    return [item.instance_id or "" for item in report.items]


async def test_pause_and_resume_by_ids_and_by_selector(rig: Rig) -> None:
    store = MemoryStore()
    ids = await _fleet_of_three(rig, store)
    keep = next(i for i, name in rig.names().items() if name == "keep")
    aura = rig.client()

    paused = await aura.fleet.pause(ids)
    assert paused.totals == {Outcome.SUCCEEDED: 3}
    assert [i.instance_id for i in paused.items] == ids
    assert all(
        i.instance is not None and i.instance.status is InstanceStatus.PAUSED for i in paused.items
    )
    assert rig.statuses() == {**dict.fromkeys(ids, "paused"), keep: "running"}
    assert [i.name for i in paused.items] == ["web-1", "web-2", "web-3"]

    # Pausing what is paused already: nothing to do.
    again = await aura.fleet.pause(ids + ids[:1])  # a repeated id counts once
    assert again.totals == {Outcome.SKIPPED: 3}
    assert again.ok
    assert (await rig.requests())["POST /v1/instances/{instanceId}/pause 202"] == 3

    resumed = await aura.fleet.resume(Selector(prefix="web-"))
    assert resumed.totals == {Outcome.SUCCEEDED: 3}
    assert sorted(i.instance_id or "" for i in resumed.items) == sorted(ids)
    assert set(rig.statuses().values()) == {"running"}
    assert (await aura.fleet.resume(Selector(prefix="web-"))).totals == {Outcome.SKIPPED: 3}
    # Resuming what runs is refused (409 invalid-instance-status): each was skipped.
    counters = await rig.counters()
    assert counters["requests"]["POST /v1/instances/{instanceId}/resume"] == {"202": 3, "409": 3}


async def test_resize_by_glob_and_snapshot_by_ledger(rig: Rig) -> None:
    store = MemoryStore()
    ids = await _fleet_of_three(rig, store)
    await rig.raw_create("web-extra")  # not chosen: "web-?" matches one character
    rig.settle(600)
    aura = rig.client()

    resized = await aura.fleet.resize(Selector(glob="web-?"), memory="4GB")
    assert resized.totals == {Outcome.SUCCEEDED: 3}
    assert sorted(i.instance_id or "" for i in resized.items) == sorted(ids)
    assert all(i.instance is not None and i.instance.memory == "4GB" for i in resized.items)
    with rig.backend.lock:
        memory = {i.name: i.memory for i in rig.backend.instances.values()}
    assert memory == {
        "web-1": "4GB",
        "web-2": "4GB",
        "web-3": "4GB",
        "keep": "2GB",
        "web-extra": "2GB",
    }

    snapped = await aura.fleet.snapshot(Selector(ledger=store))
    assert snapped.totals == {Outcome.SUCCEEDED: 3}
    assert sorted(i.instance_id or "" for i in snapped.items) == sorted(ids)
    for item in snapped.items:
        assert item.snapshot_id
        taken = await rig.raw("GET", f"/instances/{item.instance_id}/snapshots/{item.snapshot_id}")
        assert taken["status"] == "Completed"
    assert (await rig.counters())["requests"]["POST /v1/instances/{instanceId}/snapshots"] == {
        "202": 3
    }


async def test_delete_by_ledger_marks_the_ledger(rig: Rig, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "ledger")
    ids = await _fleet_of_three(rig, store)
    aura = rig.client()
    # A paused instance is deleted too.
    await aura.fleet.pause(ids[:1])

    preview = await aura.fleet.delete(Selector(ledger=store), dry_run=True)
    assert preview.dry_run
    assert preview.totals == {Outcome.SKIPPED: 3}
    assert sorted(i.instance_id or "" for i in preview.items) == sorted(ids)
    requests = (await rig.counters())["requests"]
    assert "DELETE /v1/instances/{instanceId}" not in requests
    assert len(rig.statuses()) == 4

    await rig.reset_counters()
    report = await aura.fleet.delete(Selector(ledger=store))
    assert report.totals == {Outcome.SUCCEEDED: 3}
    assert list(rig.names().values()) == ["keep"]
    assert {e.state for e in await store.entries()} == {EntryState.DELETED}
    counters = await rig.counters()
    assert counters["requests"]["DELETE /v1/instances/{instanceId}"] == {"202": 3}
    assert report.requests == counters["requests_total"]
    # The ledger selects nothing now.
    assert (await aura.fleet.delete(Selector(ledger=store))).items == ()


async def test_dry_run_sends_nothing_but_the_listing(rig: Rig) -> None:
    ids = await _fleet_of_three(rig, MemoryStore())
    aura = rig.client()
    await rig.reset_counters()

    report = await aura.fleet.delete(Selector(prefix="web-"), dry_run=True)

    assert report.dry_run
    assert report.ok
    assert sorted(i.instance_id or "" for i in report.items) == sorted(ids)
    assert {i.outcome for i in report.items} == {Outcome.SKIPPED}
    counters = await rig.counters()
    assert counters["requests"] == {
        "GET /v1/instances": {"200": 1},
        "POST /oauth/token": {"200": 1},
    }
    assert report.requests == counters["requests_total"] == 2
    assert set(rig.statuses().values()) == {"running"}


async def test_delete_of_a_missing_id_succeeds(rig: Rig) -> None:
    ids = await _fleet_of_three(rig, MemoryStore())
    aura = rig.client()
    await rig.reset_counters()
    report = await aura.fleet.delete([ids[0], "0badc0de"])
    assert report.totals == {Outcome.SUCCEEDED: 2}
    assert report.ok
    requests = await rig.requests()
    assert requests["DELETE /v1/instances/{instanceId} 404"] >= 1
    # A 404 alone proves nothing (a just-created instance answers 404 for a while): each
    # counts once a listing sent after it does not show the instance either (the deleted
    # one's project, and every project for the id never seen).
    assert requests["GET /v1/instances 200"] == 2
    assert ids[0] not in rig.statuses()
    # Deleting it again: already gone, which is what was asked.
    assert (await aura.fleet.delete([ids[0]])).totals == {Outcome.SUCCEEDED: 1}


async def test_a_busy_instance_is_waited_for_not_failed(make_rig: RigFactory) -> None:
    """Pause, resize and delete of instances still being created: 409, then retried."""
    # Creates last five real seconds, until the test moves the clock.
    rig = await make_rig(config(durations=Durations(create=5 * 3600.0)))
    ids = [(await rig.raw_create(f"busy-{n}"))["id"] for n in range(3)]
    aura = rig.client()
    reports: dict[str, FleetReport] = {}

    async def run(verb: str) -> None:
        fleet = aura.fleet
        if verb == "pause":
            reports[verb] = await fleet.pause(ids[:1], timeout=10)
        elif verb == "resize":
            reports[verb] = await fleet.resize(ids[1:2], memory="4GB", timeout=10)
        else:
            reports[verb] = await fleet.delete(ids[2:], timeout=10)

    routes = {
        "POST /v1/instances/{instanceId}/pause",
        "PATCH /v1/instances/{instanceId}",
        "DELETE /v1/instances/{instanceId}",
    }

    async def refused_each() -> bool:
        requests = (await rig.counters())["requests"]
        return all(requests.get(route, {}).get("409", 0) >= 1 for route in routes)

    async with anyio.create_task_group() as tg:
        for verb in ("pause", "resize", "delete"):
            tg.start_soon(run, verb)
        await until(refused_each)
        assert not reports  # still waiting, not failed
        rig.advance(5 * 3600.0)  # the creates end

    assert {verb: r.totals for verb, r in reports.items()} == {
        verb: {Outcome.SUCCEEDED: 1} for verb in ("pause", "resize", "delete")
    }
    requests = (await rig.counters())["requests"]
    for route in routes:
        assert requests[route]["202"] == 1
    statuses = rig.statuses()
    assert statuses == {ids[0]: "paused", ids[1]: "running"}
    with rig.backend.lock:
        assert rig.backend.instances[ids[1]].memory == "4GB"


async def test_older_than_follows_the_emulators_clock(make_rig: RigFactory) -> None:
    # The emulated clock starts three days ago and moves only when told: by the local clock
    # every instance would be days old; by the server's (its Date headers) they are hours.
    rig = await make_rig(clock=manual_clock(time.time() - 3 * 24 * 3600))
    old = await rig.raw_create("ci-old")
    rig.advance(6 * 3600)
    young = await rig.raw_create("ci-young")
    rig.advance(1200)  # both are running now; ages 6 h 20 min and 20 min
    aura = rig.client()

    chosen = await aura.fleet.select(Selector(older_than="5h"))
    assert [s.id for s in chosen] == [old["id"]]
    assert {s.id for s in await aura.fleet.select(Selector(older_than="10m"))} == {
        old["id"],
        young["id"],
    }
    assert await aura.fleet.select(Selector(older_than="7h")) == []
    assert [s.id for s in await aura.fleet.select(Selector(older_than="10m", prefix="ci-y"))] == [
        young["id"]
    ]

    report = await aura.fleet.delete(Selector(older_than="5h", glob="ci-*"), wait=False)
    assert [i.instance_id for i in report.items] == [old["id"]]
    assert report.totals == {Outcome.SUCCEEDED: 1}
    assert rig.statuses() == {old["id"]: "destroying", young["id"]: "running"}


@pytest.mark.parametrize("action", ["pause", "snapshot"])
async def test_a_change_right_after_create_waits_out_the_not_found_window(
    make_rig: RigFactory, action: str
) -> None:
    """Live Aura answers 404 for a just-created instance for a while: a fleet change sent
    then is sent again once that window is past, not reported as "gone for good"."""
    rig = await make_rig(
        config(
            faults=FaultPlan(not_found_after_create=60.0),
            durations=Durations(create=20.0, jitter=0),
        )
    )
    aura = rig.client(policy=POLICY_WITH_WINDOW)
    created = await aura.fleet.create(spec("young"), count=3, store=MemoryStore(), wait=False)
    ids = [item.instance_id or "" for item in created.items]
    assert all(ids)

    report = await getattr(aura.fleet, action)(ids)

    assert report.totals == {Outcome.SUCCEEDED: 3}, [str(i.error) for i in report.items]
    not_found = (await rig.requests())[
        "POST /v1/instances/{instanceId}/pause 404"
        if action == "pause"
        else "POST /v1/instances/{instanceId}/snapshots 404"
    ]
    assert not_found >= 1, "no change met the window: the test proves nothing"
