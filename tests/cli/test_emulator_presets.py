"""The command's embedded emulator: ``--emulator`` runs the live preset, ``--emulator-preset``
and ``--emulator-seed`` choose another (and imply ``--emulator``)."""

from __future__ import annotations

from .conftest import CliRun


def test_the_command_runs_chaos_and_says_its_seed(cli_run: CliRun) -> None:
    result = cli_run("--emulator-preset", "chaos", "--emulator-seed", "5", "regions")
    assert result.exit_code == 0, result.output
    assert "chaos seed 5 (replay: --emulator-preset chaos --emulator-seed 5)" in result.output


def test_the_command_draws_a_chaos_seed_when_none_is_given(cli_run: CliRun) -> None:
    result = cli_run("--emulator-preset", "chaos", "regions")
    assert result.exit_code == 0, result.output
    assert "emulator: chaos seed " in result.output


def test_the_chaos_seed_is_said_in_quiet_and_machine_modes_too(cli_run: CliRun) -> None:
    result = cli_run(
        "-q", "-o", "json", "--emulator-preset", "chaos", "--emulator-seed", "8", "regions"
    )
    assert result.exit_code == 0, result.output
    assert "chaos seed 8" in result.stderr
    assert "chaos seed" not in result.stdout  # the JSON stays clean


def test_the_live_preset_prints_no_seed(cli_run: CliRun) -> None:
    result = cli_run("--emulator", "regions")
    assert result.exit_code == 0, result.output
    assert "chaos seed" not in result.output
