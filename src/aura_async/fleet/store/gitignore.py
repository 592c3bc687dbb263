"""Keeping a file out of git: ask git itself, else read the ignore files, and append a line.

Used for every ``.env`` file written with credentials (:func:`ensure_gitignored`), and by
``aura-async doctor`` to check one (:func:`git_ignores`, :func:`patterns_ignore`). Where git
is not installed, the ignore files are read with pathspec's ``GitIgnoreSpec``, the standard
implementation of git's rules.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shutil
import subprocess

import pathspec

from aura_async.errors import CredentialStoreError
from aura_async.fleet.store.atomic import os_reason

__all__ = ["ensure_gitignored", "git_ignores", "patterns_ignore"]


def ensure_gitignored(path: str | os.PathLike[str]) -> pathlib.Path | None:
    """Make sure git ignores the file at ``path``, adding it to the work tree's ``.gitignore``.

    The enclosing work tree is the nearest directory above ``path`` holding ``.git``. Whether
    the file is already ignored is asked of ``git check-ignore --no-index`` when git is on
    PATH (so global and repository excludes count too), else read from the ``.gitignore``
    files and ``.git/info/exclude`` with pathspec (:func:`patterns_ignore`). If not ignored,
    a line is appended to the work tree's top ``.gitignore``: ``.env`` for a file named
    ``.env``, else its path from the top (``/config/neo4j.env``).

    Returns:
        The ``.gitignore`` changed, or None when nothing needed changing or there is no
        work tree.

    Raises:
        CredentialStoreError: the ``.gitignore`` could not be read or written.
    """
    target = pathlib.Path(path).resolve()
    root = next((d for d in target.parents if (d / ".git").exists()), None)
    if root is None:
        return None
    relative = target.relative_to(root).as_posix()
    gitignore = root / ".gitignore"
    try:
        ignored = git_ignores(root, relative)
        if ignored is None:
            ignored = patterns_ignore(root, relative)
        if ignored:
            return None
        entry = ".env" if target.name == ".env" else "/" + _escape_pattern(relative)
        existing = gitignore.read_bytes() if gitignore.exists() else b""
        with gitignore.open("ab") as stream:
            if existing and not existing.endswith(b"\n"):
                stream.write(b"\n")
            stream.write(entry.encode("utf-8") + b"\n")
    except OSError as exc:
        raise CredentialStoreError(
            f"Could not add {relative} to {gitignore}: {os_reason(exc)}",
            location=str(gitignore),
            hint=f"Add {relative} to .gitignore by hand: it holds a password",
        ) from exc
    return gitignore


def git_ignores(root: pathlib.Path, relative: str) -> bool | None:
    """Ask git whether ``relative`` (a path from the work tree ``root``) is ignored.

    Runs ``git check-ignore --no-index``, so global and repository excludes count.

    Returns:
        True or False, or None when git is not on PATH or cannot say (it failed, timed out,
        or ``root`` is not a repository to it). Never raises.
    """
    git = shutil.which("git")
    if git is None:
        return None
    try:
        # A fixed argument list (no shell); --no-index reads patterns only, never the index.
        result = subprocess.run(  # noqa: S603
            [git, "-C", str(root), "check-ignore", "-q", "--no-index", "--", relative],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: True, 1: False}.get(result.returncode)


def patterns_ignore(root: pathlib.Path, relative: str) -> bool:
    """Whether the ignore files in ``root`` ignore ``relative``, read with pathspec's GitIgnoreSpec.

    Reads ``.git/info/exclude`` and the ``.gitignore`` files from ``root`` down to the file's
    directory, in git's order (a deeper file's patterns win); git's own global excludes are
    not read (only :func:`git_ignores` sees those). A line pathspec cannot compile is skipped,
    as git skips it. Where this and git could differ (a directory re-included by a later
    file around a file an earlier file ignores), the answer is "not ignored", so that the
    caller adds a line rather than trusts one that is not there.

    Raises:
        OSError: an ignore file exists but could not be read.
    """
    parts = relative.split("/")
    sources = [(root / ".git" / "info" / "exclude", "")]
    sources += [
        (root.joinpath(*parts[:depth], ".gitignore"), "/".join(parts[:depth]))
        for depth in range(len(parts))
    ]
    specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []
    for file, base in sources:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            text = file.read_text(encoding="utf-8", errors="replace")
            specs.append((base, _compile(text.splitlines())))
    # Git never looks inside an ignored directory, so nothing below one can be re-included,
    # whatever later patterns say: each directory on the way down is asked first.
    for depth in range(1, len(parts) + 1):
        if _ignores(specs, "/".join(parts[:depth]), is_dir=depth < len(parts)):
            return True
    return False


def _ignores(specs: list[tuple[str, pathspec.GitIgnoreSpec]], path: str, *, is_dir: bool) -> bool:
    """Whether the last of ``specs`` to say anything about ``path`` ignores it."""
    ignored = False
    for base, spec in specs:
        # A .gitignore's patterns are relative to its own directory and apply only below it.
        if base and not path.startswith(base + "/"):
            continue
        subject = path[len(base) + 1 :] if base else path
        # A trailing slash tells pathspec it is a directory, for patterns such as "secrets/".
        include = spec.check_file(subject + "/" if is_dir else subject).include
        if include is not None:
            ignored = include
    return ignored


def _compile(lines: list[str]) -> pathspec.GitIgnoreSpec:
    lines = [_inside_only(line) for line in lines]
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except (ValueError, re.error):
        # One bad line spoils the whole list for pathspec; git only skips that line.
        return pathspec.GitIgnoreSpec.from_lines([line for line in lines if _compiles(line)])


# A rule ending in "/**" (or "/**/"): everything (every directory) inside what comes before.
_INSIDE = re.compile(r"(?<=/)\*\*(/?)\s*$")


def _inside_only(line: str) -> str:
    # pathspec's "config/**" also matches the directory "config/" itself, which git's does
    # not, and that would hide a "!config/x.env" below it from the walk down. For a rule that
    # ignores, "config/*" says the same once each directory is asked in turn.
    if line.startswith("!"):
        return line
    return _INSIDE.sub(r"*\1", line)


def _compiles(line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except (ValueError, re.error):
        return False
    return True


def _escape_pattern(relative: str) -> str:
    # A path written as a pattern: glob characters matched literally, a final space kept.
    escaped = re.sub(r"([\\*?\[\]])", r"\\\1", relative)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped
