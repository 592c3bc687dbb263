"""How a fleet's waits are paced: first polls aimed at a learnt quantile, dense polls after.

The learning rule is checked on simulated draws (no I/O); the pacing on the watcher itself,
with a fetch that reports a resource done from a chosen moment on, in real time scaled down
to hundredths of a second. GETs are counted by the fetch: the count is the point.
"""

from __future__ import annotations

import random
from functools import partial

import anyio
import attrs
import pytest

from aura_async.lifecycle import Operation, PollPolicy
from aura_async.lifecycle.operations import Target
from aura_async.lifecycle.watcher import Watcher, _FirstPoll
from aura_async.models import InstanceStatus

pytestmark = pytest.mark.timeout(30)

EXPECTED = 0.2  # seconds a create takes in these tests, as the policy's prior says
POLICY = PollPolicy(
    expected={Operation.CREATE: EXPECTED},
    min_interval=0.001,
    max_interval=1.0,
)


def quantile(draws: list[float], q: float) -> float:
    ordered = sorted(draws)
    return ordered[int(q * (len(ordered) - 1))]


@pytest.mark.parametrize("prior", [0.3, 1.0, 3.0])
def test_first_poll_converges_to_the_quantile_from_any_prior(prior: float) -> None:
    rng = random.Random(5)
    first = _FirstPoll(prior, 0.95)
    draws: list[float] = []
    for _ in range(3000):
        duration = rng.uniform(0.8, 1.2)
        draws.append(duration)
        first.observe(first.epoch, duration <= first.value)
    target = quantile(draws, 0.95)
    assert first.value == pytest.approx(target, rel=0.05), (first.value, target)


def test_a_batch_planned_with_one_time_moves_it_once() -> None:
    first = _FirstPoll(1.0, 0.8)
    epoch = first.epoch
    for _ in range(500):  # a fleet of 500 whose first polls all missed
        first.observe(epoch, False)
    assert first.epoch == epoch + 1
    assert 1.0 < first.value < 1.5  # one step, not 500


def test_an_observation_from_an_older_plan_is_ignored() -> None:
    first = _FirstPoll(1.0, 0.8)
    for _ in range(8):
        first.observe(0, True)
    moved = first.value
    for _ in range(20):
        first.observe(0, False)
    assert first.value == moved


@attrs.define
class Resource:
    status: InstanceStatus


class Scripted:
    """A fetch that reports ``creating`` until ``done_at`` (anyio time), then ``running``."""

    def __init__(self, done_at: float) -> None:
        self.done_at = done_at
        self.gets: list[float] = []

    async def __call__(self) -> Resource:
        now = anyio.current_time()
        self.gets.append(now)
        done = now >= self.done_at
        return Resource(InstanceStatus.RUNNING if done else InstanceStatus.CREATING)


async def wait_for(watcher: Watcher, done_after: float, *, cohort: bool) -> Scripted:
    start = anyio.current_time()
    fetch = Scripted(start + done_after)
    await watcher.wait(
        f"r{random.random()}",
        fetch,
        Target(Operation.CREATE),
        submitted=start,
        timeout=5.0,
        cohort=cohort,
    )
    fetch.gets = [t - start for t in fetch.gets]
    return fetch


async def test_a_fleet_wait_polls_first_past_the_expected_time() -> None:
    watcher = Watcher(POLICY, lambda event: None)
    fetch = await wait_for(watcher, 0.9 * EXPECTED, cohort=True)
    # Done before the first poll: one GET, and it came no sooner than 1.2x the prior.
    assert len(fetch.gets) == 1
    assert fetch.gets[0] >= 1.2 * EXPECTED


async def test_a_single_wait_polls_sooner_and_more() -> None:
    # The same operation awaited alone is paced for its own lag: it polls from half the
    # expected time, so it spends more GETs on the same instance.
    watcher = Watcher(POLICY, lambda event: None)
    fetch = await wait_for(watcher, 0.9 * EXPECTED, cohort=False)
    assert fetch.gets[0] < 0.6 * EXPECTED
    assert len(fetch.gets) > 3


async def test_a_late_item_is_polled_densely_after_the_first_poll() -> None:
    watcher = Watcher(POLICY, lambda event: None)
    aim = watcher.first_poll_time(Operation.CREATE)
    fetch = await wait_for(watcher, 1.3 * aim, cohort=True)
    steps = [b - a for a, b in zip(fetch.gets, fetch.gets[1:], strict=False)]
    assert steps
    interval = POLICY.fleet_interval_fraction * aim
    # Every later poll comes one interval after the previous (plus scheduling noise), so
    # the slowest item is seen at most about one interval after it is done.
    assert all(step >= interval * 0.99 for step in steps)
    assert len(fetch.gets) <= 2 + round(0.3 * aim / interval)


async def test_fleet_waits_teach_the_first_poll_not_the_durations() -> None:
    watcher = Watcher(POLICY, lambda event: None)
    before = watcher.first_poll_time(Operation.CREATE)
    async with anyio.create_task_group() as tg:
        for _ in range(8):  # one batch; all done long before the first poll
            tg.start_soon(partial(wait_for, watcher, 0.3 * EXPECTED, cohort=True))
    assert watcher.first_poll_time(Operation.CREATE) < before
    assert watcher.expected(Operation.CREATE) == EXPECTED  # single-wait durations untouched
