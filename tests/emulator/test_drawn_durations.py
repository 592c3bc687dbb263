"""The emulator's record of each create: when it was accepted, the duration it drew, when seen.

``GET /_emulator/counters`` carries, per instance created since the last reset,
``created_at`` (emulated time the POST was accepted), ``create_durations`` (the emulated
seconds the emulator drew for it) and ``first_seen_running`` (emulated time of the first GET
answer showing it running). Benchmarks compute the best possible make-span from them, so the
durations must be the ones the lifecycle engine actually used: the instance runs exactly that
long after its POST. The clock is moved by hand, so every instant is exact.
"""

from __future__ import annotations

from typing import Any

import pytest

from aura_async.emulator import Durations, EmulatorConfig, FaultPlan
from tests.conftest import Api, ApiFactory

# Small enough to land between two instants the clock can represent near 1.7e9 s.
EPSILON = 1e-5


async def _counters(api: Api) -> dict[str, Any]:
    response = await api.http.get("/_emulator/counters")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


async def _status(api: Api, instance_id: str) -> str:
    status: str = (await api.data("GET", f"/instances/{instance_id}"))["status"]
    return status


async def _create_spread(api: Api, count: int, gap: float) -> list[str]:
    """Create ``count`` instances ``gap`` emulated seconds apart; return their ids."""
    ids = []
    for index in range(count):
        ids.append((await api.create(name=f"db-{index}"))["id"])
        api.clock.advance(gap)
    return ids


async def test_each_instance_runs_exactly_its_drawn_duration_after_its_post(
    make_api: ApiFactory,
) -> None:
    api: Api = await make_api(EmulatorConfig(seed=7))
    start = api.clock.now()
    ids = await _create_spread(api, 8, gap=3.0)
    counters = await _counters(api)
    assert list(counters["created_at"]) == ids  # in creation order
    assert counters["created_at"] == {i: start + 3.0 * n for n, i in enumerate(ids)}
    durations: dict[str, float] = counters["create_durations"]
    assert list(durations) == ids
    jitter = Durations().jitter
    for seconds in durations.values():
        assert Durations().create * (1 - jitter) <= seconds <= Durations().create * (1 + jitter)
    assert len(set(durations.values())) == len(ids), "the jitter draws differ per instance"

    # Walk the clock through every transition in order: each instance turns running at its own
    # created_at + duration, not a moment sooner, while those due later still show creating.
    ends = sorted((counters["created_at"][i] + durations[i], i) for i in ids)
    for n, (end, instance_id) in enumerate(ends):
        api.clock.advance(end - EPSILON - api.clock.now())
        assert await _status(api, instance_id) == "creating"
        api.clock.advance(2 * EPSILON)
        assert await _status(api, instance_id) == "running"
        for _, later in ends[n + 1 :]:
            assert await _status(api, later) == "creating"


async def test_the_durations_are_the_lifecycle_engines_own(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=3))
    ids = await _create_spread(api, 5, gap=0.0)
    counters = await _counters(api)
    backend = api.state.backend
    for instance_id in ids:
        record = backend.instances[instance_id]
        assert record.operation is not None
        assert record.created_at == counters["created_at"][instance_id]
        assert record.operation.ends_at == (
            counters["created_at"][instance_id] + counters["create_durations"][instance_id]
        )


async def test_without_jitter_every_duration_is_the_configured_one(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, durations=Durations(create=45.0, jitter=0)))
    ids = await _create_spread(api, 3, gap=1.0)
    assert (await _counters(api))["create_durations"] == dict.fromkeys(ids, 45.0)


async def test_the_same_seed_draws_the_same_durations(make_api: ApiFactory) -> None:
    runs = []
    for _ in range(2):
        api: Api = await make_api(EmulatorConfig(seed=11))
        await _create_spread(api, 4, gap=0.0)
        runs.append((await _counters(api))["create_durations"])
    assert runs[0] == runs[1]


async def test_first_seen_running_is_the_first_get_answer_that_showed_it(
    make_api: ApiFactory,
) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, durations=Durations(create=100.0, jitter=0)))
    created = (await api.create(name="seen"))["id"]
    posted = api.clock.now()
    api.clock.advance(99.0)
    assert await _status(api, created) == "creating"
    api.clock.advance(11.0)  # running since 1 s ago, but nobody has looked yet
    assert (await _counters(api))["first_seen_running"] == {}
    assert await _status(api, created) == "running"
    api.clock.advance(5.0)
    assert await _status(api, created) == "running"  # a later answer changes nothing
    counters = await _counters(api)
    assert counters["first_seen_running"] == {created: posted + 110.0}
    # Listings show no status, so they see nothing; the counters' own settling neither.
    other = (await api.create(name="listed"))["id"]
    api.clock.advance(100.0)
    await api.data("GET", "/instances")
    assert other not in (await _counters(api))["first_seen_running"]


@pytest.mark.parametrize("state", [False, True])
async def test_reset_forgets_every_create(make_api: ApiFactory, state: bool) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, durations=Durations(jitter=0)))
    old = (await api.create(name="before"))["id"]
    response = await api.http.post("/_emulator/reset", json={"state": state})
    assert response.status_code == 200
    counters = await _counters(api)
    assert counters["created_at"] == {}
    assert counters["create_durations"] == {}
    assert counters["first_seen_running"] == {}
    new = (await api.create(name="after"))["id"]
    api.clock.advance(Durations().create)
    assert await _status(api, new) == "running"
    if not state:  # an instance created before the reset is not a create of this count
        assert await _status(api, old) == "running"
    counters = await _counters(api)
    assert list(counters["create_durations"]) == [new]
    assert list(counters["first_seen_running"]) == [new]


async def test_a_create_that_fails_to_load_is_never_seen_running(make_api: ApiFactory) -> None:
    api: Api = await make_api(
        EmulatorConfig(seed=1, durations=Durations(jitter=0), faults=FaultPlan(create_failure=1.0))
    )
    created = (await api.create(name="doomed"))["id"]
    api.clock.advance(Durations().create)
    assert await _status(api, created) == "loading failed"
    counters = await _counters(api)
    assert counters["create_durations"] == {created: Durations().create}
    assert counters["first_seen_running"] == {}
