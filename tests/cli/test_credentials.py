"""``aura-async credential add|list|use|remove``: secrets in a real keyring backend, or a file.

The keyring is keyrings.alt's file keyring, in the test's own directory, set with
``keyring.set_keyring`` (the machine's own keyring is never touched); the fallback is tested
with keyring's own ``fail`` backend (what a server without a Secret Service has).
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring

from aura_async.cli.config import KEYRING_SERVICE
from aura_async.emulator import EmulatorServer
from tests.cli.conftest import CliRun, json_of, sent

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def bare_env(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """No credential in the environment: only a stored one can give it. The config file."""
    monkeypatch.delenv("AURA_CLIENT_ID")
    monkeypatch.delenv("AURA_CLIENT_SECRET")
    return Path(cli_env["XDG_CONFIG_HOME"]) / "aura-async" / "config.toml"


def test_add_keeps_the_secret_in_the_keyring_and_commands_use_it(
    cli_run: CliRun, emulator: EmulatorServer, file_keyring: PlaintextKeyring, bare_env: Path
) -> None:
    secret = emulator.client_secret
    added = cli_run("credential", "add", "--name", "work", "--client-id", emulator.client_id,
                    input=secret + "\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "the system keyring" in added.output
    assert secret not in added.output
    assert file_keyring.get_password(KEYRING_SERVICE, "work") == secret
    config = bare_env.read_text()
    assert secret not in config
    assert emulator.client_id in config
    # The first credential is the one in use: a command reaches the API with it.
    listed = cli_run("-o", "json", "instance", "list")
    assert json_of(listed) == []
    doctor = cli_run("doctor")
    assert "credential 'work'" in doctor.output
    assert "the system keyring" in doctor.output
    assert secret not in doctor.output


def test_flags_and_the_environment_win_over_the_stored_credential(
    cli_run: CliRun,
    emulator: EmulatorServer,
    file_keyring: PlaintextKeyring,
    bare_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    added = cli_run("credential", "add", "--name", "stale", "--client-id", "nobody",
                    input="not-the-secret\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    refused = cli_run("instance", "list")
    assert refused.exit_code == 1  # the stored (wrong) credential was used
    monkeypatch.setenv("AURA_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("AURA_CLIENT_SECRET", emulator.client_secret)
    assert cli_run("instance", "list").exit_code == 0
    doctor = cli_run("doctor")
    assert "client id from environment (AURA_CLIENT_ID)" in doctor.output


def test_without_a_keyring_the_secret_goes_to_a_private_file(
    cli_run: CliRun, emulator: EmulatorServer, no_keyring: None, bare_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "secret.txt"
    source.write_text(emulator.client_secret)
    added = cli_run("credential", "add", "--name", "ci", "--client-id", emulator.client_id,
                    "--client-secret-file", str(source))  # fmt: skip
    assert added.exit_code == 0, added.output
    kept = bare_env.parent / "secrets" / "ci"
    assert kept.read_text() == emulator.client_secret
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    assert emulator.client_secret not in bare_env.read_text()
    assert cli_run("instance", "list").exit_code == 0
    assert str(kept) in cli_run("doctor").output
    removed = cli_run("credential", "remove", "ci")
    assert removed.exit_code == 0, removed.output
    assert not kept.exists()


def test_a_secret_given_as_a_flag_is_refused_and_not_echoed(
    cli_run: CliRun, emulator: EmulatorServer, file_keyring: PlaintextKeyring, bare_env: Path
) -> None:
    result = cli_run("credential", "add", "--name", "x", "--client-id", "id",
                     "--client-secret", "hunter2-value")  # fmt: skip
    assert result.exit_code == 2
    assert "hunter2-value" not in result.output
    assert "--client-secret-file" in result.output
    assert not bare_env.exists()
    assert file_keyring.get_password(KEYRING_SERVICE, "x") is None
    assert sent(emulator) == 0


def test_use_list_and_remove(
    cli_run: CliRun, file_keyring: PlaintextKeyring, bare_env: Path
) -> None:
    for name in ("one", "two"):
        added = cli_run("credential", "add", "--name", name, "--client-id", f"id-{name}",
                        input=f"secret-{name}\n")  # fmt: skip
        assert added.exit_code == 0, added.output
    rows = json_of(cli_run("-o", "json", "credential", "list"))
    assert [(r["name"], r["client_id"], r["in_use"]) for r in rows] == [
        ("one", "id-one", True),
        ("two", "id-two", False),
    ]
    assert cli_run("credential", "use", "two").exit_code == 0
    rows = json_of(cli_run("-o", "json", "credential", "list"))
    assert [r["name"] for r in rows if r["in_use"]] == ["two"]
    assert "secret-" not in cli_run("credential", "list").output
    # Mistakes: one line, exit 2, nothing changed.
    before = bare_env.read_text()
    for args in (("use", "three"), ("remove", "three"), ("add", "--name", "bad name",
                                                           "--client-id", "x")):  # fmt: skip
        result = cli_run("credential", *args, input="s\n")
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    duplicate = cli_run("credential", "add", "--name", "one", "--client-id", "x", input="s\n")
    assert duplicate.exit_code == 2
    assert "exists already" in duplicate.output
    assert bare_env.read_text() == before
    assert file_keyring.get_password(KEYRING_SERVICE, "one") == "secret-one"
    assert cli_run("credential", "remove", "two").exit_code == 0
    assert file_keyring.get_password(KEYRING_SERVICE, "two") is None
    assert 'credential = "two"' not in bare_env.read_text()
