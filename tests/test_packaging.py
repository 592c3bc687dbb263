"""The wheel as users get it: its contents, and installing it with and without the extra.

Builds the wheel with ``uv build``, then installs it into a fresh virtual environment, first
without the ``emulator`` extra (the SDK alone must import, and the emulator's server must say
how to get it), then with the extra (the server must work).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "aura_async"

WITHOUT_EXTRA = textwrap.dedent(
    """
    import importlib.util
    import aura_async, aura_async.emulator
    from aura_async.emulator import EmulatorConfig, ManualClock

    # The SDK's own dependencies are there; the server's are not.
    assert importlib.util.find_spec("httpx") is not None
    for name in ("starlette", "uvicorn"):
        assert importlib.util.find_spec(name) is None, name
    EmulatorConfig(time_scale=60, seed=1)
    ManualClock()

    for use in (
        lambda: aura_async.emulator.create_app,
        lambda: aura_async.emulator.create_app(),
        lambda: aura_async.emulator.EmulatorServer,
    ):
        try:
            use()
        except ModuleNotFoundError as exc:
            assert "aura-async[emulator]" in str(exc), str(exc)
        else:
            raise AssertionError("the emulator's server imported without its extra")
    try:
        from aura_async.emulator import create_app  # noqa: F401
    except ModuleNotFoundError as exc:
        assert "aura-async[emulator]" in str(exc), str(exc)
    else:
        raise AssertionError("create_app imported without the extra")
    print("without-extra-ok")
    """
)

WITH_EXTRA = textwrap.dedent(
    """
    import asyncio

    import httpx
    from aura_async.emulator import (
        DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PROJECT_ID, EmulatorConfig,
        EmulatorServer, create_app,
    )

    async def main():
        app = create_app(EmulatorConfig(seed=1))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
            )
            assert token.status_code == 200, token.text
            tenants = await http.get(
                "/v1/tenants",
                headers={"Authorization": "Bearer " + token.json()["access_token"]},
            )
            assert tenants.status_code == 200, tenants.text
            assert [t["id"] for t in tenants.json()["data"]] == [DEFAULT_PROJECT_ID]

    asyncio.run(main())
    with EmulatorServer(EmulatorConfig(seed=2)) as server:
        assert httpx.get(server.base_url + "/_emulator/info").status_code == 200
    print("with-extra-ok")
    """
)


def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def uv() -> str:
    found = shutil.which("uv")
    # nox[uv] installs uv with nox: its absence is a broken setup, not a reason to skip.
    assert found is not None, "uv is not on PATH; install it with: python -m pip install uv"
    return found


@pytest.fixture(scope="module")
def wheel(uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(uv, "build", "--wheel", "--out-dir", out, ROOT)
    wheels = list(out.glob("aura_async-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
        metadata = archive.read(f"{dist_info}/METADATA").decode()

    assert "aura_async/py.typed" in names
    assert "aura_async/__init__.py" in names
    modules = {f"aura_async/emulator/{path.name}" for path in (PACKAGE / "emulator").glob("*.py")}
    assert {
        "aura_async/emulator/__init__.py",
        "aura_async/emulator/__main__.py",
        "aura_async/emulator/app.py",
        "aura_async/emulator/server.py",
        "aura_async/emulator/pytest_plugin.py",
    } <= modules
    assert modules <= names, sorted(modules - names)

    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n]
    assert not [n for n in names if n.rsplit("/", 1)[-1] in ("conftest.py", "noxfile.py")]
    assert not [n for n in names if n.startswith("benchmarks/")]
    assert all(n.startswith(("aura_async/", dist_info + "/")) for n in names), sorted(names)

    assert "aura_emulator = aura_async.emulator.pytest_plugin" in entry_points
    assert "Provides-Extra: emulator" in metadata
    assert "Typing :: Typed" in metadata


def test_install_without_and_with_the_emulator_extra(uv: str, wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(uv, "venv", venv, "--python", sys.executable)
    python = venv / "bin" / "python"
    assert python.exists()

    run(uv, "pip", "install", "--python", python, wheel)
    assert "without-extra-ok" in run(python, "-c", WITHOUT_EXTRA).stdout
    # The command says what to install rather than dying with a traceback.
    command = subprocess.run(
        [python, "-m", "aura_async.emulator"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert command.returncode == 1
    assert "Traceback" not in command.stderr
    assert "aura-async[emulator]" in command.stderr

    run(uv, "pip", "install", "--python", python, f"aura-async[emulator] @ {wheel.as_uri()}")
    assert "with-extra-ok" in run(python, "-c", WITH_EXTRA).stdout
