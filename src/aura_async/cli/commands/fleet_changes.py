"""Commands: ``fleet down|pause|resume|resize|snapshot|status|recover``: act on the chosen
instances of a fleet, show them, or put the ledger right after an interrupted run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import click

from aura_async.cli.commands._common import (
    cli_text,
    pass_runtime,
    real_seconds,
    run,
    yes_option,
)
from aura_async.cli.commands._fleet_common import (
    RECOVER_COLUMNS,
    STATUS_COLUMNS,
    STATUS_KEYS,
    chosen_by,
    conclude,
    error_policy,
    on_error_option,
    report_order,
    run_fleet,
    selector_options,
    show_report,
    sorted_items,
    wait_options,
)
from aura_async.cli.runtime import PartialFailure, Runtime
from aura_async.errors import AuraError, NotFoundError
from aura_async.fleet.fleet import RecoveryReport
from aura_async.fleet.selectors import Selector

__all__ = ["down", "pause", "recover", "resize", "resume", "snapshot", "status"]


@click.command("down")
@selector_options
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; send only the listing.")
@wait_options
@on_error_option("continue")
@yes_option
@pass_runtime
def down(
    rt: Runtime,
    /,
    dry_run: bool,
    no_wait: bool,
    timeout: float | None,
    on_error: str | None,
    **kw: Any,
) -> None:
    """Delete the chosen instances (asks first; --yes to skip); safe to run again.

    With --dry-run: the plan (outcome "planned"; as JSON, the report with dry_run true).
    """
    choice = chosen_by(kw)

    async def body() -> None:
        selector = choice.selector(rt)
        store = rt.store()
        async with rt.client() as aura:
            plan = await aura.fleet.delete(selector, dry_run=True)
            if dry_run or not plan.items:
                show_report(rt, plan)
                return
            names = [item.name for item in sorted_items(plan)]
            shown = ", ".join(names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            rt.confirm(f"Delete {len(names)} instances: {shown}?")
            ids = tuple(item.instance_id for item in plan.items if item.instance_id)
            report = await run_fleet(
                rt,
                aura,
                "delete",
                lambda: aura.fleet.delete(
                    Selector(ids=ids, tenant_id=selector.tenant_id),
                    wait=not no_wait,
                    timeout=real_seconds(rt, timeout),
                    on_error=error_policy(on_error, "continue"),
                    store=store,
                ),
            )
        show_report(rt, report)
        conclude(report)

    run(rt, body)


def _change_command(operation: str, doc: str, *, resize: bool = False) -> click.Command:
    """``fleet pause|resume|snapshot|resize``: a selector, waits, an error policy."""

    def command(
        rt: Runtime,
        no_wait: bool,
        timeout: float | None,
        on_error: str | None,
        memory: str | None = None,
        storage: str | None = None,
        **kw: Any,
    ) -> None:
        choice = chosen_by(kw)
        if resize and memory is None and storage is None:
            raise click.UsageError("resize needs --memory or --storage")

        async def body() -> None:
            selector = choice.selector(rt)
            async with rt.client() as aura:
                options: dict[str, Any] = {
                    "wait": not no_wait,
                    "timeout": real_seconds(rt, timeout),
                    "on_error": error_policy(on_error, "continue"),
                }
                if resize:
                    # The sizes are checked against the project's before anything is chosen.
                    await aura.instances.validate_resize(
                        memory=memory, storage=storage, tenant_id=selector.tenant_id
                    )
                    options.update(memory=memory, storage=storage)
                verb = getattr(aura.fleet, operation)
                report = await run_fleet(rt, aura, operation, lambda: verb(selector, **options))
            show_report(rt, report)
            conclude(report)

        run(rt, body)

    command.__doc__ = doc
    decorated: Callable[..., None] = pass_runtime(command)
    decorated = on_error_option("continue")(decorated)
    decorated = wait_options(decorated)
    if resize:
        decorated = click.option("--storage", help="New storage size, e.g. 8GB.")(decorated)
        decorated = click.option("--memory", help="New memory size, e.g. 4GB.")(decorated)
    decorated = selector_options(decorated)
    return click.command(operation)(decorated)


pause = _change_command("pause", "Pause the chosen instances (those already paused are skipped).")
resume = _change_command("resume", "Resume the chosen paused instances (running ones are skipped).")
resize = _change_command(
    "resize", "Change the memory and/or storage of the chosen instances.", resize=True
)
snapshot = _change_command("snapshot", "Take an on-demand snapshot of each chosen instance.")


@click.command("status")
@selector_options
@pass_runtime
def status(rt: Runtime, /, **kw: Any) -> None:
    """The chosen instances with their current status (one GET each, at once)."""
    choice = chosen_by(kw)

    async def body() -> None:
        selector = choice.selector(rt)
        failed = False
        async with rt.client() as aura:
            chosen = sorted(
                await aura.fleet.select(selector), key=lambda s: report_order(s.name, s.id)
            )
            rows: list[dict[str, Any]] = [{} for _ in chosen]

            def row(instance_id: str, name: str, **known: Any) -> dict[str, Any]:
                return {**dict.fromkeys(STATUS_KEYS), "id": instance_id, "name": name, **known}

            async def look(index: int, instance_id: str, name: str) -> None:
                nonlocal failed
                try:
                    instance = await aura.instances.get(instance_id)
                except NotFoundError:
                    rows[index] = row(instance_id, name, status="not found")
                    return
                except AuraError as error:
                    failed = True
                    rows[index] = row(instance_id, name, error=cli_text(str(error)))
                    return
                rows[index] = {**row(instance_id, name), **rt.output.data(instance)}

            async def everything() -> None:
                async with anyio.create_task_group() as tg:
                    for index, summary in enumerate(chosen):
                        tg.start_soon(look, index, summary.id, summary.name)

            await everything()
        columns = [*STATUS_COLUMNS, "error"] if failed else STATUS_COLUMNS
        rt.output.result(rows, columns=columns)
        if failed:
            raise PartialFailure()

    run(rt, body)


@click.command("recover")
@click.option(
    "--delete-lost",
    is_flag=True,
    help="Delete the instances whose password was never saved (asks first; --yes to skip).",
)
@yes_option
@pass_runtime
def recover(rt: Runtime, delete_lost: bool) -> None:
    """Match the credential store's ledger against the project, after a crash or Ctrl-C.

    Every intent is accounted for: created (password saved), credentials-lost (the instance
    exists without a known password), not-created, or deleted.
    """

    async def body() -> None:
        store = rt.store()
        async with rt.client() as aura:
            report = await aura.fleet.recover(store)
            lost = [e for e in report.lost if e.exists]
            if delete_lost and lost:
                names = ", ".join(f"{e.name} ({e.instance_id})" for e in lost)
                rt.confirm(f"Delete {len(lost)} instances whose password was lost: {names}?")
                report = await aura.fleet.recover(store, delete_lost=True)
        _show_recovery(rt, report)
        if any(e.error for e in report.entries):
            raise PartialFailure()

    run(rt, body)


def _show_recovery(rt: Runtime, report: RecoveryReport) -> None:
    data = report.to_json()
    data["entries"].sort(key=lambda e: report_order(e["name"], e["instance_id"]))
    data["unknown"].sort(key=lambda s: report_order(s["name"], s["id"]))
    if rt.output.mode != "table":
        rt.output.result(data)
        return
    lost = [e for e in report.lost if e.exists]
    summary = (
        f"recover: {len(report.entries)} ledger entries, {len(lost)} instances without a "
        f"known password, {len(report.unknown)} unknown, {report.requests} requests"
    )
    rt.output.result(data["entries"], columns=RECOVER_COLUMNS, message=summary)
    for summary_of in sorted(report.unknown, key=lambda s: report_order(s.name, s.id)):
        rt.output.warn(
            f"{summary_of.name} ({summary_of.id}) has a ledger name but matches no entry"
        )
    if lost:
        rt.output.note("run `aura-async fleet recover --delete-lost` to delete them")
