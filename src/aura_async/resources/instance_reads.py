"""What the client sees of instances: listings, reads, the waits built on reads, and the
not-found window (when a 404 for an instance means it is gone)."""

from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Awaitable, Callable

import anyio

from aura_async._http.pipeline import Pipeline
from aura_async._validation import check_instance_id
from aura_async.errors import AuraError, NotFoundError, ValidationError
from aura_async.lifecycle.operations import Operation, Target
from aura_async.lifecycle.watcher import Watcher
from aura_async.models import Instance, InstanceSummary
from aura_async.resources._base import READ, Resource
from aura_async.resources._sightings import Listings, Sightings

__all__ = ["InstanceReads"]


class InstanceReads(Resource):
    """The reads of :class:`~aura_async.resources.instances.Instances`, and what its waits
    and deletes make of a 404: when the client first saw each instance (its sightings), the
    listings its callers share, the window in which a young instance may answer 404."""

    def __init__(self, pipeline: Pipeline, watcher: Watcher) -> None:
        super().__init__(pipeline, watcher)
        self._sightings = Sightings()
        self._listings = Listings(self._fetch_list)

    async def list(
        self, tenant_id: str | None = None, *, sent_after: float | None = None
    ) -> builtins.list[InstanceSummary]:
        """List instance summaries (no status: get each instance for that).

        Args:
            tenant_id: only this project's; defaults to the client's project, or all
                projects when the client has none.
            sent_after: a monotonic time (``anyio.current_time()``): any listing of the
                project started since then will do, one in flight included, so concurrent
                callers that only need the project's state after some moment (a fleet's
                items, each confirming a 404) share one request.

        Raises:
            ValidationError: a malformed project id or ``sent_after``; nothing was sent.
            AuraError: on any other failure.
        """
        tenant = self._default_tenant(tenant_id)
        if sent_after is None:
            return await self._fetch_list(tenant)
        if (
            isinstance(sent_after, bool)
            or not isinstance(sent_after, int | float)
            or not math.isfinite(sent_after)
        ):
            raise ValidationError(
                f"sent_after must be a moment of anyio.current_time(); got {sent_after!r}",
                field="sent_after",
            )
        return await self._listings.sent_after(tenant, sent_after)

    async def _fetch_list(self, tenant: str | None) -> builtins.list[InstanceSummary]:
        """One listing request: of ``tenant``'s instances, or of every project's when None."""
        params = {"tenantId": tenant} if tenant else None
        listed = await self._call(
            "GET", "/instances", list[InstanceSummary], kind=READ, params=params
        )
        self._sightings.saw_listed(listed)
        return listed

    async def get(self, instance_id: str) -> Instance:
        """Return an instance with its current status.

        Raises:
            NotFoundError: no such instance (a just-created one may briefly be missing).
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        found = await self._call("GET", f"/instances/{instance_id}", Instance, kind=READ)
        self._sightings.saw_one(found)
        return found

    def not_found_counts_from(self, instance_id: str) -> float:
        """The time (``anyio.current_time()``) from which a 404 for this instance means gone.

        Live Aura answers 404 for a just-created instance for a while: a 404 before this
        time proves nothing, and the call that met it may be sent again then. For an
        instance this client never saw, or one older than that window, it is ``-inf``.

        Raises:
            ValidationError: a malformed id.
        """
        check_instance_id(instance_id)
        window = self._watcher.not_found_window()
        return self._sightings.trusted_from(instance_id, window=window, otherwise=-math.inf)

    async def _still_listed(self, instance_id: str, after: float, *, gather: float = 0.0) -> bool:
        """Whether a listing sent no earlier than ``after`` (shared) still shows the instance.

        Its project's listing, or every project's for an instance never seen.

        Raises:
            AuraError: the listing failed.
        """
        sighting = self._sightings.get(instance_id)
        tenant = sighting.tenant_id if sighting is not None else None
        listed = await self._listings.sent_after(tenant, after, gather=gather)
        return any(s.id == instance_id for s in listed)

    def _learn_window(self, instance_id: str, missing_at: float) -> bool:
        """Learn from a young instance that still answered 404 at ``missing_at``.

        It existed before it was first seen, so the window is at least that long; but only
        for an instance not known to be older than the window (an old one's 404 is no
        window's; and the watcher learns no more than a create's timeout). (Its stated age
        bounds nothing here: under a compressed or skewed clock it may read as younger than
        the time this client has known it.) Returns whether it taught anything.
        """
        sighting = self._sightings.get(instance_id)
        if sighting is None:
            return False
        window = self._watcher.not_found_window()
        if self._sightings.trusted_from(instance_id, window=window, otherwise=0.0) == -math.inf:
            return False
        self._watcher.saw_not_found(missing_at - sighting.first_seen)
        return True

    def _wait_for(
        self,
        instance_id: str,
        operation: Operation,
        *,
        memory: str | None = None,
        storage: str | None = None,
        name: str | None = None,
        submitted: float | None = None,
        timeout: float | None = None,
        cohort: bool = False,
    ) -> Awaitable[object]:
        """Return the wait for ``operation`` (any but a delete) to be done (await it).

        The arguments are checked already (:meth:`Instances.wait`); a plain function, as
        :meth:`_await` is, so that a parked wait keeps no frame of its own. Awaited, it gives
        the watcher's last reading (the instance, as an :class:`Instance`, when it has one).

        Raises:
            ValidationError: a negative timeout (at once, before anything is awaited).
            WaitError: (when awaited) failed, timed out or cancelled by closing the client.
        """
        target = self._target(operation, memory=memory, storage=storage)
        fetch: Callable[[], Awaitable[Instance]] = functools.partial(self.get, instance_id)
        if operation is Operation.CREATE:
            started = anyio.current_time() if submitted is None else submitted
            fetch = self._found_or_listed(instance_id, target, started)
        return self._await(
            instance_id,
            fetch,
            target,
            name=name,
            submitted=submitted,
            timeout=timeout,
            cohort=cohort,
        )

    def _found_or_listed(
        self, instance_id: str, target: Target, started: float
    ) -> Callable[[], Awaitable[Instance]]:
        """A create wait's poll, which looks again before a 404 can end the wait.

        A 404 past the grace (the not-found window after the first poll) is checked against
        a listing: an instance still listed exists, so it is inside its creation's 404
        window, which is then at least as long as it has been known: the window is learnt
        (and the wait, judged against it, goes on). The 404 is the poll's answer either way.
        """

        async def fetch() -> Instance:
            try:
                return await self.get(instance_id)
            except NotFoundError as missing:
                now = anyio.current_time()
                window = self._watcher.not_found_window()
                if now - started >= target.not_found_grace + window:
                    try:
                        listed = await self._still_listed(instance_id, now)
                    except AuraError:
                        raise missing from None  # (no better knowledge: the 404 stands)
                    if listed:
                        self._learn_window(instance_id, anyio.current_time())
                raise

        return fetch
