"""What the fleet commands share (fleet_up.py, fleet_changes.py): the selector, wait and
error-policy options, running a fleet call with live progress and Ctrl-C as a cancel, and
printing its report and exit code.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import attrs
import click

from aura_async.cli.commands._common import (
    cli_text,
    timeout_option,
    unsaved,
    unsaved_message,
)
from aura_async.cli.output import safe
from aura_async.cli.progress import live_progress
from aura_async.cli.runtime import PartialFailure, Runtime, in_ci
from aura_async.client import AuraClient
from aura_async.errors import AuraError, ValidationError
from aura_async.fleet.events import FleetItemFinished
from aura_async.fleet.report import FleetItem, FleetReport, Outcome
from aura_async.fleet.selectors import Selector, parse_age
from aura_async.models import Instance

__all__ = [
    "RECOVER_COLUMNS",
    "STATUS_COLUMNS",
    "STATUS_KEYS",
    "chosen_by",
    "conclude",
    "error_policy",
    "on_error_option",
    "report_order",
    "run_fleet",
    "selector_options",
    "show_report",
    "show_unsaved",
    "sorted_items",
    "wait_options",
]

F = TypeVar("F", bound=Callable[..., Any])

REPORT_COLUMNS = ["name", "id", "outcome", "status", "error"]
# A snapshot's row shows the snapshot: its id, and its status where the instance's would be.
SNAPSHOT_COLUMNS = ["name", "id", "snapshot_id", "outcome", "status", "error"]
# A verified create's row says how long after running its database answered.
VERIFIED_COLUMNS = ["name", "id", "outcome", "status", "connectable_after", "error"]
STATUS_COLUMNS = ["name", "id", "status", "type", "memory", "region"]
# Every row of `fleet status -o json` has these keys: the instance's, and the error reading it.
STATUS_KEYS = [*(field.name for field in attrs.fields(Instance)), "error"]
RECOVER_COLUMNS = [
    "name",
    "instance_id",
    "state",
    "exists",
    "credentials_known",
    "deleted",
    "error",
]
_GOOD = (Outcome.SUCCEEDED, Outcome.ADOPTED)


class _NothingSucceeded(AuraError):
    """A fleet call in which no item succeeded (exit 1)."""


# ---------------------------------------------------------------------- options


def _age(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_age(value).total_seconds()
    except ValidationError as error:
        raise click.BadParameter(error.message) from None


def selector_options(command: F) -> F:
    options = [
        click.option(
            "--id", "ids", multiple=True, metavar="ID", help="This instance (repeat for more)."
        ),
        click.option("--prefix", metavar="PREFIX", help="Instances whose name starts with PREFIX."),
        click.option(
            "--glob",
            metavar="PATTERN",
            help="Instances whose name matches a shell pattern ('ci-*').",
        ),
        click.option(
            "--older-than",
            metavar="AGE",
            callback=_age,
            help="Instances created longer ago than AGE (45s, 90m, 2h, 1d12h).",
        ),
        click.option(
            "--ledger",
            is_flag=True,
            help="Instances in the credential store's ledger (--credentials-dir) not yet deleted.",
        ),
        click.option(
            "--all",
            "everything",
            is_flag=True,
            help="Every instance of the project (needed to choose with no other criterion).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def wait_options(command: F) -> F:
    options = [
        click.option("--no-wait", is_flag=True, help="Return once the API accepted each change."),
        timeout_option(
            "How long each item may wait (600, 10m, 1h; API time; 0: do not wait); default: "
            "the usual time of the operation plus the fleet's queue at the rate limit."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def on_error_option(default: str, *, rollback: bool = False) -> Callable[[F], F]:
    choices = ["continue", "stop", "rollback"] if rollback else ["continue", "stop"]
    return click.option(
        "--on-error",
        type=click.Choice(choices),
        default=None,
        help=f"When an item fails: carry on, stop starting more"
        f"{', or stop and delete what this call created' if rollback else ''} "
        f"(default {default}).",
    )


@attrs.frozen
class _Choice:
    """The selector flags of one invocation."""

    ids: tuple[str, ...]
    prefix: str | None
    glob: str | None
    older_than: float | None
    ledger: bool
    everything: bool

    def selector(self, rt: Runtime) -> Selector:
        """The :class:`Selector` (ValidationError on a malformed id).

        Raises:
            click.UsageError: no criterion given.
        """
        given = (self.ids, self.prefix, self.glob, self.older_than, self.ledger)
        if not any(given) and not self.everything:
            raise click.UsageError(
                "choose instances with --id, --prefix, --glob, --older-than or --ledger "
                "(or --all for every instance of the project)"
            )
        return Selector(
            ids=self.ids or None,
            prefix=self.prefix,
            glob=self.glob,
            older_than=self.older_than,
            ledger=rt.store() if self.ledger else None,
            everything=self.everything,
        )


def chosen_by(kwargs: dict[str, Any]) -> _Choice:
    return _Choice(
        ids=tuple(kwargs.pop("ids")),
        prefix=kwargs.pop("prefix"),
        glob=kwargs.pop("glob"),
        older_than=kwargs.pop("older_than"),
        ledger=kwargs.pop("ledger"),
        everything=kwargs.pop("everything"),
    )


# ---------------------------------------------------------------------- running


async def run_fleet(
    rt: Runtime,
    aura: AuraClient,
    operation: str,
    call: Callable[[], Awaitable[FleetReport]],
) -> FleetReport:
    """Run one fleet call with live progress (on a terminal) and Ctrl-C as a cancel."""
    limiter = aura.limiter
    with live_progress(
        rt.output,
        rt.listeners,
        operation,
        budget=limiter.rate if limiter is not None else None,
        enabled=not in_ci(),
    ) as progress:
        if progress is not None:
            return await call()
        with _worded_events(rt):
            return await call()


@contextmanager
def _worded_events(rt: Runtime) -> Iterator[None]:
    """Print events (no live display) with their errors in the command line's words."""

    def listen(event: object) -> None:
        if isinstance(event, FleetItemFinished) and event.error:
            event = attrs.evolve(event, error=cli_text(event.error))
        rt.output.event(event)

    rt.listeners.append(listen)
    try:
        yield
    finally:
        rt.listeners.remove(listen)


def report_order(name: str | None, instance_id: str | None) -> tuple[Any, ...]:
    """How fleet output is sorted: by name, numbers by value (ci-2 before ci-10), then id."""
    parts = re.split(r"(\d+)", name or "")
    # Even places hold text, odd ones numbers: two keys always compare like with like.
    natural = [int(part) if index % 2 else part for index, part in enumerate(parts)]
    return (natural, name or "", instance_id or "")


def sorted_items(report: FleetReport) -> list[FleetItem]:
    return sorted(report.items, key=lambda item: report_order(item.name, item.instance_id))


def _error_text(item: FleetItem) -> str | None:
    if item.error is None:
        return None
    if unsaved(item):
        return unsaved_message(item, "printed on standard error")
    return cli_text(str(item.error))


def _rows(report: FleetReport) -> list[dict[str, Any]]:
    def outcome(item: FleetItem) -> str | None:
        if report.dry_run:  # a plan: its items are "skipped" as nothing was done
            return "planned"
        return None if item.outcome is None else item.outcome.value

    def status(item: FleetItem) -> str | None:
        if report.operation == "snapshot":
            return item.snapshot_status
        if item.already_gone:
            return "already gone"
        return None if item.instance is None else str(item.instance.status)

    return [
        {
            "name": item.name,
            "id": item.instance_id,
            "snapshot_id": item.snapshot_id,
            "outcome": outcome(item),
            "status": status(item),
            "connectable_after": (
                None if item.connectable_after is None else f"{item.connectable_after:.1f}s"
            ),
            "error": _error_text(item),
        }
        for item in sorted_items(report)
    ]


def show_report(rt: Runtime, report: FleetReport) -> None:
    """Print the report, its items by name: summary and table, or its JSON."""
    if rt.output.mode == "table":
        rows = _rows(report)
        if report.dry_run and rows:
            summary = (
                f"{report.operation} (dry run): {len(rows)} planned, nothing changed; "
                f"{report.requests} requests"
            )
        else:
            summary = report.summary()
        columns = (
            SNAPSHOT_COLUMNS
            if report.operation == "snapshot"
            else VERIFIED_COLUMNS
            if report.connectable_after is not None
            else REPORT_COLUMNS
        )
        rt.output.result(rows, columns=columns, message=summary)
        return
    data = report.to_json()
    errors = {id(item): _error_text(item) for item in report.items}
    items = [
        {**json, "error": errors[id(item)]}
        for item, json in sorted(
            zip(report.items, data["items"], strict=True),
            key=lambda pair: report_order(pair[0].name, pair[0].instance_id),
        )
    ]
    rt.output.result({**data, "items": items})


def show_unsaved(rt: Runtime, report: FleetReport) -> None:
    """Print the credentials the store failed to save (stderr, always): the only copy."""
    lost = [item for item in sorted_items(report) if unsaved(item)]
    if not lost:
        return
    rt.output.warn(
        f"the credential store failed: the credentials of {len(lost)} new instance(s) were "
        "NOT saved. Below is the only copy of them (printed even without --show-password): "
        "save them now"
    )
    for item in lost:
        credentials = item.credentials
        assert credentials is not None
        rt.output.errors.print(
            safe(
                f"  name={credentials.name} id={credentials.instance_id} "
                f"uri={credentials.connection_url or ''} username={credentials.username} "
                f"password={credentials.password}"
            ),
            highlight=False,
            markup=False,
        )


def conclude(report: FleetReport, *, failed_extra: bool = False) -> None:
    """Raise for the exit code: 0 ok, 3 partial, 1 when no item succeeded."""
    if report.ok and not failed_extra:
        return
    if report.ok or any(item.outcome in _GOOD for item in report.items):
        raise PartialFailure()
    totals = ", ".join(f"{n} {outcome.value}" for outcome, n in report.totals.items())
    raise _NothingSucceeded(f"fleet {report.operation}: no item succeeded ({totals})")


def error_policy(on_error: str | None, default: str) -> str:
    return on_error or default
