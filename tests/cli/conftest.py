"""CLI tests: the command run in process (click's runner) against an emulator on loopback.

Each test gets its own emulator served over real HTTP with a clock 600 times faster than real
time, and an environment pointing the command at it (AURA_* variables, AURA_TIME_SCALE so
waits poll at the emulator's pace), in a temporary working directory (so ./aura-credentials
and .env files land there). ``cli_run`` invokes the command and returns click's result; the
command's own exit code is ``result.exit_code``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import keyring
import pytest
from click.testing import CliRunner, Result
from keyrings.alt.file import PlaintextKeyring

from aura_async.cli import cli
from aura_async.cli.commands import register
from aura_async.emulator import EmulatorConfig, EmulatorServer

SCALE = 600.0

CliRun = Callable[..., Result]


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """An emulator on loopback, 600 times faster than real time."""
    with EmulatorServer(EmulatorConfig(time_scale=SCALE, seed=11)) as server:
        yield server


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[PlaintextKeyring]:
    """keyrings.alt's file keyring in the test's directory (the machine's is never touched)."""
    previous = keyring.get_keyring()
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def cli_env(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point the command at ``emulator`` through the environment, in a fresh directory."""
    monkeypatch.chdir(tmp_path)
    for name in ("AURA_RATE_LIMIT", "AURA_CONFIG", "CI", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AURA_CLIENT_ID": emulator.client_id,
        "AURA_CLIENT_SECRET": emulator.client_secret,
        "AURA_TENANT_ID": emulator.project_id,
        "AURA_BASE_URL": emulator.base_url,
        "AURA_TIME_SCALE": str(SCALE),
        # No user config file leaks into a test.
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def cli_run(cli_env: dict[str, str]) -> CliRun:
    """Run ``aura-async ARGS...``; keyword ``input`` feeds standard input."""
    register(cli)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return run


def json_of(result: Result) -> Any:
    """The one JSON document a ``--output json`` run printed."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def counters(server: EmulatorServer) -> dict[str, Any]:
    """The emulator's counters (what the command really sent)."""
    response = httpx.get(f"{server.base_url}/_emulator/counters")
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def sent(server: EmulatorServer) -> int:
    """Requests the emulator answered on /v1 and /oauth (0: nothing was sent)."""
    return sum(
        sum(statuses.values())
        for route, statuses in counters(server)["requests"].items()
        if not route.split(" ", 1)[1].startswith("/_emulator")
    )
