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


def test_the_live_preset_prints_no_seed(cli_run: CliRun) -> None:
    result = cli_run("--emulator", "regions")
    assert result.exit_code == 0, result.output
    assert "chaos seed" not in result.output
