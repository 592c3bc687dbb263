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
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import click
from dotenv import dotenv_values

from aura_async._http.limiter import RateLimit
from aura_async._validation import check_tenant_id
from aura_async.config import ENV_VARIABLES, ClientSettings, backend_from_env
from aura_async.errors import ConfigurationError, ValidationError

__all__ = [
    "CliOptions",
    "check_tenant_option",
    "default_config_path",
    "load_profile",
    "profile_value",
    "read_secret",
    "resolve_settings",
]

# Profile keys are the settings' names; each stands in for its environment variable.
_KEYS = ENV_VARIABLES
_PROFILE_ONLY = {"client_secret_file", "credentials_dir"}


@attrs.frozen
class CliOptions:
    """The global options of one invocation, as given on the command line."""

    profile: str | None = None
    config: str | None = None
    client_id: str | None = None
    client_secret_file: str | None = None
    tenant_id: str | None = None
    base_url: str | None = None
    auth_url: str | None = None
    rate_limit: str | None = None
    rate_limit_redis: str | None = None
    credentials_dir: str | None = None


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/aura-async/config.toml`` (``~/.config`` when unset)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "aura-async" / "config.toml"


def load_profile(path: Path, name: str | None, *, explicit: bool) -> dict[str, str]:
    """Read one profile from a config file (``default`` when no name is given).

    A missing file is no error unless it was named (``--config``) or a profile was asked for.

    Raises:
        ConfigurationError: the file cannot be read or parsed, the profile does not exist,
            or it holds an unknown key or a value that is not text.
    """
    if not path.is_file():
        if explicit or name is not None:
            raise ConfigurationError(
                f"config file {path} not found",
                hint="Create it with a [profiles.<name>] table, or leave out --config/--profile",
            )
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"cannot read config file {path}: {error}") from None
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigurationError(f"{path}: 'profiles' must be a table of [profiles.<name>]")
    chosen = name or "default"
    profile = profiles.get(chosen)
    if profile is None:
        if name is None:
            return {}
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigurationError(f"{path}: no profile {chosen!r} (profiles: {known})")
    if not isinstance(profile, dict):
        raise ConfigurationError(f"{path}: [profiles.{chosen}] must be a table")
    allowed = set(_KEYS) | _PROFILE_ONLY
    values: dict[str, str] = {}
    for key, value in profile.items():
        if key not in allowed:
            raise ConfigurationError(
                f"{path}: [profiles.{chosen}] has an unknown key {key!r} "
                f"(known: {', '.join(sorted(allowed))})"
            )
        if not isinstance(value, str):
            raise ConfigurationError(f"{path}: [profiles.{chosen}].{key} must be text")
        values[key] = value
    return values


def _profile(options: CliOptions, environ: Mapping[str, str]) -> dict[str, str]:
    explicit = options.config is not None
    path = Path(options.config).expanduser() if options.config else default_config_path(environ)
    return load_profile(path, options.profile, explicit=explicit)


def profile_value(
    options: CliOptions, key: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """One key of the chosen profile (None when unset or there is no config file).

    Raises:
        ConfigurationError: the config file cannot be read, or the profile does not exist.
    """
    return _profile(options, os.environ if environ is None else environ).get(key)


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
    profile = _profile(options, environ)
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
    extra = {k: v for k, v in profile.items() if k in _PROFILE_ONLY}
    return settings, extra
