"""``--verbose`` and ``--debug`` put the SDK's log lines on standard error, and nothing else.

The emulator fails every listing with a 503 here, so the command has retries to tell of.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from aura_async.emulator import (
    EmulatorConfig,
    EmulatorServer,
    ErrorFault,
    FaultPlan,
    RateLimitSettings,
)
from aura_async.emulator import secrets as emulator_secrets
from aura_async.emulator.faults import RequestFilter
from tests.cli.conftest import SCALE, CliRun

# Retry-After of 6 emulated seconds (10 ms here) keeps the resends quick.
_LISTING_FAILS = FaultPlan(
    errors=(ErrorFault(503, 1.0, 6.0, only=RequestFilter(methods=("GET",), route="/instances")),)
)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """An emulator whose instance GETs all answer 503."""
    # (Retry-After with decimals: in whole seconds, each resend would wait a real second.)
    quick = RateLimitSettings(retry_after="seconds")
    config = EmulatorConfig(time_scale=SCALE, seed=11, faults=_LISTING_FAILS, rate_limit=quick)
    with EmulatorServer(config) as server:
        yield server


def _secrets(cli_env: dict[str, str]) -> list[str]:
    tokens = emulator_secrets.issued("token")
    assert tokens  # the command fetched one: the sweep below has something to find
    return [cli_env["AURA_CLIENT_SECRET"], *tokens]


@pytest.mark.parametrize("flag", ["--verbose", "--debug"])
def test_the_retries_behind_a_failure_are_told_on_stderr(
    cli_run: CliRun, cli_env: dict[str, str], flag: str
) -> None:
    result = cli_run("instance", "list", "-o", "json", flag)

    assert result.exit_code != 0
    lines = result.stderr.splitlines()
    told = [line for line in lines if " INFO GET /v1/instances failed (503); attempt " in line]
    assert len(told) >= 2, result.stderr
    requests = [line for line in lines if " DEBUG GET /v1/instances -> 503 in " in line]
    assert bool(requests) is (flag == "--debug"), result.stderr
    assert result.stdout.strip() == "" or json.loads(result.stdout) is not None
    for secret in _secrets(cli_env):
        assert secret not in result.stderr


def test_without_a_flag_no_log_line_is_printed(cli_run: CliRun) -> None:
    result = cli_run("instance", "list", "-o", "json")

    assert result.exit_code != 0
    assert " INFO " not in result.stderr
    assert " DEBUG " not in result.stderr


def test_the_handler_goes_with_the_command(cli_run: CliRun) -> None:
    logger = logging.getLogger("aura_async")
    handlers, level = list(logger.handlers), logger.level

    cli_run("--debug", "instance", "list")

    assert (logger.handlers, logger.level) == (handlers, level)
