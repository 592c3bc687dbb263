"""JSON shapes of the emulated API: how each stored record is rendered in an answer.

Which optional fields appear follows the spec's notes: ``storage`` not for AuraDB Free,
``graph_nodes``/``graph_relationships`` only for Free, ``secondaries_count`` only for VDC
(``enterprise-db``), ``cdc_enrichment_mode`` only for VDC and Business Critical.
"""

from __future__ import annotations

from typing import Any

from aura_async.emulator.backend import CreatedInstance, format_go_duration, iso
from aura_async.emulator.records import (
    InstanceRecord,
    KeyRecord,
    ProjectRecord,
    SessionRecord,
    SnapshotRecord,
)

__all__ = [
    "created_instance",
    "instance",
    "instance_summary",
    "key",
    "key_summary",
    "project",
    "project_summary",
    "session",
    "snapshot",
]

_METRICS_TYPES = ("enterprise-db", "enterprise-ds", "business-critical")


def _connection_url(record: InstanceRecord, bolt: str | None) -> str | None:
    if record.null_connection_url and (
        not record.null_connection_url_until_running or record.status == "creating"
    ):
        return None
    if bolt is not None:
        # The emulator's own Bolt listener: one port for every instance, the instance named
        # in the routing context (the driver sends URI query parameters with every HELLO).
        return f"neo4j://{bolt}?instance={record.id}"
    return f"neo4j+s://{record.id}.databases.neo4j.io"


def instance(record: InstanceRecord, bolt: str | None = None) -> dict[str, Any]:
    """Render an instance as ``GET /instances/{id}`` does.

    ``bolt`` is the Bolt listener's address while one serves (``AuraBackend.bolt_address``):
    ``connection_url`` then points there rather than at Aura's hosts.
    """
    data: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "status": record.status,
        "tenant_id": record.tenant_id,
        "cloud_provider": record.cloud_provider,
        "connection_url": _connection_url(record, bolt),
        "region": record.region,
        "type": record.type,
        "memory": record.memory,
        "created_at": iso(record.created_at),
        "vector_optimized": record.vector_optimized,
        "graph_analytics_plugin": record.graph_analytics_plugin,
    }
    if record.memory_missing_while_deleting and record.status in ("destroying", "deleting"):
        del data["memory"]
    if record.type == "free-db":
        data["graph_nodes"] = "0"
        data["graph_relationships"] = "0"
    else:
        data["storage"] = record.storage
    if record.type in _METRICS_TYPES:
        data["metrics_integration_url"] = (
            f"https://customer-metrics-api.neo4j.io/api/v1/{record.tenant_id}/{record.id}/metrics"
        )
    if record.type == "enterprise-db":
        data["secondaries_count"] = record.secondaries_count
    if record.type in ("enterprise-db", "business-critical"):
        data["cdc_enrichment_mode"] = record.cdc_enrichment_mode
    if record.customer_managed_key_id is not None:
        data["customer_managed_key_id"] = record.customer_managed_key_id
    return data


def instance_summary(record: InstanceRecord) -> dict[str, Any]:
    """Render an item of ``GET /instances``: no status, as the live service."""
    return {
        "id": record.id,
        "name": record.name,
        "tenant_id": record.tenant_id,
        "cloud_provider": record.cloud_provider,
        "created_at": iso(record.created_at),
    }


def created_instance(created: CreatedInstance, bolt: str | None = None) -> dict[str, Any]:
    """Render the 202 answer of a create: the only place the password ever appears.

    ``bolt`` is as for :func:`instance`.
    """
    record = created.instance
    return {
        "id": record.id,
        "connection_url": _connection_url(record, bolt),
        "username": created.username,
        "password": created.password,
        "tenant_id": record.tenant_id,
        "cloud_provider": record.cloud_provider,
        "region": record.region,
        "type": record.type,
        "name": record.name,
        "created_at": iso(record.created_at),
        "vector_optimized": record.vector_optimized,
        "graph_analytics_plugin": record.graph_analytics_plugin,
    }


def project_summary(record: ProjectRecord) -> dict[str, Any]:
    """Render an item of ``GET /tenants``."""
    return {"id": record.id, "name": record.name}


def project(record: ProjectRecord) -> dict[str, Any]:
    """Render ``GET /tenants/{id}`` with its instance configurations."""
    return {
        "id": record.id,
        "name": record.name,
        "instance_configurations": [c.to_json() for c in record.configurations],
    }


def snapshot(record: SnapshotRecord, now: float) -> dict[str, Any]:
    """Render a snapshot as it stands at ``now``."""
    return {
        "instance_id": record.instance_id,
        "snapshot_id": record.snapshot_id,
        "profile": record.profile,
        "status": record.status(now),
        "timestamp": iso(record.started_at),
        "exportable": record.exportable,
    }


def key(record: KeyRecord, now: float) -> dict[str, Any]:
    """Render a customer managed key as it stands at ``now``."""
    return {
        "id": record.id,
        "name": record.name,
        "created": iso(record.created),
        "cloud_provider": record.cloud_provider,
        "key_id": record.key_id,
        "region": record.region,
        "type": record.instance_type,
        "instance_type": record.instance_type,
        "tenant_id": record.tenant_id,
        "status": record.status(now),
    }


def key_summary(record: KeyRecord) -> dict[str, Any]:
    """Render an item of ``GET /customer-managed-keys``."""
    return {"id": record.id, "name": record.name, "tenant_id": record.tenant_id}


def session(record: SessionRecord, now: float, *, just_created: bool = False) -> dict[str, Any]:
    """Render a graph-analytics session at ``now``.

    A session in its creation answer reports an empty status, and ``ttl`` is a Go duration
    string (``20m0s``), as the live service sends it although the spec types it integer.
    """
    status = "" if just_created else record.status(now)
    ready = status in ("Ready", "Expired")
    return {
        "id": record.id,
        "name": record.name,
        "memory": record.memory,
        "instance_id": record.instance_id,
        "database_uuid": record.database_uuid,
        "status": status,
        "created_at": iso(record.created_at),
        "host": record.host,
        "expiry_date": iso(record.expires_at) if ready else None,
        "ttl": format_go_duration(record.ttl) if not just_created else None,
        "user_id": record.user_id,
        "tenant_id": record.tenant_id,
        "cloud_provider": record.cloud_provider,
        "region": record.region,
    }
