"""``.env`` files: one instance's credentials written for tools that read them, and read back.

Written atomically with mode 0600, and kept out of git (:func:`ensure_gitignored`). Read and
parsed with python-dotenv, the format's reference reader (here, the library ``dotenv``, not
this module).
"""

from __future__ import annotations

import os
import pathlib

from aura_async.errors import CredentialStoreError
from aura_async.fleet.store.atomic import os_reason, write_atomic
from aura_async.fleet.store.gitignore import ensure_gitignored
from aura_async.fleet.store.records import Credentials

__all__ = ["read_env_file", "write_env_file"]

_ENV_HEADER = "# Neo4j Aura instance credentials, written by aura-async. Keep this file secret.\n"


def write_env_file(
    path: str | os.PathLike[str], credentials: Credentials, *, database: str = "neo4j"
) -> pathlib.Path:
    """Write an instance's credentials as a ``.env`` file (mode 0600, atomically) git ignores.

    Writes NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD, NEO4J_DATABASE and AURA_INSTANCE_ID,
    single-quoted so that python-dotenv reads them back unchanged. Other lines of an
    existing file (your own variables, comments) are kept; these five are replaced. Then
    :func:`ensure_gitignored` adds the file to the enclosing work tree's ``.gitignore``.

    Args:
        path: the file, or a directory to write ``.env`` in.
        credentials: what to write.
        database: the database name to write as NEO4J_DATABASE.

    Returns:
        The file written.

    Raises:
        CredentialStoreError: it could not be read, written or git-ignored, or a value
            holds ``${`` (which python-dotenv would expand); the message never holds the
            password.
    """
    from dotenv.parser import parse_stream

    target = pathlib.Path(path)
    if target.is_dir():
        target = target / ".env"
    values = {
        "NEO4J_URI": credentials.connection_url or "",
        "NEO4J_USERNAME": credentials.username,
        "NEO4J_PASSWORD": credentials.password,
        "NEO4J_DATABASE": database,
        "AURA_INSTANCE_ID": credentials.instance_id,
    }
    for key, value in values.items():
        # python-dotenv expands ${...} whatever the quoting and offers no escape for it.
        if "${" in value:
            raise CredentialStoreError(
                f"{key} holds '${{', which python-dotenv would expand; {target} not written",
                location=str(target),
                hint="Write this value to the file by hand",
            )
    kept = ""
    try:
        if target.exists():
            with target.open(encoding="utf-8") as stream:
                kept = "".join(
                    binding.original.string
                    for binding in parse_stream(stream)
                    if binding.key not in values and binding.original.string != _ENV_HEADER
                )
        if kept and not kept.endswith("\n"):
            kept += "\n"
        lines = "".join(f"{key}={_dotenv_quote(value)}\n" for key, value in values.items())
        write_atomic(target, (kept + _ENV_HEADER + lines).encode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CredentialStoreError(
            f"{target} exists and is not a text file; it was not overwritten",
            location=str(target),
            hint="Pass another path",
        ) from exc
    except OSError as exc:
        raise CredentialStoreError(
            f"Could not write the credentials of instance {credentials.instance_id} to "
            f"{target}: {os_reason(exc)}",
            location=str(target),
        ) from exc
    ensure_gitignored(target)
    return target


def read_env_file(path: str | os.PathLike[str], instance_id: str | None = None) -> Credentials:
    """Read an instance's credentials back from a ``.env`` file (as :func:`write_env_file`
    writes it, or as Aura's console downloads it).

    Reads NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD and AURA_INSTANCEID or AURA_INSTANCE_ID
    (and AURA_INSTANCENAME, when there); ``path`` may be a directory holding ``.env``.

    Args:
        path: the file, or its directory.
        instance_id: the instance the file must be of: a file that names another one is
            refused (a file that names none is taken as this one's).

    Raises:
        CredentialStoreError: the file cannot be read, lacks a value, or names another
            instance; the message never holds the password.
    """
    from dotenv import dotenv_values

    target = pathlib.Path(path)
    if target.is_dir():
        target = target / ".env"
    try:
        with target.open(encoding="utf-8") as stream:
            values = dotenv_values(stream=stream, interpolate=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialStoreError(
            f"Could not read {target}: {os_reason(exc) if isinstance(exc, OSError) else exc}",
            location=str(target),
            hint="Check the path",
        ) from None
    named = values.get("AURA_INSTANCEID") or values.get("AURA_INSTANCE_ID") or ""
    if instance_id is not None and named and named != instance_id:
        raise CredentialStoreError(
            f"{target} holds the credentials of instance {named}, not {instance_id}",
            location=str(target),
            hint="Pass the .env file of this instance",
        )
    missing = [
        key for key in ("NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD") if not values.get(key)
    ]
    if missing:
        raise CredentialStoreError(
            f"{target} holds no {', '.join(missing)}",
            location=str(target),
            hint="Pass a .env file as `instance create --env-file` or the Aura console writes it",
        )
    return Credentials(
        instance_id=instance_id or named,
        name=values.get("AURA_INSTANCENAME") or "",
        username=values["NEO4J_USERNAME"] or "",
        password=values["NEO4J_PASSWORD"] or "",
        connection_url=values["NEO4J_URI"],
    )


def _dotenv_quote(value: str) -> str:
    # In single quotes python-dotenv decodes only \\ and \'; everything else is literal.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
