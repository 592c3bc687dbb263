"""The MCP server's changing tools: create, pause, resume, resize, snapshot, delete, recover.
Not offered in read-only mode; the destructive ones need confirm=true.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Required

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from aura_async.fleet import (
    DEFAULT_PATTERN,
    CredentialStore,
    FleetReport,
    InstanceSpec,
)
from aura_async.fleet.envfiles import EnvFileStore, env_file_in, prepare_env_dir
from aura_async.fleet.specs import expand
from aura_async.mcp.guard import Refused, confirm_or_refuse
from aura_async.mcp.progress import reporting
from aura_async.mcp.scope import (
    CHANGE,
    DESTROY,
    SECRET_NOTE,
    Age,
    Confirm,
    Glob,
    Ids,
    InLedger,
    Prefix,
    Timeout,
    ToolScope,
    as_tool_errors,
    plan,
)
from aura_async.mcp.views import (
    FleetView,
    RecoveryView,
    fleet_view,
    recovery_view,
)

__all__ = ["SpecInput", "add_changing_tools"]


class SpecInput(TypedDict, total=False):
    """One instance to create (the fields of InstanceSpec); an unknown key is refused."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    name: Required[str]
    type: Required[str]
    memory: str
    storage: str
    region: str
    cloud_provider: str
    version: str
    tenant_id: str
    source_instance_id: str
    source_snapshot_id: str
    customer_managed_key_id: str
    vector_optimized: bool
    graph_analytics_plugin: bool


def add_changing_tools(server: MCPServer, scope: ToolScope) -> None:
    """Register the changing tools (WRITE_TOOLS, in that order) on ``server``."""
    _add_create_instances_tool(server, scope)
    _add_pause_instances_tool(server, scope)
    _add_resume_instances_tool(server, scope)
    _add_resize_instances_tool(server, scope)
    _add_snapshot_instances_tool(server, scope)
    _add_delete_instances_tool(server, scope)
    _add_recover_tool(server, scope)


def _add_create_instances_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="create_instances",
        description="Create one instance, COUNT copies named by a pattern, or a list of "
        "specs, and (by default) wait until they run, reporting progress. A name already in "
        "use is adopted (taken over: it joins the ledger, so in_ledger teardowns delete it "
        "too), never created twice. Each password is saved to the credential "
        "ledger before anything else happens (and to a .env file per instance with "
        "write_env_files=true); the result names where, and the environment variables. "
        "Values for type, region, memory and cloud_provider: see get_project." + SECRET_NOTE,
        annotations=CHANGE,
    )
    async def create_instances(
        ctx: Context,
        name: Annotated[
            str | None,
            Field(
                description="The instance's name (1-30 characters); with count, the base "
                "name ({name} in the pattern)."
            ),
        ] = None,
        type: Annotated[
            str | None,
            Field(
                description="free-db, professional-db, enterprise-db, business-critical, "
                "professional-ds or enterprise-ds."
            ),
        ] = None,
        memory: Annotated[str | None, Field(description="Memory such as 2GB.")] = None,
        region: Annotated[str | None, Field(description="A region such as europe-west1.")] = None,
        cloud_provider: Annotated[str | None, Field(description="gcp, aws or azure.")] = None,
        version: Annotated[str, Field(description="The Neo4j version.")] = "5",
        count: Annotated[
            int | None, Field(description="How many copies of the spec to create.", ge=1, le=500)
        ] = None,
        name_pattern: Annotated[
            str,
            Field(description="How copies are named: {name} and {n} (1-based), e.g. 'ci-{n:02d}'."),
        ] = DEFAULT_PATTERN,
        specs: Annotated[
            list[SpecInput] | None,
            Field(description="Instead of the fields above: one spec per instance."),
        ] = None,
        wait: Annotated[bool, Field(description="Wait until each instance runs.")] = True,
        timeout_seconds: Timeout = None,
        on_error: Annotated[
            Literal["stop", "continue", "rollback"],
            Field(
                description="When one fails: stop starting more, carry on, or stop and "
                "delete what this call created (also if the call is cancelled)."
            ),
        ] = "stop",
        write_env_files: Annotated[
            bool, Field(description="Also write <name>.env per instance (mode 0600, git-ignored).")
        ] = False,
        verify: Annotated[
            bool, Field(description="Once running, connect to each with its saved password.")
        ] = False,
    ) -> FleetView:
        with as_tool_errors():
            chosen = _specs(name, type, memory, region, cloud_provider, version, specs)
            names = _names(chosen, count, name_pattern)
            await _check_rails(scope, chosen, names)
            env = _env_file_store(scope, names) if write_env_files else None
            ledger: CredentialStore = scope.store if env is None else env
            async with reporting(ctx, scope.aura, "create", len(names), names=set(names)):
                report = await scope.aura.fleet.create(
                    chosen if count is None else chosen[0],
                    count=count,
                    pattern=name_pattern,
                    wait=wait,
                    timeout=timeout_seconds,
                    on_error=on_error,
                    store=ledger,
                    verify=verify,
                    # The agent cannot hold a password the ledger failed to keep.
                    salvage=True,
                )
        return _created_view(report, scope.store, env)


async def _check_rails(scope: ToolScope, chosen: list[InstanceSpec], names: list[str]) -> None:
    """Every name a create will use must pass the guard rails. Under a prefix, a clone's
    source must be one of the server's instances too.
    """
    for each in names:
        scope.rails.check_name(each)
    if scope.rails.prefix is None:
        return
    for spec in chosen:
        if spec.source_instance_id is not None:
            source = await scope.aura.instances.get(spec.source_instance_id)
            scope.rails.check_names({source.id: source.name})


def _env_file_store(scope: ToolScope, names: list[str]) -> EnvFileStore:
    """The ledger that also writes each instance's .env file into the server's env_dir."""
    if scope.env_dir is None:
        raise Refused("this server writes no .env files (start it with --env-dir)")
    directory = prepare_env_dir(scope.env_dir)
    for each in names:  # each file inside the directory, checked before creating
        env_file_in(directory, each)
    return EnvFileStore(scope.store, lambda c: env_file_in(directory, c.name))


def _created_view(
    report: FleetReport, store: CredentialStore, env: EnvFileStore | None
) -> FleetView:
    """What a create returns: the report, where the credentials went, any .env file failed."""
    written = {} if env is None else {i: str(p) for i, p in env.written.items()}
    view = fleet_view(report, ledger=store.location, env_files=written)
    if env is not None and env.failures:
        view["summary"] += f"; {len(env.failures)} .env file(s) not written"
    return view


def _add_pause_instances_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="pause_instances",
        description="Pause the chosen instances (they stop serving; billing drops) and wait "
        "until paused. Needs confirm=true; without it, lists what it would pause." + SECRET_NOTE,
        annotations=DESTROY,
    )
    async def pause_instances(
        ctx: Context,
        instance_ids: Ids = None,
        name_prefix: Prefix = None,
        name_glob: Glob = None,
        older_than: Age = None,
        in_ledger: InLedger = False,
        confirm: Confirm = False,
        timeout_seconds: Timeout = None,
    ) -> FleetView:
        return await scope.change(
            ctx,
            "pause",
            (instance_ids, name_prefix, name_glob, older_than, in_ledger),
            lambda ids: scope.aura.fleet.pause(ids, timeout=timeout_seconds),
            confirm=confirm,
        )


def _add_resume_instances_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="resume_instances",
        description="Resume the chosen paused instances and wait until they run." + SECRET_NOTE,
        annotations=CHANGE,
    )
    async def resume_instances(
        ctx: Context,
        instance_ids: Ids = None,
        name_prefix: Prefix = None,
        name_glob: Glob = None,
        older_than: Age = None,
        in_ledger: InLedger = False,
        timeout_seconds: Timeout = None,
    ) -> FleetView:
        return await scope.change(
            ctx,
            "resume",
            (instance_ids, name_prefix, name_glob, older_than, in_ledger),
            lambda ids: scope.aura.fleet.resume(ids, timeout=timeout_seconds),
        )


def _add_resize_instances_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="resize_instances",
        description="Change the memory (and storage) of the chosen instances and wait until "
        "the new size shows (sizes on offer: get_project)." + SECRET_NOTE,
        annotations=CHANGE,
    )
    async def resize_instances(
        ctx: Context,
        memory: Annotated[str | None, Field(description="The new memory, such as 4GB.")] = None,
        storage: Annotated[str | None, Field(description="The new storage, such as 8GB.")] = None,
        instance_ids: Ids = None,
        name_prefix: Prefix = None,
        name_glob: Glob = None,
        older_than: Age = None,
        in_ledger: InLedger = False,
        timeout_seconds: Timeout = None,
    ) -> FleetView:
        return await scope.change(
            ctx,
            "resize",
            (instance_ids, name_prefix, name_glob, older_than, in_ledger),
            lambda ids: scope.aura.fleet.resize(
                ids, memory=memory, storage=storage, timeout=timeout_seconds
            ),
        )


def _add_snapshot_instances_tool(server: MCPServer, scope: ToolScope) -> None:
    @server.tool(
        name="snapshot_instances",
        description="Take an on-demand snapshot of each chosen instance and wait until each "
        "completes." + SECRET_NOTE,
        annotations=CHANGE,
    )
    async def snapshot_instances(
        ctx: Context,
        instance_ids: Ids = None,
        name_prefix: Prefix = None,
        name_glob: Glob = None,
        older_than: Age = None,
        in_ledger: InLedger = False,
        timeout_seconds: Timeout = None,
    ) -> FleetView:
        return await scope.change(
            ctx,
            "snapshot",
            (instance_ids, name_prefix, name_glob, older_than, in_ledger),
            lambda ids: scope.aura.fleet.snapshot(ids, timeout=timeout_seconds),
            wait_tool=None,
        )


def _add_delete_instances_tool(server: MCPServer, scope: ToolScope) -> None:
    aura, store = scope.aura, scope.store

    @server.tool(
        name="delete_instances",
        description="Delete the chosen instances (paused and still-creating ones too) and wait "
        "until each is proven gone; their ledger entries are marked deleted. Irreversible: "
        "needs confirm=true; dry_run=true (or no confirm) lists what would go." + SECRET_NOTE,
        annotations=DESTROY,
    )
    async def delete_instances(
        ctx: Context,
        instance_ids: Ids = None,
        name_prefix: Prefix = None,
        name_glob: Glob = None,
        older_than: Age = None,
        in_ledger: InLedger = False,
        confirm: Confirm = False,
        dry_run: Annotated[bool, Field(description="Only list what would be deleted.")] = False,
        timeout_seconds: Timeout = None,
    ) -> FleetView:
        chosen_by = (instance_ids, name_prefix, name_glob, older_than, in_ledger)
        if dry_run:
            with as_tool_errors():
                chosen = await scope.targets(*chosen_by)
                return fleet_view(await aura.fleet.delete(list(chosen), dry_run=True, store=store))
        return await scope.change(
            ctx,
            "delete",
            chosen_by,
            lambda ids: aura.fleet.delete(ids, timeout=timeout_seconds, store=store),
            confirm=confirm,
        )


def _add_recover_tool(server: MCPServer, scope: ToolScope) -> None:
    aura, store = scope.aura, scope.store

    @server.tool(
        name="recover",
        description="After a crash or a cancelled call: match every ledger entry against the "
        "project, so that no instance created is unknown; with delete_lost=true (and "
        "confirm=true) delete instances whose password was never received." + SECRET_NOTE,
        annotations=DESTROY,
    )
    async def recover(
        delete_lost: Annotated[
            bool, Field(description="Delete instances created without a known password.")
        ] = False,
        confirm: Confirm = False,
    ) -> RecoveryView:
        with as_tool_errors():
            report = await aura.fleet.recover(store)
            if not delete_lost:
                return recovery_view(report)
            lost = {e.instance_id: e.name for e in report.lost if e.instance_id}
            scope.rails.check_names(lost)
            confirm_or_refuse(confirm, "recover(delete_lost=true)", plan(lost))
            if lost:
                await aura.fleet.delete(list(lost), store=store)
            return recovery_view(await aura.fleet.recover(store))


def _specs(
    name: str | None,
    type: str | None,
    memory: str | None,
    region: str | None,
    cloud_provider: str | None,
    version: str,
    specs: list[SpecInput] | None,
) -> list[InstanceSpec]:
    """The specs a create asked for: the list, or the one the fields describe.

    Raises:
        ValidationError: a spec the SDK refuses (its message names the field).
        Refused: both or neither given.
    """
    if specs is not None:
        if name is not None or type is not None:
            raise Refused("give either specs or name and type, not both")
        if not specs:
            raise Refused("specs is empty: give one spec per instance")
        return [
            InstanceSpec.from_mapping(dict(spec), where=f"specs[{index}]")
            for index, spec in enumerate(specs)
        ]
    if name is None or type is None:
        raise Refused("give name and type (and the spec fields), or specs")
    given: dict[str, Any] = {
        "memory": memory,
        "region": region,
        "cloud_provider": cloud_provider,
    }
    return [
        InstanceSpec(
            name=name,
            type=type,
            version=version,
            **{k: v for k, v in given.items() if v is not None},
        )
    ]


def _names(specs: list[InstanceSpec], count: int | None, pattern: str) -> list[str]:
    """The names a create will use (the pattern applied to copies)."""
    if count is None:
        return [spec.name for spec in specs]
    if len(specs) != 1:
        raise Refused("count copies one spec: give name and type, not specs")
    return [spec.name for spec in expand(specs[0], count, pattern)]
