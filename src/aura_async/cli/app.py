"""The ``aura-async`` command: its global options, and the command groups under it.

Exit codes: 0 success, 1 failure, 2 usage error (bad flags or input: nothing was sent),
3 partial fleet failure, 130 interrupted.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from aura_async._validation import escape_controls
from aura_async._version import __version__
from aura_async.cli.config import CliOptions, check_tenant_option, configured_output
from aura_async.cli.logs import log_to_stderr
from aura_async.cli.output import Output
from aura_async.cli.runtime import EXIT, Runtime, in_ci
from aura_async.policies import RateLimit

__all__ = ["AuraCommand", "cli", "main", "usage_line"]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _check_rate_limit(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            RateLimit.parse(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
    return value


def _check_finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number of times faster, got {value}")
    return value


def _output_mode(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # aura-cli calls its table output "default" (its config key output: default|json|table).
    return "table" if value == "default" else value


def usage_line(error: click.ClickException) -> str:
    """One line for a usage error: ``error: <what> (see aura-async fleet up --help)``.

    Click's own form takes three lines (Usage, Try, Error); the values quoted in the message
    (the user's) have their control characters escaped, so they cannot forge a line.
    """
    message = " ".join(escape_controls(error.format_message()).split())
    ctx = getattr(error, "ctx", None)
    if isinstance(error, click.UsageError) and ctx is not None:
        message = message.rstrip(".")
        return f"error: {message} (see {escape_controls(ctx.command_path)} --help)"
    return f"error: {message}"


GLOBAL_HERE = "Global options (aura-async --help) may be given here too."


def _spellings(command: click.Command, *, eager: bool) -> dict[str, bool]:
    """``command``'s option spellings, mapped to whether each takes a value.

    Without ``eager``, ``--help`` and ``--version`` are left out: as global options they would
    move, and each command has its own ``--help``.
    """
    return {
        name: not (param.is_flag or param.count)
        for param in command.params
        if isinstance(param, click.Option) and (eager or not param.is_eager)
        for name in (*param.opts, *param.secondary_opts)
    }


def _option_name(token: str, options: dict[str, bool]) -> tuple[str, bool] | None:
    """The option ``token`` starts with among ``options``, and whether its value is attached.

    ``--output=json`` and ``-ojson`` carry their value; ``-qy`` (flags run together) is named
    by its first letter when every letter is a known flag. None if ``token`` names none.
    """
    if token.startswith("--"):
        name, equals, _ = token.partition("=")
        return (name, bool(equals)) if name in options else None
    name = token[:2]
    if name not in options:
        return None
    if len(token) == 2:
        return name, False
    if options[name]:
        return name, True  # -ojson
    if all(options.get(f"-{letter}") is False for letter in token[1:]):
        return name, True  # -qy: nothing follows it
    return None


def hoist_global_options(root: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """``args`` with the global options found after a subcommand's name moved before it.

    aura-cli takes ``instance list --output json``; click takes the root's options only before
    the subcommand, so they are moved there (with their values: ``--opt v``, ``--opt=v``,
    ``-ov``), the last one given still winning. A subcommand's own option of the same name
    (``--tenant-id``, ``--yes``) stays with it; nothing after ``--`` moves, nor anything given
    to a command that passes its arguments on unparsed (``emulator serve``).

    Raises:
        click.UsageError: a global option after the subcommand lacks its value.
    """
    glob = _spellings(root, eager=False)
    command: click.Command = root
    kept: list[str] = []
    moved: list[str] = []
    insert_at: int | None = None  # where the subcommand's name is in ``kept``
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--" or command.context_settings.get("ignore_unknown_options"):
            kept.extend(args[index - 1 :])
            break
        if arg.startswith("-") and len(arg) > 1:
            local = _spellings(command, eager=True)
            own = _option_name(arg, local)
            if own is not None or command is root:
                # Its own option (at the root, any option) stays where it is, with its value.
                takes_value = own is not None and local[own[0]] and not own[1]
                kept.append(arg)
                if takes_value and index < len(args):
                    kept.append(args[index])
                    index += 1
                continue
            found = _option_name(arg, glob)
            if found is None:
                kept.append(arg)  # unknown: click names it in its error
                continue
            name, attached = found
            moved.append(arg)
            if glob[name] and not attached:
                if index >= len(args):
                    if ctx.resilient_parsing:  # completing the value: leave it to click
                        kept.append(moved.pop())
                        continue
                    raise click.UsageError(f"Option '{name}' requires an argument.", ctx)
                moved.append(args[index])
                index += 1
            continue
        kept.append(arg)
        if isinstance(command, click.Group):
            sub = command.get_command(ctx, arg)
            if sub is not None:
                if insert_at is None:
                    insert_at = len(kept) - 1
                command = sub
    if not moved or insert_at is None:
        return kept
    return [*kept[:insert_at], *moved, *kept[insert_at:]]


def _say_global_options_work(command: click.Command) -> None:
    """Add the one line saying global options work after ``command`` to its help, and below."""
    if command.context_settings.get("ignore_unknown_options") or not command.add_help_option:
        return  # its arguments are passed on unparsed: global options must come before it
    if command.epilog is None:
        command.epilog = GLOBAL_HERE
    elif GLOBAL_HERE not in command.epilog:
        command.epilog = f"{command.epilog}\n\n{GLOBAL_HERE}"
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _say_global_options_work(sub)


class AuraCommand(click.Group):
    """The root group: global options taken after the subcommand too; usage errors print as
    one line (exit 2), never click's three."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Add ``cmd`` under this group; its help (and its subcommands') says that global
        options may be given there too."""
        _say_global_options_work(cmd)
        super().add_command(cmd, name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse ``args`` once the global options after the subcommand are moved before it.

        Raises:
            click.UsageError: bad options or arguments (click's, or a global option's value
                missing after the subcommand).
        """
        return super().parse_args(ctx, hoist_global_options(self, ctx, args))

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; in standalone mode exit with its code, errors on one line.

        Raises:
            SystemExit: always in standalone mode (2 for a usage error).
        """
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:
            error.show()  # a group called bare shows its help
            _exit(error.exit_code)
        except click.ClickException as error:
            click.echo(usage_line(error), err=True)
            _exit(error.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            _exit(1)
        _exit(result if isinstance(result, int) and not isinstance(result, bool) else 0)


def _exit(code: int) -> NoReturn:
    sys.exit(code)


@click.group("aura-async", cls=AuraCommand, context_settings=CONTEXT)
@click.version_option(__version__, "--version", "-v", prog_name="aura-async")
@click.option("--profile", help="Named profile in the config file (default: [profiles.default]).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file with [profiles.<name>] tables (default "
    "$XDG_CONFIG_HOME/aura-async/config.toml).",
)
@click.option("--client-id", help="API client id (default $AURA_CLIENT_ID).")
@click.option(
    "--client-secret-file",
    metavar="FILE",
    help="Read the client secret from FILE ('-' for standard input), not a flag: it stays "
    "out of process listings (default $AURA_CLIENT_SECRET).",
)
@click.option(
    "--tenant-id",
    callback=check_tenant_option,
    help="Default project (tenant) id, a UUID (default $AURA_TENANT_ID).",
)
@click.option("--base-url", help="API host; /v1 is appended (default https://api.neo4j.io).")
@click.option("--auth-url", help="Token endpoint (default <base-url>/oauth/token).")
@click.option(
    "--rate-limit",
    metavar="LIMIT",
    callback=_check_rate_limit,
    help="Requests the client allows itself: 125, 25, N/period (e.g. 125/60), paid, free.",
)
@click.option(
    "--rate-limit-redis",
    metavar="URL",
    help="Share one rate budget with every process using this credential, on this Redis "
    "(redis://host:6379/0; default $AURA_RATE_LIMIT_REDIS_URL).",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json", "jsonl", "default"]),
    default="table",
    show_default=True,
    callback=_output_mode,
    help="table for people; json: one document; jsonl: one event per line, result last; "
    "default: table (aura-cli's name).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and results.")
@click.option(
    "--events",
    is_flag=True,
    help="With -o jsonl, print each event (requests, waits, items) as a line as it happens.",
)
@click.option(
    "--emulator",
    is_flag=True,
    help="Run against an embedded emulator of the Aura API (no account needed; its clock "
    "runs 120 times faster).",
)
@click.option(
    "--emulator-preset",
    type=click.Choice(["live", "ideal", "chaos"]),
    envvar="AURA_EMULATOR_PRESET",
    help="Implies --emulator. live: every behaviour the live service shows (default); "
    "ideal: the spec's quirk-free service; chaos: a random mix of quirks, faults and rate "
    "models from --emulator-seed (printed; the same seed replays the same service).",
)
@click.option(
    "--emulator-seed",
    type=int,
    envvar="AURA_EMULATOR_SEED",
    help="Implies --emulator. Seed of the embedded emulator's ids, durations and chaos mix.",
)
@click.option(
    "--credentials-dir",
    metavar="DIR",
    help="Credential store for new instances' passwords (default ./aura-credentials).",
)
@click.option(
    "--show-password",
    is_flag=True,
    help="Print one-time passwords (they are always saved to the credential store).",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    callback=_check_finite,
    envvar="AURA_TIME_SCALE",
    help="The API's clock runs this many times faster (an emulator serving with "
    "--time-scale): waits poll and time out that much sooner. Default 1.",
)
@click.option("--yes", "-y", is_flag=True, help="Answer yes to confirmations (deletes).")
@click.option(
    "--verbose",
    is_flag=True,
    help="Log to standard error what happens behind the output: retries, rate limiting, "
    "token refreshes.",
)
@click.option(
    "--debug",
    is_flag=True,
    help="As --verbose, and every request with its status, time and request id (never a secret).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    profile: str | None,
    config_path: str | None,
    client_id: str | None,
    client_secret_file: str | None,
    tenant_id: str | None,
    base_url: str | None,
    auth_url: str | None,
    rate_limit: str | None,
    rate_limit_redis: str | None,
    output: str,
    quiet: bool,
    events: bool,
    emulator: bool,
    emulator_preset: str | None,
    emulator_seed: int | None,
    credentials_dir: str | None,
    show_password: bool,
    time_scale: float | None,
    yes: bool,
    verbose: bool,
    debug: bool,
) -> None:
    """Drive Neo4j Aura: instances, snapshots, keys, sessions, and whole fleets of them."""
    if verbose or debug:
        ctx.call_on_close(log_to_stderr(logging.DEBUG if debug else logging.INFO))
    if ctx.get_parameter_source("output") is click.core.ParameterSource.DEFAULT:
        # `aura-async config set output json`: the profile's mode when no -o is given.
        output = configured_output(CliOptions(profile=profile, config=config_path)) or output
    printer = Output(
        output,  # type: ignore[arg-type]
        quiet=quiet,
        show_password=show_password,
        events=events,
    )
    if show_password and in_ci():
        printer.warn(
            "--show-password in CI: passwords will be printed to the job log, which others "
            "may read. The credential store has them already."
        )
    ctx.obj = Runtime(
        CliOptions(
            profile=profile,
            config=config_path,
            client_id=client_id,
            client_secret_file=client_secret_file,
            tenant_id=tenant_id,
            base_url=base_url,
            auth_url=auth_url,
            rate_limit=rate_limit,
            rate_limit_redis=rate_limit_redis,
            credentials_dir=credentials_dir,
        ),
        printer,
        emulator=emulator or emulator_preset is not None or emulator_seed is not None,
        emulator_preset=emulator_preset or "live",
        emulator_seed=emulator_seed,
        yes=yes,
        credentials_dir=credentials_dir,
        time_scale=time_scale,
    )


def _register() -> None:
    from aura_async.cli import commands

    commands.register(cli)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line; exits with the documented code."""
    _register()
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="aura-async")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT["interrupted"])
