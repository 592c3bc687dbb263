"""Project sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``, ``soak``, ``demo``.

Each session installs the project and its pinned dependencies from ``uv.lock`` into its own
virtual environment with uv (``pip install 'nox[uv]'`` brings both).
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_venv = "yes"


def _sync(session: nox.Session, *groups: str, extras: tuple[str, ...] = ("emulator",)) -> None:
    """Install the project and the locked dependency groups into the session's environment."""
    args = ["uv", "sync", "--locked", "--no-default-groups"]
    for group in groups:
        args += ["--group", group]
    for extra in extras:
        args += ["--extra", extra]
    session.run_install(
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        silent=True,
    )


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite (pass pytest arguments after --)."""
    _sync(session, "test", extras=("emulator", "verify", "mcp"))
    session.run("python", "-m", "pytest", "-n", "2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff."""
    _sync(session, "lint", extras=())
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check src/ with mypy --strict."""
    _sync(session, "typecheck", extras=("emulator", "redis", "verify", "mcp"))
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks; they print figures and ratios and never assert on time."""
    _sync(session, "test", "bench")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """Long runs: fleet up/down cycles for 30 minutes, then a crash campaign of 500 trials.

    ``benchmarks/soak.py`` fails if memory, open descriptors or tasks creep (arguments after
    -- go to it: ``nox -s soak -- --minutes 5``); the crash campaign SIGKILLs ``fleet up``
    500 times and recovers the ledger after each (``AURA_CRASH_TRIALS``).
    """
    _sync(session, "test")
    session.run("python", "benchmarks/soak.py", *(session.posargs or ["--minutes", "30"]))
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/reliability/test_crash.py",
        "-p",
        "no:randomly",
        env={"AURA_CRASH_TRIALS": "500"},
    )


@nox.session
def demo(session: nox.Session) -> None:
    """The project's main job: ``aura-async demo``, a fleet of 20 on the embedded emulator.

    Arguments after -- go to the command's global options (``nox -s demo -- -o json``).
    The raw-HTTP tour of the emulator is still ``python -m aura_async.emulator --demo``.
    """
    _sync(session, extras=("emulator", "verify"))
    session.run("aura-async", *session.posargs, "demo")
