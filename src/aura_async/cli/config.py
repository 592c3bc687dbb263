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

import contextlib
import json
import math
import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import click
from dotenv import dotenv_values

from aura_async._validation import check_tenant_id, escape_controls
from aura_async.config import ENV_VARIABLES, ClientSettings, backend_from_env
from aura_async.errors import ConfigurationError, ValidationError
from aura_async.policies import RateLimit

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
# Read by the command alone: where passwords go, the output mode, and the stored credential
# (`aura-async credential use`) to fall back on.
_PROFILE_ONLY = {"client_secret_file", "credentials_dir", "output", "credential"}


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
    extra = {k: v for k, v in profile.items() if k in _PROFILE_ONLY}
    return settings, extra


# ----------------------------------------------------------------------------- writing it

# `config set` and `credential add|use|remove` rewrite the config file; read-only settings
# stay readable by hand-edited files (comments are not kept across a rewrite).


def config_file(options: CliOptions, environ: Mapping[str, str] | None = None) -> Path:
    """The config file this invocation reads: ``--config``, else the default path."""
    environ = os.environ if environ is None else environ
    return Path(options.config).expanduser() if options.config else default_config_path(environ)


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


# ----------------------------------------------------------------------------- credentials

# `aura-async credential add`: a named client id + secret. The id sits in the config file
# ([credentials.NAME]); the secret never does: it goes to the operating system's keyring
# (the keyring library, service KEYRING_SERVICE, user NAME) where one is usable, else to
# <config dir>/secrets/NAME (0600 in a 0700 directory), as aura-cli keeps its own.
KEYRING_SERVICE = "aura-async"
_CREDENTIAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def usable_keyring() -> Any | None:
    """The keyring library's backend, or None: not installed, or no usable backend (its
    ``fail``/``null`` backends, as on a server without a Secret Service)."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend


def _backend_name(backend: Any) -> str:
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}"


@attrs.frozen
class StoredCredential:
    """A credential kept by ``aura-async credential add`` (its secret is not held here)."""

    name: str
    client_id: str
    kept_in: str  # "keyring" or "file"

    def where(self, store: NamedCredentials) -> str:
        """Where the secret is kept, for people (never the secret)."""
        if self.kept_in == "keyring":
            return "the system keyring"
        return str(store.secret_path(self.name))


def check_credential_name(name: str) -> str:
    """A credential's name: 1-64 letters, digits, '.', '_' or '-', starting alphanumeric.

    Raises:
        ValidationError: it is not one.
    """
    if not _CREDENTIAL_NAME.fullmatch(name):
        raise ValidationError(
            f"a credential name is 1-64 letters, digits, '.', '_' or '-' (starting with a "
            f"letter or digit); got {escape_controls(name)!r}",
            field="name",
        )
    return name


class NamedCredentials:
    """The credentials of one config file: ids in it, secrets in the keyring or files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.directory = path.parent / "secrets"

    def secret_path(self, name: str) -> Path:
        """The file holding ``name``'s secret when no keyring is usable."""
        return self.directory / check_credential_name(name)

    def _table(self, document: dict[str, Any]) -> dict[str, Any]:
        table = document.setdefault("credentials", {})
        if not isinstance(table, dict):
            raise ConfigurationError(f"{self.path}: 'credentials' must be a table")
        return table

    def list(self) -> list[StoredCredential]:
        """Every stored credential, by name.

        Raises:
            ConfigurationError: the config file cannot be read, or an entry is malformed.
        """
        table = self._table(read_document(self.path))
        return [self._entry(name, entry) for name, entry in sorted(table.items())]

    def _entry(self, name: str, entry: Any) -> StoredCredential:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("client_id"), str)
            or entry.get("kept_in") not in ("keyring", "file")
        ):
            raise ConfigurationError(
                f"{self.path}: [credentials.{name}] must hold client_id and kept_in "
                "(keyring or file)",
                hint=f"Remove it with aura-async credential remove {name}, then add it again",
            )
        return StoredCredential(name, entry["client_id"], entry["kept_in"])

    def get(self, name: str) -> StoredCredential:
        """The credential called ``name``.

        Raises:
            ConfigurationError: there is none (the message lists those there are), or the
                config file cannot be read.
        """
        known = {credential.name: credential for credential in self.list()}
        if name not in known:
            names = ", ".join(known) or "none"
            raise ConfigurationError(
                f"no credential {escape_controls(name)!r} (credentials: {names})",
                hint="Add one with aura-async credential add --name NAME --client-id ID",
            )
        return known[name]

    def add(self, name: str, client_id: str, secret: str) -> StoredCredential:
        """Keep a new credential: the secret in the keyring (else a 0600 file), the id here.

        Raises:
            ValidationError: a bad name, an empty client id or secret.
            ConfigurationError: the name is taken, or nothing could be written (then
                nothing was kept).
        """
        check_credential_name(name)
        if not client_id.strip() or any(c.isspace() or ord(c) < 32 for c in client_id):
            raise ValidationError(
                "the client id must be non-empty, without spaces", field="client_id"
            )
        if not secret:
            raise ValidationError("the client secret is empty", field="client_secret")
        document = read_document(self.path)
        table = self._table(document)
        if name in table:
            raise ConfigurationError(
                f"a credential {name!r} exists already",
                hint=f"Remove it first: aura-async credential remove {name}",
            )
        kept_in = self._keep_secret(name, secret)
        table[name] = {"client_id": client_id, "kept_in": kept_in}
        try:
            write_document(self.path, document)
        except ConfigurationError:
            self._drop_secret(name, kept_in)  # nothing half kept
            raise
        return StoredCredential(name, client_id, kept_in)

    def _keep_secret(self, name: str, secret: str) -> str:
        backend = usable_keyring()
        if backend is not None:
            from keyring.errors import KeyringError

            try:
                backend.set_password(KEYRING_SERVICE, name, secret)
            except KeyringError:
                # A backend that is there but refuses (a locked or absent Secret Service):
                # the file instead. The error is not shown: a backend may quote its input.
                pass
            else:
                return "keyring"
        path = self.secret_path(name)
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.mkdir(mode=0o700, exist_ok=True)
            os.chmod(self.directory, 0o700)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(secret)
        except OSError as error:
            raise ConfigurationError(
                f"cannot write the secret to {path}: {error.strerror}"
            ) from None
        return "file"

    def _drop_secret(self, name: str, kept_in: str) -> None:
        if kept_in == "keyring":
            backend = usable_keyring()
            if backend is not None:
                from keyring.errors import KeyringError

                with contextlib.suppress(KeyringError):
                    backend.delete_password(KEYRING_SERVICE, name)
        else:
            with contextlib.suppress(FileNotFoundError):
                self.secret_path(name).unlink()

    def secret(self, credential: StoredCredential) -> str:
        """Read ``credential``'s secret from where it is kept.

        Raises:
            ConfigurationError: it is not there (any more), or cannot be read; the message
                never holds the secret.
        """
        again = f"add it again: aura-async credential remove {credential.name}, then add"
        if credential.kept_in == "keyring":
            backend = usable_keyring()
            if backend is None:
                raise ConfigurationError(
                    f"credential {credential.name!r} keeps its secret in the system keyring, "
                    "which is not usable here",
                    hint="pip install 'aura-async[keyring]', or " + again,
                )
            from keyring.errors import KeyringError

            try:
                value = backend.get_password(KEYRING_SERVICE, credential.name)
            except KeyringError:
                value = None
            if not value:
                raise ConfigurationError(
                    f"the system keyring has no secret for credential {credential.name!r}",
                    hint=again.capitalize(),
                )
            return str(value)
        path = self.secret_path(credential.name)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise ConfigurationError(
                f"cannot read the secret of credential {credential.name!r} from {path}: {reason}",
                hint=again.capitalize(),
            ) from None
        if not value:
            raise ConfigurationError(f"{path} is empty", hint=again.capitalize())
        return value

    def remove(self, name: str) -> StoredCredential:
        """Forget a credential: its secret, its entry, and any profile's use of it.

        Raises:
            ConfigurationError: there is none, or the config file cannot be written.
        """
        credential = self.get(name)
        document = read_document(self.path)
        del self._table(document)[name]
        profiles = document.get("profiles", {})
        if isinstance(profiles, dict):
            for profile in profiles.values():
                if isinstance(profile, dict) and profile.get("credential") == name:
                    del profile["credential"]
        write_document(self.path, document)
        self._drop_secret(name, credential.kept_in)
        return credential

    def use(self, name: str, profile: str | None) -> StoredCredential:
        """Make ``name`` the credential of ``profile`` (``default``): used when no flag,
        variable, ``.env`` or profile key gives a client id or secret.

        Raises:
            ConfigurationError: there is none, or the config file cannot be written.
        """
        credential = self.get(name)
        document = read_document(self.path)
        profile_table(document, profile)["credential"] = name
        write_document(self.path, document)
        return credential

    def in_use(self, options: CliOptions, environ: Mapping[str, str] | None = None) -> str | None:
        """The name of the profile's credential (``credential use``), or None.

        Raises:
            ConfigurationError: the config file or profile cannot be read.
        """
        return profile_value(options, "credential", environ)
