"""Graph-analytics sessions: attached to an instance or standalone, got or created by name."""

from __future__ import annotations

import math

from aura_async.emulator.backend.checks import (
    _bad,
    _categories,
    _choice,
    _count,
    _object,
    _optional,
    _text,
)
from aura_async.emulator.backend.core import CLOUD_PROVIDERS, ORGANIZATION_ID, BackendCore
from aura_async.emulator.backend.formats import parse_go_duration
from aura_async.emulator.catalog import SESSION_MEMORY_SIZES, gigabytes
from aura_async.emulator.errors import ApiError
from aura_async.emulator.records import SessionRecord

USER_ID = "emulator-user"
DEFAULT_SESSION_TTL = 3600.0


def _ttl(text: str | None) -> float:
    """The session lifetime a request's ``ttl`` asks for, in seconds (an hour when absent).

    Raises:
        ApiError: 400 when it is not a positive Go duration.
    """
    if text is None:
        return DEFAULT_SESSION_TTL
    parsed = parse_go_duration(text)
    if parsed is None or parsed <= 0:
        raise _bad(f"ttl must be a duration such as 30m or 1h; got {text!r}", "ttl")
    return parsed


class SessionsMixin(BackendCore):
    """The rules of the graph-analytics session routes."""

    def list_sessions(
        self, instance_id: str | None, tenant_id: str | None, organization_id: str | None
    ) -> list[SessionRecord]:
        """Return graph-analytics sessions matching the filters.

        Raises:
            ApiError: 404 for an unknown instance or project.
        """
        if instance_id is not None:
            self._live_instance(instance_id)
        if tenant_id is not None:
            self._project(tenant_id)
        if organization_id is not None and organization_id != ORGANIZATION_ID:
            return []
        self.settle_all()
        return [
            s
            for s in self.sessions.values()
            if (instance_id is None or s.instance_id == instance_id)
            and (tenant_id is None or s.tenant_id == tenant_id)
        ]

    def create_session(self, raw: object) -> tuple[bool, SessionRecord]:
        """Get or create a session by name within a project; return (created, session).

        Raises:
            ApiError: 400 for invalid input; 409 (empty reason) when a live session of that
                name exists with other parameters.
        """
        body = _object(raw)
        name = _text(body, "name")
        memory = _text(body, "memory")
        _choice(memory, SESSION_MEMORY_SIZES, "memory")
        ttl = _ttl(_optional(body, "ttl"))
        instance_id = _optional(body, "instance_id")
        database_uuid = _optional(body, "database_uuid")
        tenant_id = _optional(body, "tenant_id")
        cloud = _optional(body, "cloud_provider")
        region = _optional(body, "region")
        if instance_id:
            instance = self.instances.get(instance_id)
            if instance is None or not self._settle(instance, self.now()):
                raise _bad(f"DB not found: {instance_id}", "instance_id", "db-not-found")
            if tenant_id is not None and tenant_id != instance.tenant_id:
                raise _bad(
                    f"Instance {instance_id} does not belong to project {tenant_id}", "tenant_id"
                )
            tenant_id = instance.tenant_id
            cloud, region = instance.cloud_provider, instance.region
        else:
            instance_id = None
            for field, value in (
                ("tenant_id", tenant_id),
                ("cloud_provider", cloud),
                ("region", region),
            ):
                if not value:
                    raise _bad(f"{field} is required for a standalone session", field)
        project = self._project_in_body(tenant_id)
        _choice(cloud, CLOUD_PROVIDERS, "cloud_provider")
        if not self._configs(project, cloud=cloud, region=region):
            raise _bad(f"Region {region} is not available on {cloud}", "region")

        now = self.now()
        existing = self._same_name_session(now, name, tenant_id, memory, instance_id, cloud, region)
        if existing is not None:
            return False, existing

        if instance_id is not None:
            session_id = f"{instance_id}-{self._hex(8)}"
        else:
            session_id = f"s-{self._hex(8)}-{self._hex(4)}-{self._hex(1)}"
        session = SessionRecord(
            id=session_id,
            name=name,
            memory=memory,
            tenant_id=tenant_id,
            user_id=USER_ID,
            host=f"{session_id}-gds.{region}.{cloud}.sessions.neo4j.io",
            cloud_provider=cloud,
            region=region,
            created_at=now,
            ready_at=now + self._duration("session"),
            ttl=ttl,
            fails=self.draw(self.faults.session_failure),
            instance_id=instance_id,
            database_uuid=database_uuid or (self._uuid() if instance_id else None),
        )
        self.sessions[session.id] = session
        return True, session

    def _same_name_session(
        self,
        now: float,
        name: str,
        tenant_id: str,
        memory: str,
        instance_id: str | None,
        cloud: str,
        region: str,
    ) -> SessionRecord | None:
        """The live session of this name in the project, when it asks for the same things.

        Raises:
            ApiError: 409 (empty reason) when one exists with other parameters.
        """
        for existing in self.sessions.values():
            if existing.name != name or existing.tenant_id != tenant_id:
                continue
            if existing.status(now) in ("Expired", "Failed"):
                continue
            diffs = []
            if existing.memory != memory:
                diffs.append(f"Memory (is: {existing.memory}, requested: {memory})")
            if existing.instance_id != instance_id:
                diffs.append(
                    f"InstanceId (is: {existing.instance_id or ''}, requested: {instance_id or ''})"
                )
            if instance_id is None and (existing.cloud_provider, existing.region) != (
                cloud,
                region,
            ):
                diffs.append(f"Region (is: {existing.region}, requested: {region})")
            if diffs:
                raise ApiError(
                    409,
                    f"session `{name}` already exists for project `{tenant_id}` "
                    f"with different parameters: {', '.join(diffs)}",
                    "",
                )
            return existing
        return None

    def get_session(self, session_id: str) -> SessionRecord:
        """Return one session.

        Raises:
            ApiError: 404 with an empty reason, as the live service answers.
        """
        self.settle_all()  # a finished instance delete takes its sessions with it
        session = self.sessions.get(session_id)
        if session is None:
            raise ApiError(404, f"session with id `{session_id}` not found", "")
        return session

    def delete_session(self, session_id: str) -> str:
        """Delete a session; return its id.

        Raises:
            ApiError: 404 with an empty reason.
        """
        self.get_session(session_id)
        del self.sessions[session_id]
        return session_id

    def session_sizing(self, raw: object) -> dict[str, str]:
        """Estimate the memory a session for a graph of the given size needs.

        Raises:
            ApiError: 400 for missing or invalid counts.
        """
        body = _object(raw)
        nodes = _count(body, "node_count")
        rels = _count(body, "relationship_count")
        extra = [
            _optional(body, f, int) or 0
            for f in ("node_property_count", "node_label_count", "relationship_property_count")
        ]
        factor = 1.0 + 0.5 * len(_categories(body))
        props_nodes, labels, props_rels = extra
        bytes_needed = nodes * (40 + 8 * props_nodes + 4 * labels) + rels * (30 + 8 * props_rels)
        estimate = max(1, math.ceil(bytes_needed * 2 * factor / 1e9))
        sizes = [gigabytes(s) or 0 for s in SESSION_MEMORY_SIZES]
        recommended = next((s for s in sizes if s >= estimate), sizes[-1])
        return {"estimated_memory": f"{estimate}GB", "recommended_size": f"{recommended}GB"}
