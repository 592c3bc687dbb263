"""Where the command's settings come from: flags > environment > ``.env`` > a profile.

Profiles live in a TOML file (``--config``, default ``$XDG_CONFIG_HOME/aura-async/config.toml``)::

    [profiles.default]
    client_id = "..."
    client_secret_file = "~/.config/aura-async/secret"   # a file holding the secret
    tenant_id = "..."
    rate_limit = "25/60"

A secret can come from the environment (``AURA_CLIENT_SECRET``), a file or standard input
(``--client-secret-file FILE``, ``-`` for stdin), so it need not sit in a process listing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import click
from dotenv import dotenv_values

from aura_async._validation import check_tenant_id
from aura_async.cli.config_file import (
    PROFILE_KEYS,
    PROFILE_ONLY,
    chosen_profile,
    config_file,
    default_config_path,
    load_profile,
    profile_table,
    profile_value,
    read_document,
    write_document,
)
from aura_async.cli.credentials import (
    KEYRING_SERVICE,
    NamedCredentials,
    StoredCredential,
    check_credential_name,
    usable_keyring,
)
from aura_async.cli.options import CliOptions
from aura_async.config import ClientSettings, backend_from_env
from aura_async.errors import ConfigurationError, ValidationError
from aura_async.policies import RateLimit

# The config file (config_file.py) and the named credentials (credentials.py) have modules of
# their own; their names stay importable from here, where the command groups take them.
__all__ = [
    "CONFIG_KEYS",
    "KEYRING_SERVICE",
    "CliOptions",
    "ConfigKey",
    "NamedCredentials",
    "StoredCredential",
    "check_credential_name",
    "check_tenant_option",
    "config_file",
    "config_key",
    "configured_output",
    "default_config_path",
    "load_profile",
    "profile_table",
    "profile_value",
    "read_document",
    "read_secret",
    "resolve_settings",
    "usable_keyring",
    "write_document",
]

# Profile keys are the settings' names; each stands in for its environment variable.
_KEYS = PROFILE_KEYS


def read_secret(source: str) -> str:
    """Read a client secret from a file, or from standard input when ``source`` is ``-``.

    Raises:
        ConfigurationError: the file cannot be read, or holds nothing.
    """
    try:
        text = sys.stdin.read() if source == "-" else Path(source).expanduser().read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"cannot read the client secret from {source}: {error}") from None
    secret = text.strip()
    if not secret:
        where = "standard input" if source == "-" else source
        raise ConfigurationError(f"no client secret in {where}")
    return secret


def check_tenant_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A click callback for ``--tenant-id``: a project id is a UUID.

    Raises:
        click.BadParameter: it is not one (nothing is sent).
    """
    if value is not None:
        try:
            check_tenant_id(value, "project id")
        except ValidationError as error:
            raise click.BadParameter(error.message) from None
    return value


def _credentials_given(
    options: CliOptions, layered: Mapping[str, str], profile: Mapping[str, str]
) -> bool:
    """Whether a flag, the environment, ``.env`` or the profile's own keys give a client id
    or secret (then a stored credential is not used)."""
    return bool(
        options.client_id
        or options.client_secret_file
        or layered.get("AURA_CLIENT_ID")
        or layered.get("AURA_CLIENT_SECRET")
        or profile.get("client_secret_file")
    )


def resolve_settings(
    options: CliOptions,
    *,
    environ: Mapping[str, str] | None = None,
    dotenv: Path | None = Path(".env"),
    overrides: Mapping[str, Any] | None = None,
) -> tuple[ClientSettings, dict[str, str]]:
    """Merge a profile, ``.env``, the environment and the flags into client settings.

    Returns the settings and the profile's own extra keys (``credentials_dir``).

    Raises:
        ConfigurationError: missing credentials (naming the variables), an unreadable
            config file or secret, or a malformed value.
    """
    environ = os.environ if environ is None else environ
    profile = chosen_profile(options, environ)
    layered: dict[str, str] = {_KEYS[k]: v for k, v in profile.items() if k in _KEYS}
    if dotenv is not None and dotenv.is_file():
        try:
            values = dotenv_values(dotenv)
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(f"cannot read {dotenv}: {error}") from None
        layered.update({k: v for k, v in values.items() if v is not None})
    layered.update(environ)
    flags: dict[str, Any] = {
        key: getattr(options, key)
        for key in ("client_id", "tenant_id", "base_url", "auth_url")
        if getattr(options, key) is not None
    }
    if options.rate_limit is not None:
        try:
            flags["rate_limit"] = RateLimit.parse(options.rate_limit)
        except ValueError as error:
            raise ConfigurationError(f"--rate-limit: {error}") from None
    if options.rate_limit_redis is not None:
        # The flag names the server; how to behave without it still comes from the
        # environment (AURA_RATE_LIMIT_REDIS_FALLBACK, ..._SHARE_TOKEN).
        flags["rate_limit_backend"] = backend_from_env(
            options.rate_limit_redis, layered, source="--rate-limit-redis"
        )
    if "credential" in profile and not _credentials_given(options, layered, profile):
        # The stored credential (`credential use`) only when nothing above gives an id or a
        # secret: a flag or a variable wins, and an id and a secret are never mixed.
        store = NamedCredentials(config_file(options, environ))
        chosen = store.get(profile["credential"])
        flags["client_id"] = chosen.client_id
        flags["client_secret"] = store.secret(chosen)
    if options.client_secret_file is not None:
        flags["client_secret"] = read_secret(options.client_secret_file)
    elif not layered.get("AURA_CLIENT_SECRET") and "client_secret_file" in profile:
        # Read only when nothing above the profile gives the secret: a stale path in a
        # profile must not break an override.
        layered["AURA_CLIENT_SECRET"] = read_secret(profile["client_secret_file"])
    flags.update(overrides or {})
    settings = ClientSettings.from_env(layered, dotenv=None, **flags)
    if settings.tenant_id is not None and "tenant_id" not in flags:
        # From the environment, .env or the profile (the flag is checked as it is parsed).
        try:
            check_tenant_id(settings.tenant_id, "AURA_TENANT_ID")
        except ValidationError as error:
            raise ConfigurationError(error.message, hint=error.hint) from None
    extra = {k: v for k, v in profile.items() if k in PROFILE_ONLY}
    return settings, extra


# ----------------------------------------------------------------------------- config keys


def _check_tenant(value: str) -> str:
    check_tenant_id(value, "default-tenant")
    return value


def _check_output(value: str) -> str:
    mode = "table" if value == "default" else value  # aura-cli's name for its table
    if mode not in ("table", "json", "jsonl"):
        raise ValidationError(f"output must be table, json or jsonl (or default); got {value!r}")
    return mode


def _check_rate(value: str) -> str:
    try:
        RateLimit.parse(value)
    except ValueError as error:
        raise ValidationError(f"rate-limit: {error}") from None
    return value


def _check_url(key: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        scheme, _, rest = value.partition("://")
        if scheme not in ("http", "https") or not rest or any(c.isspace() for c in value):
            raise ValidationError(f"{key} must be an http(s) URL; got {value!r}")
        return value

    return check


def _check_dir(value: str) -> str:
    if not value.strip():
        raise ValidationError("credentials-dir must be a directory path")
    return value


@attrs.frozen
class ConfigKey:
    """One key of ``aura-async config``: aura-cli's name, the profile's, where else it's set."""

    name: str  # aura-cli's spelling: default-tenant
    profile_key: str  # the [profiles.NAME] key: tenant_id
    environment: str | None  # AURA_TENANT_ID
    flag: str  # --tenant-id
    check: Callable[[str], str]  # the value as stored; raises ValidationError
    default: str | None = None


CONFIG_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("default-tenant", "tenant_id", "AURA_TENANT_ID", "--tenant-id", _check_tenant),
    ConfigKey("output", "output", None, "--output", _check_output, "table"),
    ConfigKey("rate-limit", "rate_limit", "AURA_RATE_LIMIT", "--rate-limit", _check_rate, "paid"),
    ConfigKey(
        "base-url",
        "base_url",
        "AURA_BASE_URL",
        "--base-url",
        _check_url("base-url"),
        "https://api.neo4j.io",
    ),
    ConfigKey(
        "auth-url",
        "auth_url",
        "AURA_AUTH_URL",
        "--auth-url",
        _check_url("auth-url"),
        "<base-url>/oauth/token",
    ),
    ConfigKey(
        "credentials-dir",
        "credentials_dir",
        None,
        "--credentials-dir",
        _check_dir,
        "./aura-credentials",
    ),
)


def config_key(name: str) -> ConfigKey:
    """The config key called ``name`` (aura-cli's spelling, or ours: ``tenant_id``).

    Raises:
        ValidationError: no such key (the message lists the known ones).
    """
    wanted = name.strip().lower().replace("_", "-")
    aliases = {"tenant-id": "default-tenant", "default-project": "default-tenant"}
    wanted = aliases.get(wanted, wanted)
    for key in CONFIG_KEYS:
        if wanted == key.name:
            return key
    known = ", ".join(key.name for key in CONFIG_KEYS)
    if wanted == "beta-enabled":
        raise ValidationError(
            f"aura-async has no beta commands, so no key {name!r} (keys: {known})"
        )
    raise ValidationError(f"unknown config key {name!r} (keys: {known})")


def configured_output(options: CliOptions, environ: Mapping[str, str] | None = None) -> str | None:
    """The profile's ``output`` (``config set output json``), or None; never raises: a bad
    config file is reported by the command that needs it."""
    try:
        value = profile_value(options, "output", environ)
    except ConfigurationError:
        return None
    try:
        return None if value is None else _check_output(value)
    except ValidationError:
        return None
