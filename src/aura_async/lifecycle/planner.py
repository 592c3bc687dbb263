"""When to poll each wait: learnt from what polls saw, with no duration assumed in advance.

Every poll is an observation for the operation's :class:`DurationEstimate` (done by age ``a``,
or still busy at ``a``), pooled across all the client's waits of that operation, fleets and
single waits alike, and across its history. The planner turns it into each wait's next poll:

- **Scouting.** Until some operation of the kind has been seen to finish, nothing is known:
  polls climb a geometric ladder from ``PollPolicy.min_interval`` (each rung ``scout_growth``
  times the last), so a duration 10 times shorter or longer than anyone expected is found
  within a few polls. A fleet does not scout with every item: one wait at a time polls, each
  rung on a fresh item (the items are alike, so any item's answer speaks for all; the same
  item polled again would only tell of its own duration) while the others wait. After the
  first finish, a sample of the fleet (the square root of its size) is polled from that age
  in small steps until five finishes are seen.
- **Planned polls.** Then a fleet's wait busy at age ``l`` polls next at the age by which
  ``fleet_chance`` of the operations still busy at ``l`` are done; past the last duration
  seen, a log-normal fitted to every observation says where. A single wait spends about what
  polling every ``single_pace`` would, its polls at equal chances of the fit over where the
  operation may end (close together where operations usually end, none where they never do;
  a curve of few steps would have it poll at those steps only, and learn nothing new).
- **Thinning fleets poll closer.** A fleet's step is capped at ``tail_step x k`` of the age
  (at most half of it), ``k`` being the fleet's waits still busy, and they all plan again
  each time the fleet halves: with hundreds busy, polls are spread out (most finish between
  them anyway); the last few are polled every few percent of their age, so the slowest
  item, which decides the make-span, is seen soon after it is done.
- **Within the budget.** A fleet's polls are booked in the rate limit's windows: a window
  whose ``poll_share`` is planned full pushes the next poll to a window with room. When
  more polls are due than the limit lets through, the watcher's poll gate lets those most
  likely to find a change go first (:meth:`PollPlanner.chance`), and the rate limiter lets
  every mutation go before them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable

from aura_async.lifecycle.durations import DurationEstimate
from aura_async.lifecycle.operations import Operation, PollPolicy

__all__ = ["PollPlanner"]

_SCOUTS = 2  # the smallest sample of a fleet polled after the first finish
_ENOUGH = 5  # finishes seen before a fleet's waits plan from the estimate
_SAMPLE_GROWTH = 1.2  # after the first finish, the sample's polls climb this much a time
_MAX_FLEET_STEP = 1.5  # a fleet's wait is polled again by 1.5 times its age at the latest

Rate = Callable[[], "tuple[int, float] | None"]


class PollPlanner:
    """Plans the polls of every wait of one client.

    Args:
        policy: the bounds (``min_interval``, ``max_interval``) and the planner's settings.
        rate: the request budget, ``(requests, per seconds)``, or None when unlimited: a
            fleet's polls are never planned beyond ``poll_share`` of any window of it.
    """

    def __init__(self, policy: PollPolicy, rate: Rate | None = None) -> None:
        self.policy = policy
        self.rate = rate
        self._estimates: dict[Operation, DurationEstimate] = {}
        self._scouts: dict[Operation, list[Hashable]] = {}
        # Fleet waits held back while others scout, longest held first; the ladder's next
        # rung; and the held waits just made scouts, for the watcher to wake.
        self._held: dict[Operation, dict[Hashable, None]] = {}
        self._rung: dict[Operation, float] = {}  # the age of the ladder's last rung
        self._promoted: list[tuple[Operation, Hashable]] = []
        self._fleet: Counter[Operation] = Counter()
        # How many fleet waits there were when their polls were last planned all together.
        self._planned_for: dict[Operation, int] = {}
        # The budget's calendar: fleet polls planned per window (index = time // period).
        self._calendar: Counter[int] = Counter()
        self._booked: dict[Hashable, int] = {}

    def estimate(self, operation: Operation) -> DurationEstimate:
        """The duration estimate of one operation kind (made empty on first use)."""
        estimate = self._estimates.get(operation)
        if estimate is None:
            estimate = self._estimates[operation] = DurationEstimate()
        return estimate

    def expected(self, operation: Operation) -> float:
        """The median duration seen, else the policy's hint for the operation."""
        estimate = self._estimates.get(operation)
        median = estimate.median() if estimate is not None else None
        if median is not None:
            return median
        return self.policy.expected.get(operation, 60.0)

    def knows(self, operation: Operation) -> bool:
        """Whether some operation of this kind has been seen to finish."""
        estimate = self._estimates.get(operation)
        return estimate is not None and estimate.finished > 0

    def _ready(self, operation: Operation) -> bool:
        """Whether fleets plan from the estimate (enough finishes seen to fit it)."""
        estimate = self._estimates.get(operation)
        return estimate is not None and estimate.finished >= _ENOUGH

    def _sample_size(self, operation: Operation) -> int:
        return max(_SCOUTS, math.ceil(math.sqrt(self._fleet.get(operation, 1))))

    # --------------------------------------------------------------- waits come and go

    def join(self, operation: Operation, *, cohort: bool) -> None:
        """Count a new wait (a fleet's waits poll closer as their number falls)."""
        if cohort:
            self._fleet[operation] += 1

    def leave(self, operation: Operation, key: Hashable, *, cohort: bool) -> bool:
        """Forget a wait that ended; True if the fleet's other waits must plan again.

        They must when a scout left before anything was learnt (another takes its place),
        and when the fleet has halved since they last planned (the fewer are left, the
        closer each is polled).
        """
        self.estimate(operation).forget(key)
        if not cohort:
            return False
        self._held.get(operation, {}).pop(key, None)
        scouts = self._scouts.get(operation, [])
        scouted = key in scouts
        if scouted:
            scouts.remove(key)
        self._fleet[operation] -= 1
        left = self._fleet[operation]
        if left <= 0:  # the last fleet wait: nothing of this fleet's planning is kept
            del self._fleet[operation]
            for state in (self._planned_for, self._scouts, self._held, self._rung):
                state.pop(operation, None)
            return False
        if scouted:
            if not self.knows(operation):
                self._promote(operation)  # the ladder goes on with another
                return False
            return not self._ready(operation)
        if self._ready(operation) and 2 * left <= self._planned_for.setdefault(operation, left):
            self._planned_for[operation] = left
            return True
        return False

    def _enlist(self, operation: Operation, key: Hashable) -> bool:
        scouts = self._scouts.setdefault(operation, [])
        wanted = 1 if not self.knows(operation) else self._sample_size(operation)
        if key not in scouts and len(scouts) < wanted:
            scouts.append(key)
        if key in scouts:
            return True
        self._held.setdefault(operation, {})[key] = None
        return False

    def _promote(self, operation: Operation) -> None:
        """Make the wait held back longest the scout (the watcher wakes it)."""
        held = self._held.get(operation)
        scouts = self._scouts.setdefault(operation, [])
        if held and not scouts:
            key = next(iter(held))
            del held[key]
            scouts.append(key)
            self._promoted.append((operation, key))

    def promoted(self) -> list[tuple[Operation, Hashable]]:
        """The held-back waits made scouts since the last call, as (operation, key)."""
        taken, self._promoted = self._promoted, []
        return taken

    # ------------------------------------------------------------------- observations

    def saw(self, operation: Operation, key: Hashable, age: float, *, done: bool) -> bool:
        """Record one poll's answer for a timed wait; True if the fleets must plan again.

        They must at the kind's first finish (the ladder ends; a sample of the fleet's
        waits, the square root of their number, is polled from there) and once enough
        finishes are seen to plan from the estimate (the sample ends).
        """
        estimate = self.estimate(operation)
        if done:
            before = estimate.finished
            estimate.saw_done(key, age)
            if before == 0 or before + 1 == _ENOUGH:
                self._scouts.pop(operation, None)
                self._held.pop(operation, None)
                self._rung.pop(operation, None)
                self._planned_for[operation] = self._fleet.get(operation, 0)
                return True
            return False
        estimate.saw_busy(key, age)
        scouts = self._scouts.get(operation, [])
        if key in scouts and not self.knows(operation):
            # One rung climbed. The next is polled on another item: each rung then samples
            # a fresh one (a scout's own duration would only ever tell about itself).
            self._rung[operation] = max(self._rung.get(operation, 0.0), age)
            if self._held.get(operation):
                scouts.remove(key)
                self._held[operation][key] = None
                self._promote(operation)
        return False

    # ----------------------------------------------------------------------- planning

    def plan(
        self,
        operation: Operation,
        key: Hashable,
        *,
        submitted: float,
        last_busy: float,
        cohort: bool,
        booking: Hashable,
        spent: bool = False,
    ) -> float:
        """The time of a wait's next poll, from :meth:`next_age`; booked if a fleet's.

        A fleet's polls are booked in the request budget's calendar: a window whose share
        for polls (``poll_share`` of the limit) is planned full pushes the poll to the
        start of the next window with room, so the planner never plans more polls than a
        window carries. ``booking`` identifies the wait: its earlier booking is released, or
        kept against its window when ``spent`` (the poll it booked was just sent).
        """
        if spent:
            self._booked.pop(booking, None)
        else:
            self.release(booking)
        at = submitted + self.next_age(operation, key, last_busy=last_busy, cohort=cohort)
        budget = self.rate() if self.rate is not None else None
        if not cohort or budget is None or not math.isfinite(at):
            return at
        requests, period = budget
        room = max(1, int(self.policy.poll_share * requests))
        window = int(at // period)
        if len(self._calendar) > 64:  # forget windows long past
            for old in [w for w in self._calendar if w < window - 8]:
                del self._calendar[old]
        while self._calendar[window] >= room:
            window += 1
        if window > at // period:
            at = window * period
        self._calendar[window] += 1
        self._booked[booking] = window
        return at

    def release(self, booking: Hashable) -> None:
        """Give back a wait's booked poll (it was sent, or the wait ended or plans again)."""
        window = self._booked.pop(booking, None)
        if window is not None:
            self._calendar[window] -= 1
            if self._calendar[window] <= 0:
                del self._calendar[window]

    def booked(self) -> dict[int, int]:
        """Fleet polls planned (or sent as planned) per budget window (index: time // period)."""
        return dict(self._calendar)

    @property
    def bookings(self) -> int:
        """How many fleet waits hold a booked poll."""
        return len(self._booked)

    def next_age(
        self, operation: Operation, key: Hashable, *, last_busy: float, cohort: bool
    ) -> float:
        """The age at which a wait last seen busy at ``last_busy`` should poll next.

        ``last_busy`` is 0.0 for a wait not polled yet. ``math.inf`` means "not before the
        scouts learn something" (a fleet wait held back while others scout).
        """
        policy = self.policy
        low = last_busy + policy.min_interval
        if cohort and self.knows(operation) and not self._ready(operation):
            # Between the first finish and enough of them: a sample of the fleet is polled
            # from where the first finish was seen, in small steps; the others wait for it.
            if not self._enlist(operation, key):
                return math.inf
            start = self.estimate(operation).support
            return max(low, start, last_busy * _SAMPLE_GROWTH)
        if not self.knows(operation):
            if not cohort:
                return max(low, self._ladder(last_busy))
            if not self._enlist(operation, key):
                return math.inf
            # One ladder for the fleet, each rung on the scout of the moment.
            last = self._rung.get(operation, 0.0)
            if last <= 0.0:
                return max(low, policy.min_interval)
            return max(low, last * policy.scout_growth)
        estimate = self.estimate(operation)
        share = policy.fleet_chance if cohort else self._single_share(estimate, last_busy)
        # A fleet plans from the curve (its many polls land all over it). A single wait
        # plans from the smooth fit: planned from a curve of few steps, each wait would poll
        # at those steps only and learn nothing new.
        planned = estimate.quantile_after(last_busy, share) if cohort else None
        step = self._step(operation, cohort)
        known = planned is not None or (not cohort and last_busy < estimate.support)
        if planned is None:  # beyond the curve: the log-normal fit extends it
            # (A single wait past the curve polls at the fit's median of what is left, at most.)
            planned = estimate.tail_after(last_busy, share if cohort else min(share, 0.5))
            if planned is None or not math.isfinite(planned):
                planned = last_busy * step
            if cohort and last_busy <= 0.0:  # not polled yet: soon after the finishes seen
                planned = min(planned, estimate.support * _MAX_FLEET_STEP)
        if last_busy > 0.0 and cohort:
            planned = min(planned, last_busy * step)
        if not cohort and not known:
            # Past what was seen, a single wait never goes longer than max_interval without
            # a look (within the data, it polls only where operations end).
            planned = min(planned, last_busy + policy.max_interval)
        return max(planned, low)

    def _single_share(self, estimate: DurationEstimate, last_busy: float) -> float:
        """The share of the remaining chances a single wait's next poll should cover.

        A single wait plans two polls per ``single_pace`` seconds of the median duration,
        spread at equal chances (by the log-normal fit) over where the operation may end,
        and sends about half of them: about what fixed polling every ``single_pace`` costs.
        Where operations usually end, polls come close together, and none is spent where
        they never do, so the lag is far less when durations are alike.
        """
        median = estimate.tail_after(0.0, 0.5) or self.policy.min_interval
        polls = max(2.0, 2.0 * median / self.policy.single_pace)
        alive = estimate.tail_survival(last_busy)
        if alive is None:
            alive = estimate.survival(last_busy)
        return min(1.0, 1.0 / max(1.0, polls * alive))

    def _step(self, operation: Operation, cohort: bool) -> float:
        tail = self.policy.tail_step
        if not cohort:
            return 1.0 + tail
        k = max(1, self._fleet.get(operation, 1))
        return min(_MAX_FLEET_STEP, 1.0 + tail * k)

    def _ladder(self, last_busy: float) -> float:
        policy = self.policy
        if last_busy <= 0.0:
            return policy.min_interval
        return min(last_busy * policy.scout_growth, last_busy + policy.max_interval)

    def chance(self, operation: Operation, last_busy: float, age: float) -> float:
        """How likely a poll now finds a change in a wait last seen busy at ``last_busy``.

        From the estimate; past the last duration seen, from its log-normal fit. Before
        anything is known, the share of the wait's age that passed since it was last seen
        busy (a wait that waited longer ranks higher).
        """
        estimate = self._estimates.get(operation)
        if estimate is None or not estimate.finished:
            return 0.0 if age <= 0.0 else max(0.0, 1.0 - last_busy / age)
        known = estimate.chance_done(last_busy, age)
        if known is not None:
            return known
        alive, left = estimate.tail_survival(last_busy), estimate.tail_survival(age)
        if alive is None or left is None or alive <= 0.0:
            return 1.0
        return 1.0 - left / alive
