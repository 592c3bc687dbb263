"""Keeping a file out of git: ask git itself, else read the ignore files, and append a line.

Used for every ``.env`` file written with credentials (:func:`ensure_gitignored`), and by
``aura-async doctor`` to check one (:func:`git_ignores`, :func:`patterns_ignore`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import pathlib
import re
import shutil
import subprocess

from aura_async.errors import CredentialStoreError
from aura_async.fleet.store.atomic import os_reason

__all__ = ["ensure_gitignored", "git_ignores", "patterns_ignore"]


def ensure_gitignored(path: str | os.PathLike[str]) -> pathlib.Path | None:
    """Make sure git ignores the file at ``path``, adding it to the work tree's ``.gitignore``.

    The enclosing work tree is the nearest directory above ``path`` holding ``.git``. Whether
    the file is already ignored is asked of ``git check-ignore --no-index`` when git is on
    PATH (so global and repository excludes count too), else read from the ``.gitignore``
    files and ``.git/info/exclude`` for the usual patterns. If not ignored, a line is appended
    to the work tree's top ``.gitignore``: ``.env`` for a file named ``.env``, else its path
    from the top (``/config/neo4j.env``).

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
    """Whether the ignore files in ``root`` ignore ``relative`` (common gitignore patterns).

    Reads ``.git/info/exclude`` and the ``.gitignore`` files from ``root`` down to the file's
    directory, in git's order (a deeper file's patterns win); git's own global excludes are
    not read (only :func:`git_ignores` sees those).

    Raises:
        OSError: an ignore file exists but could not be read.
    """
    parts = relative.split("/")
    sources = [(root / ".git" / "info" / "exclude", "")]
    sources += [
        (root.joinpath(*parts[:depth], ".gitignore"), "/".join(parts[:depth]))
        for depth in range(len(parts))
    ]
    patterns: list[tuple[str, str]] = []
    for file, base in sources:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            text = file.read_text(encoding="utf-8", errors="replace")
            patterns += [(base, line) for line in text.splitlines()]
    # Git ignores everything below an ignored directory, whatever later patterns say.
    for depth in range(1, len(parts) + 1):
        candidate = "/".join(parts[:depth])
        is_dir = depth < len(parts)
        ignored = False
        for base, line in patterns:
            match = _pattern_match(line, base, candidate, is_dir)
            if match is not None:
                ignored = match
        if ignored:
            return True
    return False


def _pattern_match(line: str, base: str, candidate: str, is_dir: bool) -> bool | None:
    """True/False if ``line`` ignores/re-includes ``candidate``; None if it does not apply."""
    pattern = line.rstrip()
    if not pattern or pattern.startswith("#"):
        return None
    negated = pattern.startswith("!")
    if negated or pattern.startswith(("\\!", "\\#")):
        pattern = pattern[1:]
    if base:
        if not candidate.startswith(base + "/"):
            return None
        candidate = candidate[len(base) + 1 :]
    if pattern.endswith("/"):
        if not is_dir:
            return None
        pattern = pattern.rstrip("/")
    if "/" in pattern:
        subject = candidate
        pattern = pattern.lstrip("/")
    else:
        subject = candidate.rsplit("/", 1)[-1]
    return not negated if _glob(pattern).fullmatch(subject) else None


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def _escape_pattern(relative: str) -> str:
    # A path written as a pattern: glob characters matched literally, a final space kept.
    escaped = re.sub(r"([\\*?\[\]])", r"\\\1", relative)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped
