"""The MCP server's tools, each a thin call into the SDK (one client, one ledger).

Every tool's description tells the agent what it does, what it costs, and that no password,
token or secret is ever returned. Errors come back as tool errors (``is_error``) whose text is
the SDK's own one-line message with its hint: nothing is sent for input the SDK refuses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Required

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from aura_async.client import AuraClient
from aura_async.errors import AuraError, WaitError
from aura_async.fleet import (
    DEFAULT_PATTERN,
    CredentialStore,
    FleetReport,
    InstanceSpec,
    Selector,
)
from aura_async.fleet.envfiles import EnvFileStore, env_file_in, prepare_env_dir
from aura_async.fleet.specs import expand
from aura_async.lifecycle.operations import Operation
from aura_async.mcp.guard import Guard, Refused, confirm_or_refuse
from aura_async.mcp.progress import reporting
from aura_async.mcp.views import (
    FleetView,
    InstancesView,
    InstanceView,
    ProjectsView,
    ProjectView,
    RecoveryView,
    VerifyView,
    WaitsView,
    WaitView,
    fleet_view,
    instance_view,
    project_view,
    recovery_view,
    summary_view,
)

__all__ = ["INSTRUCTIONS", "READ_TOOLS", "WRITE_TOOLS", "build_server"]

INSTRUCTIONS = """\
Provision Neo4j Aura database instances. One client serves every tool: it keeps the account's
rate limit, waits for operations by itself (never poll get_instance in a loop: create, pause,
resume, resize and delete wait until done, reporting progress), and creates many instances at
once. Passwords are NEVER shown to you: create_instances saves them
to the credential ledger (and .env files when asked) and tells you where and under which
environment variable names. Destructive tools (delete_instances, pause_instances, recover with
delete_lost) refuse without confirm=true and then list what they would change. After a crash
or a cancelled call, recover matches the ledger against the project.
"""

SECRET_NOTE = " Never returns a password, token or secret."  # noqa: S105 (a sentence)
READ_TOOLS = (
    "list_projects",
    "get_project",
    "list_instances",
    "get_instance",
    "fleet_status",
    "wait_for_instances",
    "verify_instance",
)
WRITE_TOOLS = (
    "create_instances",
    "pause_instances",
    "resume_instances",
    "resize_instances",
    "snapshot_instances",
    "delete_instances",
    "recover",
)

_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=True)
_CHANGE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
_DESTROY = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)

Ids = Annotated[
    list[str] | None, Field(description="Exactly these instance ids (8 hex characters each).")
]
Prefix = Annotated[str | None, Field(description="Instances whose names start with this.")]
Glob = Annotated[str | None, Field(description="Instances whose names match this (ci-*).")]
Age = Annotated[
    str | None, Field(description="Instances created longer ago than this: 30m, 2h, 1d.")
]
InLedger = Annotated[
    bool,
    Field(
        description="Only instances in this server's credential ledger (created or adopted "
        "through it, not yet deleted)."
    ),
]
Timeout = Annotated[
    float | None,
    Field(
        description="Seconds to wait at most (per instance); those still under way are "
        "listed in still_pending, to wait for again. Default: the operation's usual limit.",
        ge=0,
    ),
]
Confirm = Annotated[
    bool, Field(description="Must be true to do it; false lists what it would change.")
]


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


@contextlib.contextmanager
def _as_tool_errors() -> Iterator[None]:
    """The SDK's errors and the guard's refusals, as tool errors the agent reads."""
    try:
        yield
    except (AuraError, Refused) as error:
        raise ToolError(str(error)) from None


def build_server(
    aura: AuraClient,
    store: CredentialStore,
    *,
    guard: Guard | None = None,
    env_dir: Path | None = None,
    name: str = "aura-async",
) -> MCPServer:
    """Build the MCP server over an open client and a credential ledger.

    Args:
        aura: the client every tool uses (its rate budget, waits and project).
        store: where create intents and credentials go (a FileStore: the ledger).
        guard: read-only mode and a name prefix; none by default.
        env_dir: where ``create_instances(write_env_files=true)`` writes ``<name>.env``
            files (mode 0600, git-ignored); None refuses that option.
        name: the server's name in the MCP handshake.
    """
    rails = guard or Guard()
    server = MCPServer(name, instructions=INSTRUCTIONS + _limits(aura, rails))

    async def targets(
        ids: list[str] | None,
        prefix: str | None,
        glob: str | None,
        older_than: str | None,
        in_ledger: bool,
    ) -> dict[str, str]:
        """The instances a call chose (id -> name), within the guard's prefix."""
        narrowed = rails.narrowed(prefix)
        criteria = (ids, narrowed, glob, older_than)
        if all(c is None for c in criteria) and not in_ledger:
            raise Refused(
                "choose instances by instance_ids, name_prefix, name_glob, older_than or in_ledger"
            )
        selector = Selector(
            ids=tuple(ids) if ids is not None else None,
            prefix=narrowed,
            glob=glob,
            older_than=older_than,
            ledger=store if in_ledger else None,
        )
        chosen = {s.id: s.name for s in await aura.fleet.select(selector)}
        if ids is not None:
            missing = sorted(set(ids) - set(chosen))
            only_ids = all(c is None for c in criteria[1:]) and not in_ledger
            if missing and rails.prefix is None and only_ids:
                # Perhaps too new to be listed: the fleet call looks them up one by one.
                chosen.update(dict.fromkeys(missing, "(not listed yet)"))
            elif missing and rails.prefix is not None:
                raise Refused(
                    f"not found among this server's instances ({rails.prefix!r}...): "
                    f"{', '.join(missing)}"
                )
        if not chosen:
            raise Refused("no instance matched the selection; nothing was changed")
        rails.check_names(chosen)
        return chosen

    async def _check_sources(chosen: list[InstanceSpec]) -> None:
        """Under a prefix, a clone's source must be one of the server's instances too."""
        if rails.prefix is None:
            return
        for spec in chosen:
            if spec.source_instance_id is not None:
                source = await aura.instances.get(spec.source_instance_id)
                rails.check_names({source.id: source.name})

    async def _salvage(report: FleetReport) -> None:
        """Credentials the ledger could not save exist nowhere else the agent may not see:
        save them again, or else delete their instance (nobody could connect to it)."""
        for item in report.items:
            credentials = item.credentials
            if credentials is None or item.saved_to is not None or not item.instance_id:
                continue
            try:
                await store.save_credentials(credentials, intent_id=None)
            except AuraError:
                with contextlib.suppress(AuraError):
                    await aura.instances.ensure_deleted(item.instance_id, wait=False)
                item.error = AuraError(
                    f"the ledger could not save the password of {item.instance_id}; the "
                    "instance was deleted, as nobody could connect to it",
                    hint=f"Check the ledger directory {store.location}, then create it again",
                )
                item.credentials = None
            else:
                item.saved_to = store.location
                item.error = None

    async def change(
        ctx: Context,
        operation: str,
        chosen_by: tuple[list[str] | None, str | None, str | None, str | None, bool],
        call: Callable[[list[str]], Awaitable[FleetReport]],
        *,
        confirm: bool | None = None,
        wait_tool: str | None = "wait_for_instances",
    ) -> FleetView:
        """Resolve a selection, confirm when asked to, run a fleet call with progress."""
        with _as_tool_errors():
            chosen = await targets(*chosen_by)
            if confirm is not None:
                confirm_or_refuse(confirm, f"{operation}_instances", _plan(chosen))
            async with reporting(ctx, aura, operation, len(chosen), ids=set(chosen)):
                report = await call(list(chosen))
        return fleet_view(report, wait_tool=wait_tool)

    # ------------------------------------------------------------------ reading

    @server.tool(
        name="list_projects",
        description="List the Aura projects (tenants) these credentials can use." + SECRET_NOTE,
        annotations=_READ,
    )
    async def list_projects() -> ProjectsView:
        with _as_tool_errors():
            projects = await aura.tenants.list()
        return ProjectsView(
            projects=[ProjectView(id=p.id, name=p.name, offers=None) for p in projects]
        )

    @server.tool(
        name="get_project",
        description="Show a project and everything it may create: each instance type, cloud, "
        "region, memory and storage size and version on offer (use these values in "
        "create_instances)." + SECRET_NOTE,
        annotations=_READ,
    )
    async def get_project(
        project_id: Annotated[
            str | None, Field(description="The project; default: the server's.")
        ] = None,
    ) -> ProjectView:
        with _as_tool_errors():
            return project_view(await aura.tenants.get(project_id))

    @server.tool(
        name="list_instances",
        description="List a project's instances (id, name, cloud, created). A listing shows "
        "no status: use get_instance or fleet_status for that." + SECRET_NOTE,
        annotations=_READ,
    )
    async def list_instances(
        project_id: Annotated[
            str | None, Field(description="The project; default: the server's.")
        ] = None,
        name_prefix: Prefix = None,
    ) -> InstancesView:
        with _as_tool_errors():
            listed = await aura.instances.list(tenant_id=project_id)
        with _as_tool_errors():
            prefix = rails.narrowed(name_prefix)
        shown = [summary_view(s) for s in listed if prefix is None or s.name.startswith(prefix)]
        return InstancesView(count=len(shown), instances=shown)

    @server.tool(
        name="get_instance",
        description="Show one instance: status, type, size, region, connection URL." + SECRET_NOTE,
        annotations=_READ,
    )
    async def get_instance(
        instance_id: Annotated[str, Field(description="The instance id (8 hex characters).")],
    ) -> InstanceView:
        with _as_tool_errors():
            return instance_view(await aura.instances.get(instance_id))

    @server.tool(
        name="fleet_status",
        description="The current status of every chosen instance (by ids, name prefix or "
        "glob, age, or the ledger), read at once on the shared rate budget." + SECRET_NOTE,
        annotations=_READ,
    )
    async def fleet_status(
        instance_ids: Ids = None,
        name_prefix: Prefix = None,
        name_glob: Glob = None,
        older_than: Age = None,
        in_ledger: InLedger = False,
    ) -> InstancesView:
        with _as_tool_errors():
            chosen = await targets(instance_ids, name_prefix, name_glob, older_than, in_ledger)
            seen: list[InstanceView] = []

            async def read(instance_id: str) -> None:
                with contextlib.suppress(AuraError):  # gone meanwhile: not shown
                    seen.append(instance_view(await aura.instances.get(instance_id)))

            async with anyio.create_task_group() as tg:
                for instance_id in chosen:
                    tg.start_soon(read, instance_id)
        seen.sort(key=lambda v: v["name"])
        return InstancesView(count=len(seen), instances=seen)

    @server.tool(
        name="wait_for_instances",
        description="Wait until instances are running, paused or deleted (all at once, "
        "polling on the shared budget), e.g. those still_pending after a create that timed "
        "out. Returns each one's status." + SECRET_NOTE,
        annotations=_READ,
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
                seen = await aura.instances.wait(instance_id, operation, timeout=timeout_seconds)
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

    @server.tool(
        name="verify_instance",
        description="Connect to an instance with the credentials the ledger saved for it and "
        "run RETURN 1 (the official Neo4j driver): proves the database accepts connections. "
        "A refused password fails at once (the saved copy is stale)." + SECRET_NOTE,
        annotations=_READ,
    )
    async def verify_instance(
        instance_id: Annotated[str, Field(description="The instance id.")],
        timeout_seconds: Timeout = None,
    ) -> VerifyView:
        with _as_tool_errors():
            credentials = await store.lookup(instance_id=instance_id)
            if credentials is None:
                raise Refused(f"the ledger holds no credentials of instance {instance_id}")
            found = await aura.instances.verify(credentials, timeout=timeout_seconds)
        return VerifyView(
            instance_id=found.instance_id,
            connection_url=found.connection_url,
            server=found.server,
            attempts=found.attempts,
            elapsed_seconds=round(found.elapsed, 3),
        )

    if rails.read_only:
        return server

    # ------------------------------------------------------------------ changing

    @server.tool(
        name="create_instances",
        description="Create one instance, COUNT copies named by a pattern, or a list of "
        "specs, and (by default) wait until they run, reporting progress. A name already in "
        "use is adopted (taken over: it joins the ledger, so in_ledger teardowns delete it "
        "too), never created twice. Each password is saved to the credential "
        "ledger before anything else happens (and to a .env file per instance with "
        "write_env_files=true); the result names where, and the environment variables. "
        "Values for type, region, memory and cloud_provider: see get_project." + SECRET_NOTE,
        annotations=_CHANGE,
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
        with _as_tool_errors():
            chosen = _specs(name, type, memory, region, cloud_provider, version, specs)
            names = _names(chosen, count, name_pattern)
            for each in names:
                rails.check_name(each)
            await _check_sources(chosen)
            ledger: CredentialStore = store
            env: EnvFileStore | None = None
            if write_env_files:
                if env_dir is None:
                    raise Refused("this server writes no .env files (start it with --env-dir)")
                directory = prepare_env_dir(env_dir)
                for each in names:  # each file inside the directory, checked before creating
                    env_file_in(directory, each)
                env = EnvFileStore(store, lambda c: env_file_in(directory, c.name))
                ledger = env
            async with reporting(ctx, aura, "create", len(names), names=set(names)):
                report = await aura.fleet.create(
                    chosen if count is None else chosen[0],
                    count=count,
                    pattern=name_pattern,
                    wait=wait,
                    timeout=timeout_seconds,
                    on_error=on_error,
                    store=ledger,
                    verify=verify,
                )
            await _salvage(report)
        written = {} if env is None else {i: str(p) for i, p in env.written.items()}
        view = fleet_view(report, ledger=store.location, env_files=written)
        if env is not None and env.failures:
            view["summary"] += f"; {len(env.failures)} .env file(s) not written"
        return view

    @server.tool(
        name="pause_instances",
        description="Pause the chosen instances (they stop serving; billing drops) and wait "
        "until paused. Needs confirm=true; without it, lists what it would pause." + SECRET_NOTE,
        annotations=_DESTROY,
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
        return await change(
            ctx,
            "pause",
            (instance_ids, name_prefix, name_glob, older_than, in_ledger),
            lambda ids: aura.fleet.pause(ids, timeout=timeout_seconds),
            confirm=confirm,
        )

    @server.tool(
        name="resume_instances",
        description="Resume the chosen paused instances and wait until they run." + SECRET_NOTE,
        annotations=_CHANGE,
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
        return await change(
            ctx,
            "resume",
            (instance_ids, name_prefix, name_glob, older_than, in_ledger),
            lambda ids: aura.fleet.resume(ids, timeout=timeout_seconds),
        )

    @server.tool(
        name="resize_instances",
        description="Change the memory (and storage) of the chosen instances and wait until "
        "the new size shows (sizes on offer: get_project)." + SECRET_NOTE,
        annotations=_CHANGE,
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
        return await change(
            ctx,
            "resize",
            (instance_ids, name_prefix, name_glob, older_than, in_ledger),
            lambda ids: aura.fleet.resize(
                ids, memory=memory, storage=storage, timeout=timeout_seconds
            ),
        )

    @server.tool(
        name="snapshot_instances",
        description="Take an on-demand snapshot of each chosen instance and wait until each "
        "completes." + SECRET_NOTE,
        annotations=_CHANGE,
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
        return await change(
            ctx,
            "snapshot",
            (instance_ids, name_prefix, name_glob, older_than, in_ledger),
            lambda ids: aura.fleet.snapshot(ids, timeout=timeout_seconds),
            wait_tool=None,
        )

    @server.tool(
        name="delete_instances",
        description="Delete the chosen instances (paused and still-creating ones too) and wait "
        "until each is proven gone; their ledger entries are marked deleted. Irreversible: "
        "needs confirm=true; dry_run=true (or no confirm) lists what would go." + SECRET_NOTE,
        annotations=_DESTROY,
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
            with _as_tool_errors():
                chosen = await targets(*chosen_by)
                return fleet_view(await aura.fleet.delete(list(chosen), dry_run=True, store=store))
        return await change(
            ctx,
            "delete",
            chosen_by,
            lambda ids: aura.fleet.delete(ids, timeout=timeout_seconds, store=store),
            confirm=confirm,
        )

    @server.tool(
        name="recover",
        description="After a crash or a cancelled call: match every ledger entry against the "
        "project, so that no instance created is unknown; with delete_lost=true (and "
        "confirm=true) delete instances whose password was never received." + SECRET_NOTE,
        annotations=_DESTROY,
    )
    async def recover(
        delete_lost: Annotated[
            bool, Field(description="Delete instances created without a known password.")
        ] = False,
        confirm: Confirm = False,
    ) -> RecoveryView:
        with _as_tool_errors():
            report = await aura.fleet.recover(store)
            if not delete_lost:
                return recovery_view(report)
            lost = {e.instance_id: e.name for e in report.lost if e.instance_id}
            rails.check_names(lost)
            confirm_or_refuse(confirm, "recover(delete_lost=true)", _plan(lost))
            if lost:
                await aura.fleet.delete(list(lost), store=store)
            return recovery_view(await aura.fleet.recover(store))

    return server


def _limits(aura: AuraClient, rails: Guard) -> str:
    """What this server's instructions add: its rate budget and guard rails."""
    lines = []
    rate = aura.limiter.rate if aura.limiter is not None else None
    if rate is not None:
        lines.append(f"The rate budget is {rate.limit} requests per {rate.period:g} s.")
    if rails.read_only:
        lines.append("This server is read-only: it offers no tool that changes anything.")
    if rails.prefix is not None:
        lines.append(
            f"This server only creates and changes instances whose names start with "
            f"{rails.prefix!r}."
        )
    return "\n".join(lines) + ("\n" if lines else "")


def _plan(chosen: dict[str, str]) -> list[str]:
    return [f"{name} ({instance_id})" for instance_id, name in sorted(chosen.items())]


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
