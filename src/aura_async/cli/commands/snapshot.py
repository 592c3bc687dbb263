"""Commands: ``instance snapshot`` (list, get, create, restore): an instance's snapshots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from aura_async.cli.commands._common import await_options, pass_runtime, show, waiting
from aura_async.cli.commands._instances import INSTANCE_COLUMNS
from aura_async.cli.runtime import Runtime
from aura_async.client import AuraClient

__all__ = ["snapshot"]

SNAPSHOT_COLUMNS = ("snapshot_id", "instance_id", "status", "profile", "timestamp", "exportable")


@click.group("snapshot")
def snapshot() -> None:
    """An instance's snapshots: list, inspect, take one, restore from one."""


_instance_id_option = click.option("--instance-id", required=True, help="The instance.")


@snapshot.command("list")
@_instance_id_option
@click.option("--date", metavar="YYYY-MM-DD", help="The day (UTC; default today).")
@pass_runtime
def snapshot_list(rt: Runtime, instance_id: str, date: str | None) -> None:
    """List the snapshots an instance took on one day."""
    show(rt, lambda aura: aura.snapshots.list(instance_id, date=date), SNAPSHOT_COLUMNS)


def _snapshot_id_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The snapshot as a positional or as ``--snapshot-id`` (both spellings are aura-cli's)."""
    command = click.option(
        "--snapshot-id",
        "snapshot_id_option",
        metavar="ID",
        help="The snapshot (or as the argument).",
    )(command)
    return click.argument("snapshot_id", required=False)(command)


def _one_snapshot_id(positional: str | None, option: str | None) -> str:
    """The snapshot id given one way or the other.

    Raises:
        click.UsageError: none given, or two that differ.
    """
    if positional and option and positional != option:
        raise click.UsageError(f"two snapshot ids given: {positional} and --snapshot-id {option}")
    chosen = positional or option
    if not chosen:
        raise click.UsageError("a snapshot id is needed: SNAPSHOT_ID or --snapshot-id ID")
    return chosen


@snapshot.command("get")
@_snapshot_id_options
@_instance_id_option
@pass_runtime
def snapshot_get(
    rt: Runtime, snapshot_id: str | None, snapshot_id_option: str | None, instance_id: str
) -> None:
    """Show a snapshot with its status."""
    chosen = _one_snapshot_id(snapshot_id, snapshot_id_option)
    show(rt, lambda aura: aura.snapshots.get(instance_id, chosen), SNAPSHOT_COLUMNS)


@snapshot.command("create")
@_instance_id_option
@await_options("the snapshot is completed (then the snapshot is printed, not just its id)")
@pass_runtime
def snapshot_create(rt: Runtime, instance_id: str, wait: bool, timeout: float | None) -> None:
    """Take a snapshot of an instance now."""
    wait, timeout = waiting(rt, wait, timeout)

    async def call(aura: AuraClient) -> Any:
        created = await aura.snapshots.create(instance_id)
        if not wait:
            return created
        return await aura.snapshots.wait(instance_id, created.snapshot_id, timeout=timeout)

    show(rt, call, SNAPSHOT_COLUMNS)


@snapshot.command("restore")
@_snapshot_id_options
@_instance_id_option
@await_options("the instance runs again with the snapshot's data")
@pass_runtime
def snapshot_restore(
    rt: Runtime,
    snapshot_id: str | None,
    snapshot_id_option: str | None,
    instance_id: str,
    wait: bool,
    timeout: float | None,
) -> None:
    """Restore an instance from one of its completed snapshots."""
    chosen = _one_snapshot_id(snapshot_id, snapshot_id_option)
    wait, timeout = waiting(rt, wait, timeout)
    show(
        rt,
        lambda aura: aura.snapshots.restore(instance_id, chosen, wait=wait, timeout=timeout),
        INSTANCE_COLUMNS,
    )
