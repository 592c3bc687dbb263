"""The SDK's whole fleet cycle on the emulator's live preset and on five chaos seeds.

Each run creates 20 instances, pauses and resumes them, resizes five, deletes everything in
the ledger and recovers what the ledger still holds, against a service that shows every live
behaviour at once (``live``) or a random mix of quirks, faults and rate models drawn from a
seed (``chaos``; the seed in the test id replays it: ``--emulator-preset chaos
--emulator-seed N`` on the command line). ``AURA_CHAOS_SEEDS`` adds seeds (``nightly`` adds
today's date, for a CI job that meets a different service each night). Items may fail
where the service made them fail (a create that ends ``loading failed``, a password lost
with a dropped connection); what must hold on every service:

- nothing forgotten: every instance the service holds is in the ledger;
- no password lost unless its answer was lost: entries without a password are no more than
  the connections the service dropped;
- nothing duplicated: one create per name, except where an earlier create of the name was
  refused before any work or ended ``loading failed``;
- nothing leaked: after the teardown and a recovery, the service holds no instance.

A single instance's lifecycle (create, pause, resume, resize, delete, each awaited) runs on
the same services. Every one of them serves Bolt: the fleet's creates are verified with the
real ``neo4j`` driver, through each service's address lag.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import pytest

from aura_async import AuraClient, RateLimit
from aura_async.emulator import BoltListener, EmulatorConfig
from aura_async.emulator.presets import describe
from aura_async.errors import CreateOutcomeUnknownError, VerifyError
from aura_async.fleet import MemoryStore, Outcome, Selector
from aura_async.fleet.store import EntryState
from aura_async.lifecycle import PollPolicy
from tests.fleet.conftest import Rig, RigFactory, spec

pytestmark = pytest.mark.anyio

T = TypeVar("T")

SCALE = 600.0
COUNT = 20
# Four emulated hours for every wait: chaos draws heavy tails and stragglers whose slowest
# operations outlast the SDK's default timeouts (a timeout is the caller's choice, not a
# fault of the service).
TIMEOUT = 4 * 3600.0 / SCALE


def chaos_seeds(environ: Mapping[str, str] = os.environ) -> list[int]:
    """Seeds 1-5, plus those in ``AURA_CHAOS_SEEDS`` (numbers, or ``nightly`` for today's
    date as YYYYMMDD: a different service each night, the same on every xdist worker)."""
    seeds = [1, 2, 3, 4, 5]
    for word in environ.get("AURA_CHAOS_SEEDS", "").replace(",", " ").split():
        if word == "nightly":
            seeds.append(int(dt.datetime.now(dt.UTC).strftime("%Y%m%d")))
        else:
            seeds.append(int(word))
    return list(dict.fromkeys(seeds))


SERVICES = [
    pytest.param(("live", None), id="live"),
    *(pytest.param(("chaos", seed), id=f"chaos-{seed}") for seed in chaos_seeds()),
]


def service(preset: str, seed: int | None) -> EmulatorConfig:
    return EmulatorConfig(
        preset=preset,  # type: ignore[arg-type]
        seed=seed if seed is not None else 11,
        time_scale=SCALE,
    )


def client(rig: Rig) -> AuraClient:
    """A client told only the documented limit and the scale: nothing of the preset."""
    return rig.client(
        rate_limit=RateLimit(125, 60.0 / SCALE), policy=PollPolicy().scaled(1 / SCALE)
    )


def failures(*reports: Any) -> list[tuple[str, str, str]]:
    return [
        (report.operation, item.name, str(item.error)[:300])
        for report in reports
        for item in report.items
        if item.outcome is Outcome.FAILED
    ]


@pytest.mark.parametrize("setting", SERVICES)
async def test_fleet_cycle_loses_leaks_and_duplicates_nothing(
    make_rig: RigFactory, setting: tuple[str, int | None]
) -> None:
    config = service(*setting)
    rig = await make_rig(config)
    aura = client(rig)
    store = MemoryStore()
    context = "; ".join(describe(config))

    # Every preset here serves Bolt (its address lagging running by the preset's delay):
    # the creates are verified with the real driver on a listener beside the app.
    assert config.bolt, context
    async with BoltListener(rig.state):
        created = await aura.fleet.create(
            spec("cycle"),
            count=COUNT,
            pattern="cycle-{n:02d}",
            store=store,
            on_error="continue",
            timeout=TIMEOUT,
            verify=True,
        )
    assert len(created.items) == COUNT
    unverified = [i.name for i in created.items if isinstance(i.error, VerifyError)]
    assert not unverified, (context, failures(created))
    assert all(
        i.connectable_after is not None for i in created.items if i.outcome is Outcome.SUCCEEDED
    ), context
    assert all(item.outcome is not None for item in created.items), context
    assert not [i for i in created.items if i.outcome is Outcome.CANCELLED], context
    running = [i.instance_id for i in created.items if i.outcome is Outcome.SUCCEEDED]
    assert running, (context, failures(created))

    # Nothing forgotten: every instance the service holds is in the ledger.
    entries = await store.entries()
    known = {e.instance_id for e in entries if e.instance_id}
    on_server = rig.names()
    assert set(on_server) <= known, context
    # No password lost but with a lost answer.
    lost = [e for e in entries if e.state is EntryState.LOST]
    dropped = (await rig.counters())["faults_injected"].get("drop", 0)
    assert len(lost) <= dropped, (context, lost)
    # Nothing duplicated: a name's second create only after a refusal or a failed create.
    per_name = Counter(on_server.values())
    failed_creates = sum(1 for s in rig.statuses().values() if s == "loading failed")
    assert sum(n - 1 for n in per_name.values()) <= failed_creates, (context, per_name)

    paused = await aura.fleet.pause(running, timeout=TIMEOUT)
    back = [i.instance_id for i in paused.items if i.outcome is Outcome.SUCCEEDED]
    resumed = await aura.fleet.resume(back, timeout=TIMEOUT)
    up = [i.instance_id for i in resumed.items if i.outcome is Outcome.SUCCEEDED]
    resized = await aura.fleet.resize(up[:5], memory="4GB", timeout=TIMEOUT)
    changed = failures(paused, resumed, resized)
    # The service's own transient faults are absorbed: nothing fails but for a reason the
    # service made permanent (none of these operations has one in these presets).
    assert not changed, (context, changed)

    deleted = await aura.fleet.delete(Selector(ledger=store), timeout=TIMEOUT)
    assert not failures(deleted), (context, failures(deleted))
    await aura.fleet.recover(store, delete_lost=True)
    rig.settle()
    assert rig.names() == {}, (context, rig.statuses())
    states = Counter(e.state for e in await store.entries())
    assert not states[EntryState.INTENDED], (context, states)
    assert not states[EntryState.CREATED], (context, states)


async def _outcome(call: Awaitable[T]) -> T | Exception:
    try:
        return await call
    except Exception as error:
        return error


@pytest.mark.parametrize("setting", SERVICES)
async def test_one_instance_lifecycle_on_every_service(
    make_rig: RigFactory, setting: tuple[str, int | None]
) -> None:
    config = service(*setting)
    rig = await make_rig(config)
    aura = client(rig)
    context = "; ".join(describe(config))
    arguments = spec("single").create_arguments()
    try:
        created = await aura.instances.create(**arguments)
    except CreateOutcomeUnknownError:
        # A lone create answered 5xx or cut off: the SDK says so (it keeps no ledger to
        # reconcile by); the caller's recourse, listing by name, finds at most one.
        rig.settle(120.0)
        assert Counter(rig.names().values())["single"] <= 1, context
        return
    if rig.statuses().get(created.id) == "loading failed" or config.faults.create_failure:
        # A create the service fails is the one failure this lifecycle permits.
        outcome = await _outcome(aura.instances.wait(created.id, "create", timeout=TIMEOUT))
        if isinstance(outcome, Exception):
            assert rig.statuses().get(created.id) == "loading failed", (context, outcome)
            await aura.instances.delete(created.id, wait=True, timeout=TIMEOUT)
            return
    instance = await aura.instances.wait(created.id, "create", timeout=TIMEOUT)
    assert instance is not None
    assert instance.status == "running"
    await aura.instances.pause(created.id, wait=True, timeout=TIMEOUT)
    await aura.instances.resume(created.id, wait=True, timeout=TIMEOUT)
    resized = await aura.instances.update(created.id, memory="4GB", wait=True, timeout=TIMEOUT)
    assert resized.memory == "4GB", context
    await aura.instances.delete(created.id, wait=True, timeout=TIMEOUT)
    rig.settle()
    assert rig.names() == {}, context
