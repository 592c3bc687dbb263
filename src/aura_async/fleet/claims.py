"""One create per name at a time, across every fleet call of one client.

A fleet call lists the project once, before its first create, and adopts the names it found.
Two calls running at once on one client (two MCP tool calls, two tasks of a service) would
both find a name absent and both create it: twins, one of them unknown to the other's caller.
:class:`NameClaims` closes that gap within the process:

- a call opens a *listing* (:meth:`NameClaims.open_listing`) before it lists the project, and
  closes it when the call ends;
- an item holds its name's claim from before it decides (adopt or create) until its create
  was answered, proven never made, or failed;
- an item that takes a claim learns whether another item sent a create under that name since
  its call's listing was opened, and what it made. It then looks again before it decides, and
  adopts what the other call made instead of making a second one (even when the project's
  listing does not show the new instance yet);
- an instance one call adopted, perhaps from another call still running, is that call's
  caller's: the creating call's rollback leaves it (:meth:`NameClaims.adopted`).

Processes that share one account are not covered: the API has no idempotency key, and the
names a process is about to create are visible to no other.
"""

from __future__ import annotations

import collections

import anyio
import attrs

from aura_async.models import InstanceSummary

__all__ = ["Changed", "NameClaim", "NameClaims"]

_Key = tuple[str, str]


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

    async def take(self, since: int) -> Changed:
        """Wait until no other item holds the name, hold it, and say what others did under it
        since the listing ``since`` (see :meth:`NameClaims.open_listing`) was opened.

        Raises:
            anyio's cancellation exception: if cancelled while waiting (nothing is held).
        """
        await self._claims.lock(self._key)
        self._held = True
        return self._claims.changed_since(self._key, since)

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
    """The names this client's fleet calls are creating, each held by one item at a time."""

    def __init__(self) -> None:
        # name -> (its lock, how many items hold it or wait for it)
        self._locks: dict[_Key, tuple[anyio.Lock, int]] = {}
        # Creates sent, numbered: what a listing opened before one of them has not seen.
        self._number = 0
        self._sent: dict[_Key, list[tuple[int, InstanceSummary | None]]] = {}
        self._listings: collections.Counter[int] = collections.Counter()
        # Instances a call adopted, with the number of creates sent by then: the call that
        # made one opened its listing before that.
        self._adopted: dict[str, int] = {}

    def claim(self, tenant_id: str | None, name: str) -> NameClaim:
        """A claim on ``name`` in ``tenant_id``'s project (the client's own when None), not
        yet taken."""
        return NameClaim(self, (tenant_id or "", name))

    def open_listing(self) -> int:
        """Note that a call is about to list the project; the listing's number."""
        self._listings[self._number] += 1
        return self._number

    def close_listing(self, number: int) -> None:
        """The call that opened listing ``number`` ended: forget what only it needed."""
        self._listings[number] -= 1
        if self._listings[number] <= 0:
            del self._listings[number]
        oldest = min(self._listings, default=self._number + 1)
        for key in list(self._sent):
            kept = [entry for entry in self._sent[key] if entry[0] > oldest]
            if kept:
                self._sent[key] = kept
            else:
                del self._sent[key]
        # No call still open made what was adopted before its listing was opened.
        self._adopted = {i: n for i, n in self._adopted.items() if n >= oldest}

    def adopted(self, instance_id: str) -> None:
        """Note that a call adopted ``instance_id`` (another call may have made it)."""
        self._adopted[instance_id] = self._number

    def taken_over(self, instance_id: str) -> bool:
        """Whether another call adopted ``instance_id``: its maker must not roll it back."""
        return instance_id in self._adopted

    def changed_since(self, key: _Key, number: int) -> Changed:
        """What creates were sent under ``key`` after listing ``number`` was opened."""
        later = [made for sent, made in self._sent.get(key, ()) if sent > number]
        return Changed(bool(later), tuple(made for made in later if made is not None))

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
        if touched and self._listings:
            # Only a listing opened before this create needs to hear of it.
            self._number += 1
            self._sent.setdefault(key, []).append((self._number, made))
        self._locks[key][0].release()
        self._leave(key)

    def _leave(self, key: _Key) -> None:
        lock, count = self._locks[key]
        if count <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, count - 1)

    def __len__(self) -> int:
        """How many names are held or waited for or remembered for a listing still open, and
        adoptions remembered for a call still open."""
        return len(self._locks.keys() | self._sent.keys()) + len(self._adopted)
