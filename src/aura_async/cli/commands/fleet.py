"""Commands: ``fleet up|down|pause|resume|resize|snapshot|status|recover`` (``aura.fleet``).

Every verb checks its input before anything is sent (a bad spec file, selector or age exits
2 with nothing sent), runs the fleet call under the client's one rate budget with live
progress on a terminal (timestamped lines elsewhere, JSON lines with ``-o jsonl --events``),
and prints the report: a summary line and a table per item, ``FleetReport.to_json()`` as one
document, or one item per line with ``-o jsonl``. Exit codes: 0 every item ok, 3 some
failed, 1 none succeeded, 130 on Ctrl-C, 143 on SIGTERM.

Ctrl-C is turned into a cancel of the fleet call (not of whatever task happens to run), so
the fleet's shielded steps hold: creates already sent are carried to their answers and their
credentials saved, a ``--rollback`` deletes what was created, and the ledger says what
exists. A second Ctrl-C quits at once (``fleet recover`` accounts for what that cut short).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.abc
import attrs
import click

from aura_async.cli.commands._common import (
    cli_text,
    pass_runtime,
    real_seconds,
    run,
    timeout_option,
    unsaved,
    unsaved_message,
    verify_option,
    yes_option,
)
from aura_async.cli.envfiles import EnvFileStore, env_file_in, prepare_env_dir
from aura_async.cli.output import safe
from aura_async.cli.progress import live_progress
from aura_async.cli.runtime import PartialFailure, Runtime, in_ci
from aura_async.client import AuraClient
from aura_async.errors import AuraError, CredentialStoreError, NotFoundError, ValidationError
from aura_async.fleet.events import FleetItemFinished
from aura_async.fleet.fleet import RecoveryReport
from aura_async.fleet.report import FleetItem, FleetReport, Outcome
from aura_async.fleet.selectors import Selector, parse_age
from aura_async.fleet.specs import DEFAULT_PATTERN, InstanceSpec, expand, load_spec_file
from aura_async.fleet.store import FileStore, write_env_file
from aura_async.models import Instance

# load_spec_file lives in fleet.specs; it stays importable from here.
__all__ = ["load_spec_file", "register"]

T = TypeVar("T")
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


def _selector_options(command: F) -> F:
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


def _wait_options(command: F) -> F:
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


def _on_error_option(default: str, *, rollback: bool = False) -> Callable[[F], F]:
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


def _choice(kwargs: dict[str, Any]) -> _Choice:
    return _Choice(
        ids=tuple(kwargs.pop("ids")),
        prefix=kwargs.pop("prefix"),
        glob=kwargs.pop("glob"),
        older_than=kwargs.pop("older_than"),
        ledger=kwargs.pop("ledger"),
        everything=kwargs.pop("everything"),
    )


# ---------------------------------------------------------------------- spec files


async def _check_specs(aura: AuraClient, specs: list[InstanceSpec], where: str | None) -> None:
    """Check every spec as the API would, and against what the project offers, naming the
    file, the instance and the key; nothing billable is sent.

    Every spec is checked offline first (nothing at all is sent for a malformed one), then
    against the project's catalogue (one read of the project, kept by the client).
    """
    for offline in (True, False):
        for number, spec in enumerate(specs, start=1):
            try:
                if offline:
                    aura.instances.check_create(**spec.create_arguments())
                else:
                    await aura.instances.validate_create(**spec.create_arguments())
            except ValidationError as error:
                place = f"{where}: [[instance]] #{number} ({spec.name!r})" if where else spec.name
                key = (
                    f" (key {error.field!r})"
                    if error.field and error.field not in error.message
                    else ""
                )
                raise ValidationError(
                    f"{place}: {error.message}{key}", field=error.field, hint=error.hint
                ) from None


# ---------------------------------------------------------------------- running


async def _run_fleet(
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


def _order(name: str | None, instance_id: str | None) -> tuple[Any, ...]:
    """How fleet output is sorted: by name, numbers by value (ci-2 before ci-10), then id."""
    parts = re.split(r"(\d+)", name or "")
    # Even places hold text, odd ones numbers: two keys always compare like with like.
    natural = [int(part) if index % 2 else part for index, part in enumerate(parts)]
    return (natural, name or "", instance_id or "")


def _sorted_items(report: FleetReport) -> list[FleetItem]:
    return sorted(report.items, key=lambda item: _order(item.name, item.instance_id))


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
        for item in _sorted_items(report)
    ]


def _show(rt: Runtime, report: FleetReport) -> None:
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
            key=lambda pair: _order(pair[0].name, pair[0].instance_id),
        )
    ]
    rt.output.result({**data, "items": items})


def _show_unsaved(rt: Runtime, report: FleetReport) -> None:
    """Print the credentials the store failed to save (stderr, always): the only copy."""
    lost = [item for item in _sorted_items(report) if unsaved(item)]
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


def _conclude(report: FleetReport, *, failed_extra: bool = False) -> None:
    """Raise for the exit code: 0 ok, 3 partial, 1 when no item succeeded."""
    if report.ok and not failed_extra:
        return
    if report.ok or any(item.outcome in _GOOD for item in report.items):
        raise PartialFailure()
    totals = ", ".join(f"{n} {outcome.value}" for outcome, n in report.totals.items())
    raise _NothingSucceeded(f"fleet {report.operation}: no item succeeded ({totals})")


def _policy(on_error: str | None, default: str) -> str:
    return on_error or default


# ---------------------------------------------------------------------- commands


@click.group()
def fleet() -> None:
    """Many instances at once: up, down, pause, resume, resize, snapshot, status, recover.

    Choose instances with --id, --prefix, --glob, --older-than and --ledger (all must
    match), or --all. Creates record every intent and password in the credential store
    (--credentials-dir) before anything else happens.
    """


@fleet.command("up")
@click.option("--count", type=click.IntRange(min=1), help="Create COUNT copies of one spec.")
@click.option(
    "--name-pattern",
    "pattern",
    metavar="PATTERN",
    help="How the copies are named, with {name} and {n} (1-based): e.g. 'ci-{n:02d}' "
    f"(default {DEFAULT_PATTERN!r}).",
)
@click.option("--name", help="The base name ({name} in the pattern).")
@click.option(
    "--type", "type_", metavar="TYPE", help="Instance type (professional-db, free-db...)."
)
@click.option("--memory", help="Memory size, e.g. 2GB.")
@click.option("--storage", help="Storage size, e.g. 4GB.")
@click.option("--region", help="Cloud region, e.g. europe-west1.")
@click.option("--cloud-provider", metavar="CLOUD", help="gcp, aws or azure.")
@click.option("--version", "neo4j_version", metavar="VERSION", help="Neo4j version (default 5).")
@click.option("--source-instance-id", metavar="ID", help="Clone this instance.")
@click.option("--source-snapshot-id", metavar="ID", help="From this snapshot (with the source).")
@click.option("--customer-managed-key-id", metavar="ID", help="Encrypt with this key.")
@click.option("--vector-optimized/--no-vector-optimized", default=None)
@click.option("--graph-analytics-plugin/--no-graph-analytics-plugin", default=None)
@click.option(
    "--spec-file",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML file: one [[instance]] table per instance, a [defaults] table merged into each.",
)
@_on_error_option("stop", rollback=True)
@click.option(
    "--rollback",
    is_flag=True,
    help="Short for --on-error rollback: delete what this call created if anything fails "
    "or on Ctrl-C.",
)
@_wait_options
@click.option(
    "--no-adopt",
    is_flag=True,
    help="Do not list the project first: names are known to be new (a twin is made if not).",
)
@click.option(
    "--env-dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Also write each instance's credentials to DIR/<name>.env (mode 0600, git-ignored).",
)
@verify_option
@pass_runtime
def up(
    rt: Runtime,
    /,
    count: int | None,
    pattern: str | None,
    name: str | None,
    type_: str | None,
    spec_file: str | None,
    on_error: str | None,
    rollback: bool,
    no_wait: bool,
    timeout: float | None,
    no_adopt: bool,
    env_dir: str | None,
    verify: bool,
    **flags: Any,
) -> None:
    """Create many instances: COUNT copies named by a pattern, or the specs of a file.

    A name already present is adopted, never created twice; intents and passwords go to the
    credential store before anything else happens.
    """
    given = {key: value for key, value in flags.items() if value is not None}
    spec_given = bool(given) or type_ is not None
    if spec_file is not None and (count or pattern or name or spec_given):
        raise click.UsageError("--spec-file cannot be combined with --count, --name or spec flags")
    if spec_file is None and count is None:
        raise click.UsageError("give --count N (with --name and the spec flags) or --spec-file")
    if rollback and on_error not in (None, "rollback"):
        raise click.UsageError(f"--rollback contradicts --on-error {on_error}")
    if verify and (no_wait or timeout == 0):
        raise click.UsageError("--verify waits until each instance runs: drop --no-wait")
    if verify:
        rt.check_verifiable()
    policy = "rollback" if rollback else _policy(on_error, "stop")

    def build() -> tuple[list[InstanceSpec], str | None]:
        if spec_file is not None:
            return load_spec_file(spec_file), spec_file
        if type_ is None:
            raise click.UsageError("--count needs --type (and the spec flags it requires)")
        chosen = DEFAULT_PATTERN if pattern is None else pattern
        if name is None and "{name" in chosen:
            raise click.UsageError(
                f"the name pattern {chosen!r} uses {{name}}: give --name, or a --name-pattern "
                "such as 'ci-{n:02d}'"
            )
        if "neo4j_version" in given:
            given["version"] = given.pop("neo4j_version")
        return [InstanceSpec(name=name or "", type=type_, **given)], None

    async def body() -> None:
        specs, where = build()
        # Every place the command will write is made and checked before the first request:
        # a path that cannot be written must stop it while nothing billable exists.
        store = rt.store()
        await store.prepare()
        ledger: FileStore | EnvFileStore = store
        if env_dir:
            directory = prepare_env_dir(Path(env_dir))
            ledger = EnvFileStore(store, lambda c: env_file_in(directory, c.name))
        chosen = DEFAULT_PATTERN if pattern is None else pattern
        # Every name the fleet would create is checked first (a pattern may make one too
        # long, or carry a control character): a refusal is one line, exit 2, nothing sent.
        checked = specs if count is None else expand(specs[0], count, chosen)
        if env_dir:
            for spec in checked:  # each name must make a file inside --env-dir
                env_file_in(directory, spec.name)
        async with rt.client() as aura:
            await _check_specs(aura, checked, where)
            report = await _run_fleet(
                rt,
                aura,
                "create",
                lambda: aura.fleet.create(
                    specs if count is None else specs[0],
                    count=count,
                    pattern=DEFAULT_PATTERN if pattern is None else pattern,
                    wait=not no_wait,
                    timeout=real_seconds(rt, timeout),
                    on_error=policy,
                    store=ledger,
                    adopt=not no_adopt,
                    verify=verify,
                ),
            )
        env_failed = (
            _settle_env_files(rt, report, ledger) if isinstance(ledger, EnvFileStore) else False
        )
        _show(rt, report)
        _show_unsaved(rt, report)
        saved = [item for item in report.items if item.saved_to]
        if saved:
            where = (
                "a temporary directory (the embedded emulator ends with the command)"
                if rt.ledger_is_temporary
                else store.location
            )
            rt.output.note(f"credentials of {len(saved)} instances saved to {where}")
        for item in report.items:
            if item.outcome is Outcome.ADOPTED and not item.credentials_known:
                rt.output.warn(
                    f"{item.name} ({item.instance_id}) was adopted without its password: "
                    "nobody can connect to it; delete it and create it again"
                )
        _conclude(report, failed_extra=env_failed)

    # A spec file's errors name its keys, not flags.
    run(rt, body, reword=spec_file is None)


def _settle_env_files(rt: Runtime, report: FleetReport, ledger: EnvFileStore) -> bool:
    """Finish the .env files the ledger wrote as credentials were saved; True if one failed.

    An item whose credentials the store could not save gets its file now (it holds the only
    copy); a rolled-back item's file goes (its instance is gone).
    """
    failed = False
    for item in report.items:
        credentials = item.credentials
        if credentials is None:
            continue
        written = ledger.written.get(credentials.instance_id)
        if item.outcome is Outcome.ROLLED_BACK:
            if written is not None:
                written.unlink(missing_ok=True)
            continue
        if written is not None:
            continue
        try:
            write_env_file(ledger.path_for(credentials), credentials)
        except (CredentialStoreError, OSError) as error:
            failed = True
            rt.output.warn(
                ledger.failures.get(credentials.instance_id)
                or f"{item.name}: no .env written ({error})"
            )
    return failed


@fleet.command("down")
@_selector_options
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; send only the listing.")
@_wait_options
@_on_error_option("continue")
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
    choice = _choice(kw)

    async def body() -> None:
        selector = choice.selector(rt)
        store = rt.store()
        async with rt.client() as aura:
            plan = await aura.fleet.delete(selector, dry_run=True)
            if dry_run or not plan.items:
                _show(rt, plan)
                return
            names = [item.name for item in _sorted_items(plan)]
            shown = ", ".join(names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            rt.confirm(f"Delete {len(names)} instances: {shown}?")
            ids = tuple(item.instance_id for item in plan.items if item.instance_id)
            report = await _run_fleet(
                rt,
                aura,
                "delete",
                lambda: aura.fleet.delete(
                    Selector(ids=ids, tenant_id=selector.tenant_id),
                    wait=not no_wait,
                    timeout=real_seconds(rt, timeout),
                    on_error=_policy(on_error, "continue"),
                    store=store,
                ),
            )
        _show(rt, report)
        _conclude(report)

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
        choice = _choice(kw)
        if resize and memory is None and storage is None:
            raise click.UsageError("resize needs --memory or --storage")

        async def body() -> None:
            selector = choice.selector(rt)
            async with rt.client() as aura:
                options: dict[str, Any] = {
                    "wait": not no_wait,
                    "timeout": real_seconds(rt, timeout),
                    "on_error": _policy(on_error, "continue"),
                }
                if resize:
                    # The sizes are checked against the project's before anything is chosen.
                    await aura.instances.validate_resize(
                        memory=memory, storage=storage, tenant_id=selector.tenant_id
                    )
                    options.update(memory=memory, storage=storage)
                verb = getattr(aura.fleet, operation)
                report = await _run_fleet(rt, aura, operation, lambda: verb(selector, **options))
            _show(rt, report)
            _conclude(report)

        run(rt, body)

    command.__doc__ = doc
    decorated: Callable[..., None] = pass_runtime(command)
    decorated = _on_error_option("continue")(decorated)
    decorated = _wait_options(decorated)
    if resize:
        decorated = click.option("--storage", help="New storage size, e.g. 8GB.")(decorated)
        decorated = click.option("--memory", help="New memory size, e.g. 4GB.")(decorated)
    decorated = _selector_options(decorated)
    return fleet.command(operation)(decorated)


_change_command("pause", "Pause the chosen instances (those already paused are skipped).")
_change_command("resume", "Resume the chosen paused instances (running ones are skipped).")
_change_command("resize", "Change the memory and/or storage of the chosen instances.", resize=True)
_change_command("snapshot", "Take an on-demand snapshot of each chosen instance.")


@fleet.command("status")
@_selector_options
@pass_runtime
def status(rt: Runtime, /, **kw: Any) -> None:
    """The chosen instances with their current status (one GET each, at once)."""
    choice = _choice(kw)

    async def body() -> None:
        selector = choice.selector(rt)
        failed = False
        async with rt.client() as aura:
            chosen = sorted(await aura.fleet.select(selector), key=lambda s: _order(s.name, s.id))
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


@fleet.command("recover")
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
    data["entries"].sort(key=lambda e: _order(e["name"], e["instance_id"]))
    data["unknown"].sort(key=lambda s: _order(s["name"], s["id"]))
    if rt.output.mode != "table":
        rt.output.result(data)
        return
    lost = [e for e in report.lost if e.exists]
    summary = (
        f"recover: {len(report.entries)} ledger entries, {len(lost)} instances without a "
        f"known password, {len(report.unknown)} unknown, {report.requests} requests"
    )
    rt.output.result(data["entries"], columns=RECOVER_COLUMNS, message=summary)
    for summary_of in sorted(report.unknown, key=lambda s: _order(s.name, s.id)):
        rt.output.warn(
            f"{summary_of.name} ({summary_of.id}) has a ledger name but matches no entry"
        )
    if lost:
        rt.output.note("run `aura-async fleet recover --delete-lost` to delete them")


def register(root: click.Group) -> None:
    """Add this module's commands to ``root``."""
    root.add_command(fleet)
