"""How long one kind of operation takes, estimated from polls alone (no prior needed).

A poll says one of two things about an operation of age ``a``: it is done (so it took at most
``a``, and more than the age at which it was last seen busy), or it is still busy (it takes
more than ``a``: a right-censored observation). :class:`DurationEstimate` turns both into a
survival curve ``S(t)``, the share of operations still busy at age ``t``, with Turnbull's
self-consistency estimator: the nonparametric maximum likelihood for interval- and
right-censored data (Kaplan-Meier's product-limit is its special case for exact times). An
operation first polled when long done tells only "done by then": the estimator puts its
mass where the tightly observed ones put theirs, so late polls do not make operations look
slower than they were.

The curve is a step function; beyond its last step it says nothing. There, a log-normal
fitted to the same observations (maximum a posteriori, with a weak prior on the spread)
extends it: :meth:`DurationEstimate.tail_after` and :meth:`DurationEstimate.tail_survival`
answer from the fit, which knows where the mass stopped rising (60 % done at 900 s and none
at 700 s says the rest end soon after 900 s).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable
from functools import partial
from statistics import NormalDist

__all__ = ["DurationEstimate"]

_ROUNDS = 100  # self-consistency rounds at most (they stop once the masses settle)
_POINTS = 120  # candidate durations at most (the data's own, thinned evenly)
_NORMAL = NormalDist()
_SQRT2 = math.sqrt(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_FIT_KEEP = 300  # observations the log-normal fit reads (the most recent)


class DurationEstimate:
    """The survival curve of one operation kind, from finished and still-busy observations.

    Args:
        keep: how many finished operations to remember (the oldest are forgotten, so the
            estimate follows a service whose speed drifts).
    """

    def __init__(self, keep: int = 400) -> None:
        self._finished: deque[tuple[float, float]] = deque(maxlen=keep)
        self._busy: dict[Hashable, float] = {}
        self._times: list[float] = []  # ages at which the curve steps down, ascending
        self._survival: list[float] = []  # S just after each step
        self._stale = False
        self._changes = 0  # busy observations since the curve was last computed
        self._new_finishes = 0  # finished ones since then
        self._fitted_with = 0  # finished ones the curve was computed with
        self._fit: tuple[float, float] | None = None  # (mu, sigma) of log-durations
        self._fitted = (0, 0)  # (finished, busy observations) when last fitted
        self._busy_seen = 0  # busy observations ever recorded

    @property
    def finished(self) -> int:
        """How many finished operations the estimate holds."""
        return len(self._finished)

    @property
    def busy(self) -> int:
        """How many operations are still busy (each censored at the age last seen busy)."""
        return len(self._busy)

    def saw_busy(self, key: Hashable, age: float) -> None:
        """Record that operation ``key`` was still busy at ``age`` seconds."""
        if age > self._busy.get(key, -1.0):
            self._busy[key] = age
            self._changes += 1
            self._busy_seen += 1
            # A busy observation only moves the curve through the risk sets: recomputing
            # after each one would cost a fleet of N polls N sorts; a few percent will do.
            if self._changes > max(4, len(self._busy) // 20):
                self._stale = True

    def saw_done(self, key: Hashable, age: float) -> None:
        """Record that operation ``key`` was done at ``age`` seconds (and forget it as busy)."""
        busy = self._busy.pop(key, 0.0)
        self._finished.append((min(busy, age), age))
        self._finished_changed()

    def forget(self, key: Hashable) -> None:
        """Drop a busy operation nobody waits for any longer (its outcome will not be seen)."""
        if self._busy.pop(key, None) is not None:
            self._changes += 1

    def add(self, low: float, high: float) -> None:
        """Record a finished operation known to have taken more than ``low``, at most ``high``."""
        self._finished.append((max(0.0, min(low, high)), high))
        self._finished_changed()

    def _finished_changed(self) -> None:
        # The curve costs milliseconds to fit: a fleet of N would refit it N times. It is
        # refitted once a sixteenth more have finished (each of the first sixteen at once).
        self._new_finishes += 1
        if self._new_finishes > self._fitted_with // 16:
            self._stale = True

    # ------------------------------------------------------------------ the curve

    def _curve(self) -> tuple[list[float], list[float]]:
        if self._stale:
            self._stale = False
            self._changes = 0
            self._new_finishes = 0
            self._fitted_with = len(self._finished)
            self._times, self._survival = _fit(self._finished, self._busy.values())
        return self._times, self._survival

    def _lognormal(self) -> tuple[float, float] | None:
        # The fit costs some milliseconds: refitted when an eighth more finished, or a
        # quarter of the busy ones were seen busy again, since the last fit.
        finished, busy = len(self._finished), self._busy_seen
        fitted_finished, fitted_busy = self._fitted
        if self._fit is not None and (
            finished - fitted_finished < max(1, fitted_finished // 8)
            and busy - fitted_busy < max(4, len(self._busy) // 4)
        ):
            return self._fit
        if self._finished:
            self._fitted = (finished, busy)
            self._fit = _fit_lognormal(
                list(self._finished)[-_FIT_KEEP:], sorted(self._busy.values())[-_FIT_KEEP:]
            )
        return self._fit

    def tail_survival(self, age: float) -> float | None:
        """The share still busy at ``age`` by the log-normal fit (None before any finish)."""
        fit = self._lognormal()
        if fit is None:
            return None
        if age <= 0.0:
            return 1.0
        mu, sigma = fit
        return 1.0 - _NORMAL.cdf((math.log(age) - mu) / sigma)

    def tail_after(self, age: float, share: float) -> float | None:
        """By the log-normal fit: the age by which ``share`` of those busy at ``age`` are done."""
        fit = self._lognormal()
        if fit is None:
            return None
        mu, sigma = fit
        alive = 1.0 if age <= 0.0 else 1.0 - _NORMAL.cdf((math.log(age) - mu) / sigma)
        goal = 1.0 - alive * (1.0 - share)  # the fit's CDF at the answer
        goal = min(max(goal, 1e-12), 1.0 - 1e-12)
        return max(age, math.exp(mu + sigma * _NORMAL.inv_cdf(goal)))

    def survival(self, age: float) -> float:
        """The estimated share of operations still busy at ``age`` (1.0 before any step)."""
        times, survival = self._curve()
        i = bisect.bisect_right(times, age)
        return 1.0 if i == 0 else survival[i - 1]

    @property
    def support(self) -> float:
        """The age of the curve's last step (0.0 before anything finished)."""
        times, _ = self._curve()
        return times[-1] if times else 0.0

    def quantile(self, share: float) -> float | None:
        """The age by which ``share`` of operations are done, or None if not known yet."""
        return self.quantile_after(0.0, share)

    def quantile_after(self, age: float, share: float) -> float | None:
        """The age by which ``share`` of the operations still busy at ``age`` are done.

        None when the curve has no step after ``age`` deep enough: the data do not reach it.
        """
        times, survival = self._curve()
        start = bisect.bisect_right(times, age)
        alive = 1.0 if start == 0 else survival[start - 1]
        if alive <= 0.0:
            return None
        goal = alive * (1.0 - share) + 1e-12
        for i in range(start, len(times)):
            if survival[i] <= goal:
                return times[i]
        return None

    def chance_done(self, since: float, age: float) -> float | None:
        """The chance that an operation busy at ``since`` is done by ``age``.

        None when ``age`` lies beyond what the data reach (nothing is known there).
        """
        times, _ = self._curve()
        if not times or age > times[-1]:
            return None
        alive = self.survival(since)
        if alive <= 0.0:
            return None
        return 1.0 - self.survival(age) / alive

    def median(self) -> float | None:
        """The median duration, or None if fewer than half are known to have finished."""
        return self.quantile(0.5)


def _log_cdf(z: float) -> float:
    """log Phi(z), accurate far into the lower tail (where Phi itself rounds to 0)."""
    if z > -8.0:
        return math.log(max(0.5 * math.erfc(-z / _SQRT2), 1e-300))
    return -0.5 * z * z - math.log(-z) - _HALF_LOG_2PI


def _log_between(low: float, high: float) -> float:
    """log(Phi(high) - Phi(low)) for low < high, without cancelling to log(0)."""
    if low == -math.inf:
        return _log_cdf(high)
    if high == math.inf:
        return _log_cdf(-low)
    if low > 0.0:  # both in the upper tail: use the mirror image
        low, high = -high, -low
    upper, lower = _log_cdf(high), _log_cdf(low)
    return upper + math.log1p(-min(math.exp(lower - upper), 1.0 - 1e-16))


def _fit_lognormal(finished: list[tuple[float, float]], busy: list[float]) -> tuple[float, float]:
    """Maximum-a-posteriori (mu, sigma) of log-durations from intervals and censored ages.

    Started from a coarse grid of spreads, then a coordinate search (golden sections on
    mu, then on log sigma, a few rounds): two parameters and a smooth likelihood need no
    more. Each finished operation adds log P(low < T <= high), each busy one log P(T > age).
    """
    logs = [
        (math.log(low) if low > 0 else -math.inf, math.log(max(high, 1e-9)))
        for low, high in finished
    ]
    censored = [math.log(c) for c in busy if c > 0]

    def loglik(mu: float, sigma: float) -> float:
        # A weak prior on the spread (log sigma ~ N(log 0.3, 1)): data taken at one age (a
        # fleet polled all at once) pin only F at that age, and without it any spread would
        # do, however absurd.
        total = -0.5 * (math.log(sigma / 0.3)) ** 2
        for low, high in logs:
            total += _log_between((low - mu) / sigma, (high - mu) / sigma)
        for c in censored:
            total += _log_cdf((mu - c) / sigma)
        return total

    points = [high for _, high in logs] + censored
    lowest, highest = min(points), max(points)
    lo_mu, hi_mu = lowest - 2.0, highest + 2.0
    start = sorted(high for _, high in logs)[len(logs) // 2]
    best = max(
        ((loglik(start, sigma), start, math.log(sigma)) for sigma in (0.03, 0.1, 0.3, 1.0)),
    )
    _, mu, log_sigma = best
    for _ in range(3):
        mu = _golden(partial(_with_sigma, loglik, math.exp(log_sigma)), lo_mu, hi_mu)
        log_sigma = _golden(partial(_with_mu, loglik, mu), math.log(0.01), math.log(3.0))
    return mu, math.exp(log_sigma)


def _with_sigma(loglik: Callable[[float, float], float], sigma: float, mu: float) -> float:
    return loglik(mu, sigma)


def _with_mu(loglik: Callable[[float, float], float], mu: float, log_sigma: float) -> float:
    return loglik(mu, math.exp(log_sigma))


def _golden(f: Callable[[float], float], low: float, high: float, rounds: int = 24) -> float:
    """The argument in [low, high] that maximises a unimodal ``f`` (golden-section search)."""
    ratio = (math.sqrt(5) - 1) / 2
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(rounds):
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return (a + b) / 2


def _fit(
    finished: Iterable[tuple[float, float]], busy: Iterable[float]
) -> tuple[list[float], list[float]]:
    """The survival curve by Turnbull's self-consistency (EM) estimator.

    Mass sits on candidate durations (the finished intervals' upper ends, at most
    ``_POINTS`` of them) and on "longer than any" for the still-busy; each round hands every
    observation's share out over the candidates it allows, in proportion to their current
    mass, until the masses settle. An operation known only to be done by 400 s then puts
    its mass where the tightly observed ones put theirs, not at 400 s.
    """
    intervals = list(finished)
    if not intervals:
        return [], []
    points = sorted({high for _, high in intervals})
    if len(points) > _POINTS:
        points = [points[round(i * (len(points) - 1) / (_POINTS - 1))] for i in range(_POINTS)]
        points = sorted(set(points))
    m = len(points)
    groups: Counter[tuple[int, int]] = Counter()
    for low, high in intervals:
        a = bisect.bisect_right(points, low)
        b = bisect.bisect_right(points, high)
        if b <= a:  # no candidate inside (thinned out): the nearest one above the low end
            a = min(a, m - 1)
            b = a + 1
        groups[(a, b)] += 1
    for age in busy:
        groups[(bisect.bisect_right(points, age), m + 1)] += 1  # index m: longer than any
    total = sum(groups.values())
    mass = [1.0 / (m + 1)] * (m + 1)
    for _ in range(_ROUNDS):
        prefix = [0.0]
        for x in mass:
            prefix.append(prefix[-1] + x)
        change = [0.0] * (m + 2)
        for (a, b), count in groups.items():
            within = prefix[b] - prefix[a]
            if within > 0.0:
                weight = count / within
                change[a] += weight
                change[b] -= weight
        running, new = 0.0, []
        for j in range(m + 1):
            running += change[j]
            new.append(mass[j] * running / total)
        settled = all(abs(x - y) < 1e-5 for x, y in zip(new, mass, strict=True))
        mass = new
        if settled:
            break
    times: list[float] = []
    survival: list[float] = []
    alive = 1.0
    for t, x in zip(points, mass, strict=False):
        if x > 1e-9:
            alive -= x
            times.append(t)
            survival.append(max(0.0, alive))
    return times, survival
