"""The MCP server's reading tools: projects, instances, their status, waits and connection
checks. None changes anything; all are offered in read-only mode too.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Literal

import anyio
from mcp.server import MCPServer
from pydantic import Field

from aura_async.errors import AuraError, WaitError
from aura_async.lifecycle.operations import Operation
from aura_async.mcp.guard import Refused
from aura_async.mcp.scope import (
    READ,
    SECRET_NOTE,
    Age,
    Glob,
    Ids,
    InLedger,
    Prefix,
    Timeout,
    ToolScope,
    as_tool_errors,
)
from aura_async.mcp.views import (
    InstancesView,
    InstanceView,
    ProjectsView,
    ProjectView,
    VerifyView,
    WaitsView,
    WaitView,
    instance_view,
    project_view,
    summary_view,
)

__all__ = ["add_reading_tools"]


def add_reading_tools(server: MCPServer, scope: ToolScope) -> None:
    """Register the reading tools (READ_TOOLS, in that order) on ``server``."""
    _add_list_projects_tool(server, scope)
    _add_get_project_tool(server, scope)
    _add_list_instances_tool(server, scope)
    _add_get_instance_tool(server, scope)
    _add_fleet_status_tool(server, scope)
    _add_wait_for_instances_tool(server, scope)
    _add_verify_instance_tool(server, scope)


def _add_list_projects_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="list_projects",
        description="List the Aura projects (tenants) these credentials can use." + SECRET_NOTE,
        annotations=READ,
    )
    async def list_projects() -> ProjectsView:
        with as_tool_errors():
            projects = await scope.aura.tenants.list()
        return ProjectsView(
            projects=[ProjectView(id=p.id, name=p.name, offers=None) for p in projects]
        )


def _add_get_project_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="get_project",
        description="Show a project and everything it may create: each instance type, cloud, "
        "region, memory and storage size and version on offer (use these values in "
        "create_instances)." + SECRET_NOTE,
        annotations=READ,
    )
    async def get_project(
        project_id: Annotated[
            str | None, Field(description="The project; default: the server's.")
        ] = None,
    ) -> ProjectView:
        with as_tool_errors():
            return project_view(await scope.aura.tenants.get(project_id))


def _add_list_instances_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="list_instances",
        description="List a project's instances (id, name, cloud, created). A listing shows "
        "no status: use get_instance or fleet_status for that." + SECRET_NOTE,
        annotations=READ,
    )
    async def list_instances(
        project_id: Annotated[
            str | None, Field(description="The project; default: the server's.")
        ] = None,
        name_prefix: Prefix = None,
    ) -> InstancesView:
        with as_tool_errors():
            listed = await scope.aura.instances.list(tenant_id=project_id)
        with as_tool_errors():
            prefix = scope.rails.narrowed(name_prefix)
        shown = [summary_view(s) for s in listed if prefix is None or s.name.startswith(prefix)]
        return InstancesView(count=len(shown), instances=shown)


def _add_get_instance_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="get_instance",
        description="Show one instance: status, type, size, region, connection URL." + SECRET_NOTE,
        annotations=READ,
    )
    async def get_instance(
        instance_id: Annotated[str, Field(description="The instance id (8 hex characters).")],
    ) -> InstanceView:
        with as_tool_errors():
            return instance_view(await scope.aura.instances.get(instance_id))


def _add_fleet_status_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="fleet_status",
        description="The current status of every chosen instance (by ids, name prefix or "
        "glob, age, or the ledger), read at once on the shared rate budget." + SECRET_NOTE,
        annotations=READ,
    )
    async def fleet_status(
        instance_ids: Ids = None,
        name_prefix: Prefix = None,
        name_glob: Glob = None,
        older_than: Age = None,
        in_ledger: InLedger = False,
    ) -> InstancesView:
        with as_tool_errors():
            chosen = await scope.targets(
                instance_ids, name_prefix, name_glob, older_than, in_ledger
            )
            seen: list[InstanceView] = []

            async def read(instance_id: str) -> None:
                with contextlib.suppress(AuraError):  # gone meanwhile: not shown
                    seen.append(instance_view(await scope.aura.instances.get(instance_id)))

            async with anyio.create_task_group() as tg:
                for instance_id in chosen:
                    tg.start_soon(read, instance_id)
        seen.sort(key=lambda v: v["name"])
        return InstancesView(count=len(seen), instances=seen)


def _add_wait_for_instances_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="wait_for_instances",
        description="Wait until instances are running, paused or deleted (all at once, "
        "polling on the shared budget), e.g. those still_pending after a create that timed "
        "out. Returns each one's status." + SECRET_NOTE,
        annotations=READ,
    )
    async def wait_for_instances(
        instance_ids: Annotated[list[str], Field(description="The instance ids.", min_length=1)],
        until: Annotated[
            Literal["running", "paused", "deleted"], Field(description="The status to reach.")
        ] = "running",
        timeout_seconds: Timeout = None,
    ) -> WaitsView:
        operation = {
            "running": Operation.CREATE,
            "paused": Operation.PAUSE,
            "deleted": Operation.DELETE,
        }[until]
        results: list[WaitView] = []

        async def wait(instance_id: str) -> None:
            try:
                seen = await scope.aura.instances.wait(
                    instance_id, operation, timeout=timeout_seconds
                )
            except AuraError as error:
                last = error.last_status if isinstance(error, WaitError) else ""
                results.append(
                    WaitView(instance_id=instance_id, status=last, done=False, error=str(error))
                )
                return
            status = "deleted" if seen is None else str(seen.status)
            results.append(WaitView(instance_id=instance_id, status=status, done=True, error=None))

        async with anyio.create_task_group() as tg:
            for instance_id in dict.fromkeys(instance_ids):
                tg.start_soon(wait, instance_id)
        return WaitsView(instances=sorted(results, key=lambda r: r["instance_id"]))


def _add_verify_instance_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="verify_instance",
        description="Connect to an instance with the credentials the ledger saved for it and "
        "run RETURN 1 (the official Neo4j driver): proves the database accepts connections. "
        "A refused password fails at once (the saved copy is stale)." + SECRET_NOTE,
        annotations=READ,
    )
    async def verify_instance(
        instance_id: Annotated[str, Field(description="The instance id.")],
        timeout_seconds: Timeout = None,
    ) -> VerifyView:
        with as_tool_errors():
            credentials = await scope.store.lookup(instance_id=instance_id)
            if credentials is None:
                raise Refused(f"the ledger holds no credentials of instance {instance_id}")
            found = await scope.aura.instances.verify(credentials, timeout=timeout_seconds)
        return VerifyView(
            instance_id=found.instance_id,
            connection_url=found.connection_url,
            server=found.server,
            attempts=found.attempts,
            elapsed_seconds=round(found.elapsed, 3),
        )
