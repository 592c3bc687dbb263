"""No secret the emulator issued shows anywhere a fleet's work is seen.

The emulator records every password, access token and client secret it hands out
(:mod:`aura_async.emulator.secrets`); tests/conftest.py already fails any test whose logs,
captured output or CLI output hold one. What it cannot see is searched here: every event of a
fleet create + pause + delete + recover (its repr and ``to_json``), the reports (repr,
``to_json``, ``summary``), every item (repr, ``to_json``, credentials' repr and str), every
error (str, repr, traceback, down its cause chain), the ledger's entries, and the command's
output in table, json and jsonl modes. Then the controls, so the searches are not vacuous:
the passwords are in the registry and in the ledger, ``--show-password`` prints them in every
mode, and the suite-wide check itself fails a test that leaks.
"""

from __future__ import annotations

import json
import stat
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from aura_async import AuraClient, RateLimit, to_json
from aura_async.cli import cli
from aura_async.cli.commands import register
from aura_async.emulator import (
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    EmulatorServer,
    ErrorFault,
    FaultPlan,
    ProjectSpec,
    RateLimitSettings,
    RequestFilter,
    create_app,
)
from aura_async.emulator import secrets as emulator_secrets
from aura_async.fleet import FileStore, InstanceSpec, Outcome, Selector
from aura_async.lifecycle import PollPolicy

SCALE = 3600.0  # an emulated hour per real second: a create lasts about 33 ms
SPEC = InstanceSpec(
    name="s", type="professional-db", region="europe-west1", memory="2GB", cloud_provider="gcp"
)
PRO = ("--type", "professional-db", "--region", "europe-west1", "--memory", "2GB")
PRO += ("--cloud-provider", "gcp")


def exception_texts(error: BaseException) -> Iterator[str]:
    """Everything an exception shows, down its __cause__ and __context__ chain."""
    yield "".join(traceback.format_exception(error))
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield repr(current)
        yield str(current)
        yield from (repr(value) for value in vars(current).values())
        pending += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            pending += list(current.exceptions)


def leaks(texts: list[str], secrets: frozenset[str]) -> list[str]:
    """Which kinds of secret appear in any of ``texts`` (never the values themselves)."""
    text = "\n".join(texts)
    kinds = {kind: emulator_secrets.issued(kind) for kind in emulator_secrets.KINDS}
    return sorted(
        {kind for secret in secrets if secret in text for kind, v in kinds.items() if secret in v}
    )


async def test_a_fleet_run_shows_no_secret_in_events_reports_items_or_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = EmulatorConfig(
        time_scale=SCALE,
        seed=5,
        projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Secrets", max_instances=1000),),
        # Retry-After with milliseconds: at this scale a whole real second outlasts a wait.
        rate_limit=RateLimitSettings(retry_after="seconds"),
        faults=FaultPlan(
            create_failure=0.15,  # some items fail: their errors are searched too
            errors=(ErrorFault(503, 0.05, 1.0, only=RequestFilter(methods=("GET",))),),
        ),
    )
    app = create_app(config)
    credential = config.credentials[0]
    events: list[object] = []
    shown: list[object] = []  # searched by repr and str
    texts: list[str] = []
    errors: list[BaseException] = []
    store = FileStore(tmp_path / "ledger")
    async with AuraClient(
        credential.client_id,
        credential.client_secret,
        tenant_id=DEFAULT_PROJECT_ID,
        base_url="http://emulator.test",
        transport=httpx.ASGITransport(app=app),
        rate_limit=RateLimit(125, 1.0),
        poll=PollPolicy().scaled(1 / SCALE),
        on_event=events.append,
    ) as aura:
        up = await aura.fleet.create(
            SPEC, count=20, pattern="s-{n:02d}", store=store, on_error="continue"
        )
        state = app.state.emulator
        with state.lock:
            state.tokens.revoke_all()  # a 403, a second token and the request resent
        paused = await aura.fleet.pause(Selector(ledger=store))
        # A repeated name (nothing sent) and a failed fleet, raised.
        for call in (
            aura.fleet.create([SPEC, SPEC], store=store),
            aura.instances.get("0000dead"),
        ):
            try:
                await call
            except Exception as error:  # every error is searched below
                errors.append(error)
        try:
            up.raise_for_failures()
        except Exception as error:
            errors.append(error)
        down = await aura.fleet.delete(Selector(ledger=store))
        recovered = await aura.fleet.recover(store)
        entries = await store.entries()

    reports = [up, paused, down]
    for report in reports:
        texts += [repr(report), json.dumps(report.to_json()), report.summary()]
        for item in report.items:
            shown += [item, item.credentials]
            texts.append(json.dumps(item.to_json()))
            if item.error is not None:
                errors.append(item.error)
    texts += [repr(recovered), json.dumps(recovered.to_json(), default=str), repr(entries)]
    texts += [repr(event) for event in events]
    texts += [json.dumps(to_json(event), default=str) for event in events]
    for error in errors:
        texts += exception_texts(error)
    texts += [repr(value) for value in shown] + [str(value) for value in shown]
    texts += [caplog.text, *(r.getMessage() for r in caplog.records)]

    # The run did what it says.
    created = [i for i in up.items if i.outcome is Outcome.SUCCEEDED]
    assert 10 <= len(created) < 20, up.summary()
    assert any(i.error is not None for i in up.items)
    assert {type(e).__name__ for e in errors} >= {"ValidationError", "NotFoundError", "FleetError"}
    assert sum(type(e).__name__ == "TokenRefreshed" for e in events) >= 2
    assert all(i.outcome is Outcome.SUCCEEDED for i in down.items), down.summary()
    # The controls: every password received is in the registry and in the ledger (0600/0700).
    passwords = emulator_secrets.issued("password")
    assert len(passwords) == 20  # failed creates were answered with a password too
    for item in created:
        assert item.credentials is not None
        assert item.credentials.password in passwords
        assert item.saved_to == store.location
        saved = store.directory / "credentials" / f"{item.instance_id}.json"
        assert item.credentials.password in saved.read_text()
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert len(emulator_secrets.issued("token")) >= 2
    assert emulator_secrets.issued("client-secret") == {credential.client_secret}
    joined = "\n".join(texts)
    assert all(i.instance_id in joined for i in created)

    assert not leaks(texts, emulator_secrets.issued())


# ------------------------------------------------------------------------- the command


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(time_scale=600.0, seed=13)) as server:
        yield server


@pytest.fixture
def run(emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``aura-async ARGS...`` in process, pointed at ``emulator``, in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    for name in ("AURA_RATE_LIMIT", "AURA_CONFIG", "CI"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AURA_CLIENT_ID": emulator.client_id,
        "AURA_CLIENT_SECRET": emulator.client_secret,
        "AURA_TENANT_ID": emulator.project_id,
        "AURA_BASE_URL": emulator.base_url,
        "AURA_TIME_SCALE": "600",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    register(cli)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
        return result

    return invoke


def test_the_command_shows_no_secret_in_any_output_mode(run: Any, tmp_path: Path) -> None:
    outputs: list[str] = []
    for mode in ("table", "json", "jsonl"):
        # jsonl with --events: every event line is searched too.
        flags = ("-o", mode, "--events") if mode == "jsonl" else ("-o", mode)
        prefix = f"c{mode}-"
        for args in (
            ("fleet", "up", "--count", "3", "--name-pattern", prefix + "{n}", *PRO),
            ("fleet", "status", "--prefix", prefix),
            ("fleet", "pause", "--prefix", prefix),
            ("instance", "create", "--name", f"{prefix}one", *PRO, "--env-file", f"{mode}.env"),
            ("instance", "list"),
            ("fleet", "down", "--prefix", prefix, "--yes"),
            ("fleet", "recover"),
        ):
            result = run(*flags, *args)
            outputs += [result.output, result.stdout, result.stderr]
    passwords = emulator_secrets.issued("password")
    assert len(passwords) == 12
    # The passwords were received and saved (the search below is not vacuous).
    ledger = "\n".join(p.read_text() for p in (tmp_path / "aura-credentials").rglob("*.json"))
    assert all(password in ledger for password in passwords)
    for mode in ("table", "json", "jsonl"):
        env_file = tmp_path / f"{mode}.env"
        assert any(password in env_file.read_text() for password in passwords)
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert not leaks(outputs, emulator_secrets.issued())


@pytest.mark.shows_secrets
def test_show_password_prints_it_in_every_mode(run: Any) -> None:
    """The control: asked for by name, the password is printed, and the search finds it."""
    for mode in ("table", "json", "jsonl"):
        before = emulator_secrets.issued("password")
        result = run("-o", mode, "--show-password", "instance", "create", "--name", mode, *PRO)
        assert len(emulator_secrets.issued("password") - before) == 1
        assert leaks([result.stdout], emulator_secrets.issued()) == ["password"], mode


# ------------------------------------------------------------ the suite-wide check itself

LEAKY_TESTS = """
import logging, os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aura_async.emulator import EmulatorConfig, ManualClock
from aura_async.emulator.backend import AuraBackend
from aura_async.emulator.tokens import TokenStore
from tests_helpers import BODY


def password():
    backend = AuraBackend(EmulatorConfig(seed=1), ManualClock())
    return backend.create_instance(BODY).password


def test_printed():
    print("the password is", password())


@pytest.mark.shows_secrets
def test_printed_on_purpose():
    print("the password is", password())


def test_logged():
    token = TokenStore(60).issue("client", 0.0)
    logging.getLogger("aura_async.somewhere").debug("token %s", token.value)


def test_read_with_capsys(capsys):
    print(password())
    assert capsys.readouterr().out


def test_cli_output():
    value = password()
    CliRunner().invoke(click.command()(lambda: click.echo(value)))


def test_file_too_open(tmp_path):
    (tmp_path / "creds.txt").write_text(password())
    os.chmod(tmp_path / "creds.txt", 0o644)


def test_file_private(tmp_path):
    (tmp_path / "creds.txt").write_text(password())
    os.chmod(tmp_path / "creds.txt", 0o600)


def test_clean():
    password()
    print("nothing to see")
"""


def test_the_suite_wide_check_fails_a_leaking_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((Path(__file__).parents[1] / "conftest.py").read_text())
    pytester.makepyfile(tests_helpers=f"BODY = {create_body()!r}\n", test_leaky=LEAKY_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", "-ra")
    failed = {
        line.split("::")[1].split()[0] for line in result.outlines if line.startswith("FAILED ")
    }
    # A file is judged after the test's teardown: an error at teardown, not a failure.
    result.assert_outcomes(passed=4, failed=4, errors=1)
    assert failed == {"test_printed", "test_logged", "test_read_with_capsys", "test_cli_output"}
    assert any(
        line.startswith("ERROR test_leaky.py::test_file_too_open") for line in result.outlines
    )
    text = "\n".join(result.outlines)
    assert "an issued password" in text
    assert "an issued token" in text
    assert "creds.txt holds an issued password with mode 0644" in text


def create_body() -> dict[str, Any]:
    return {
        "version": "5",
        "region": "europe-west1",
        "memory": "2GB",
        "name": "leaky",
        "type": "professional-db",
        "tenant_id": DEFAULT_PROJECT_ID,
        "cloud_provider": "gcp",
    }
