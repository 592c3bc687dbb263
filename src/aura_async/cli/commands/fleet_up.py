"""Command: ``fleet up``: create a fleet from a spec file or a pattern, with its ledger,
credentials and ``.env`` files; the specs are checked before anything billable is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aura_async.cli.commands._common import (
    pass_runtime,
    real_seconds,
    run,
    verify_option,
)
from aura_async.cli.commands._fleet_common import (
    conclude,
    error_policy,
    on_error_option,
    run_fleet,
    show_report,
    show_unsaved,
    wait_options,
)
from aura_async.cli.envfiles import EnvFileStore, env_file_in, prepare_env_dir
from aura_async.cli.runtime import Runtime
from aura_async.client import AuraClient
from aura_async.errors import CredentialStoreError, ValidationError
from aura_async.fleet.report import FleetReport, Outcome
from aura_async.fleet.specs import DEFAULT_PATTERN, InstanceSpec, expand, load_spec_file
from aura_async.fleet.store import FileStore, write_env_file

__all__ = ["up"]


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


@click.command("up")
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
@on_error_option("stop", rollback=True)
@click.option(
    "--rollback",
    is_flag=True,
    help="Short for --on-error rollback: delete what this call created if anything fails "
    "or on Ctrl-C.",
)
@wait_options
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
    _check_options(
        rt,
        spec_file=spec_file,
        count=count,
        pattern=pattern,
        name=name,
        spec_given=bool(given) or type_ is not None,
        on_error=on_error,
        rollback=rollback,
        no_wait=no_wait,
        timeout=timeout,
        verify=verify,
    )
    policy = "rollback" if rollback else error_policy(on_error, "stop")

    async def body() -> None:
        specs, where = _build_specs(spec_file, type_, name, pattern, given)
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
            report = await run_fleet(
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
        _show_created(rt, report, store)
        conclude(report, failed_extra=env_failed)

    # A spec file's errors name its keys, not flags.
    run(rt, body, reword=spec_file is None)


def _check_options(
    rt: Runtime,
    *,
    spec_file: str | None,
    count: int | None,
    pattern: str | None,
    name: str | None,
    spec_given: bool,
    on_error: str | None,
    rollback: bool,
    no_wait: bool,
    timeout: float | None,
    verify: bool,
) -> None:
    """Refuse options that contradict each other (a usage error, before anything runs)."""
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


def _build_specs(
    spec_file: str | None,
    type_: str | None,
    name: str | None,
    pattern: str | None,
    given: dict[str, Any],
) -> tuple[list[InstanceSpec], str | None]:
    """The specs to create and the file they came from: the spec file's, or the one spec
    the flags describe (the base of --count copies).
    """
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
    fields = dict(given)
    if "neo4j_version" in fields:
        fields["version"] = fields.pop("neo4j_version")
    return [InstanceSpec(name=name or "", type=type_, **fields)], None


def _show_created(rt: Runtime, report: FleetReport, store: FileStore) -> None:
    """Print the report, any credentials the store failed to save, where the saved ones
    went, and each adopted instance nobody can connect to.
    """
    show_report(rt, report)
    show_unsaved(rt, report)
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
