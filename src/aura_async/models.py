"""The Aura API's answers as attrs models, and enums that tolerate values they don't know.

Every model is a frozen, slotted attrs class whose field names are the API's own snake_case
JSON names, so that one converter (:mod:`aura_async._serde`) maps answers onto them with no
renames. The models hold no serialization code: parsing rules (timestamps, Go durations,
numbers sent as strings) live in the converter.

Conventions:

- A field the API may leave out is optional and defaults to ``None``.
- Timestamps are timezone-aware :class:`~datetime.datetime` objects in UTC.
- Sizes stay strings as the API writes them (``"8GB"``); the API's own vocabulary for them is
  open-ended, and the project's ``instance_configurations`` list the valid ones.
- Collections are tuples, so that every model is immutable and hashable.

The enums are :class:`OpenEnum` subclasses: a value the SDK does not know (the live service
has sent statuses the spec never listed) becomes a pseudo-member that keeps the raw string,
instead of failing the whole answer.
"""

import datetime
import enum
from typing import Self, cast

import attrs

__all__ = [
    "CdcEnrichmentMode",
    "CloudProvider",
    "CreatedInstance",
    "CreatedSnapshot",
    "CustomerManagedKey",
    "CustomerManagedKeySummary",
    "DeletedSession",
    "GraphAnalyticsSession",
    "Instance",
    "InstanceConfiguration",
    "InstanceSizing",
    "InstanceStatus",
    "InstanceSummary",
    "InstanceType",
    "KeyStatus",
    "MetricsIntegration",
    "OpenEnum",
    "Project",
    "ProjectSummary",
    "SessionSizing",
    "SessionStatus",
    "Snapshot",
    "SnapshotProfile",
    "SnapshotStatus",
]


# Pseudo-members made for unknown values, one per (enum, value), so that two answers carrying
# the same new status give the same object. Kept outside the enum's own tables on purpose:
# putting them into ``_value2member_map_`` would make ``"x" in SomeEnum`` true once the value
# had been seen, and the enum's behaviour would depend on what the server sent earlier.
_PSEUDO_MEMBERS: dict[tuple[type["OpenEnum"], str], "OpenEnum"] = {}


class OpenEnum(enum.StrEnum):
    """A string enum that turns values it does not know into pseudo-members.

    ``SomeEnum("new value")`` returns an instance of ``SomeEnum`` whose ``value`` is the raw
    string and whose :attr:`known` is ``False``. It compares and hashes like its string (as
    every member of a ``str`` enum does), is not added to the enum's members (iteration,
    ``len`` and ``__members__`` are unchanged), and the same value always gives the same
    object. Only strings are accepted; anything else still raises :class:`ValueError`.

    As for every :class:`~enum.StrEnum`, ``str()`` and ``format()`` give the raw value, so a
    status prints as the API wrote it.
    """

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        """Make (or reuse) a pseudo-member for a string the enum does not list."""
        if not isinstance(value, str):
            return None
        key = (cls, value)
        existing = _PSEUDO_MEMBERS.get(key)
        if existing is not None:
            # The key holds the class, so the stored object is an instance of it.
            return cast(Self, existing)
        # The same construction the stdlib uses for Flag pseudo-members: an instance of the
        # mixed-in type, given the attributes every member has.
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        # setdefault keeps one object per value even if two threads race here.
        return cast(Self, _PSEUDO_MEMBERS.setdefault(key, member))

    @property
    def known(self) -> bool:
        """Whether this value is one the SDK lists (``False`` for a pseudo-member)."""
        return type(self)._value2member_map_.get(self._value_) is self

    def __repr__(self) -> str:
        """Show the member, marking values the SDK does not know."""
        if self.known:
            return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"
        return f"<{type(self).__name__} (unknown): {self._value_!r}>"


class InstanceStatus(OpenEnum):
    """The status of an instance.

    The spec lists creating to overwriting; ``resizing`` (after a memory change) and
    ``deleting`` were seen on the live service although the spec leaves them out. Operations
    such as resize, overwrite and restore start and end in ``running``, so a status alone does
    not prove an operation finished.
    """

    CREATING = "creating"
    DESTROYING = "destroying"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    SUSPENDING = "suspending"
    SUSPENDED = "suspended"
    RESUMING = "resuming"
    LOADING = "loading"
    LOADING_FAILED = "loading failed"
    RESTORING = "restoring"
    UPDATING = "updating"
    OVERWRITING = "overwriting"
    # Seen live, missing from the spec.
    RESIZING = "resizing"
    DELETING = "deleting"


class InstanceType(OpenEnum):
    """The tier of an instance. ``enterprise-db`` is Virtual Dedicated Cloud."""

    ENTERPRISE_DB = "enterprise-db"
    ENTERPRISE_DS = "enterprise-ds"
    BUSINESS_CRITICAL = "business-critical"
    PROFESSIONAL_DB = "professional-db"
    PROFESSIONAL_DS = "professional-ds"
    FREE_DB = "free-db"


class CloudProvider(OpenEnum):
    """The cloud that hosts an instance, key or session."""

    GCP = "gcp"
    AWS = "aws"
    AZURE = "azure"


class SnapshotStatus(OpenEnum):
    """The status of a snapshot: Pending, then InProgress, then Completed (or Failed)."""

    COMPLETED = "Completed"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    PENDING = "Pending"
    CANCELLED = "Cancelled"


class SnapshotProfile(OpenEnum):
    """Whether a snapshot was taken on request or by the schedule."""

    AD_HOC = "AdHoc"
    SCHEDULED = "Scheduled"


class KeyStatus(OpenEnum):
    """The status of a customer managed key: pending, then ready."""

    PENDING = "pending"
    READY = "ready"


class SessionStatus(OpenEnum):
    """The status of a graph-analytics session.

    :attr:`ACCEPTED` is the empty string the service reports right after creating a session,
    before it has a real status (the spec's own example shows ``null`` there; the converter
    reads that as :attr:`ACCEPTED` too).
    """

    ACCEPTED = ""
    CREATING = "Creating"
    READY = "Ready"
    EXPIRED = "Expired"
    FAILED = "Failed"


class CdcEnrichmentMode(OpenEnum):
    """The change-data-capture enrichment mode of a VDC or Business Critical instance."""

    OFF = "OFF"
    DIFF = "DIFF"
    FULL = "FULL"


# --------------------------------------------------------------------------- projects


@attrs.frozen(kw_only=True)
class ProjectSummary:
    """A project (tenant) as ``GET /tenants`` lists it."""

    id: str
    name: str


@attrs.frozen(kw_only=True)
class InstanceConfiguration:
    """One combination of tier, cloud, region, size and version a project may create."""

    region: str
    region_name: str
    type: InstanceType
    memory: str
    storage: str
    version: str
    cloud_provider: CloudProvider


@attrs.frozen(kw_only=True)
class Project:
    """A project (tenant) with the instance configurations it supports."""

    id: str
    name: str
    instance_configurations: tuple[InstanceConfiguration, ...]


@attrs.frozen(kw_only=True)
class MetricsIntegration:
    """The project's metrics-integration endpoint (a Prometheus scrape URL)."""

    endpoint: str


# --------------------------------------------------------------------------- instances


@attrs.frozen(kw_only=True)
class InstanceSummary:
    """An instance as ``GET /instances`` lists it: no status, so watching needs single GETs.

    ``created_at`` is optional because some recorded answers leave it out.
    """

    id: str
    name: str
    tenant_id: str
    cloud_provider: CloudProvider
    created_at: datetime.datetime | None = None


@attrs.frozen(kw_only=True)
class Instance:
    """An instance with its status, as ``GET /instances/{id}`` and the actions answer.

    Optional fields, and why they may be missing:

    - ``connection_url``: the live service sends ``null`` for some instances.
    - ``memory``: missing while the instance is being deleted; during a resize it still
      shows the old size until the resize has finished.
    - ``storage``: not sent for AuraDB Free.
    - ``graph_nodes``, ``graph_relationships``: only for AuraDB Free (sent as strings such as
      ``"0"``; parsed into ints).
    - ``secondaries_count``: only for Virtual Dedicated Cloud.
    - ``cdc_enrichment_mode``: only for Virtual Dedicated Cloud and Business Critical.
    - ``metrics_integration_url``, ``customer_managed_key_id``, ``vector_optimized``,
      ``graph_analytics_plugin``: only where the tier or the instance has them.
    - ``created_at``: required by the spec, but missing from some live answers.
    """

    id: str
    name: str
    status: InstanceStatus
    tenant_id: str
    cloud_provider: CloudProvider
    region: str
    type: InstanceType
    connection_url: str | None = None
    memory: str | None = None
    storage: str | None = None
    created_at: datetime.datetime | None = None
    metrics_integration_url: str | None = None
    customer_managed_key_id: str | None = None
    graph_nodes: int | None = None
    graph_relationships: int | None = None
    secondaries_count: int | None = None
    cdc_enrichment_mode: CdcEnrichmentMode | None = None
    vector_optimized: bool | None = None
    graph_analytics_plugin: bool | None = None


# Shown in place of a password; a fixed width, so that it does not reveal the length either.
_MASK = "********"


@attrs.frozen(kw_only=True)
class CreatedInstance:
    """The answer to creating an instance: the ONLY time the API shows its password.

    ``password`` is left out of ``repr()`` (and so of ``str()``, log lines and tracebacks
    that print the object); read it by name, or use :attr:`masked_password` for display.
    Unstructuring the object (:func:`aura_async._serde.unstructure`) does include it, since
    that is how it is stored: never unstructure it into a log.
    """

    id: str
    connection_url: str | None = None
    username: str
    password: str = attrs.field(repr=False)
    tenant_id: str
    cloud_provider: CloudProvider
    region: str
    type: InstanceType
    name: str
    created_at: datetime.datetime | None = None
    vector_optimized: bool | None = None
    graph_analytics_plugin: bool | None = None

    @property
    def masked_password(self) -> str:
        """A stand-in for the password fit for tables and logs (empty if there is none)."""
        return _MASK if self.password else ""


# --------------------------------------------------------------------------- snapshots


@attrs.frozen(kw_only=True)
class Snapshot:
    """A snapshot of an instance."""

    snapshot_id: str
    instance_id: str
    status: SnapshotStatus
    profile: SnapshotProfile | None = None
    timestamp: datetime.datetime | None = None
    exportable: bool | None = None


@attrs.frozen(kw_only=True)
class CreatedSnapshot:
    """The answer to taking a snapshot: its id, to poll until it completes."""

    snapshot_id: str


# --------------------------------------------------------------------------- keys


@attrs.frozen(kw_only=True)
class CustomerManagedKeySummary:
    """A customer managed key as the list endpoint shows it."""

    id: str
    name: str
    tenant_id: str


@attrs.frozen(kw_only=True)
class CustomerManagedKey:
    """A customer managed (encryption) key.

    ``instance_type`` is the tier the key serves; the API repeats it as ``type`` in its
    examples, kept here so that nothing the API sends is dropped.
    """

    id: str
    name: str
    tenant_id: str
    cloud_provider: CloudProvider
    region: str
    instance_type: InstanceType
    key_id: str
    created: datetime.datetime | None = None
    status: KeyStatus
    type: InstanceType | None = None


# --------------------------------------------------------------------------- sessions


@attrs.frozen(kw_only=True)
class GraphAnalyticsSession:
    """A graph-analytics (GDS) session.

    ``instance_id`` and ``database_uuid`` are empty for a standalone session. ``ttl`` is how
    long an idle session lives before it expires: the live service sends a Go duration string
    (``"20m0s"``) where the spec says integer seconds; both are read, ``null`` gives ``None``.
    """

    id: str
    name: str
    memory: str
    status: SessionStatus
    host: str
    tenant_id: str
    user_id: str
    instance_id: str | None = None
    database_uuid: str | None = None
    created_at: datetime.datetime | None = None
    expiry_date: datetime.datetime | None = None
    ttl: datetime.timedelta | None = None
    cloud_provider: CloudProvider | None = None
    region: str | None = None


@attrs.frozen(kw_only=True)
class DeletedSession:
    """The answer to deleting a session: the id of the session deleted."""

    id: str


# --------------------------------------------------------------------------- sizing


@attrs.frozen(kw_only=True)
class InstanceSizing:
    """The API's estimate of the instance size a graph needs."""

    did_exceed_maximum: bool
    min_required_memory: str
    recommended_size: str


@attrs.frozen(kw_only=True)
class SessionSizing:
    """The API's estimate of the session size a graph needs."""

    estimated_memory: str
    recommended_size: str
