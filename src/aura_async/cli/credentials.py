"""Named credentials (``aura-async credential add|list|use|remove``): a client id and secret
kept under a name, the id in the config file, the secret in the system keyring or a file.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from aura_async._validation import escape_controls
from aura_async.cli.config_file import profile_table, profile_value, read_document, write_document
from aura_async.cli.options import CliOptions
from aura_async.errors import ConfigurationError, ValidationError

__all__ = [
    "KEYRING_SERVICE",
    "NamedCredentials",
    "StoredCredential",
    "check_credential_name",
    "usable_keyring",
]

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
