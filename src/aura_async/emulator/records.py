"""The emulator's stored state: projects, instances, snapshots, keys and sessions.

Records are plain mutable attrs classes owned by the backend. Statuses that only depend on
time (snapshots, keys, sessions) are derived from timestamps when read, so nothing needs a
background task; instances carry at most one operation in flight, completed lazily by the
backend whenever the instance is looked at.
"""

from __future__ import annotations

import attrs

from aura_async.emulator.catalog import InstanceConfiguration

__all__ = [
    "REACHABLE_STATUSES",
    "InstanceRecord",
    "KeyRecord",
    "Operation",
    "ProjectRecord",
    "SessionRecord",
    "SnapshotRecord",
]


#: The statuses in which an instance's database answers its clients: running, and the online
#: operations (an update or a resize changes a running database without taking it down).
REACHABLE_STATUSES = frozenset({"running", "updating", "resizing"})


@attrs.define
class ProjectRecord:
    """A project and the configurations it may create."""

    id: str
    name: str
    configurations: tuple[InstanceConfiguration, ...]
    max_instances: int
    max_free_instances: int
    billing_details: bool


@attrs.define
class Operation:
    """An asynchronous change in flight on an instance.

    While it runs the instance shows ``status``; at ``ends_at`` the backend applies
    ``changes`` and sets ``final_status`` (or removes the instance, for a delete).
    """

    kind: str
    status: str
    ends_at: float
    final_status: str
    changes: dict[str, object] = attrs.Factory(dict)


@attrs.define
class InstanceRecord:
    """One database instance."""

    id: str
    name: str
    tenant_id: str
    type: str
    cloud_provider: str
    region: str
    memory: str
    storage: str
    version: str
    created_at: float
    status: str
    operation: Operation | None = None
    customer_managed_key_id: str | None = None
    vector_optimized: bool = False
    graph_analytics_plugin: bool = False
    secondaries_count: int = 0
    cdc_enrichment_mode: str = "OFF"
    # Fault decisions, drawn once at create time.
    hidden_until: float = 0.0
    null_connection_url: bool = False
    null_connection_url_until_running: bool = False
    memory_missing_while_deleting: bool = False
    # When a running AuraDB Free instance pauses itself for being idle (0 = never).
    auto_pause_at: float = 0.0
    deleting_word: str = "destroying"
    # When the instance last became running from a status in which it was not reachable
    # (the end of a create, resume, overwrite, restore); None until then. The Bolt listener
    # counts its delay from here.
    running_since: float | None = None
    # The one-time password of the create answer, kept so the Bolt listener can check a
    # LOGON; never shown in a repr.
    password: str = attrs.field(default="", repr=False)

    @property
    def busy(self) -> bool:
        """Whether an operation is in flight."""
        return self.operation is not None


@attrs.define
class SnapshotRecord:
    """A snapshot of an instance; its status follows from the time."""

    snapshot_id: str
    instance_id: str
    profile: str
    started_at: float
    in_progress_at: float
    done_at: float
    fails: bool
    exportable: bool

    def status(self, now: float) -> str:
        """Return Pending, InProgress, Completed or Failed at ``now``."""
        if now < self.in_progress_at:
            return "Pending"
        if now < self.done_at:
            return "InProgress"
        return "Failed" if self.fails else "Completed"


@attrs.define
class KeyRecord:
    """A customer managed key; pending until ``ready_at``."""

    id: str
    name: str
    tenant_id: str
    cloud_provider: str
    region: str
    instance_type: str
    key_id: str
    created: float
    ready_at: float

    def status(self, now: float) -> str:
        """Return pending or ready at ``now``."""
        return "ready" if now >= self.ready_at else "pending"


@attrs.define
class SessionRecord:
    """A graph-analytics session: Creating, then Ready for ``ttl`` seconds, then Expired."""

    id: str
    name: str
    memory: str
    tenant_id: str
    user_id: str
    host: str
    cloud_provider: str
    region: str
    created_at: float
    ready_at: float
    ttl: float
    fails: bool
    instance_id: str | None = None
    database_uuid: str | None = None

    @property
    def expires_at(self) -> float:
        """When the session expires if left idle."""
        return self.ready_at + self.ttl

    def status(self, now: float) -> str:
        """Return Creating, Ready, Expired or Failed at ``now``."""
        if now < self.ready_at:
            return "Creating"
        if self.fails:
            return "Failed"
        return "Ready" if now < self.expires_at else "Expired"
