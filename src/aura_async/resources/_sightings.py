"""What a client has seen of instances: when it first saw each one, and listings it can share.

Live Aura answers 404 for a just-created instance for a while (on GET, and DELETE looks the
instance up the same way), so a 404 alone proves nothing about an instance that may be young.
It proves the instance gone only once the instance's creation lies further back than that
window and a listing sent after the 404 does not show it either. This module keeps what that
rule needs: an upper bound on each instance's creation time in this client's own monotonic
clock (the first moment it was seen to exist), its creation time as the server stated it, its
project, and listings that concurrent callers share, so that a fleet of a hundred deletes
confirms its 404s with a few listings rather than a hundred.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import anyio
import attrs

from aura_async.models import CreatedInstance, Instance, InstanceSummary

__all__ = ["Listings", "Sighting", "Sightings"]

# A server's clock may run behind ours by this much: a creation time it states is trusted to
# be old only when it is older than the window by at least this margin.
CLOCK_SKEW = dt.timedelta(minutes=5)
_KEPT = 20_000  # instances remembered per client (about 3 MB at the most)


@attrs.define
class Sighting:
    """What the client knows of one instance's age and home.

    Attributes:
        first_seen: the client's monotonic time when it first saw the instance exist (its
            create's answer, a listing, a GET); the instance was created before it.
        created_at: its creation time as the server stated it, when known.
        tenant_id: its project, when known.
    """

    first_seen: float
    created_at: dt.datetime | None = None
    tenant_id: str | None = None


class Sightings:
    """First sightings of instances, bounded (the oldest are forgotten first).

    Forgetting errs on the safe side: an instance not remembered is treated as seen now,
    so a 404 from it is trusted only after a whole window.
    """

    def __init__(self, clock: Callable[[], float] = anyio.current_time) -> None:
        self._clock = clock
        self._seen: OrderedDict[str, Sighting] = OrderedDict()

    def saw(
        self,
        instance_id: str,
        *,
        created_at: dt.datetime | None = None,
        tenant_id: str | None = None,
    ) -> Sighting:
        """Note that the instance exists now; keep the earliest sighting and any new facts."""
        sighting = self._seen.get(instance_id)
        if sighting is None:
            sighting = self._seen[instance_id] = Sighting(self._clock())
            if len(self._seen) > _KEPT:
                self._seen.popitem(last=False)
        if created_at is not None:
            sighting.created_at = created_at
        if tenant_id is not None:
            sighting.tenant_id = tenant_id
        return sighting

    def saw_one(self, seen: Instance | InstanceSummary | CreatedInstance) -> Sighting:
        """Note an instance an answer showed (a GET, a create's or a delete's answer)."""
        return self.saw(seen.id, created_at=seen.created_at, tenant_id=seen.tenant_id)

    def saw_listed(self, listed: list[InstanceSummary]) -> None:
        """Note every instance a listing showed."""
        for summary in listed:
            self.saw_one(summary)

    def get(self, instance_id: str) -> Sighting | None:
        """What is known of the instance, if anything."""
        return self._seen.get(instance_id)

    def trusted_from(self, instance_id: str, *, window: float, otherwise: float) -> float:
        """The monotonic time from which a 404 for this instance may mean it is gone.

        That is a ``window`` after the instance was first seen, or after ``otherwise`` (when
        the caller first asked about it) for an instance never seen; at once when the server
        stated a creation time older than the window by more than any clock skew.
        """
        sighting = self._seen.get(instance_id)
        if sighting is not None and sighting.created_at is not None:
            age = dt.datetime.now(dt.UTC) - sighting.created_at
            if age >= dt.timedelta(seconds=window) + CLOCK_SKEW:
                return -float("inf")
        first = sighting.first_seen if sighting is not None else otherwise
        return first + window


def _own(error: BaseException) -> BaseException:
    """A copy of a shared error, so each caller's traceback stays its own (or the error)."""
    try:
        return copy.copy(error)
    except Exception:  # one that cannot be copied is shared as it is
        return error


@attrs.define(eq=False)
class _Flight:
    started: float  # when its request starts (planned, while it gathers callers)
    done: anyio.Event = attrs.Factory(anyio.Event)
    result: list[InstanceSummary] | None = None
    error: BaseException | None = None


class Listings:
    """Listings of a project's instances that concurrent callers share.

    A caller asks for a listing sent at or after a moment (the moment it saw a 404, say); a
    listing already started since then, in flight or answered, serves it too. With a
    ``gather`` time, a new listing waits that long before it is sent, so that callers
    arriving meanwhile share it (a fleet's items see their 404s a little apart).
    """

    def __init__(
        self,
        fetch: Callable[[str | None], Awaitable[list[InstanceSummary]]],
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._latest: dict[str | None, _Flight] = {}

    async def sent_after(
        self, tenant_id: str | None, after: float, *, gather: float = 0.0
    ) -> list[InstanceSummary]:
        """A listing of ``tenant_id``'s instances sent no earlier than ``after``.

        Raises:
            AuraError: the listing failed (every caller that shared it gets the error).
        """
        while True:
            flight = self._latest.get(tenant_id)
            if flight is None or flight.started < after:
                return await self._fly(tenant_id, gather)
            await flight.done.wait()
            if flight.result is not None:
                return list(flight.result)  # (each caller its own list)
            if flight.error is not None:
                raise _own(flight.error) from flight.error
            # Its sender was cancelled before an answer: ask again.

    async def _fly(self, tenant_id: str | None, gather: float) -> list[InstanceSummary]:
        flight = self._latest[tenant_id] = _Flight(self._clock() + gather)
        try:
            if gather > 0:
                await anyio.sleep(gather)
            flight.result = await self._fetch(tenant_id)
        except Exception as error:
            flight.error = error
            raise
        finally:
            if self._latest.get(tenant_id) is flight and flight.result is None:
                del self._latest[tenant_id]  # a failed listing is not kept for later callers
            flight.done.set()
        return list(flight.result)
