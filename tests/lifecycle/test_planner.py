"""The poll planner: durations learnt from polls alone, and fleets planned within the budget.

Deterministic throughout: the estimate is fed observations directly, and fleets run in
``fleet_simulation`` (the real planner on a simulated clock and rate budget, no I/O).
"""

from __future__ import annotations

import itertools
import math
import random

import anyio
import anyio.lowlevel
import attrs
import pytest

from aura_async.lifecycle.durations import DurationEstimate
from aura_async.lifecycle.operations import Operation, PollPolicy
from aura_async.lifecycle.planner import PollPlanner
from aura_async.lifecycle.watcher import _PollGate

from .fleet_simulation import draws, simulate

CREATE = Operation.CREATE


# --------------------------------------------------------------------------- the estimate


def test_exact_durations_and_censored_ones_give_the_product_limit_estimate() -> None:
    estimate = DurationEstimate()
    # Exact durations 10, 20, 30 (intervals closed tight); two still busy at 15 and 25.
    for t in (10.0, 20.0, 30.0):
        estimate.add(t - 1e-9, t)
    estimate.saw_busy("a", 15.0)
    estimate.saw_busy("b", 25.0)
    estimate.saw_busy("c", 0.0)  # (a busy age of 0 says nothing)
    # Kaplan-Meier by hand: 5 at risk at 10 -> 4/5; 3 at risk at 20 -> x 2/3; 1 at 30 -> 0.
    assert estimate.survival(9.0) == 1.0
    assert estimate.survival(10.0) == pytest.approx(0.8, abs=1e-4)
    assert estimate.survival(20.0) == pytest.approx(0.8 * 2 / 3, abs=1e-4)
    assert estimate.survival(30.0) == pytest.approx(0.0, abs=1e-4)
    assert estimate.median() == pytest.approx(30.0)  # S(20) = 0.53 is still above a half


def test_a_finish_seen_late_is_placed_where_the_others_put_their_mass() -> None:
    """Ten seen done within a second of 100 s; one first polled at 300 s is not a 300 s one."""
    estimate = DurationEstimate()
    for i in range(10):
        estimate.add(99.0 + i * 0.1, 100.0 + i * 0.1)
    estimate.add(0.0, 300.0)  # done by 300, nothing more known
    assert estimate.support < 101.0
    assert estimate.quantile(0.99) is not None
    assert estimate.quantile(0.99) < 101.0  # type: ignore[operator]


def test_quantile_after_conditions_on_surviving() -> None:
    estimate = DurationEstimate()
    for t in range(1, 101):
        estimate.add(t - 0.5, float(t))
    assert estimate.quantile(0.5) == pytest.approx(50.0, abs=1.0)
    # Of those busy at 50, half are done by 75.
    assert estimate.quantile_after(50.0, 0.5) == pytest.approx(75.0, abs=1.0)
    assert estimate.quantile_after(100.0, 0.5) is None  # the data end there
    assert estimate.chance_done(50.0, 75.0) == pytest.approx(0.5, abs=0.03)


def test_the_log_normal_fit_recovers_the_distribution_and_extends_past_the_data() -> None:
    rng = random.Random(3)
    estimate = DurationEstimate()
    for i in range(300):
        t = 200.0 * math.exp(rng.gauss(0.0, 0.3))
        if t <= 250.0:  # polled every 10 s: seen done up to 10 s late
            estimate.add(10 * math.floor(t / 10), 10 * math.ceil(t / 10))
        else:
            estimate.saw_busy(i, 250.0)  # still busy when the data were taken
    # Past 250 s the curve says nothing; the fit does.
    assert estimate.quantile_after(250.0, 0.5) is None
    beyond = estimate.tail_after(250.0, 0.5)
    assert beyond is not None
    truth = 200.0 * math.exp(0.3 * 1.0)  # roughly the conditional median past 250 s
    assert 0.85 * truth < beyond < 1.25 * truth
    median = estimate.tail_after(0.0, 0.5)
    assert median == pytest.approx(200.0, rel=0.06)


# ------------------------------------------------------------------------------- fleets

_SHAPES = [("uniform", 0.1), ("uniform", 0.3), ("lognormal", 0.5), ("stragglers", 0.2)]


@pytest.mark.parametrize(("shape", "spread"), _SHAPES)
@pytest.mark.parametrize(("n", "limit"), [(25, 125), (200, 125), (100, 25)])
def test_the_planner_never_plans_more_polls_than_a_window_carries(
    shape: str, spread: float, n: int, limit: int
) -> None:
    window = 60.0
    policy = PollPolicy()
    planner = PollPlanner(policy, rate=lambda: (limit, window))
    room = int(policy.poll_share * limit)
    worst = [0]
    plan = planner.plan

    def watched_plan(*args: object, **kwargs: object) -> float:
        at = plan(*args, **kwargs)  # type: ignore[arg-type]
        worst[0] = max(worst[0], max(planner.booked().values(), default=0))
        return at

    planner.plan = watched_plan  # type: ignore[method-assign]
    outcome = simulate(
        draws(n, 300.0, shape=shape, spread=spread, seed=n), limit=limit, planner=planner
    )
    assert 0 < worst[0] <= room
    assert outcome.most_in_window <= limit
    assert planner.bookings == 0  # every wait's booking was given back


@pytest.mark.parametrize("hint_over_truth", [10.0, 0.1])
def test_a_fleet_finds_durations_ten_times_off_the_hint(hint_over_truth: float) -> None:
    """The hint says 120 s; creates take 12 s or 1200 s: found within the same fleet."""
    truth = 120.0 / hint_over_truth
    outcome = simulate(draws(100, truth, spread=0.2, seed=7), policy=PollPolicy())
    assert outcome.make_span <= 1.3 * outcome.bound  # at most one rung of the ladder late
    # (A 1200 s duration costs its ladder about 26 polls: 0.26 a wait here.)
    assert outcome.requests / outcome.n <= 3.3
    # The ladder climbs from 1 s by 1.3 a rung: about log(truth) / log(1.3) polls to find it.
    assert outcome.scouting_polls <= math.log(truth) / math.log(1.3) + 3


def test_a_second_fleet_plans_from_the_first_and_scouts_no_more() -> None:
    planner = PollPlanner(PollPolicy(), rate=lambda: (125, 60.0))
    first = simulate(draws(100, 300.0, shape="lognormal", spread=0.3, seed=1), planner=planner)
    later = 60.0 * math.ceil((first.make_span + 60.0) / 60.0)
    second = simulate(
        draws(100, 300.0, shape="lognormal", spread=0.3, seed=2), planner=planner, start=later
    )
    assert first.scouting_polls > 10
    assert second.scouting_polls == 0
    assert second.requests < first.requests
    assert second.make_span <= 1.05 * second.bound


def test_the_last_items_are_polled_closer_as_the_fleet_thins() -> None:
    planner = PollPlanner(PollPolicy(), rate=lambda: (125, 60.0))
    for t in range(1, 201):  # known: creates take 100-300 s
        planner.estimate(CREATE).add(99.0 + t - 1, 100.0 + t)
    for _ in range(100):
        planner.join(CREATE, cohort=True)
    many = planner.next_age(CREATE, "x", last_busy=400.0, cohort=True)
    for _ in range(99):
        planner.leave(CREATE, object(), cohort=True)
    one = planner.next_age(CREATE, "x", last_busy=400.0, cohort=True)
    assert one - 400.0 < 0.5 * (many - 400.0)
    assert one - 400.0 <= 400.0 * PollPolicy().tail_step + 1e-9


def test_while_nothing_is_known_one_scout_polls_each_rung_on_a_fresh_item() -> None:
    planner = PollPlanner(PollPolicy())
    for _ in range(50):
        planner.join(CREATE, cohort=True)
    ages = [planner.next_age(CREATE, i, last_busy=0.0, cohort=True) for i in range(50)]
    assert [a for a in ages if math.isfinite(a)] == [1.0]  # one scout; the rest held back
    scout = ages.index(1.0)
    rungs, polled = [], []
    for _ in range(5):  # each rung busy: the next rung goes to the wait held back longest
        age = planner.next_age(CREATE, scout, last_busy=0.0, cohort=True)
        rungs.append(age)
        polled.append(scout)
        planner.saw(CREATE, scout, age, done=False)
        assert planner.next_age(CREATE, scout, last_busy=age, cohort=True) == math.inf
        ((_, scout),) = planner.promoted()
    assert rungs == pytest.approx([1.0, 1.3, 1.69, 2.197, 2.8561])
    assert len(set(polled)) == 5  # five items, one poll each


def test_single_waits_scout_on_their_own_and_never_wait_longer_than_max_interval() -> None:
    policy = PollPolicy(max_interval=30.0)
    planner = PollPlanner(policy)
    ages = [0.0]
    while ages[-1] < 600:
        ages.append(planner.next_age(CREATE, "one", last_busy=ages[-1], cohort=False))
    gaps = [b - a for a, b in itertools.pairwise(ages)]
    assert ages[1] == policy.min_interval
    assert max(gaps) <= policy.max_interval + 1e-9
    assert len(ages) < 40  # 10 s polling would take 60


def test_the_policy_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="scout_growth"):
        PollPolicy(scout_growth=1.0)
    with pytest.raises(ValueError, match="fleet_chance"):
        PollPolicy(fleet_chance=1.5)
    with pytest.raises(ValueError, match="poll_share"):
        PollPolicy(poll_share=0.0)
    assert attrs.evolve(PollPolicy(), tail_step=0.1).tail_step == 0.1


# ------------------------------------------------------------------------ the poll gate


async def _through(gate: _PollGate, passed: list[str], name: str, chance: float) -> None:
    """A poll that waits at the gate with this chance, notes its name when let in, leaves."""
    await gate.enter(lambda: chance)
    passed.append(name)
    gate.leave()


async def test_the_gate_lets_the_likeliest_poll_go_first() -> None:
    gate = _PollGate(1)
    await gate.enter(lambda: 0.0)  # the one place is taken
    order: list[str] = []
    async with anyio.create_task_group() as tg:
        for name, chance in (("unlikely", 0.1), ("likely", 0.9), ("middling", 0.5)):
            tg.start_soon(_through, gate, order, name, chance)
            await anyio.lowlevel.checkpoint()
        await anyio.sleep(0.01)
        gate.leave()
    assert order == ["likely", "middling", "unlikely"]
    assert gate.busy == 0


async def test_a_poll_cancelled_at_the_gate_gives_its_place_on() -> None:
    gate = _PollGate(1)
    await gate.enter(lambda: 0.0)
    passed: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_through, gate, passed, "other", 0.1)
        async with anyio.create_task_group() as doomed:
            doomed.start_soon(_through, gate, passed, "cancelled", 0.9)
            await anyio.sleep(0.01)
            doomed.cancel_scope.cancel()  # it gives up before a place frees
        gate.leave()
    assert passed == ["other"]
    assert gate.busy == 0


def test_a_fleet_that_ends_leaves_no_scout_behind_for_the_next() -> None:
    """The last wait of a fleet was its scout: the next fleet must still get one."""
    planner = PollPlanner(PollPolicy())
    planner.join(CREATE, cohort=True)
    assert planner.next_age(CREATE, "first", last_busy=0.0, cohort=True) == 1.0
    planner.leave(CREATE, "first", cohort=True)
    for _ in range(3):
        planner.join(CREATE, cohort=True)
    ages = [planner.next_age(CREATE, key, last_busy=0.0, cohort=True) for key in "abc"]
    assert sum(math.isfinite(age) for age in ages) == 1


def test_a_scout_that_leaves_hands_the_ladder_on() -> None:
    planner = PollPlanner(PollPolicy())
    for _ in range(3):
        planner.join(CREATE, cohort=True)
    ages = {key: planner.next_age(CREATE, key, last_busy=0.0, cohort=True) for key in "abc"}
    (scout,) = (key for key, age in ages.items() if math.isfinite(age))
    planner.leave(CREATE, scout, cohort=True)  # cancelled, say
    ((_, successor),) = planner.promoted()
    assert successor != scout
    assert math.isfinite(planner.next_age(CREATE, successor, last_busy=0.0, cohort=True))
