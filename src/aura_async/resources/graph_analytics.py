"""``aura.graph_analytics``: Graph Analytics (GDS) sessions, standalone or on an instance."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence

import anyio

from aura_async._durations import format_go_duration
from aura_async._validation import (
    check_count,
    check_duration,
    check_enum,
    check_id,
    check_instance_id,
    check_size,
    check_strings,
    check_text,
)
from aura_async.errors import ValidationError
from aura_async.lifecycle.operations import Operation
from aura_async.models import CloudProvider, DeletedSession, GraphAnalyticsSession, SessionSizing
from aura_async.resources._base import ACTION, READ, Resource, body, check_timeout

__all__ = ["GraphAnalytics"]


def _go_duration(ttl: object) -> str:
    if isinstance(ttl, str):
        return check_duration(ttl, "ttl")
    if not isinstance(ttl, dt.timedelta):
        raise ValidationError(
            f"ttl must be a datetime.timedelta or a duration such as 30m; got {ttl!r}",
            field="ttl",
        )
    seconds = int(ttl.total_seconds())
    if seconds <= 0 or ttl.total_seconds() != seconds:
        raise ValidationError("ttl must be a positive whole number of seconds", field="ttl")
    return format_go_duration(ttl)


class GraphAnalytics(Resource):
    """Graph Analytics sessions (``/graph-analytics/sessions``)."""

    async def list(
        self,
        *,
        instance_id: str | None = None,
        tenant_id: str | None = None,
        organization_id: str | None = None,
    ) -> builtins.list[GraphAnalyticsSession]:
        """List sessions, optionally of one instance, project or organization.

        Raises:
            AuraError: on any failure.
        """
        params: dict[str, str] = {}
        if instance_id is not None:
            params["instanceId"] = check_instance_id(instance_id)
        tenant = self._default_tenant(tenant_id)
        if tenant is not None:
            params["tenantId"] = tenant
        if organization_id is not None:
            params["organizationId"] = check_id(organization_id, "organization_id")
        return await self._call(
            "GET",
            "/graph-analytics/sessions",
            list[GraphAnalyticsSession],
            kind=READ,
            params=params or None,
        )

    async def get(self, session_id: str) -> GraphAnalyticsSession:
        """Return a session with its status (Creating, Ready, Expired, Failed).

        Raises:
            NotFoundError: no such session.
            AuraError: on any other failure.
        """
        check_id(session_id, "session_id")
        return await self._call(
            "GET", f"/graph-analytics/sessions/{session_id}", GraphAnalyticsSession, kind=READ
        )

    async def create(
        self,
        *,
        name: str,
        memory: str,
        ttl: dt.timedelta | str | None = None,
        instance_id: str | None = None,
        database_uuid: str | None = None,
        tenant_id: str | None = None,
        cloud_provider: CloudProvider | str | None = None,
        region: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> GraphAnalyticsSession:
        """Get or create a session by name: the same name and parameters return the existing one.

        Attach it to an instance with ``instance_id``, or make it standalone with
        ``cloud_provider`` and ``region`` (in the client's project unless ``tenant_id``).
        ``ttl`` is how long an idle session lives: a ``timedelta`` of whole seconds or a Go
        duration such as ``"30m"`` or ``"1h30m"`` (the service's default is one hour).

        Raises:
            ValidationError: invalid input; nothing was sent.
            ConflictError: a session of that name exists with other parameters.
            AuraError: on any other failure.
        """
        check_text(name, "name")
        check_size(memory, "memory")
        check_timeout(timeout)
        cloud: str | None = None
        if instance_id is not None:
            check_instance_id(instance_id)
            tenant = check_id(tenant_id, "tenant_id") if tenant_id is not None else None
        else:
            if cloud_provider is None or region is None:
                raise ValidationError(
                    "a standalone session needs cloud_provider and region (or pass instance_id)",
                    field="cloud_provider" if cloud_provider is None else "region",
                )
            cloud = check_enum(cloud_provider, CloudProvider, "cloud_provider").value
            check_text(region, "region")
            tenant = None
        ttl_text = _go_duration(ttl) if ttl is not None else None
        if database_uuid is not None:
            check_text(database_uuid, "database_uuid")
        if instance_id is None:
            # Last: without a project named, finding the account's only one sends a listing.
            tenant = await self._resolve_tenant(tenant_id)
        payload = body(
            name=name,
            memory=memory,
            ttl=ttl_text,
            instance_id=instance_id,
            database_uuid=database_uuid,
            tenant_id=tenant,
            cloud_provider=cloud,
            region=region if instance_id is None else None,
        )
        # Get-or-create by name is safe to resend: a second call returns the first session.
        session = await self._call(
            "POST", "/graph-analytics/sessions", GraphAnalyticsSession, kind=ACTION, json=payload
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        if not wait or timeout == 0:
            return session
        return await self.wait(session.id, name=name, submitted=submitted, timeout=timeout)

    async def wait(
        self,
        session_id: str,
        *,
        name: str | None = None,
        submitted: float | None = None,
        timeout: float | None = None,
    ) -> GraphAnalyticsSession:
        """Wait until a session is Ready, on the client's shared poller.

        Raises:
            WaitFailedError: the session Failed or Expired.
            WaitTimeoutError: the timeout passed.
            WaitCancelledError: the client was closed.
        """
        check_id(session_id, "session_id")
        result = await self._await(
            session_id,
            lambda: self.get(session_id),
            self._target(Operation.SESSION),
            name=name,
            submitted=submitted,
            timeout=timeout,
        )
        assert isinstance(result, GraphAnalyticsSession)
        return result

    async def delete(self, session_id: str) -> DeletedSession:
        """Delete a session.

        Raises:
            NotFoundError: no such session.
            AuraError: on any other failure.
        """
        check_id(session_id, "session_id")
        path = f"/graph-analytics/sessions/{session_id}"
        data = await self._pipeline.request("DELETE", path, kind=ACTION)
        if data is None:  # a resend after a lost answer found it gone: our first attempt did it
            return DeletedSession(id=session_id)
        return self._parse(data, DeletedSession, "DELETE", path)

    async def sizing(
        self,
        *,
        node_count: int,
        relationship_count: int,
        node_property_count: int | None = None,
        node_label_count: int | None = None,
        relationship_property_count: int | None = None,
        algorithm_categories: Sequence[str] = (),
    ) -> SessionSizing:
        """Estimate the memory a session needs for a graph of this size.

        Raises:
            ValidationError: negative or non-integer counts; nothing was sent.
            AuraError: on any other failure.
        """
        counts = {
            "node_count": check_count(node_count, "node_count"),
            "relationship_count": check_count(relationship_count, "relationship_count"),
            "node_property_count": node_property_count,
            "node_label_count": node_label_count,
            "relationship_property_count": relationship_property_count,
        }
        for field, value in counts.items():
            if value is not None:
                check_count(value, field)
        categories = check_strings(algorithm_categories, "algorithm_categories")
        payload = body(**counts, algorithm_categories=categories or None)
        return await self._call(
            "POST", "/graph-analytics/sessions/sizing", SessionSizing, kind=ACTION, json=payload
        )
