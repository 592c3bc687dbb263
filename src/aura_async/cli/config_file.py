"""The command's config file: where it is, the profile an invocation reads, rewriting it.

``--config`` names it, else ``$XDG_CONFIG_HOME/aura-async/config.toml``; ``--profile`` picks a
``[profiles.NAME]`` table (``default``). ``config set`` and ``credential add|use|remove``
rewrite the whole file at once (0600), through ``write_document``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aura_async.cli.options import CliOptions
from aura_async.config import ENV_VARIABLES
from aura_async.errors import ConfigurationError

__all__ = [
    "PROFILE_KEYS",
    "PROFILE_ONLY",
    "chosen_profile",
    "config_file",
    "default_config_path",
    "load_profile",
    "profile_table",
    "profile_value",
    "read_document",
    "write_document",
]

# Profile keys are the settings' names; each stands in for its environment variable.
PROFILE_KEYS = ENV_VARIABLES
# Read by the command alone: where passwords go, the output mode, and the stored credential
# (`aura-async credential use`) to fall back on.
PROFILE_ONLY = {"client_secret_file", "credentials_dir", "output", "credential"}


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
    allowed = set(PROFILE_KEYS) | PROFILE_ONLY
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


def config_file(options: CliOptions, environ: Mapping[str, str] | None = None) -> Path:
    """The config file this invocation reads: ``--config``, else the default path."""
    environ = os.environ if environ is None else environ
    return Path(options.config).expanduser() if options.config else default_config_path(environ)


def chosen_profile(options: CliOptions, environ: Mapping[str, str]) -> dict[str, str]:
    """The profile this invocation reads ({} when there is no config file and none was named).

    Raises:
        ConfigurationError: the config file cannot be read, or the profile does not exist.
    """
    return load_profile(
        config_file(options, environ), options.profile, explicit=options.config is not None
    )


def profile_value(
    options: CliOptions, key: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """One key of the chosen profile (None when unset or there is no config file).

    Raises:
        ConfigurationError: the config file cannot be read, or the profile does not exist.
    """
    return chosen_profile(options, os.environ if environ is None else environ).get(key)


# ----------------------------------------------------------------------------- writing it

# `config set` and `credential add|use|remove` rewrite the config file; read-only settings
# stay readable by hand-edited files (comments are not kept across a rewrite).


def read_document(path: Path) -> dict[str, Any]:
    """The whole config file as a TOML document ({} when there is none).

    Raises:
        ConfigurationError: it cannot be read or parsed.
    """
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"cannot read config file {path}: {error}") from None


def write_document(path: Path, document: Mapping[str, Any]) -> None:
    """Replace the config file with ``document`` at once (mode 0600; its directory made 0700).

    The text is parsed back before anything is replaced: a value TOML cannot hold changes
    nothing.

    Raises:
        ConfigurationError: the file cannot be written.
    """
    text = _toml(document)
    if tomllib.loads(text) != document:  # pragma: no cover - a writer bug, never data
        raise ConfigurationError(f"cannot write {path}: the settings do not round-trip as TOML")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Same directory, then an atomic rename: a crash leaves the old file or the new one.
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=".config-", delete=False
        ) as handle:
            os.chmod(handle.name, 0o600)  # an old profile may hold a client_secret
            handle.write(text)
        os.replace(handle.name, path)
    except OSError as error:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(handle.name)
        raise ConfigurationError(f"cannot write config file {path}: {error}") from None


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE.fullmatch(key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # JSON's escapes are TOML's; DEL is the one control JSON leaves as it is.
        return json.dumps(value).replace("\x7f", "\\u007f")
    if isinstance(value, int | float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    raise ConfigurationError(f"cannot write {value!r} to the config file")


def _toml(document: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> str:
    lines: list[str] = []
    tables = {k: v for k, v in document.items() if isinstance(v, dict)}
    for key, value in document.items():
        if key not in tables:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in tables.items():
        path = (*prefix, key)
        scalars = {k: v for k, v in value.items() if not isinstance(v, dict)}
        if scalars or not value:
            lines.append("")
            lines.append("[" + ".".join(_toml_key(part) for part in path) + "]")
        text = _toml(value, path)
        if text:
            lines.append(text)
    return "\n".join(lines).strip("\n") + "\n" if lines else ""


def profile_table(document: dict[str, Any], profile: str | None) -> dict[str, Any]:
    """The ``[profiles.NAME]`` table of ``document`` (made when missing; ``default``).

    Raises:
        ConfigurationError: ``profiles`` or the profile is not a table.
    """
    profiles = document.setdefault("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigurationError("the config file's 'profiles' must be a table")
    table = profiles.setdefault(profile or "default", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"[profiles.{profile or 'default'}] must be a table")
    return table
