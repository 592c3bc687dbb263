"""The emulator as users run it: ``EmulatorServer``, ``python -m aura_async.emulator``, the tour
(``--demo``) and the shipped pytest fixture. Everything here goes over real loopback sockets or
real subprocesses; nothing sleeps for more than a fraction of a second at a time."""

from __future__ import annotations

import contextlib
import gc
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import IO, Any

import httpx
import pytest

from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    EmulatorServer,
)
from aura_async.emulator.__main__ import build_parser, config_from_args
from aura_async.emulator.tour import run_tour

EMULATOR = (sys.executable, "-m", "aura_async.emulator")
# secrets.token_urlsafe(32), what the emulator uses for instance passwords, is 43 characters;
# access tokens are longer. No run of that many URL-safe characters belongs in the tour's output.
SECRET_LIKE = re.compile(r"[A-Za-z0-9_-]{43,}")


# ---------------------------------------------------------------- helpers


def assert_port_closed(port: int) -> None:
    """Nothing accepts connections on ``port`` any more."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def emulator_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "aura-emulator" and t.is_alive()}


def get_token(base_url: str, client_id: str, client_secret: str) -> str:
    response = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, client_secret),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def tenant_ids(base_url: str, token: str) -> list[str]:
    response = httpx.get(
        f"{base_url}/v1/tenants", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return [tenant["id"] for tenant in response.json()["data"]]


class Lines:
    """A pipe read line by line on a thread, so a test can wait for a line with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """Return the match of the first line (from here on) that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                pytest.fail(f"no line matched {pattern!r} in {timeout}s; saw {self.seen!r}")
            if line is None:
                pytest.fail(f"the stream ended before {pattern!r}; saw {self.seen!r}")
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def rest(self, timeout: float = 10.0) -> str:
        """Everything seen, after the stream has ended."""
        self._thread.join(timeout)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return "".join(self.seen)
            if line is not None:
                self.seen.append(line)


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``python -m aura_async.emulator ARGS``; kill whatever is still running at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [*EMULATOR, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def run_emulator(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EMULATOR, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


# ---------------------------------------------------- (a) EmulatorServer


def test_sync_context_manager_serves_on_free_ports_and_stops_cleanly() -> None:
    before = emulator_threads()
    with (
        EmulatorServer(EmulatorConfig(seed=1)) as first,
        EmulatorServer(EmulatorConfig(seed=2)) as second,
    ):
        assert first.port > 0
        assert second.port > 0
        assert first.port != second.port
        assert first.base_url == f"http://127.0.0.1:{first.port}"
        assert first.token_url == f"{first.base_url}/oauth/token"
        assert len(emulator_threads() - before) == 2
        for server, seed in ((first, 1), (second, 2)):
            info = httpx.get(f"{server.base_url}/_emulator/info", timeout=10).json()
            assert info["seed"] == seed
            assert info["default_project_id"] == server.project_id == DEFAULT_PROJECT_ID
            token = get_token(server.base_url, server.client_id, server.client_secret)
            assert tenant_ids(server.base_url, token) == [server.project_id]
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 3
    assert_port_closed(first.port)
    assert_port_closed(second.port)
    assert emulator_threads() == before


def test_explicit_port_is_used() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with EmulatorServer(EmulatorConfig(seed=3), port=port) as server:
        assert server.port == port
        assert httpx.get(f"{server.base_url}/_emulator/info", timeout=10).status_code == 200
    assert_port_closed(port)


async def test_async_context_manager_serves_and_stops_cleanly() -> None:
    before = emulator_threads()
    async with EmulatorServer(EmulatorConfig(seed=4, time_scale=60)) as server:
        assert server.port > 0
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(server.client_id, server.client_secret),
            )
            assert token.status_code == 200
            tenants = await http.get(
                "/v1/tenants",
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
            assert tenants.status_code == 200
            assert [t["id"] for t in tenants.json()["data"]] == [server.project_id]
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 3
    assert_port_closed(server.port)
    assert emulator_threads() == before


def test_stops_promptly_with_an_idle_keep_alive_connection_open() -> None:
    with httpx.Client(timeout=5) as http:
        with EmulatorServer(EmulatorConfig(seed=5)) as server:
            assert http.get(f"{server.base_url}/_emulator/info").status_code == 200
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 3
        assert_port_closed(server.port)
        with pytest.raises(httpx.TransportError):
            http.get(f"{server.base_url}/_emulator/info")


def test_port_in_use_raises_oserror() -> None:
    with socket.socket() as busy, warnings.catch_warnings():
        # The leaked socket is test_failed_start_does_not_leak_its_socket's business.
        warnings.simplefilter("ignore", ResourceWarning)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError, match="in use"):
            EmulatorServer(port=busy.getsockname()[1]).start()
        gc.collect()


def test_failed_start_does_not_leak_its_socket() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with contextlib.suppress(OSError):
                EmulatorServer(port=busy.getsockname()[1]).start()
            gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


# ------------------------------------------- (b) python -m aura_async.emulator


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_command_serves_until_interrupted(
    spawn: Callable[..., subprocess.Popen[str]], signum: signal.Signals
) -> None:
    process = spawn("--port", "0", "--time-scale", "60")
    assert process.stdout is not None
    assert process.stderr is not None
    out = Lines(process.stdout)
    err = Lines(process.stderr)
    base_url = out.wait_for(r"serving at (http://127\.0\.0\.1:(\d+))\b")
    assert int(base_url.group(2)) > 0
    project_id = out.wait_for(r"default project id:\s+(\S+)").group(1)
    assert project_id == DEFAULT_PROJECT_ID
    out.wait_for(r"Press Ctrl\+C to stop")

    url = base_url.group(1)
    token = get_token(url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    assert tenant_ids(url, token) == [project_id]
    info = httpx.get(f"{url}/_emulator/info", timeout=10).json()
    assert info["time_scale"] == 60

    process.send_signal(signum)
    stopping = time.monotonic()
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - stopping < 3
    assert_port_closed(int(base_url.group(2)))
    assert "Traceback" not in err.rest() + out.rest()


# --------------------------------------------------------- (c) bad arguments


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "nonsense"], "rate limit must look like"),
        (["--rate-limit", "0/60"], "rate limit and window must be positive"),
        (["--fault", "bogus=1"], "unknown fault 'bogus'"),
        (["--fault", "error=often"], "invalid fault 'error=often'"),
        (["--fault", "drop"], "a fault looks like KIND=VALUE"),
        (["--time-scale", "-1"], "time_scale must be positive"),
        (["--time-scale", "0"], "time_scale must be positive"),
        (["--time-scale", "nan"], "time_scale must be positive"),
        (["--token-lifetime", "0"], "token_lifetime must be positive"),
        (["--client-secret", ""], "must not be empty"),
        (["--port", "eighty"], "invalid int value"),
        (["--rate-model", "leaky"], "invalid choice"),
        (["--port", "70000"], "port must be between 0 and 65535"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_error(args: list[str], message: str) -> None:
    result = run_emulator(*args, timeout=30)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # it never started serving
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    assert message in errors[0]


def test_infinite_time_scale_is_rejected() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        config_from_args(build_parser().parse_args(["--time-scale", "inf"]))


def test_port_in_use_exits_1_with_one_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_emulator("--port", str(port), timeout=30)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_demo_port_in_use_exits_1_without_traceback() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_emulator("--demo", "--port", str(busy.getsockname()[1]), timeout=30)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot listen" in result.stderr


# ------------------------------------------------------------------ (d) --demo


def test_demo_runs_the_tour_and_keeps_passwords_out_of_sight() -> None:
    result = run_emulator("--demo", "--time-scale", "600", "--seed", "11", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    output = result.stdout + result.stderr
    assert output.count("kept out of sight") == 3
    assert "is paused" in output
    assert "snapshot is Completed" in output
    assert re.search(r"done: \d+ requests, 0 rate limited", output)
    assert "password" not in output.lower().replace("password received", "")
    assert not SECRET_LIKE.search(output), SECRET_LIKE.findall(output)


def test_demo_prints_none_of_the_secrets_it_was_issued(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process we can see the secrets the emulator hands out, and look for each of them."""
    issued: list[str] = []
    token_urlsafe = secrets.token_urlsafe

    def recording(nbytes: Any = None) -> str:
        value = token_urlsafe(nbytes)
        issued.append(value)
        return value

    monkeypatch.setattr(secrets, "token_urlsafe", recording)
    with EmulatorServer(EmulatorConfig(time_scale=600, seed=12)) as server:
        assert run_tour(server) == 0
    captured = capsys.readouterr()
    output = captured.out + captured.err
    passwords = [value for value in issued if len(value) == 43]
    assert len(passwords) >= 3  # one per instance the tour created; the check is not vacuous
    assert len(issued) > len(passwords)  # access tokens, also never to be shown
    assert "kept out of sight" in output
    for value in issued:
        assert value not in output


# ------------------------------------------------------- (e) the pytest fixture

DEFAULT_FIXTURE_TESTS = """
import socket

import httpx
import pytest

from aura_async.emulator import DEFAULT_PROJECT_ID, EmulatorServer

first = {}


def bearer(server):
    response = httpx.post(
        server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(server.client_id, server.client_secret),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": "Bearer " + response.json()["access_token"]}


def test_lists_tenants(aura_emulator):
    assert isinstance(aura_emulator, EmulatorServer)
    assert aura_emulator.config.time_scale == 600
    headers = bearer(aura_emulator)
    tenants = httpx.get(aura_emulator.base_url + "/v1/tenants", headers=headers)
    assert tenants.status_code == 200
    assert [t["id"] for t in tenants.json()["data"]] == [DEFAULT_PROJECT_ID]
    created = httpx.post(
        aura_emulator.base_url + "/v1/instances",
        headers=headers,
        json={
            "name": "left-behind", "type": "professional-db", "tenant_id": DEFAULT_PROJECT_ID,
            "cloud_provider": "gcp", "region": "europe-west1", "memory": "2GB", "version": "5",
        },
    )
    assert created.status_code == 202, created.text
    first["port"] = aura_emulator.port


def test_each_test_gets_a_fresh_emulator(aura_emulator):
    instances = httpx.get(aura_emulator.base_url + "/v1/instances", headers=bearer(aura_emulator))
    assert instances.json()["data"] == []
    if aura_emulator.port != first["port"]:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", first["port"]), timeout=2)
"""

CUSTOM_CONFTEST = """
import pytest

from aura_async.emulator import Credential, EmulatorConfig, ProjectSpec


@pytest.fixture
def aura_emulator_config():
    return EmulatorConfig(
        credentials=(Credential("ci-client", "ci-secret"),),
        projects=(ProjectSpec("11111111-2222-4333-8444-555555555555", "CI project"),),
        time_scale=1200,
        seed=7,
    )
"""

CUSTOM_TESTS = """
import httpx

from aura_async.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

PROJECT = "11111111-2222-4333-8444-555555555555"


def test_uses_the_overridden_config(aura_emulator):
    assert (aura_emulator.client_id, aura_emulator.client_secret) == ("ci-client", "ci-secret")
    assert aura_emulator.project_id == PROJECT
    assert aura_emulator.config.time_scale == 1200
    form = {"grant_type": "client_credentials"}
    rejected = httpx.post(
        aura_emulator.token_url, data=form, auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    )
    assert rejected.status_code == 401
    token = httpx.post(aura_emulator.token_url, data=form, auth=("ci-client", "ci-secret"))
    assert token.status_code == 200
    tenants = httpx.get(
        aura_emulator.base_url + "/v1/tenants",
        headers={"Authorization": "Bearer " + token.json()["access_token"]},
    )
    assert [(t["id"], t["name"]) for t in tenants.json()["data"]] == [(PROJECT, "CI project")]
"""


def test_pytest_fixture_works_for_a_user(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixture must come from the installed entry point, as it does for a user.
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(test_default_fixture=DEFAULT_FIXTURE_TESTS)
    custom = pytester.mkpydir("custom")
    (custom / "conftest.py").write_text(CUSTOM_CONFTEST)
    (custom / "test_custom_config.py").write_text(CUSTOM_TESTS)

    result = pytester.runpytest_subprocess(
        "-v", "-p", "no:cacheprovider", "-W", "error", timeout=120
    )
    result.assert_outcomes(passed=3)
    for line in (
        "plugins:*aura-async*",  # loaded through the pytest11 entry point
        "*test_default_fixture.py::test_lists_tenants PASSED*",
        "*test_default_fixture.py::test_each_test_gets_a_fresh_emulator PASSED*",
        "*custom/test_custom_config.py::test_uses_the_overridden_config PASSED*",
    ):
        result.stdout.fnmatch_lines([line])
    assert result.ret == 0
