"""A fleet's polls planned by the real PollPlanner on a simulated clock and rate budget.

No I/O, no sleeping: time jumps from one planned poll (or window) to the next. The server is a
model: N creates are accepted at the rate limit's pace (after one listing), each runs for a
duration drawn when it arrives, and a poll at age ``a`` finds it done when ``a >= T``. Polls
spend what the creates leave of each fixed window; when more polls are due than the window
carries, the gate's rule picks them (the planner's chance, highest first). What the planner
would have asked beyond the budget is counted, so tests can check it never has to be refused.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import attrs

from aura_async.lifecycle.operations import Operation, PollPolicy
from aura_async.lifecycle.planner import PollPlanner

CREATE = Operation.CREATE


@attrs.define
class Outcome:
    """What one simulated fleet did."""

    n: int
    make_span: float  # from the first request to the last item seen done
    bound: float  # the arrival-order lower bound
    polls: int
    requests: int
    most_in_window: int  # requests in the busiest window
    lags: list[float]
    scouting_polls: int  # polls before the first finish was seen


def lower_bound(durations: list[float], limit: int, window: float) -> float:
    """max(max_i(floor(i / R) x W + T_i), floor(2N / R) x W): the listing is request 0."""
    n = len(durations)
    creates = max(((i + 1) // limit * window + t for i, t in enumerate(durations)), default=0.0)
    return max(creates, (2 * n) // limit * window)


@attrs.define(eq=False)
class _Item:
    index: int
    submitted: float
    duration: float
    busy_age: float = 0.0
    due: float = math.inf
    done_at: float | None = None


def simulate(
    durations: list[float],
    *,
    limit: int = 125,
    window: float = 60.0,
    policy: PollPolicy | None = None,
    planner: PollPlanner | None = None,
    latency: float = 0.1,
    start: float = 0.0,
    until: Callable[[int], bool] | None = None,
) -> Outcome:
    """Create ``len(durations)`` items, wait for all, with the planner deciding every poll.

    ``until(polls)`` may stop the run early (it is asked before each poll; True stops).
    ``start`` is when the fleet begins on the planner's clock (a later fleet of the same
    planner starts after the earlier one ended).
    """
    policy = policy or PollPolicy()
    planner = planner or PollPlanner(policy, rate=lambda: (limit, window))
    n = len(durations)
    used: dict[int, int] = {}  # window index -> requests spent

    def spend(at: float) -> float:
        """Spend one request at ``at`` or the first window with room; return when it went."""
        w = int(at // window)
        while used.get(w, 0) >= limit:
            w += 1
            at = w * window
        used[w] = used.get(w, 0) + 1
        return at

    spend(start)  # the listing before the creates
    items: list[_Item] = []
    for i, duration in enumerate(durations):
        sent = spend(start)
        items.append(_Item(i, sent + latency, duration))
    for _ in items:
        planner.join(CREATE, cohort=True)

    def plan(item: _Item, *, spent: bool = False) -> float:
        return planner.plan(
            CREATE,
            item,
            submitted=item.submitted,
            last_busy=item.busy_age,
            cohort=True,
            booking=item,
            spent=spent,
        )

    for item in items:
        item.due = plan(item)
    pending = {item.index: item for item in items}
    polls = scouting = 0
    now = start
    while pending:
        finite = [item.due for item in pending.values() if math.isfinite(item.due)]
        if not finite:
            raise AssertionError("every wait is held back and none scouts")
        now = max(now, min(finite))
        w = int(now // window)
        room = limit - used.get(w, 0)
        due = [item for item in pending.values() if item.due <= now]
        if room <= 0:
            now = (w + 1) * window
            continue
        if len(due) > room:
            due.sort(
                key=lambda it: planner.chance(CREATE, it.busy_age, now - it.submitted),
                reverse=True,
            )
            due = due[:room]
        for item in due:
            if until is not None and until(polls):
                return _outcome(items, n, polls, used, limit, window, scouting, stopped=True)
            spend(now)
            polls += 1
            if not planner.knows(CREATE):
                scouting += 1
            age = now - item.submitted
            if age >= item.duration:
                item.done_at = now
                again = planner.saw(CREATE, item, age, done=True)
                del pending[item.index]
                planner.release(item)
                if planner.leave(CREATE, item, cohort=True) or again:  # every wait plans again
                    for other in pending.values():
                        other.due = plan(other)
            else:
                planner.saw(CREATE, item, age, done=False)
                item.busy_age = age
                item.due = plan(item, spent=True)
            for _, promoted in planner.promoted():  # held back until now: a scout
                assert isinstance(promoted, _Item)
                promoted.due = plan(promoted)
        # Polls are not instantaneous: the next round starts a request's latency later.
        now += latency
    return _outcome(items, n, polls, used, limit, window, scouting, start=start)


def _outcome(
    items: list[_Item],
    n: int,
    polls: int,
    used: dict[int, int],
    limit: int,
    window: float,
    scouting: int,
    *,
    stopped: bool = False,
    start: float = 0.0,
) -> Outcome:
    done = [item.done_at for item in items if item.done_at is not None]
    ordered = sorted(items, key=lambda item: item.submitted)
    return Outcome(
        n=n,
        make_span=max(done, default=math.inf) - start if not stopped else math.inf,
        bound=lower_bound([item.duration for item in ordered], limit, window),
        polls=polls,
        requests=polls + n + 1,
        most_in_window=max(used.values(), default=0),
        lags=[
            item.done_at - item.submitted - item.duration
            for item in items
            if item.done_at is not None
        ],
        scouting_polls=scouting,
    )


def draws(
    n: int, median: float, *, shape: str = "uniform", spread: float = 0.2, seed: int = 1
) -> list[float]:
    """``n`` durations around ``median``: uniform +-spread, lognormal, or with 10 % stragglers."""
    rng = random.Random(seed)
    out: list[float] = []
    for _ in range(n):
        if shape == "uniform":
            out.append(median * (1 + rng.uniform(-spread, spread)))
        elif shape == "lognormal":
            out.append(median * math.exp(rng.gauss(0, spread)))
        elif shape == "stragglers":
            slow = 4.0 if rng.random() < 0.1 else 1.0
            out.append(slow * median * (1 + rng.uniform(-spread, spread)))
        elif shape == "heavy":
            out.append(min(50 * median, median * (2 * rng.random()) ** -spread))
        else:  # pragma: no cover - a typo in a test
            raise ValueError(shape)
    return out
