"""The interface between a rate limiter's queue and its budget, both ways.

:class:`~aura_async._http.limiter.RateLimiter` keeps what every limiter has: the queue of
waiters (priorities, first come first served, one timer for the head), the limit and its
lowering after 429s, and the cool-down after a Retry-After. Whether the head of that queue may
start now is its budget's call: :class:`~aura_async._http.limiter.LocalBudget` keeps this
process's own record; :class:`~aura_async._http.redis_limiter.RedisBudget` keeps one record on
Redis for every process on the credential.

The limiter asks its budget through :class:`Budget`, and the budget answers back (a limit or a
cool-down other processes set, a head that may go now) through :class:`BudgetHost`. Neither
touches the other's private members.
"""

from __future__ import annotations

from typing import Protocol

from aura_async.policies import Priority, RateLimit

__all__ = ["Budget", "BudgetHost"]


class BudgetHost(Protocol):
    """The limiter a :class:`Budget` serves, as the budget sees it."""

    @property
    def rate(self) -> RateLimit:
        """The limit kept now."""
        ...

    @property
    def cool_until(self) -> float:
        """When the cool-down ends, on :meth:`clock` (``-inf`` if there never was one)."""
        ...

    @property
    def waiting(self) -> int:
        """Callers still waiting for a permit (0 when the queue is empty)."""
        ...

    def clock(self) -> float:
        """The time now, on the limiter's clock."""
        ...

    def wake_head(self) -> None:
        """Let the head of the queue ask the budget again now, without waiting out its timer."""
        ...

    def adopt(self, limit: int, cool_left: float) -> None:
        """Keep what others sharing the budget decided: a lower ``limit``, and a cool-down of
        ``cool_left`` seconds from now (nothing when not above 0). Not shared back."""
        ...


class Budget(Protocol):
    """Where a :class:`~aura_async._http.limiter.RateLimiter` counts its slots.

    The limiter calls :meth:`take` for the head of its queue only, one take at a time, and
    tells the budget everything that changes the count: a permit released, the queue left
    empty, a cool-down, a limit lowered or set.
    """

    @property
    def in_flight(self) -> int:
        """This process's permits taken and not yet released."""
        ...

    @property
    def max_wait(self) -> float:
        """The longest a head waits before asking again, even if nothing woke it."""
        ...

    def attach(self, host: BudgetHost) -> None:
        """Serve ``host`` from now on (the limiter calls this once, when it is made)."""
        ...

    async def start(self) -> None:
        """Connect what must be connected before the first take; idempotent."""
        ...

    async def aclose(self) -> None:
        """Let go of what :meth:`start` connected; never raises."""
        ...

    async def take(self, priority: Priority) -> str | float:
        """Take a slot for a request of ``priority`` if the budget and the host's cool-down
        allow one now, and name it (the permit's key); else say how many seconds to wait
        before asking again (the host also wakes the head when a slot frees).

        A budget that can grant without awaiting anything must not yield here: the limiter
        then returns a free slot without yielding.
        """
        ...

    def complete(self, key: str, *, sent: bool) -> bool:
        """The permit ``key`` was released (``sent=False``: its request never left).

        Returns whether the head may ask again at once.
        """
        ...

    def left_queue(self) -> None:
        """The last waiter gave up: nobody in this process waits for a slot any more."""
        ...

    def cooled(self, seconds: float) -> None:
        """The host began a cool-down of ``seconds`` from now (to share with others)."""
        ...

    def lowered(self, limit: int) -> None:
        """The host lowered its limit to ``limit`` after 429s (to share with others)."""
        ...

    def rate_set(self, rate: RateLimit) -> None:
        """The host keeps ``rate`` from now on."""
        ...
