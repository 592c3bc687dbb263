"""One create per name at a time, across every fleet call of one client.

A fleet call lists the project once, before its first create, and adopts the names it found.
Two calls running at once on one client (two MCP tool calls, two tasks of a service) would
both find a name absent and both create it: twins, one of them unknown to the other's caller.
And a listing sent after a create may not show the new instance yet (BEHAVIOUR.md: the
not-found window), so even calls one after the other could. :class:`NameClaims` closes that
gap within the process:

- a call opens a *listing* (:meth:`NameClaims.open_listing`) before it lists the project, and
  closes it when the call ends;
- an item holds its name's claim from before it decides (adopt or create) until its create
  was answered, proven never made, or failed;
- an item that takes a claim learns whether another item sent a create under that name since
  its call's listing was opened (it then lists again), and what creates made under it since,
  or within the not-found window: those it adopts even when no listing shows them yet;
- a rollback holds the name while it decides and deletes (:meth:`NameClaims.holding`), and
  leaves an instance another call adopted (:meth:`NameClaims.adopted`): that call's caller
  holds it now. What a fleet deletes is forgotten (:meth:`NameClaims.forget`).

Processes that share one account are not covered: the API has no idempotency key, and the
names a process is about to create are visible to no other.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterator, Callable

import anyio
import attrs

from aura_async.models import InstanceSummary

__all__ = ["Changed", "NameClaim", "NameClaims"]

_Key = tuple[str, str]
# How long a create is remembered at the least, whatever listing was opened: longer than any
# not-found window the client allows for (a listing may not show a new instance for that long).
_KEEP = 3600.0


@attrs.frozen
class Changed:
    """What other items did under a name since a listing was opened.

    Attributes:
        touched: whether any of them sent a create (made, or perhaps made, an instance).
        made: the instances they are known to have made.
    """

    touched: bool = False
    made: tuple[InstanceSummary, ...] = ()


class NameClaim:
    """One item's hold on a name: taken by :meth:`take`, let go by :meth:`release`."""

    __slots__ = ("_claims", "_held", "_key", "_sending")

    def __init__(self, claims: NameClaims, key: _Key) -> None:
        self._claims = claims
        self._key = key
        self._held = False
        self._sending = False

    async def take(self, since: int, window: float) -> Changed:
        """Wait until no other item holds the name, hold it, and say what others did under it
        (see :meth:`NameClaims.changed_since`).

        Raises:
            anyio's cancellation exception: if cancelled while waiting (nothing is held).
        """
        await self._claims.lock(self._key)
        self._held = True
        return self._claims.changed_since(self._key, since, window)

    def sending(self) -> None:
        """Note that a create is about to be sent: from now on the name counts as touched
        however the claim is let go (a cancel while the create is reconciled included)."""
        self._sending = True

    def release(self, *, made: InstanceSummary | None = None) -> None:
        """Let the name go, with what the create made when that is known.

        Calling it again does nothing. Never raises.
        """
        if self._held:
            self._held = False
            self._claims.unlock(self._key, touched=self._sending, made=made)


class NameClaims:
    """The names this client's fleet calls are creating, each held by one item at a time.

    Args:
        clock: monotonic seconds, the clock waits run on (records are kept by it).
    """

    def __init__(self, clock: Callable[[], float] = anyio.current_time) -> None:
        self._clock = clock
        # name -> (its lock, how many items hold it or wait for it)
        self._locks: dict[_Key, tuple[anyio.Lock, int]] = {}
        # Creates sent, numbered (a listing opened before one of them has not seen it) and
        # timed (a listing sent after it may not show it either, for a not-found window).
        self._number = 0
        self._sent: dict[_Key, list[_Sent]] = {}
        self._listings: collections.Counter[int] = collections.Counter()
        # Instances a call adopted, with the number of creates sent by then: the call that
        # made one opened its listing before that.
        self._adopted: dict[str, int] = {}
        # Instances a fleet deleted, and when: a 404 from one is no young instance's.
        self._deleted: dict[str, float] = {}

    def claim(self, tenant_id: str | None, name: str) -> NameClaim:
        """A claim on ``name`` in ``tenant_id``'s project (the client's own when None), not
        yet taken."""
        return NameClaim(self, (tenant_id or "", name))

    @contextlib.asynccontextmanager
    async def holding(self, tenant_id: str | None, name: str) -> AsyncIterator[None]:
        """Hold ``name`` for the body (a rollback deciding and deleting): no item decides
        about it meanwhile.

        Raises:
            anyio's cancellation exception: if cancelled while waiting (nothing is held).
        """
        key = (tenant_id or "", name)
        await self.lock(key)
        try:
            yield
        finally:
            self.unlock(key, touched=False, made=None)

    def open_listing(self) -> int:
        """Note that a call is about to list the project; the listing's number."""
        self._listings[self._number] += 1
        return self._number

    def close_listing(self, number: int) -> None:
        """The call that opened listing ``number`` ended: forget what only it needed."""
        self._listings[number] -= 1
        if self._listings[number] <= 0:
            del self._listings[number]
        self._prune()

    def adopted(self, instance_id: str) -> None:
        """Note that a call adopted ``instance_id`` (another call may have made it)."""
        self._adopted[instance_id] = self._number

    def deleted(self, instance_id: str) -> bool:
        """Whether a fleet of this client deleted ``instance_id`` (within the last hour): a
        404 from it, or a listing still showing it, means gone, not too new to be found."""
        return instance_id in self._deleted

    def taken_over(self, instance_id: str) -> bool:
        """Whether another call adopted ``instance_id``: its maker must not roll it back."""
        return instance_id in self._adopted

    def forget(self, instance_id: str) -> None:
        """``instance_id`` is being deleted: no call is to take it for made, nor adopt it."""
        self._deleted[instance_id] = self._clock()
        for key, sent in list(self._sent.items()):
            self._sent[key] = [
                entry if entry.made is None or entry.made.id != instance_id else entry.gone()
                for entry in sent
            ]

    def changed_since(self, key: _Key, number: int, window: float) -> Changed:
        """What other items did under ``key``: whether a create was sent after listing
        ``number`` was opened, and what creates made within the last ``window`` seconds (a
        listing may not show them yet) or since that listing."""
        sent = self._sent.get(key, ())
        recent = self._clock() - window
        made = tuple(
            entry.made
            for entry in sent
            if entry.made is not None and (entry.number > number or entry.at >= recent)
        )
        return Changed(any(entry.number > number for entry in sent), made)

    async def lock(self, key: _Key) -> None:
        """Wait for ``key``'s lock and take it (the calling task holds it).

        Raises:
            anyio's cancellation exception: if cancelled while waiting (nothing is held).
        """
        lock, count = self._locks.get(key, (anyio.Lock(), 0))
        self._locks[key] = (lock, count + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._leave(key)
            raise

    def unlock(self, key: _Key, *, touched: bool, made: InstanceSummary | None) -> None:
        """Release ``key``'s lock, held by the calling task, recording a create if one was
        sent; the entry goes with its last item."""
        if touched:
            self._number += 1
            self._sent.setdefault(key, []).append(_Sent(self._number, self._clock(), made))
        self._locks[key][0].release()
        self._leave(key)
        self._prune()

    def _prune(self) -> None:
        """Forget creates no open listing predates and older than any window (an hour),
        adoptions no open call can have made, and deletions older than an hour."""
        oldest = min(self._listings, default=self._number + 1)
        stale = self._clock() - _KEEP
        for key in list(self._sent):
            kept = [e for e in self._sent[key] if e.number > oldest or e.at >= stale]
            if kept:
                self._sent[key] = kept
            else:
                del self._sent[key]
        self._adopted = {i: n for i, n in self._adopted.items() if n >= oldest}
        self._deleted = {i: at for i, at in self._deleted.items() if at >= stale}

    def _leave(self, key: _Key) -> None:
        lock, count = self._locks[key]
        if count <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, count - 1)

    def __len__(self) -> int:
        """How many names are held or waited for, and adoptions remembered for a call still
        open (creates recently sent are not counted: they are kept for a while on purpose)."""
        return len(self._locks) + len(self._adopted)


@attrs.frozen
class _Sent:
    """A create sent under a name: its number, when, and what it made (when known)."""

    number: int
    at: float
    made: InstanceSummary | None

    def gone(self) -> _Sent:
        """The same create, its instance being deleted: it made nothing to adopt."""
        return _Sent(self.number, self.at, None)
