"""Deleting an instance, and proving it gone: a 404 counts only past the instance's not-found
window and when a listing sent after it does not show the instance either (DESIGN.md,
"Deleted means absent")."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Awaitable
from typing import Literal

import anyio
import attrs

from aura_async._validation import check_instance_id
from aura_async.errors import (
    NotFoundError,
    OngoingOperationError,
    WaitFailedError,
    WaitTimeoutError,
)
from aura_async.lifecycle.operations import Operation
from aura_async.models import Instance, InstanceStatus
from aura_async.resources._base import ACTION, check_timeout
from aura_async.resources.instance_reads import InstanceReads

__all__ = ["InstanceDeletes"]

_NOT_FOUND = "not found"  # what the waits call a 404

# The operation an instance's status shows in flight, which a delete waits out (a 409).
_UNDER_WAY = {
    InstanceStatus.CREATING.value: Operation.CREATE,
    InstanceStatus.LOADING.value: Operation.CREATE,
    InstanceStatus.PAUSING.value: Operation.PAUSE,
    InstanceStatus.RESUMING.value: Operation.RESUME,
}


@attrs.define
class _Deletion:
    """Where one delete (or one wait for a deletion) stands, from its start to the proof."""

    instance_id: str
    cohort: bool  # one of many like it (a fleet's)
    began: float
    limit: float  # how long the deletion may take, counted from its acceptance
    deadline: float
    pause: float  # the next pause before looking again
    name: str | None
    submitted: float | None  # when the deletion waited for was accepted (None: unknown)
    accepted: bool  # a deletion is under way: this one's, accepted, or someone else's
    # A timeout the caller chose bounds the wait for another operation in flight too; the
    # policy's default gives that operation as long as its own policy timeout.
    chosen: bool = False
    refused_at: float = -math.inf  # when a DELETE last answered 404
    last: str = ""  # what was last seen, for the timeout's message


class InstanceDeletes(InstanceReads):
    """The deletes of :class:`~aura_async.resources.instances.Instances`."""

    async def delete(
        self,
        instance_id: str,
        *,
        wait: bool = False,
        timeout: float | None = None,
        cohort: bool = False,
    ) -> Instance | None:
        """Delete an instance (there is no way back).

        Without ``wait``, one request: returns the instance as it starts ``destroying``, or
        None when a resend after an ambiguous failure found it already gone (the first
        attempt did the work).

        With ``wait=True``, returns None once the instance is proven gone: a 404 (on the
        DELETE, or on a GET after it) counts only when the instance is also missing from a
        listing sent after that 404 and its creation lies further back than the window in
        which the live service answers 404 for a just-created instance. Until then it keeps
        at it: it waits out that window and deletes again, and waits out another operation
        in flight (409), so a delete sent right after a create still deletes it.

        Args:
            instance_id: the instance.
            wait: wait until the instance is proven gone.
            timeout: seconds to wait at the most (the policy's default when None; 0: send
                one request and do not wait).
            cohort: this delete is one of many like it (a fleet's): poll for the time the
                slowest of them is seen gone.

        Raises:
            ValidationError: a malformed id or timeout; nothing was sent.
            NotFoundError: (without wait) no such instance, or one created too recently to
                be found yet (live Aura answers 404 for a while after a create).
            OngoingOperationError: (without wait) another operation is in flight.
            WaitTimeoutError: (with wait) it was not proven gone within ``timeout``: it may
                still exist (the message says what was last seen).
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_timeout(timeout)
        if wait and timeout != 0:
            await self.ensure_deleted(instance_id, wait=True, timeout=timeout, cohort=cohort)
            return None
        data = await self._pipeline.request("DELETE", f"/instances/{instance_id}", kind=ACTION)
        if data is None:
            return None
        deleting = self._parse(data, Instance, "DELETE", f"/instances/{instance_id}")
        self._sightings.saw_one(deleting)
        return deleting

    async def ensure_deleted(
        self,
        instance_id: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        cohort: bool = False,
    ) -> bool:
        """Delete an instance and make sure of it, whatever the service first answers.

        Returns once the service accepted the delete (202) and, with ``wait``, once the
        instance is gone: True; or once it is proven absent with no delete of it accepted
        nor seen under way (it was gone already): False. A 404 is never taken at its word:
        live Aura answers 404 for a just-created instance for a while, so a 404 counts only
        when the instance is also missing from a listing sent after it and its creation lies
        further back than that window; until then the delete is sent again after the
        window, and another operation in flight (409) is waited out. This is what fleets
        and ``delete(wait=True)`` use.

        Args:
            instance_id: the instance.
            wait: wait until the instance is gone, not only until its delete was accepted.
            timeout: seconds (the policy's delete timeout when None); as every wait's, they
                count again from the moment the delete was accepted, so that the time spent
                before (a create waited out, a window) is not taken from the delete's own.
                A chosen timeout also bounds the wait for an operation in flight (a 409);
                with None, that operation may take as long as its own policy timeout.
            cohort: one of many like it (a fleet's): poll for the slowest of them.

        Raises:
            ValidationError: a malformed id or timeout; nothing was sent.
            WaitTimeoutError: not proven gone (or, with ``wait``, not gone) within
                ``timeout``: it may still exist (the message says what was last seen).
            WaitFailedError: (with ``wait``) the instance reached a state a delete cannot
                come back from.
            AuraError: a request failed for good.
        """
        check_instance_id(instance_id)
        check_timeout(timeout)
        return await self._until_gone(
            instance_id, send=True, timeout=timeout, cohort=cohort, accepted_is_enough=not wait
        )

    async def _until_gone(
        self,
        instance_id: str,
        *,
        send: bool,
        timeout: float | None,
        name: str | None = None,
        submitted: float | None = None,
        cohort: bool = False,
        accepted_is_enough: bool = False,
    ) -> bool:
        """Return once the instance is proven gone; delete it too when ``send``.

        Returns whether a deletion was seen (a DELETE accepted, or without ``send`` the one
        waited for): False when ``send`` found it absent already.

        The proof: a 404 seen once the instance's creation is older than the not-found
        window (:meth:`Watcher.not_found_window`), then a listing sent after that 404 that
        does not show it. A DELETE answered 404 inside the window is sent again after it; a
        409 (a create or another operation still in flight) is waited out. With
        ``accepted_is_enough``, a DELETE answered 202 ends it too.

        Raises:
            WaitTimeoutError: not proven gone within the timeout.
            WaitCancelledError: the client was closed.
            AuraError: a request failed for good.
        """
        policy = self._watcher.policy
        began = anyio.current_time()
        limit = policy.timeout(Operation.DELETE) if timeout is None else timeout
        # Waits count from the moment the server accepted the operation (the request may
        # have queued behind the rate limit before).
        deletion = _Deletion(
            instance_id,
            cohort,
            began,
            limit,
            deadline=(began if submitted is None else submitted) + limit,
            pause=policy.min_interval,
            name=name,
            submitted=submitted,
            accepted=not send,  # without sending, the deletion is someone else's, under way
            chosen=timeout is not None,
        )
        while True:
            now = anyio.current_time()
            if now >= deletion.deadline:
                raise _not_proven(instance_id, deletion.last or "nothing yet", now - began)
            if send and not deletion.accepted:
                answer = await self._send_delete(deletion)
                if answer == "busy":
                    continue
                if answer == "accepted" and accepted_is_enough:
                    return True
                if answer == "refused":
                    now = deletion.refused_at
            if deletion.accepted:
                await self._watch_deletion(deletion)
                now = anyio.current_time()
                deletion.last = _NOT_FOUND
            window = self._watcher.not_found_window()
            trusted = self._sightings.trusted_from(instance_id, window=window, otherwise=began)
            if now < trusted:
                # Too young for a 404 to mean anything: look again once it is not.
                deletion.last = "not found, too soon after its creation to count"
                await self._sleep_until(min(trusted, deletion.deadline), deletion)
                if deletion.accepted:
                    deletion.submitted = None  # (what follows measures no delete's duration)
                continue
            # A fleet's items see their 404s a little apart: a listing that waits a tenth of
            # a delete's time for the others serves most of them.
            gather = 0.1 * self._watcher.expected(Operation.DELETE) if cohort else 0.0
            if not await self._still_listed(instance_id, now, gather=gather):
                return deletion.accepted
            deletion.last = "not found, but still listed"
            if send and not deletion.accepted and await self._refused_yet_listed(deletion):
                continue
            await self._pause(deletion)
            if deletion.accepted:
                deletion.submitted = None

    async def _send_delete(self, deletion: _Deletion) -> Literal["accepted", "refused", "busy"]:
        """Send the DELETE once and say how it was answered.

        ``accepted`` (202): the deletion's own time starts. ``refused`` (404): inside a new
        instance's window that proves nothing, so the DELETE counts as unsent. ``busy``
        (409): the operation in flight was waited out, or paused after.

        Raises:
            WaitTimeoutError: the deadline passed while another operation was in flight.
            AuraError: the DELETE failed for good.
        """
        instance_id = deletion.instance_id
        try:
            going = await self.delete(instance_id)
        except NotFoundError:
            going = None
        except OngoingOperationError:
            deletion.last = "busy with another operation"
            if not await self._wait_out(deletion):
                await self._pause(deletion)
            return "busy"
        if going is None:
            # A 404 (or a resend after an ambiguous failure that met one).
            deletion.refused_at = anyio.current_time()
            deletion.last = _NOT_FOUND
            return "refused"
        accepted_at = anyio.current_time()
        deletion.accepted, deletion.submitted = True, accepted_at
        deletion.deadline = max(deletion.deadline, accepted_at + deletion.limit)
        deletion.name = deletion.name or going.name
        if deletion.refused_at > -math.inf:
            # It answered 404 then took the delete: the 404s were the window's.
            self._learn_window(instance_id, deletion.refused_at)
        return "accepted"

    def _watch_deletion(self, deletion: _Deletion) -> Awaitable[object]:
        """Return the wait on the poller for the deletion under way to end (await it)."""
        return self._await(
            deletion.instance_id,
            functools.partial(self.get, deletion.instance_id),
            self._target(Operation.DELETE),
            name=deletion.name,
            submitted=deletion.submitted,
            timeout=max(0.0, deletion.deadline - anyio.current_time()),
            cohort=deletion.cohort,
        )

    async def _refused_yet_listed(self, deletion: _Deletion) -> bool:
        """Look at an instance whose DELETE answered 404 while a listing still shows it.

        Someone else is deleting it (then that deletion is waited for), or it is still
        inside its creation's 404 window, which is then longer than allowed for (learnt,
        and slept out). Returns True to look again at once, False to pause first.

        Raises:
            WaitTimeoutError: the deadline comes first.
            AuraError: reading the instance failed.
        """
        instance_id = deletion.instance_id
        try:
            current = await self.get(instance_id)
        except NotFoundError:
            missing_at = anyio.current_time()
            later = -math.inf
            if self._learn_window(instance_id, missing_at):
                window = self._watcher.not_found_window()
                later = self._sightings.trusted_from(
                    instance_id, window=window, otherwise=deletion.began
                )
            if later > missing_at:
                deletion.last = "not found, but listed (inside its creation's 404 window)"
                await self._sleep_until(min(later, deletion.deadline), deletion)
                return True
            return False  # (nothing learnt moves it: pause like any other look)
        if current.status in (InstanceStatus.DESTROYING, InstanceStatus.DELETING):
            # Someone else's delete is under way: wait for it to end.
            deletion.accepted, deletion.submitted = True, None
            return True
        deletion.last = f"{current.status}, and a delete answered 404"
        return False

    async def _wait_out(self, deletion: _Deletion) -> bool:
        """Wait for the operation in flight (a 409) to end; True when the DELETE may go at once.

        Polls are reads, which the rate limiter sends after mutations: cheaper than sending
        the DELETE again and again while a create runs its course. False (the caller pauses
        before it deletes again) when the status shows no operation to wait for, or the
        instance answers 404 meanwhile.

        Without a timeout chosen by the caller, the operation in flight may take as long as
        its own policy timeout (a clone of a large snapshot can outlast a delete's), and the
        delete's own time counts again once it ended: a rollback must not give up on an
        instance still being created.

        Raises:
            WaitTimeoutError: the deadline (or the operation's own timeout) passed first.
        """
        instance_id = deletion.instance_id
        try:
            current = await self.get(instance_id)
        except NotFoundError:
            return False
        status = str(current.status)
        operation = _UNDER_WAY.get(status)
        if operation is None:
            return False
        limit = max(0.0, deletion.deadline - anyio.current_time())
        if not deletion.chosen:
            limit = max(limit, self._watcher.policy.timeout(operation))
        try:
            await self._wait_for(
                instance_id, operation, name=current.name, timeout=limit, cohort=deletion.cohort
            )
        except WaitFailedError as failed:
            # Ended some other way: loading failed, say, and the DELETE may go now; or not
            # found (then the caller pauses first).
            self._after_waiting_out(deletion)
            return failed.last_status != _NOT_FOUND
        except WaitTimeoutError:
            elapsed = anyio.current_time() - deletion.began
            raise _not_proven(instance_id, f"still {status}", elapsed) from None
        self._after_waiting_out(deletion)
        return True

    @staticmethod
    def _after_waiting_out(deletion: _Deletion) -> None:
        """The operation in flight ended: without a chosen timeout, the delete's own time
        counts from now."""
        if not deletion.chosen:
            deletion.deadline = max(deletion.deadline, anyio.current_time() + deletion.limit)

    async def _pause(self, deletion: _Deletion) -> None:
        """Sleep the deletion's pause (jittered) before looking again; lengthen the next.

        Raises:
            WaitTimeoutError: the deadline comes first.
        """
        wake = anyio.current_time() + deletion.pause * random.uniform(1.0, 1.25)
        await self._sleep_until(min(wake, deletion.deadline), deletion)
        deletion.pause = min(deletion.pause * 2, self._watcher.policy.max_interval)

    async def _sleep_until(self, when: float, deletion: _Deletion) -> None:
        """Sleep until ``when``; past the deadline, give up.

        Raises:
            WaitTimeoutError: the deadline has passed (or ``when`` is the deadline).
        """
        now = anyio.current_time()
        if now >= deletion.deadline or when >= deletion.deadline:
            await anyio.sleep(max(0.0, deletion.deadline - now))
            elapsed = anyio.current_time() - deletion.began
            raise _not_proven(deletion.instance_id, deletion.last, elapsed)
        await anyio.sleep(max(0.0, when - now))


def _not_proven(instance_id: str, last: str, elapsed: float) -> WaitTimeoutError:
    """The error of a delete whose instance could not be proven gone in time."""
    return WaitTimeoutError(
        f"Deleting {instance_id}: not proven gone after {elapsed:.1f}s (last seen: {last}); "
        "it may still exist",
        resource_id=instance_id,
        operation=Operation.DELETE.value,
        last_status=last,
        elapsed=elapsed,
    )
