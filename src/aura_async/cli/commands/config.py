"""Commands: ``config set|get|list``, aura-cli's settings, kept in the config file's profile.

Keys take aura-cli's names (``default-tenant``, ``output``, ``base-url``, ``auth-url``) and
ours (``rate-limit``, ``credentials-dir``; ``tenant_id`` spellings too). ``set`` writes the
chosen profile (``--profile``, else ``default``) of the config file the command reads;
``list`` shows each key's value in effect and where it comes from.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from dotenv import dotenv_values

from aura_async.cli.commands._common import pass_runtime, run
from aura_async.cli.config import (
    CONFIG_KEYS,
    CliOptions,
    ConfigKey,
    config_file,
    config_key,
    load_profile,
    profile_table,
    read_document,
    write_document,
)
from aura_async.cli.runtime import Runtime
from aura_async.errors import ValidationError

__all__ = ["register"]


@click.group("config")
def config_group() -> None:
    """Settings kept in the config file: default-tenant, output, rate-limit, base-url, ...

    A flag, an AURA_* variable or .env wins over them (`config list` says which applies).
    """


def _effective(key: ConfigKey, options: CliOptions) -> dict[str, str | None]:
    """The value ``key`` has for this invocation and where it comes from.

    Raises:
        ConfigurationError: the config file or the profile cannot be read.
    """
    flag = getattr(options, key.profile_key, None)
    if flag is not None:
        return {"key": key.name, "value": flag, "source": f"flag {key.flag}"}
    if key.environment is not None:
        if os.environ.get(key.environment):
            value = os.environ[key.environment]
            return {"key": key.name, "value": value, "source": f"environment ({key.environment})"}
        dotenv = Path(".env")
        if dotenv.is_file():
            from_file = dotenv_values(dotenv).get(key.environment)
            if from_file:
                return {"key": key.name, "value": from_file, "source": f".env ({key.environment})"}
    path = config_file(options)
    profile = load_profile(path, options.profile, explicit=options.config is not None)
    if profile.get(key.profile_key) is not None:
        where = f"profile {options.profile or 'default'!r} in {path}"
        return {"key": key.name, "value": profile[key.profile_key], "source": where}
    return {"key": key.name, "value": key.default, "source": "default"}


@config_group.command("set")
@click.argument("key")
@click.argument("value")
@pass_runtime
def config_set(rt: Runtime, key: str, value: str) -> None:
    """Set KEY to VALUE in the profile (--profile, else default) of the config file.

    Keys: default-tenant (a project id), output (table, json, jsonl), rate-limit (paid, free,
    N/period), base-url, auth-url, credentials-dir.
    """

    async def body() -> None:
        chosen = config_key(key)
        try:
            stored = chosen.check(value)
        except ValidationError as error:
            raise ValidationError(error.message, field=None, hint=error.hint) from None
        path = config_file(rt.options)
        document = read_document(path)
        profile_table(document, rt.options.profile)[chosen.profile_key] = stored
        write_document(path, document)
        profile = rt.options.profile or "default"
        rt.output.result(
            {"key": chosen.name, "value": stored, "source": f"profile {profile!r} in {path}"},
            message=f"{chosen.name} = {stored} (profile {profile!r} in {path})",
        )

    run(rt, body, reword=False)


@config_group.command("get")
@click.argument("key")
@pass_runtime
def config_get(rt: Runtime, key: str) -> None:
    """Print KEY's value in effect (and, on standard error, where it comes from)."""

    async def body() -> None:
        row = _effective(config_key(key), rt.options)
        if rt.output.mode == "table":
            rt.output.note(f"{row['key']}: from {row['source']}")
            rt.output.result(row, message=row["value"] or "")
        else:
            rt.output.result(row)

    run(rt, body, reword=False)


@config_group.command("list")
@pass_runtime
def config_list(rt: Runtime) -> None:
    """Every key, its value in effect and where it comes from."""

    async def body() -> None:
        rows = [_effective(key, rt.options) for key in CONFIG_KEYS]
        rt.output.result(rows, columns=["key", "value", "source"])

    run(rt, body, reword=False)


def register(root: click.Group) -> None:
    """Add the ``config`` group to the root command."""
    root.add_command(config_group)
