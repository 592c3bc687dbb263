"""What the command modules share: the runtime decorator, ``--await``/``--timeout``/``--yes``,
running a body (:func:`run`) or one SDK call (:func:`show`), and the CLI's wording of the
SDK's errors.

``--timeout`` takes seconds (``600``) or a duration (``90s``, ``10m``, ``1h30m``, ``1w``: the
grammar of :mod:`aura_async._durations`, shared with ``--older-than``) of the API's clock:
against an emulator whose clock runs faster (``--emulator``, ``--time-scale``) a wait gives up
that much sooner, as the operations finish (:func:`real_seconds`).

The SDK names its arguments (``cloud_provider``) and its calls (``aura.tenants.list()``); a
person at the command line knows flags (``--cloud-provider``) and commands (``aura-async
tenant list``). :func:`run` re-raises a :class:`ValidationError` in those words: each field
becomes the flag (or argument) of the running command that gives it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

import anyio
import attrs
import click

from aura_async._durations import HUMAN_EXAMPLES, parse_human_duration
from aura_async.cli.config import check_tenant_option
from aura_async.cli.runtime import Runtime
from aura_async.client import AuraClient
from aura_async.errors import AuraError, CredentialStoreError, ValidationError
from aura_async.fleet import FleetItem, Outcome
from aura_async.models import CloudProvider, InstanceType

__all__ = [
    "CLOUDS",
    "TYPES",
    "Gone",
    "await_options",
    "cli_error",
    "cli_text",
    "cli_wording",
    "flags_of",
    "gather",
    "in_tenant",
    "only_tenant",
    "parse_duration",
    "pass_runtime",
    "real_seconds",
    "reworded",
    "run",
    "show",
    "sizing_options",
    "timeout_option",
    "unsaved",
    "unsaved_message",
    "waiting",
    "yes_option",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

pass_runtime = click.make_pass_decorator(Runtime)

TYPES = ", ".join(t.value for t in InstanceType)
CLOUDS = ", ".join(c.value for c in CloudProvider)


# --------------------------------------------------------------------------- --timeout


def parse_duration(text: str) -> float:
    """Seconds (``600``, ``0.5``) or a duration (``90s``, ``10m``, ``1h30m``, ``1d``, ``1w``), 0
    or more, as seconds (:func:`aura_async._durations.parse_human_duration`).

    Raises:
        click.BadParameter: anything else.
    """
    try:
        return parse_human_duration(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a duration: write seconds (600) or a duration such as "
            f"{HUMAN_EXAMPLES}"
        ) from None


def _timeout(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    return None if value is None else parse_duration(value)


def timeout_option(help: str) -> Callable[[F], F]:
    """``--timeout DURATION``: seconds or a duration such as ``10m`` of the API's clock, 0 or
    more, given to the command as seconds (a float; :func:`real_seconds` for the client)."""
    return click.option("--timeout", metavar="DURATION", callback=_timeout, help=help)


def await_options(what: str) -> Callable[[F], F]:
    """Add ``--await`` (wait until ``what``) and ``--timeout DURATION`` to a command."""

    def decorate(command: F) -> F:
        command = timeout_option(
            "Give up waiting after this long, in seconds or as 10m, 1h (API time; implies "
            "--await; 0: do not wait; default: the operation's usual limit)."
        )(command)
        return click.option("--await", "wait", is_flag=True, help=f"Wait until {what}.")(command)

    return decorate


def real_seconds(rt: Runtime, seconds: float | None) -> float | None:
    """A timeout in API seconds as the client counts it (the API's clock may run faster)."""
    return None if seconds is None else seconds / rt.scale


def waiting(rt: Runtime, wait: bool, timeout: float | None) -> tuple[bool, float | None]:
    """``--await`` and ``--timeout`` as the SDK takes them: whether to wait, and for how long
    in real seconds."""
    if timeout is None:
        return wait, None
    if timeout == 0:
        return False, None
    return True, real_seconds(rt, timeout)


verify_option = click.option(
    "--verify",
    is_flag=True,
    help="Once running, connect with the official Neo4j driver, the saved user and password, "
    "and run RETURN 1 (pip install 'aura-async[verify]'): an address that does not accept "
    "yet is tried again up to 5m, a refused password fails at once. Implies waiting.",
)


# --------------------------------------------------------------------------- --yes


def _yes(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    runtime = ctx.find_object(Runtime)
    if value and runtime is not None:
        runtime.yes = True


yes_option = click.option(
    "--yes",
    "-y",
    is_flag=True,
    expose_value=False,
    callback=_yes,
    help="Do not ask first (as the global --yes).",
)


# --------------------------------------------------------------------------- other options

only_tenant = click.option(
    "--tenant-id",
    callback=check_tenant_option,
    help="Only this project's (default: the configured project).",
)
in_tenant = click.option(
    "--tenant-id",
    callback=check_tenant_option,
    help="The project (default: the configured project).",
)


def sizing_options(command: F) -> F:
    """Add what every sizing estimate takes: the graph's node and relationship counts, and
    ``--algorithm-categories a,b`` (passed on as a list)."""
    command = click.option(
        "--algorithm-categories",
        metavar="A,B",
        callback=lambda _ctx, _param, text: [p.strip() for p in text.split(",")] if text else [],
        help="Comma-separated algorithm categories.",
    )(command)
    command = click.option(
        "--relationship-count", type=int, required=True, help="Relationships in the graph."
    )(command)
    return click.option("--node-count", type=int, required=True, help="Nodes in the graph.")(
        command
    )


# --------------------------------------------------------------------------- running


@attrs.frozen
class Gone:
    """What a delete prints: the id, and ``deleted`` (or the status it is going through)."""

    id: str
    status: str = "deleted"


def run(rt: Runtime, body: Callable[[], Awaitable[Any]], *, reword: bool = True) -> NoReturn:
    """Run a command body (:meth:`Runtime.run`), its input errors in the command's words.

    ``reword=False`` keeps the SDK's field names (a spec file's errors name its keys, not
    flags); its calls are still said as commands.
    """
    flags = flags_of(click.get_current_context(silent=True)) if reword else {}
    rt.run(lambda: reworded(body, flags))


async def reworded(body: Callable[[], Awaitable[T]], flags: Mapping[str, str]) -> T:
    """Await ``body``; an :class:`AuraError` is raised again in the command's words.

    Raises:
        AuraError: what ``body`` raised, of the same class, its message and hint in the
            command's flags and commands (:func:`cli_wording`, :func:`cli_error`).
    """
    try:
        return await body()
    except ValidationError as error:
        raise cli_wording(error, flags) from None
    except AuraError as error:
        raise cli_error(error, flags) from error.__cause__


def show(
    rt: Runtime,
    call: Callable[[AuraClient], Awaitable[Any]],
    columns: Sequence[str],
    *,
    check: Callable[[], object] | None = None,
    confirm: str | None = None,
    message: Callable[[Any], str] | None = None,
) -> NoReturn:
    """Run ``call`` on the client, print what it returns, and exit.

    ``check`` validates the input first (a bad one: exit 2, nothing sent), then ``confirm`` is
    asked (``--yes`` answers it; without a terminal it is refused).
    """

    async def body() -> None:
        if check is not None:
            check()
        if confirm is not None:
            rt.confirm(confirm)
        async with rt.client() as aura:
            value = await call(aura)
        text = message(value) if message is not None else None
        rt.output.result(value, columns=list(columns), message=text)

    run(rt, body)


async def gather(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Await every call concurrently (they share the client and its rate limit), in order."""
    results: dict[int, T] = {}

    async def one(index: int, call: Callable[[], Awaitable[T]]) -> None:
        results[index] = await call()

    async with anyio.create_task_group() as tasks:
        for index, call in enumerate(calls):
            tasks.start_soon(one, index, call)
    return [results[index] for index in range(len(calls))]


# --------------------------------------------------------------------------- wording

# The SDK's words for what the command line says otherwise, replaced in this order: a call
# that the SDK already glosses with the command ("aura.tenants.get() (aura-async regions)")
# before the call alone, so the command is not said twice.
SDK_PHRASES = {
    "aura.tenants.list() (aura-async tenant list)": "aura-async tenant list",
    "aura.tenants.get() (aura-async regions)": "aura-async regions",
    "(aura.tenants.get())": "(aura-async regions)",
    "aura.tenants.list()": "aura-async tenant list",
    "aura.tenants.get()": "aura-async regions",
    "fleet.recover(store, delete_lost=True), or aura-async fleet recover --delete-lost": (
        "aura-async fleet recover --delete-lost"
    ),
    "fleet.recover(store, delete_lost=True)": "aura-async fleet recover --delete-lost",
    "fleet.recover(delete_lost=True)": "aura-async fleet recover --delete-lost",
    "fleet.recover(store)": "aura-async fleet recover",
    "fleet.recover()": "aura-async fleet recover",
    "(or pass them to AuraClient)": (
        "(or --client-id and --client-secret-file, or a stored credential: aura-async "
        "credential add)"
    ),
    "create a new AuraClient": "run the command again",
    "(or rate_limit_backend=)": "(or --rate-limit-redis)",
    # resources/_project.py HOW_TO_CHOOSE: how to name the project, in the command's words.
    "AuraClient(tenant_id=ID) or AURA_TENANT_ID=ID": (
        "--tenant-id ID, AURA_TENANT_ID=ID or aura-async config set default-tenant ID"
    ),
    "only in this report's item.credentials": "printed on standard error (the only copy)",
}
# Parameters whose name is not the SDK's field they give.
PARAMETER_FIELDS = {"neo4j_version": "version"}

_PAIR = re.compile(r"\b([a-z][a-z0-9_]*) (and|or) ([a-z][a-z0-9_]*)\b")


def flags_of(ctx: click.Context | None) -> dict[str, str]:
    """SDK field -> how the running command takes it: ``--cloud-provider``, ``INSTANCE_ID``.

    The command's own parameters win over its groups' (the global ``--tenant-id``).
    """
    flags: dict[str, str] = {}
    while ctx is not None:
        for param in ctx.command.params:
            if not param.expose_value or param.name is None:
                continue
            field = PARAMETER_FIELDS.get(param.name, param.name.rstrip("_"))
            if isinstance(param, click.Option):
                long = [opt for opt in param.opts if opt.startswith("--")]
                shown = max(long, key=len) if long else param.opts[0]
            else:
                shown = param.human_readable_name
            flags.setdefault(field, shown)
        ctx = ctx.parent
    return flags


def cli_text(text: str, flags: Mapping[str, str] | None = None, field: str | None = None) -> str:
    """``text`` in the command line's words: its commands for the SDK's calls, and with
    ``flags`` (:func:`flags_of`), the flags for the fields they give."""
    for phrase, instead in SDK_PHRASES.items():
        text = text.replace(phrase, instead)
    if not flags:
        return text

    def pair(match: re.Match[str]) -> str:
        first, word, second = match.groups()
        if first in flags and second in flags:
            return f"{flags[first]} {word} {flags[second]}"
        return match.group(0)

    text = _PAIR.sub(pair, text)
    for name, flag in flags.items():
        if "_" in name:  # an identifier, never a word of prose
            text = re.sub(rf"(?<![\w.\-]){re.escape(name)}(?![\w(=])", flag, text)
    if field is not None and field in flags:  # "memory must be...", "spec 'x': region is..."
        flag = flags[field]
        text = re.sub(rf"(^|: ){re.escape(field)}(?= )", lambda m: m.group(1) + flag, text)
    return text


def cli_wording(error: ValidationError, flags: Mapping[str, str]) -> ValidationError:
    """``error`` in the command's words (itself when they are the same)."""
    message = cli_text(error.message, flags, error.field)
    hint = cli_text(error.hint, flags) if error.hint else error.hint
    if message == error.message and hint == error.hint:
        return error
    return ValidationError(message, field=error.field, hint=hint or None)


def cli_error(error: AuraError, flags: Mapping[str, str]) -> AuraError:
    """Any error in the command's words: a copy of the same class with its message and hint
    reworded (:func:`cli_text`), or ``error`` itself when they are the same."""
    if isinstance(error, ValidationError):
        return cli_wording(error, flags)
    message = cli_text(error.message, flags)
    hint = cli_text(error.hint, flags)
    if message == error.message and hint == error.hint:
        return error
    # A copy keeps what callers read off the error (its class, status, ids): only the words
    # change. (AuraError.__reduce__ makes every subclass copyable.)
    copied = copy.copy(error)
    copied.message, copied.hint = message, hint
    copied.args = (message, *error.args[1:])
    return copied


# --------------------------------------------------------------------------- lost passwords


def unsaved(item: FleetItem) -> bool:
    """Whether the item holds credentials the store failed to save: the only copy of them
    (an adopted instance's came from the store; a rolled back one is gone)."""
    return (
        isinstance(item.error, CredentialStoreError)
        and item.credentials is not None
        and item.saved_to is None
        and item.outcome not in (Outcome.ADOPTED, Outcome.ROLLED_BACK)
    )


def unsaved_message(item: FleetItem, where: str) -> str:
    """What went wrong with an :func:`unsaved` item, for people: the credentials are
    ``where`` ("printed above")."""
    error = item.error
    assert isinstance(error, CredentialStoreError)
    assert item.credentials is not None
    cause = error.__cause__
    if isinstance(cause, AuraError):
        reason = cause.message
    elif cause is not None:
        reason = str(cause) or type(cause).__name__
    else:
        reason = error.message
    return (
        f"instance {item.credentials.instance_id} ({item.name}) was created but its "
        f"credentials could not be saved to {error.location} ({reason}); they are {where}, "
        "the only copy: save them now"
    )
