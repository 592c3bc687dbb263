"""Global options are taken before or after the subcommand, as aura-cli users type them (issue 15).

``aura-async instance list --output json`` means ``aura-async --output json instance list``;
a subcommand's own option of the same name (``--tenant-id``, ``--yes``) keeps its meaning;
nothing after ``--`` moves, nor the arguments ``emulator serve`` passes on unparsed.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aura_async.cli import cli
from aura_async.cli.app import GLOBAL_HERE, hoist_global_options
from aura_async.cli.commands import register
from aura_async.emulator import EmulatorServer
from tests.cli.conftest import CliRun, json_of

PRO = ("--type", "professional-db", "--memory", "2GB", "--region", "europe-west1")
PRO += ("--cloud-provider", "gcp")

# The root's options the issue names (each with a value, or None for a flag).
GLOBALS: dict[str, str | None] = {
    "--output": "json",
    "-o": "json",
    "--base-url": "http://127.0.0.1:1",
    "--auth-url": "http://127.0.0.1:1/oauth/token",
    "--credentials-dir": "creds",
    "--tenant-id": "00000000-0000-0000-0000-000000000000",
    "--profile": "p",
    "--config": "c.toml",
    "--client-id": "id",
    "--client-secret-file": "-",
    "--rate-limit": "free",
    "--rate-limit-redis": "redis://localhost:6379/0",
    "--quiet": None,
    "-q": None,
    "--emulator": None,
    "--emulator-preset": "ideal",
    "--emulator-seed": "3",
    "--show-password": None,
    "--time-scale": "60",
    "--yes": None,
    "-y": None,
    "--verbose": None,
    "--debug": None,
}


def hoist(*args: str) -> list[str]:
    register(cli)
    return hoist_global_options(cli, click.Context(cli), list(args))


# ---------------------------------------------------------------------- where they move


@pytest.mark.parametrize("option", sorted(GLOBALS))
def test_every_global_option_moves_before_the_subcommand(option: str) -> None:
    value = GLOBALS[option]
    given = [option] if value is None else [option, value]
    # instance pause has none of these options of its own
    assert hoist("instance", "pause", "abc", *given) == [*given, "instance", "pause", "abc"]
    if value is not None and option.startswith("--"):
        joined = f"{option}={value}"
        assert hoist("instance", "pause", joined, "abc") == [joined, "instance", "pause", "abc"]


def test_every_option_of_the_root_moves_even_one_added_later() -> None:
    register(cli)
    for param in cli.params:
        if not isinstance(param, click.Option) or param.is_eager:
            continue  # --help and --version: each command has its own --help
        given = [param.opts[0]] if param.is_flag else [param.opts[0], "x"]
        assert hoist("instance", "pause", "abc", *given)[-3:] == ["instance", "pause", "abc"]


def test_short_forms_run_together_move_whole() -> None:
    assert hoist("instance", "pause", "-ojson", "abc") == ["-ojson", "instance", "pause", "abc"]
    assert hoist("instance", "pause", "-qy", "abc") == ["-qy", "instance", "pause", "abc"]


def test_options_before_the_subcommand_stay_and_moved_ones_come_after_them() -> None:
    # click keeps the last value given: the one typed after the subcommand wins
    assert hoist("-o", "table", "instance", "list", "-o", "json") == [
        "-o",
        "table",
        "-o",
        "json",
        "instance",
        "list",
    ]


def test_a_subcommands_own_option_of_the_same_name_stays_with_it() -> None:
    assert hoist("instance", "list", "--tenant-id", "t", "-o", "json") == [
        "-o",
        "json",
        "instance",
        "list",
        "--tenant-id",
        "t",
    ]
    assert hoist("instance", "delete", "abc", "--yes") == ["instance", "delete", "abc", "--yes"]
    # instance create's --version is the Neo4j version, not the command's
    assert hoist("instance", "create", "--version", "4") == ["instance", "create", "--version", "4"]


def test_a_subcommands_option_value_is_not_mistaken_for_an_option() -> None:
    assert hoist("instance", "create", "--name", "-q", "-q") == [
        "-q",
        "instance",
        "create",
        "--name",
        "-q",
    ]


def test_nothing_after_a_double_dash_moves() -> None:
    assert hoist("instance", "get", "--", "--output") == ["instance", "get", "--", "--output"]


def test_emulator_serve_keeps_the_flags_it_passes_on() -> None:
    args = ["emulator", "serve", "--time-scale", "60", "--yes"]
    assert hoist(*args) == args


def test_unknown_options_stay_for_click_to_name() -> None:
    assert hoist("fleet", "up", "--foo", "-o", "json") == ["-o", "json", "fleet", "up", "--foo"]


# ---------------------------------------------------------------------- the command


def test_output_after_the_subcommand(cli_run: CliRun) -> None:
    for spelling in (("--output", "json"), ("--output=json",), ("-o", "json"), ("-ojson",)):
        assert json_of(cli_run("instance", "list", *spelling)) == [], spelling


def test_after_beats_before(cli_run: CliRun) -> None:
    assert json_of(cli_run("-o", "table", "instance", "list", "-o", "json")) == []


def test_output_default_is_aura_clis_name_for_table(cli_run: CliRun) -> None:
    result = cli_run("instance", "list", "--output", "default")
    assert result.exit_code == 0, result.output
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_fleet_up_takes_the_credentials_dir_after_it(cli_run: CliRun, tmp_path: Path) -> None:
    args = ("fleet", "up", "--count", "1", "--name-pattern", "g-{n}", *PRO)
    report = json_of(cli_run(*args, "--credentials-dir", "creds", "-o", "json"))
    assert [item["outcome"] for item in report["items"]] == ["succeeded"]
    assert any((tmp_path / "creds").iterdir())
    assert not (tmp_path / "aura-credentials").exists()


def test_the_subcommands_tenant_id_keeps_its_meaning(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    created = json_of(cli_run("instance", "create", "--name", "t", *PRO, "-o", "json"))
    mine = json_of(cli_run("instance", "list", "--tenant-id", emulator.project_id, "-o", "json"))
    assert [i["id"] for i in mine] == [created["id"]]
    # instance list's own --tenant-id filters: another project's list has not this instance
    other = "11111111-1111-1111-1111-111111111111"
    result = cli_run("instance", "list", "--tenant-id", other, "-o", "json")
    assert "Traceback" not in result.output
    assert result.exit_code != 0 or json.loads(result.stdout) == []


def test_a_global_option_without_its_value_is_one_line(cli_run: CliRun) -> None:
    result = cli_run("instance", "list", "--output")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: Option '--output' requires an argument (see aura-async --help)"
    ]


def test_a_bad_global_value_after_the_subcommand_is_one_line(cli_run: CliRun) -> None:
    result = cli_run("instance", "list", "--output", "xml")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert "'xml' is not one of" in result.stderr


def test_quiet_after_the_subcommand(cli_run: CliRun, emulator: EmulatorServer) -> None:
    created = json_of(cli_run("instance", "create", "--name", "q", *PRO, "--await", "-o", "json"))
    result = cli_run("instance", "pause", created["id"], "-q", "--await")
    assert result.exit_code == 0, result.output
    loud = cli_run("instance", "resume", created["id"], "--await")
    assert loud.exit_code == 0, loud.output
    assert result.stderr == ""
    assert loud.stderr != ""


# ---------------------------------------------------------------------- help


def test_subcommand_help_says_global_options_work_there(cli_run: CliRun) -> None:
    for path in (
        ("instance", "list"),
        ("fleet", "up"),
        ("instance", "snapshot", "get"),
        ("tenant",),
    ):
        result = cli_run(*path, "--help")
        assert result.exit_code == 0
        assert GLOBAL_HERE in " ".join(result.stdout.split()), path


def test_root_help_describes_each_global_option_once(cli_run: CliRun) -> None:
    text = cli_run("--help").stdout
    assert text.count("--credentials-dir") == 1
    assert text.count("--output") == 1
    assert GLOBAL_HERE not in " ".join(text.split())


# ---------------------------------------------------------------------- version, completion


def test_version_as_aura_cli_spells_it_too(cli_run: CliRun) -> None:
    for flag in ("--version", "-v"):
        result = cli_run(flag)
        assert result.exit_code == 0
        assert result.stdout.startswith("aura-async, version ")


def test_shell_completion_the_click_way(cli_env: dict[str, str]) -> None:
    register(cli)
    runner = CliRunner()
    source = runner.invoke(
        cli, [], prog_name="aura-async", env={"_AURA_ASYNC_COMPLETE": "bash_source"}
    )
    assert source.exit_code == 0
    assert "_aura_async_completion()" in source.stdout
    words = {"COMP_WORDS": "aura-async instance li", "COMP_CWORD": "2"}
    completed = runner.invoke(
        cli, [], prog_name="aura-async", env={"_AURA_ASYNC_COMPLETE": "bash_complete", **words}
    )
    assert completed.stdout.split() == ["plain,list"]
    # a global option after the subcommand does not derail completion
    words = {"COMP_WORDS": "aura-async instance list -o json --ten", "COMP_CWORD": "5"}
    completed = runner.invoke(
        cli, [], prog_name="aura-async", env={"_AURA_ASYNC_COMPLETE": "bash_complete", **words}
    )
    assert completed.stdout.split() == ["plain,--tenant-id"]
