"""A create proven not created is sent again: 503s on create no longer abandon a fleet.

The gateway answers 503 before doing any work (sometimes with a ``Retry-After``), at rates
from 5 to 30 %, while new instances answer 404 for a window after their create. Each such
create is reconciled by listing (after the window) and sent again under a fresh intent, so
every item ends created exactly once (the emulator's creates-per-name counter), under every
error policy, and the ledger accounts for every attempt.
"""

from __future__ import annotations

from collections import Counter

import pytest

from aura_async.emulator import DropFault, ErrorFault, FaultPlan, RequestFilter
from aura_async.errors import CreateFailedError
from aura_async.fleet import EntryState, MemoryStore, Outcome

from .conftest import POLICY, POST_INSTANCES, RigFactory, config, spec

pytestmark = pytest.mark.timeout(60)

ONLY_CREATES = RequestFilter(methods=("POST",), route="/v1/instances")
WINDOW = 0.8 * POLICY.not_found_grace * 3600  # emulated seconds; within the client's prior


def unavailable(rate: float, retry_after: float | None = None) -> FaultPlan:
    return FaultPlan(
        errors=(ErrorFault(503, rate, retry_after=retry_after, only=ONLY_CREATES),),
        not_found_after_create=WINDOW,
    )


@pytest.mark.parametrize("policy", ["continue", "stop", "rollback"])
@pytest.mark.parametrize(
    ("rate", "retry_after"),
    [(0.05, None), (0.15, 30.0), (0.30, None)],
    ids=["5%", "15%-retry-after", "30%"],
)
async def test_every_item_is_created_exactly_once_under_503s(
    make_rig: RigFactory, policy: str, rate: float, retry_after: float | None
) -> None:
    rig = await make_rig(config(faults=unavailable(rate, retry_after), seed=3))
    aura = rig.client()
    store = MemoryStore()

    report = await aura.fleet.create(spec("flaky"), count=40, store=store, on_error=policy)

    names = [f"flaky-{n}" for n in range(1, 41)]
    assert report.totals == {Outcome.SUCCEEDED: 40}, [
        (i.name, i.outcome, str(i.error)) for i in report.items if i.error
    ]
    assert await rig.creates_per_name() == dict.fromkeys(names, 1)
    answered = (await rig.counters())["requests"][POST_INSTANCES]
    assert answered["202"] == 40
    assert answered.get("503", 0) >= 1, "no create met a 503: the test proves nothing"
    assert all(i.credentials is not None and i.credentials_known for i in report.items)
    # One intent per attempt: each refused one reconciled as not created.
    states = Counter((e.name, e.state) for e in await store.entries())
    for name in names:
        assert states[(name, EntryState.CREATED)] == 1
    assert sum(n for (_, s), n in states.items() if s is EntryState.NOT_CREATED) == answered["503"]
    assert not [k for k in states if k[1] not in (EntryState.CREATED, EntryState.NOT_CREATED)]


async def test_a_lost_answer_is_never_resent_while_a_refused_one_is(make_rig: RigFactory) -> None:
    """Drops (the work done, the answer lost) beside 503s (no work): the dropped creates are
    found by listing and not sent again; the refused ones are sent again; no name twice."""
    faults = FaultPlan(
        errors=(ErrorFault(503, 0.15, only=ONLY_CREATES),),
        drop=DropFault(0.15, only=ONLY_CREATES),
        not_found_after_create=WINDOW,
    )
    rig = await make_rig(config(faults=faults, seed=5))
    aura = rig.client()

    report = await aura.fleet.create(
        spec("mixed"), count=30, on_error="continue", store=MemoryStore()
    )

    counts = await rig.creates_per_name()
    assert set(counts.values()) == {1}
    assert len(counts) == 30
    lost = [i for i in report.items if i.outcome is Outcome.FAILED]
    dropped = (await rig.counters())["faults_injected"]["drop"]
    assert len(lost) == dropped >= 1
    for item in lost:
        assert isinstance(item.error, CreateFailedError)
        assert item.error.instance_id == item.instance_id is not None
        assert item.credentials_known is False
    assert (await rig.counters())["requests"][POST_INSTANCES].get("503", 0) >= 1
