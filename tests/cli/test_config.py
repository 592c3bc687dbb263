"""Where the command's settings come from: flags > environment > .env > a profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura_async.cli.config import CliOptions, default_config_path, resolve_settings
from aura_async.emulator import EmulatorServer
from aura_async.errors import ConfigurationError

from .conftest import CliRun, sent

PROFILE_TENANT = "00000000-0000-4000-8000-00000000000a"
DOTENV_TENANT = "00000000-0000-4000-8000-00000000000b"
PROFILE = """
[profiles.default]
client_id = "profile-id"
client_secret = "profile-secret"
tenant_id = "{tenant}"
rate_limit = "25/60"

[profiles.ci]
client_id = "ci-id"
client_secret_file = "{secret}"
base_url = "http://ci.example"
"""


def write_config(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("file-secret\n")
    path = tmp_path / "config.toml"
    path.write_text(PROFILE.format(secret=secret, tenant=PROFILE_TENANT))
    return path


def test_each_layer_wins_over_the_one_below(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    options = CliOptions(config=str(config))
    settings, _ = resolve_settings(options, environ={}, dotenv=None)
    assert (settings.client_id, settings.tenant_id) == ("profile-id", PROFILE_TENANT)
    assert str(settings.rate_limit) == "25/60s"

    dotenv = tmp_path / ".env"
    dotenv.write_text(f"AURA_TENANT_ID={DOTENV_TENANT}\nAURA_CLIENT_ID=dotenv-id\n")
    settings, _ = resolve_settings(options, environ={}, dotenv=dotenv)
    assert (settings.client_id, settings.tenant_id) == ("dotenv-id", DOTENV_TENANT)

    environ = {"AURA_CLIENT_ID": "env-id"}
    settings, _ = resolve_settings(options, environ=environ, dotenv=dotenv)
    assert (settings.client_id, settings.tenant_id) == ("env-id", DOTENV_TENANT)

    flags = CliOptions(config=str(config), client_id="flag-id", rate_limit="125")
    settings, _ = resolve_settings(flags, environ=environ, dotenv=dotenv)
    assert settings.client_id == "flag-id"
    assert str(settings.rate_limit) == "125/60s"
    assert settings.client_secret == "profile-secret"


def test_a_named_profile_reads_its_secret_from_a_file(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    settings, _ = resolve_settings(
        CliOptions(config=str(config), profile="ci"), environ={}, dotenv=None
    )
    assert settings.client_secret == "file-secret"
    assert settings.base_url == "http://ci.example"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (CliOptions(profile="nope"), "no profile 'nope'"),
        (CliOptions(config="/nonexistent/config.toml"), "not found"),
        (CliOptions(client_secret_file="/nonexistent/secret"), "cannot read the client secret"),
    ],
)
def test_bad_configuration_is_named(tmp_path: Path, options: CliOptions, message: str) -> None:
    config = write_config(tmp_path)
    if options.profile is not None:
        options = CliOptions(config=str(config), profile=options.profile)
    with pytest.raises(ConfigurationError, match=message):
        resolve_settings(options, environ={"AURA_CLIENT_ID": "x"}, dotenv=None)


def test_an_unknown_profile_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[profiles.default]\nclient_secrt = "typo"\n')
    with pytest.raises(ConfigurationError, match="unknown key 'client_secrt'"):
        resolve_settings(CliOptions(config=str(path)), environ={}, dotenv=None)


def test_default_config_path_follows_xdg(tmp_path: Path) -> None:
    assert default_config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "aura-async" / "config.toml"
    )
    assert default_config_path({"XDG_CONFIG_HOME": "relative"}).parts[-3:] == (
        ".config",
        "aura-async",
        "config.toml",
    )


def test_the_secret_can_come_from_standard_input(
    cli_run: CliRun, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AURA_CLIENT_SECRET")
    result = cli_run("--client-secret-file", "-", "tenant", "list", input=emulator.client_secret)
    assert result.exit_code == 0, result.output
    assert emulator.client_secret not in result.output


def test_an_empty_secret_on_standard_input_is_a_usage_error(
    cli_run: CliRun, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AURA_CLIENT_SECRET")
    result = cli_run("--client-secret-file", "-", "tenant", "list", input="\n")
    assert result.exit_code == 2
    assert "no client secret" in result.stderr
    assert sent(emulator) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-scale", "inf"], "finite"),
        (["--time-scale", "nan"], "finite"),
        (["--rate-limit", "abc"], "--rate-limit"),
        (["--emulator", "--rate-limit", "0/60"], "--rate-limit"),
    ],
)
def test_bad_global_options_are_usage_errors(
    cli_run: CliRun, emulator: EmulatorServer, args: list[str], message: str
) -> None:
    result = cli_run(*args, "tenant", "list")
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert sent(emulator) == 0


def test_an_unreadable_dotenv_is_a_usage_error(cli_run: CliRun, emulator: EmulatorServer) -> None:
    Path(".env").write_bytes(b"AURA_CLIENT_ID=\xff\n")
    result = cli_run("tenant", "list")
    assert result.exit_code == 2
    assert "cannot read .env" in result.stderr
    assert "Traceback" not in result.output


def test_a_stale_secret_file_in_a_profile_does_not_break_an_override(
    cli_run: CliRun, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.default]\nclient_secret_file = "/nonexistent/secret"\n')
    # AURA_CLIENT_SECRET (from the environment) is above the profile: the file is not read.
    result = cli_run("--config", str(config), "tenant", "list")
    assert result.exit_code == 0, result.output


def test_quiet_keeps_the_result(cli_run: CliRun, emulator: EmulatorServer) -> None:
    result = cli_run("-q", "tenant", "list")
    assert result.exit_code == 0
    assert emulator.project_id in result.stdout


def test_the_profiles_credentials_dir_is_the_store(tmp_path: Path) -> None:
    from aura_async.cli.output import Output
    from aura_async.cli.runtime import Runtime

    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.default]\ncredentials_dir = "{tmp_path / "vault"}"\n')
    runtime = Runtime(CliOptions(config=str(config)), Output())
    assert runtime.store().directory == tmp_path / "vault"
    flagged = Runtime(CliOptions(config=str(config)), Output(), credentials_dir="elsewhere")
    assert flagged.store().directory == Path("elsewhere").absolute()
