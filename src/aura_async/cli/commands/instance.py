"""Commands: the ``instance`` group and its list, get, create, update, pause, resume, delete,
overwrite, upgrade, sizing here, ``wait`` and ``verify`` from instance_waits.py, and the
``snapshot`` group (list, get, create, restore) from snapshot.py.

``--timeout`` counts the API's clock (seconds, or a duration such as ``10m``): against an
emulator whose clock runs faster (``--emulator``, ``--time-scale``) a wait gives up that much
sooner, as the operations finish.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import click

from aura_async._validation import check_instance_id
from aura_async.cli.commands._common import (
    CLOUDS,
    TYPES,
    Gone,
    await_options,
    gather,
    in_tenant,
    only_tenant,
    pass_runtime,
    run,
    show,
    sizing_options,
    unsaved,
    unsaved_message,
    verify_option,
    waiting,
    yes_option,
)
from aura_async.cli.commands._instances import INSTANCE_COLUMNS, instance_getter
from aura_async.cli.commands.instance_waits import instance_verify, instance_wait
from aura_async.cli.commands.snapshot import snapshot
from aura_async.cli.envfiles import EnvFileStore, prepare_env_file
from aura_async.cli.runtime import Runtime
from aura_async.client import AuraClient
from aura_async.errors import AuraError, NotFoundError
from aura_async.fleet import (
    FleetFinished,
    FleetItem,
    FleetItemFinished,
    FleetStarted,
    InstanceSpec,
    Outcome,
    write_env_file,
)
from aura_async.models import Instance

__all__ = ["register"]

SUMMARY_COLUMNS = ("id", "name", "tenant_id", "cloud_provider", "created_at")
DETAIL_COLUMNS = ("id", "name", "status", "type", "memory", "cloud_provider", "region", "tenant_id")
CREATED_COLUMNS = (
    "id",
    "name",
    "status",
    "type",
    "region",
    "connection_url",
    "username",
    "password",
)
SIZING_COLUMNS = ("recommended_size", "min_required_memory", "did_exceed_maximum")
GONE_COLUMNS = ("id", "status")
# What a delete of an instance proven absent prints: success, as deleting it was the goal.
ALREADY_GONE = "already gone"


def _done(what: str) -> Callable[[Any], str]:
    return lambda value: f"{what} {value.id}: {value.status}"


# --------------------------------------------------------------------------- instance


@click.group()
def instance() -> None:
    """Database instances: create, change, pause, resume, delete, and wait for them."""


@instance.command("list")
@only_tenant
@click.option(
    "--detail", is_flag=True, help="Get each instance too, for its status, memory and type."
)
@pass_runtime
def instance_list(rt: Runtime, tenant_id: str | None, detail: bool) -> None:
    """List instances (with --detail: one more request each, made concurrently)."""

    async def listing(aura: AuraClient) -> list[Any]:
        summaries = await aura.instances.list(tenant_id=tenant_id)
        if not detail:
            return summaries
        found = await gather([instance_getter(aura, s.id) for s in summaries])
        return [i for i in found if i is not None]  # deleted meanwhile: gone from the list

    show(rt, listing, DETAIL_COLUMNS if detail else SUMMARY_COLUMNS)


@instance.command("get")
@click.argument("instance_id")
@pass_runtime
def instance_get(rt: Runtime, instance_id: str) -> None:
    """Show an instance with its status."""
    show(rt, lambda aura: aura.instances.get(instance_id), INSTANCE_COLUMNS)


@attrs.frozen(kw_only=True)
class CreatedView:
    """What ``instance create`` prints (the password only with --show-password)."""

    id: str
    name: str
    status: str
    type: str
    memory: str | None
    storage: str | None
    cloud_provider: str
    region: str
    tenant_id: str | None
    connection_url: str | None
    username: str
    password: str = attrs.field(repr=False)
    created_at: dt.datetime | None
    credentials_file: str | None
    env_file: str | None
    connectable_after: float | None = None


@instance.command("create")
@click.option("--name", required=True, help="The instance's name (1 to 30 characters).")
@click.option("--type", "type", required=True, metavar="TYPE", help=f"One of {TYPES}.")
@click.option("--memory", help="Memory such as 8GB (free-db: 1GB, the default).")
@click.option("--region", help="A region of the cloud, such as europe-west1.")
@click.option("--cloud-provider", metavar="CLOUD", help=f"One of {CLOUDS}.")
@click.option("--version", default="5", show_default=True, help="The Neo4j version.")
@in_tenant
@click.option("--customer-managed-key-id", help="Encrypt it with this key (VDC, AuraDS).")
@click.option("--vector-optimized", is_flag=True, default=None, help="Optimize for vectors.")
@click.option(
    "--graph-analytics-plugin",
    is_flag=True,
    default=None,
    help="Enable the Graph Analytics plugin (professional-db).",
)
@click.option("--storage", help="Storage such as 16GB (where the tier lets you choose).")
@click.option("--source-instance-id", help="Start with a copy of this instance's data.")
@click.option("--source-snapshot-id", help="...from this snapshot of it.")
@click.option(
    "--env-file",
    type=click.Path(path_type=Path),
    help="Also write the credentials to this .env file (mode 0600, added to .gitignore).",
)
@await_options("the instance is running")
@verify_option
@pass_runtime
def instance_create(
    rt: Runtime,
    /,
    env_file: Path | None,
    wait: bool,
    timeout: float | None,
    verify: bool,
    **fields: Any,
) -> None:
    """Create an instance; its credentials go to the credential store.

    The password is shown once by the API: it is saved (mode 0600) under --credentials-dir
    before anything else happens, and printed only with --show-password. The create goes
    through the same ledger as fleet creates: its intent is recorded before the request, so
    a create cut short is found again by `fleet recover`.
    """
    spec = InstanceSpec(**fields)
    if verify and timeout == 0:
        raise click.UsageError("--verify waits until the instance runs: drop --timeout 0")
    if verify:
        rt.check_verifiable()
    wait, timeout = waiting(rt, wait or verify, timeout)
    rt.listeners.append(_without_fleet_events(rt))

    async def body() -> None:
        # Every place the command will write is made and checked before the first request:
        # a path that cannot be written must stop it while nothing billable exists.
        store = rt.store()
        await store.prepare()
        target = prepare_env_file(env_file) if env_file is not None else None
        ledger = store if target is None else EnvFileStore(store, lambda _: target)
        async with rt.client() as aura:
            # Checked against the project's offer too: a refusal sends nothing billable.
            payload = await aura.instances.validate_create(**spec.create_arguments())
            report = await aura.fleet.create(
                spec, wait=wait, timeout=timeout, store=ledger, adopt=False, verify=verify
            )
        item = report.items[0]
        if item.credentials is not None:
            saved = store.directory / "credentials" / f"{item.credentials.instance_id}.json"
            await _print_created(rt, item, payload, saved if item.saved_to else None, target)
        if item.error is not None or item.outcome is not Outcome.SUCCEEDED:
            raise _failure(item)

    run(rt, body)


def _without_fleet_events(rt: Runtime) -> Callable[[object], None]:
    """Print a one-instance create's events but the fleet's own (its start, its item's end):
    the result and the error say that once."""

    def listen(event: object) -> None:
        if not isinstance(event, FleetStarted | FleetItemFinished | FleetFinished):
            rt.output.event(event)

    return listen


async def _print_created(
    rt: Runtime,
    item: FleetItem,
    payload: dict[str, Any],
    saved: Path | None,
    env_file: Path | None,
) -> None:
    """Print a create's result, with its .env file (written again: the store wrote it as
    the credentials were saved, but not if the store failed, when it holds the only copy)."""
    credentials = item.credentials
    assert credentials is not None
    if saved is None:
        # The store failed: this is the only copy of the password, so it is shown.
        rt.output.show_password = True
        rt.output.warn("the credentials could not be saved: this is the only copy of them")
    env = None
    if env_file is not None:
        env = (await anyio.to_thread.run_sync(write_env_file, env_file, credentials)).resolve()
    seen = item.instance
    view = CreatedView(
        id=credentials.instance_id,
        name=credentials.name,
        status=str(seen.status) if seen else "creating",
        type=str(seen.type if seen else payload["type"]),
        memory=seen.memory if seen else payload.get("memory"),
        storage=seen.storage if seen else payload.get("storage"),
        cloud_provider=str(seen.cloud_provider if seen else payload["cloud_provider"]),
        region=seen.region if seen else payload["region"],
        tenant_id=credentials.tenant_id,
        connection_url=credentials.connection_url,
        username=credentials.username,
        password=credentials.password,
        created_at=credentials.created_at,
        credentials_file=str(saved) if saved else None,
        env_file=str(env) if env else None,
        connectable_after=(
            None if item.connectable_after is None else round(item.connectable_after, 3)
        ),
    )
    places = [str(p) for p in (saved, env) if p is not None]
    if saved is not None and rt.ledger_is_temporary:
        places[0] = "a temporary directory (the embedded emulator ends with the command)"
    where = " and ".join(places)
    columns: tuple[str, ...] = CREATED_COLUMNS
    if item.connectable_after is not None:
        columns = (*columns, "connectable_after")
    rt.output.result(
        view, columns=columns, message=f"Credentials saved to {where}" if where else None
    )


def _failure(item: FleetItem) -> AuraError:
    if unsaved(item):
        return AuraError(unsaved_message(item, "printed above"))
    if isinstance(item.error, AuraError):
        return item.error
    if item.error is not None:
        return AuraError(f"creating {item.name!r} failed: {item.error}")
    return AuraError(f"creating {item.name!r} did not finish ({item.outcome})")


@instance.command("update")
@click.argument("instance_id")
@click.option("--name", help="A new name (immediate).")
@click.option("--memory", help="A new memory size such as 16GB.")
@click.option("--storage", help="A new storage size such as 32GB.")
@click.option("--vector-optimized/--no-vector-optimized", default=None, help="Vector optimized.")
@click.option(
    "--graph-analytics-plugin/--no-graph-analytics-plugin",
    default=None,
    help="The Graph Analytics plugin.",
)
@click.option("--secondaries-count", type=int, help="Secondaries (Virtual Dedicated Cloud).")
@click.option("--cdc-enrichment-mode", metavar="MODE", help="OFF, DIFF or FULL.")
@await_options("the change shows and the instance runs again")
@pass_runtime
def instance_update(
    rt: Runtime, /, instance_id: str, wait: bool, timeout: float | None, **changes: Any
) -> None:
    """Rename, resize or reconfigure an instance."""
    wait, timeout = waiting(rt, wait, timeout)
    show(
        rt,
        lambda aura: aura.instances.update(instance_id, wait=wait, timeout=timeout, **changes),
        INSTANCE_COLUMNS,
    )


def _instance_action(
    until: str, act: Callable[[AuraClient], Callable[..., Awaitable[Instance]]]
) -> Callable[..., None]:
    """``instance pause`` and ``instance resume``: one id, --await."""

    @click.argument("instance_id")
    @await_options(until)
    @pass_runtime
    def command(rt: Runtime, instance_id: str, wait: bool, timeout: float | None) -> None:
        wait, timeout = waiting(rt, wait, timeout)
        show(rt, lambda aura: act(aura)(instance_id, wait=wait, timeout=timeout), INSTANCE_COLUMNS)

    return command


instance.command("pause", help="Pause a running instance.")(
    _instance_action("the instance is paused", lambda aura: aura.instances.pause)
)
instance.command("resume", help="Resume a paused instance.")(
    _instance_action("the instance is running", lambda aura: aura.instances.resume)
)


@instance.command("delete")
@click.argument("instance_id")
@await_options("the instance is gone")
@yes_option
@pass_runtime
def instance_delete(rt: Runtime, instance_id: str, wait: bool, timeout: float | None) -> None:
    """Delete an instance and its data, for good (asks first; --yes answers).

    Prints the id and the status: destroying, deleted once gone (with --await), or already
    gone when it was proven absent before (exit 0 all the same, as for fleet down).
    """
    wait, timeout = waiting(rt, wait, timeout)

    async def call(aura: AuraClient) -> Gone:
        if wait:
            took = await aura.instances.ensure_deleted(instance_id, wait=True, timeout=timeout)
            return Gone(instance_id) if took else Gone(instance_id, ALREADY_GONE)
        try:
            going = await aura.instances.delete(instance_id)
        except NotFoundError:
            going = None
        if going is not None:
            return Gone(going.id, str(going.status))
        # A 404 alone proves nothing (a just-created instance answers 404 for a while):
        # ensure_deleted proves it absent, or deletes it once that window is over.
        took = await aura.instances.ensure_deleted(instance_id, wait=False, timeout=timeout)
        return Gone(instance_id, "destroying") if took else Gone(instance_id, ALREADY_GONE)

    show(
        rt,
        call,
        GONE_COLUMNS,
        check=lambda: check_instance_id(instance_id),
        confirm=f"Delete instance {instance_id} and all its data?",
        message=_done("instance"),
    )


@instance.command("overwrite")
@click.argument("instance_id")
@click.option("--source-instance-id", help="Copy the data of this instance...")
@click.option(
    "--source-snapshot-id",
    help="...from this snapshot of it (default: a new one). Alone: a snapshot of INSTANCE_ID.",
)
@await_options("the instance runs again with the new data")
@pass_runtime
def instance_overwrite(
    rt: Runtime,
    instance_id: str,
    source_instance_id: str | None,
    source_snapshot_id: str | None,
    wait: bool,
    timeout: float | None,
) -> None:
    """Replace an instance's data with another instance's, or with one of its own snapshots.

    Give --source-instance-id (its data now, or with --source-snapshot-id one of its
    snapshots), or --source-snapshot-id alone for a snapshot of the instance itself.
    """
    if source_instance_id is None and source_snapshot_id is None:
        raise click.UsageError("give --source-instance-id, --source-snapshot-id or both")
    # A snapshot alone: the instance is its own source.
    source = instance_id if source_instance_id is None else source_instance_id
    wait, timeout = waiting(rt, wait, timeout)
    show(
        rt,
        lambda aura: aura.instances.overwrite(
            instance_id,
            source_instance_id=source,
            source_snapshot_id=source_snapshot_id,
            wait=wait,
            timeout=timeout,
        ),
        INSTANCE_COLUMNS,
    )


@instance.command("upgrade")
@click.argument("instance_id")
@click.option("--memory", help="Resize to this memory too (with --storage).")
@click.option("--storage", help="Resize to this storage too (with --memory).")
@pass_runtime
def instance_upgrade(
    rt: Runtime, instance_id: str, memory: str | None, storage: str | None
) -> None:
    """Upgrade AuraDB Professional to Business Critical (at once)."""
    show(
        rt,
        lambda aura: aura.instances.upgrade(instance_id, memory=memory, storage=storage),
        INSTANCE_COLUMNS,
    )


@instance.command("sizing")
@sizing_options
@click.option("--instance-type", metavar="TYPE", help=f"One of {TYPES}.")
@pass_runtime
def instance_sizing(rt: Runtime, /, **graph: Any) -> None:
    """Estimate the memory an AuraDS instance needs for a graph."""
    show(rt, lambda aura: aura.instances.sizing(**graph), SIZING_COLUMNS)


instance.add_command(instance_wait)
instance.add_command(instance_verify)
instance.add_command(snapshot)


def register(root: click.Group) -> None:
    """Add this module's commands to ``root``."""
    root.add_command(instance)
