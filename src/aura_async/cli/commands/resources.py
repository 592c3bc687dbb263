"""Commands: ``tenant``, ``customer-managed-key`` (``cmk``) and ``graph-analytics session``."""

from __future__ import annotations

from typing import Any

import attrs
import click

from aura_async._validation import check_id
from aura_async.cli.commands._common import (
    CLOUDS,
    Gone,
    await_options,
    in_tenant,
    only_tenant,
    pass_runtime,
    run,
    show,
    sizing_options,
    waiting,
    yes_option,
)
from aura_async.cli.runtime import Runtime
from aura_async.client import AuraClient
from aura_async.errors import BadRequestError
from aura_async.models import InstanceConfiguration

__all__ = ["register"]

CONFIGURATION_COLUMNS = (
    "type",
    "cloud_provider",
    "region",
    "region_name",
    "memory",
    "storage",
    "version",
)
KEY_SUMMARY_COLUMNS = ("id", "name", "tenant_id")
KEY_COLUMNS = (
    "id",
    "name",
    "status",
    "instance_type",
    "cloud_provider",
    "region",
    "key_id",
    "tenant_id",
)
SESSION_COLUMNS = (
    "id",
    "name",
    "status",
    "memory",
    "instance_id",
    "cloud_provider",
    "region",
    "expiry_date",
    "host",
)
SESSION_SIZING_COLUMNS = ("recommended_size", "estimated_memory")
GONE_COLUMNS = ("id", "status")


def _deleting(what: str, field: str, resource_id: str) -> dict[str, Any]:
    """``show``'s arguments for a delete: check the id, ask first, print what is gone."""
    return {
        "check": lambda: check_id(resource_id, field),
        "confirm": f"Delete {what} {resource_id}?",
        "message": lambda _: f"{what} {resource_id} deleted",
    }


# --------------------------------------------------------------------------- tenant


@click.group()
def tenant() -> None:
    """Projects (Aura calls them tenants in the API)."""


@tenant.command("list")
@pass_runtime
def tenant_list(rt: Runtime) -> None:
    """List the projects this API client can see."""
    show(rt, lambda aura: aura.tenants.list(), ("id", "name"))


@attrs.frozen
class ProjectView:
    """What ``tenant get`` prints: the project, and its metrics endpoint if it has one."""

    id: str
    name: str
    metrics_integration_url: str | None
    instance_configurations: tuple[InstanceConfiguration, ...]


@tenant.command("get")
@click.argument("tenant_id", required=False)
@pass_runtime
def tenant_get(rt: Runtime, tenant_id: str | None) -> None:
    """Show a project (default: the configured one), what it can create, its metrics URL."""

    async def body() -> None:
        async with rt.client() as aura:
            project = await aura.tenants.get(tenant_id)
            try:
                metrics: str | None = (await aura.tenants.metrics_integration(project.id)).endpoint
            except BadRequestError:  # no instance eligible for metrics: not an error here
                metrics = None
        view = ProjectView(project.id, project.name, metrics, project.instance_configurations)
        rt.output.result(
            view,
            message=[f"{project.name} ({project.id})", f"metrics integration: {metrics or '-'}"],
        )
        if rt.output.mode == "table" and not rt.output.quiet:
            rows = rt.output.data(project.instance_configurations)
            rt.output.table(rows, CONFIGURATION_COLUMNS, title="instance configurations")

    run(rt, body)


# --------------------------------------------------------------------------- keys


@click.group("customer-managed-key")
def customer_managed_key() -> None:
    """Customer managed encryption keys (alias: cmk)."""


@customer_managed_key.command("list")
@only_tenant
@pass_runtime
def key_list(rt: Runtime, tenant_id: str | None) -> None:
    """List customer managed keys."""
    show(rt, lambda aura: aura.customer_managed_keys.list(tenant_id), KEY_SUMMARY_COLUMNS)


@customer_managed_key.command("get")
@click.argument("key_id")
@pass_runtime
def key_get(rt: Runtime, key_id: str) -> None:
    """Show a key with its status (pending until Aura may use it, then ready)."""
    show(rt, lambda aura: aura.customer_managed_keys.get(key_id), KEY_COLUMNS)


@customer_managed_key.command("create")
@click.option("--name", required=True, help="The key's name in Aura.")
@click.option("--key-id", required=True, help="The key in your cloud account (ARN, id).")
@click.option("--region", required=True, help="The key's region.")
@click.option("--cloud-provider", required=True, metavar="CLOUD", help=f"One of {CLOUDS}.")
@click.option(
    "--type", "instance_type", required=True, metavar="TYPE", help="enterprise-db or enterprise-ds."
)
@in_tenant
@await_options("the key is ready (Aura was granted access to it)")
@pass_runtime
def key_create(rt: Runtime, /, wait: bool, timeout: float | None, **fields: Any) -> None:
    """Register a key of your cloud account for encrypting instances."""
    wait, timeout = waiting(rt, wait, timeout)
    show(
        rt,
        lambda aura: aura.customer_managed_keys.create(**fields, wait=wait, timeout=timeout),
        KEY_COLUMNS,
    )


@customer_managed_key.command("delete")
@click.argument("key_id")
@yes_option
@pass_runtime
def key_delete(rt: Runtime, key_id: str) -> None:
    """Delete a key no instance uses (asks first; --yes answers)."""

    async def call(aura: AuraClient) -> Gone:
        await aura.customer_managed_keys.delete(key_id)
        return Gone(key_id)

    show(rt, call, GONE_COLUMNS, **_deleting("customer managed key", "key_id", key_id))


# --------------------------------------------------------------------------- sessions


@click.group("graph-analytics")
def graph_analytics() -> None:
    """Graph Analytics."""


@graph_analytics.group("session")
def session() -> None:
    """Graph Analytics sessions, standalone or attached to an instance."""


@session.command("list")
@only_tenant
@click.option("--organization-id", help="Only this organization's.")
@click.option("--instance-id", help="Only those attached to this instance.")
@pass_runtime
def session_list(rt: Runtime, /, **filters: Any) -> None:
    """List sessions."""
    show(rt, lambda aura: aura.graph_analytics.list(**filters), SESSION_COLUMNS)


@session.command("get")
@click.argument("session_id")
@pass_runtime
def session_get(rt: Runtime, session_id: str) -> None:
    """Show a session with its status."""
    show(rt, lambda aura: aura.graph_analytics.get(session_id), SESSION_COLUMNS)


@session.command("create")
@click.option("--name", required=True, help="The session's name (the same name returns it).")
@click.option("--memory", required=True, help="Memory such as 8GB.")
@click.option("--instance-id", help="Attach it to this instance...")
@click.option("--database-uuid", help="...and this database of it.")
@click.option("--cloud-provider", metavar="CLOUD", help=f"...or standalone: one of {CLOUDS}...")
@click.option("--region", help="...and a region of it.")
@in_tenant
@click.option("--ttl", help="How long it lives idle, such as 30m or 1h30m (default 1h).")
@await_options("the session is ready")
@pass_runtime
def session_create(rt: Runtime, /, wait: bool, timeout: float | None, **fields: Any) -> None:
    """Create a session, or get the one of that name."""
    wait, timeout = waiting(rt, wait, timeout)
    show(
        rt,
        lambda aura: aura.graph_analytics.create(**fields, wait=wait, timeout=timeout),
        SESSION_COLUMNS,
    )


@session.command("delete")
@click.argument("session_id")
@yes_option
@pass_runtime
def session_delete(rt: Runtime, session_id: str) -> None:
    """Delete a session (asks first; --yes answers)."""

    async def call(aura: AuraClient) -> Gone:
        return Gone((await aura.graph_analytics.delete(session_id)).id)

    show(rt, call, GONE_COLUMNS, **_deleting("session", "session_id", session_id))


@session.command("sizing")
@sizing_options
@click.option("--node-property-count", type=int, help="Node properties.")
@click.option("--node-label-count", type=int, help="Node labels.")
@click.option("--relationship-property-count", type=int, help="Relationship properties.")
@pass_runtime
def session_sizing(rt: Runtime, /, **graph: Any) -> None:
    """Estimate the memory a session needs for a graph."""
    show(rt, lambda aura: aura.graph_analytics.sizing(**graph), SESSION_SIZING_COLUMNS)


def register(root: click.Group) -> None:
    """Add this module's commands to ``root``."""
    root.add_command(tenant)
    root.add_command(customer_managed_key)
    alias = click.Group(
        "cmk", commands=customer_managed_key.commands, help=customer_managed_key.help, hidden=True
    )
    root.add_command(alias)
    root.add_command(graph_analytics)
