"""What the MCP tools return: structured content with a JSON schema, never a secret.

Each shape is a TypedDict, from which the MCP SDK derives the tool's output schema. Nothing
here carries a password, token or client secret: created credentials are described by where
they were saved and the environment variable names that hold them.
"""

from __future__ import annotations

from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from aura_async.errors import WaitTimeoutError
from aura_async.fleet import FleetItem, FleetReport, Outcome, RecoveryReport
from aura_async.models import Instance, InstanceConfiguration, InstanceSummary, Project

__all__ = [
    "ENV_VARS",
    "FleetView",
    "InstanceView",
    "InstancesView",
    "ItemView",
    "OfferView",
    "ProjectView",
    "ProjectsView",
    "RecoveredView",
    "RecoveryView",
    "VerifyView",
    "WaitView",
    "WaitsView",
    "fleet_view",
    "instance_view",
    "project_view",
    "recovery_view",
    "summary_view",
]

#: The variables a written .env file holds (write_env_file).
ENV_VARS = ["NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD", "NEO4J_DATABASE", "AURA_INSTANCE_ID"]


class InstanceView(TypedDict):
    """An instance; ``status`` is absent (null) where a listing does not show it."""

    id: str
    name: str
    status: str | None
    type: str | None
    memory: str | None
    cloud_provider: str
    region: str | None
    project_id: str
    connection_url: str | None
    created_at: str | None


class InstancesView(TypedDict):
    """Instances, and how many."""

    count: int
    instances: list[InstanceView]


class OfferView(TypedDict):
    """One configuration a project may create."""

    type: str
    cloud_provider: str
    region: str
    region_name: str
    memory: str
    storage: str
    version: str


class ProjectView(TypedDict):
    """A project; ``offers`` (what it may create) only when one project was asked for."""

    id: str
    name: str
    offers: list[OfferView] | None


class ProjectsView(TypedDict):
    """The projects these credentials can use."""

    projects: list[ProjectView]


class ItemView(TypedDict):
    """One instance of a fleet call."""

    name: str
    instance_id: str | None
    outcome: str | None
    status: str | None
    error: str | None
    credentials_saved: bool
    env_file: str | None
    connectable_after_seconds: float | None


class FleetView(TypedDict):
    """A fleet call's result; credentials are in the ledger (and .env files), never here."""

    operation: str
    ok: bool
    summary: str
    totals: dict[str, int]
    requests: int
    rate_limited: int
    items: list[ItemView]
    credentials_ledger: str | None
    env_vars: list[str] | None
    still_pending: list[str]
    next_step: str | None


class WaitView(TypedDict):
    """One instance waited for."""

    instance_id: str
    status: str
    done: bool
    error: str | None


class WaitsView(TypedDict):
    """The instances waited for, each with its result."""

    instances: list[WaitView]


class RecoveredView(TypedDict):
    """One ledger entry as a recovery left it."""

    name: str
    intent_id: str
    state: str
    instance_id: str | None
    exists: bool
    credentials_known: bool
    deleted: bool
    error: str | None


class RecoveryView(TypedDict):
    """What a recovery found in the ledger, entry by entry."""

    summary: str
    entries: list[RecoveredView]


class VerifyView(TypedDict):
    """An instance that accepted a connection with its saved credentials."""

    instance_id: str
    connection_url: str
    server: str
    attempts: int
    elapsed_seconds: float


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def instance_view(instance: Instance) -> InstanceView:
    """An instance as the tools show it."""
    return InstanceView(
        id=instance.id,
        name=instance.name,
        status=str(instance.status),
        type=str(instance.type),
        memory=instance.memory,
        cloud_provider=str(instance.cloud_provider),
        region=instance.region,
        project_id=instance.tenant_id,
        connection_url=instance.connection_url,
        created_at=None if instance.created_at is None else instance.created_at.isoformat(),
    )


def summary_view(summary: InstanceSummary) -> InstanceView:
    """A listed instance (a listing shows no status, type or region)."""
    return InstanceView(
        id=summary.id,
        name=summary.name,
        status=None,
        type=None,
        memory=None,
        cloud_provider=str(summary.cloud_provider),
        region=None,
        project_id=summary.tenant_id,
        connection_url=None,
        created_at=None if summary.created_at is None else summary.created_at.isoformat(),
    )


def _offer(configuration: InstanceConfiguration) -> OfferView:
    return OfferView(
        type=str(configuration.type),
        cloud_provider=str(configuration.cloud_provider),
        region=configuration.region,
        region_name=configuration.region_name,
        memory=configuration.memory,
        storage=configuration.storage,
        version=configuration.version,
    )


def project_view(project: Project) -> ProjectView:
    """A project with every configuration it offers."""
    return ProjectView(
        id=project.id,
        name=project.name,
        offers=[_offer(c) for c in project.instance_configurations],
    )


def _item(item: FleetItem, env_files: dict[str, str]) -> ItemView:
    return ItemView(
        name=item.name,
        instance_id=item.instance_id,
        outcome=None if item.outcome is None else item.outcome.value,
        status=None if item.instance is None else str(item.instance.status),
        error=_text(item.error),
        credentials_saved=item.saved_to is not None,
        env_file=env_files.get(item.instance_id or ""),
        connectable_after_seconds=(
            None if item.connectable_after is None else round(item.connectable_after, 3)
        ),
    )


def fleet_view(
    report: FleetReport,
    *,
    ledger: str | None = None,
    env_files: dict[str, str] | None = None,
    wait_tool: str | None = "wait_for_instances",
) -> FleetView:
    """A fleet report as a tool's result: items, totals, where the credentials went, and
    what to call next for the instances still under way."""
    # Under way still: a wait that timed out, or one cut short by another item's failure
    # (its instance exists, and its operation goes on).
    pending = [
        item.instance_id
        for item in report.items
        if item.instance_id
        and (isinstance(item.error, WaitTimeoutError) or item.outcome is Outcome.CANCELLED)
    ]
    saved = any(item.saved_to for item in report.items)
    return FleetView(
        operation=report.operation,
        ok=report.ok,
        summary=report.summary(),
        totals={outcome.value: n for outcome, n in report.totals.items()},
        requests=report.requests,
        rate_limited=report.rate_limited,
        items=[_item(item, env_files or {}) for item in report.items],
        credentials_ledger=ledger if saved else None,
        env_vars=ENV_VARS if env_files else None,
        still_pending=pending,
        next_step=(
            None
            if not pending
            else f"{len(pending)} instance(s) are still under way: call {wait_tool} with "
            "their ids to wait again"
            if wait_tool
            else f"{len(pending)} instance(s) are still under way: call again with a longer "
            "timeout_seconds, or look later"
        ),
    )


def recovery_view(report: RecoveryReport) -> RecoveryView:
    """A recovery report, entry by entry (no credentials in it)."""
    entries = [
        RecoveredView(
            name=e.name,
            intent_id=e.intent_id,
            state=e.state.value,
            instance_id=e.instance_id,
            exists=e.exists,
            credentials_known=e.credentials_known,
            deleted=e.deleted,
            error=e.error,
        )
        for e in report.entries
    ]
    lost = len(report.lost)
    return RecoveryView(
        summary=f"{len(entries)} ledger entries matched; {lost} without their password",
        entries=entries,
    )
