"""Commands: ``credential add|list|use|remove``, aura-cli's named API credentials.

The client id is kept in the config file; the secret in the operating system's keyring (the
``keyring`` library) where one is usable, else in a 0600 file beside the config file. The
secret is read from a hidden prompt, a file or standard input, never from a flag's value,
and is never printed.
"""

from __future__ import annotations

import signal
import sys

import click

from aura_async.cli.commands._common import pass_runtime, run
from aura_async.cli.config import (
    NamedCredentials,
    StoredCredential,
    check_credential_name,
    config_file,
    read_secret,
    usable_keyring,
)
from aura_async.cli.runtime import Runtime
from aura_async.errors import ConfigurationError

__all__ = ["register"]


@click.group()
def credential() -> None:
    """Named API credentials (client id and secret); `use` picks the one commands use.

    A flag, AURA_CLIENT_ID/AURA_CLIENT_SECRET, .env or a profile's own keys win over it.
    """


def _refuse_secret_flag(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        # Never echo the value: it is the secret.
        raise click.BadParameter(
            "a secret given as a flag stays in the shell history and the process list; use "
            "--client-secret-file FILE ('-' for standard input), or leave it out to be asked",
            param_hint="--client-secret",
        )


@credential.command("add")
@click.option("--name", required=True, help="The credential's name (letters, digits, . _ -).")
@click.option("--client-id", required=True, help="The API client id.")
@click.option(
    "--client-secret-file",
    metavar="FILE",
    help="Read the secret from FILE ('-' for standard input). Default: ask (hidden input) on "
    "a terminal, else read standard input.",
)
@click.option(
    "--client-secret",
    hidden=True,
    expose_value=False,
    callback=_refuse_secret_flag,
    help="Refused: the secret is read from a prompt, a file or standard input.",
)
@pass_runtime
def credential_add(rt: Runtime, name: str, client_id: str, client_secret_file: str | None) -> None:
    """Keep a credential: the secret in the system keyring (else a 0600 file).

    The first one added becomes the one in use (as `credential use NAME`).
    """

    async def body() -> None:
        check_credential_name(name)
        store = NamedCredentials(config_file(rt.options))
        store.list()  # a malformed config file is reported before the secret is asked for
        secret = _read_secret(client_secret_file)
        added = store.add(name, client_id, secret)
        first = store.in_use(rt.options) is None
        if first:
            store.use(name, rt.options.profile)
        where = added.where(store)
        if added.kept_in == "file" and usable_keyring() is None:
            where += " (no usable system keyring: pip install 'aura-async[keyring]' for one)"
        lines = [f"credential {name!r} added: client id {client_id}, secret in {where}"]
        if first:
            lines.append(f"commands use it now (profile {rt.options.profile or 'default'!r})")
        rt.output.result(_row(store, added, in_use=first), message=lines)

    run(rt, body)


def _read_secret(source: str | None) -> str:
    """The secret from ``--client-secret-file``, a hidden prompt, or standard input.

    Raises:
        ConfigurationError: nothing was given.
    """
    if source is not None:
        return read_secret(source)
    if not sys.stdin.isatty():
        return read_secret("-")
    # A prompt blocks the event loop: Python's own handler takes Ctrl-C meanwhile.
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        secret = click.prompt("Client secret", hide_input=True, err=True, default="")
    finally:
        signal.signal(signal.SIGINT, previous)
    if not str(secret).strip():
        raise ConfigurationError("no client secret given")
    return str(secret).strip()


def _row(store: NamedCredentials, stored: StoredCredential, *, in_use: bool) -> dict[str, object]:
    return {
        "name": stored.name,
        "client_id": stored.client_id,
        "secret_in": stored.where(store),
        "in_use": in_use,
    }


@credential.command("list")
@pass_runtime
def credential_list(rt: Runtime) -> None:
    """The stored credentials; IN USE marks the profile's (never a secret)."""

    async def body() -> None:
        store = NamedCredentials(config_file(rt.options))
        in_use = store.in_use(rt.options)
        rows = [_row(store, c, in_use=c.name == in_use) for c in store.list()]
        rt.output.result(rows, columns=["name", "client_id", "secret_in", "in_use"])

    run(rt, body)


@credential.command("use")
@click.argument("name")
@pass_runtime
def credential_use(rt: Runtime, name: str) -> None:
    """Make NAME the credential commands use (in the profile: --profile, else default)."""

    async def body() -> None:
        store = NamedCredentials(config_file(rt.options))
        chosen = store.use(name, rt.options.profile)
        rt.output.result(
            _row(store, chosen, in_use=True),
            message=f"commands use credential {chosen.name!r} now "
            f"(profile {rt.options.profile or 'default'!r})",
        )

    run(rt, body)


@credential.command("remove")
@click.argument("name")
@pass_runtime
def credential_remove(rt: Runtime, name: str) -> None:
    """Forget credential NAME: its secret (keyring or file) and its entry."""

    async def body() -> None:
        store = NamedCredentials(config_file(rt.options))
        removed = store.remove(name)
        rt.output.result(
            _row(store, removed, in_use=False), message=f"credential {removed.name!r} removed"
        )

    run(rt, body)


def register(root: click.Group) -> None:
    """Add the ``credential`` group to the root command."""
    root.add_command(credential)
