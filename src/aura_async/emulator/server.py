"""Run the emulator on a real loopback port, in a background thread, for as long as needed."""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn

from aura_async.emulator.app import ConnectionDropped, EmulatorState, create_app
from aura_async.emulator.backend import AuraBackend
from aura_async.emulator.bolt import BoltListener
from aura_async.emulator.clock import Clock
from aura_async.emulator.config import EmulatorConfig
from aura_async.emulator.threaded import ThreadedService

__all__ = ["EmulatorServer"]


class _HideDroppedConnections(logging.Filter):
    """Keep uvicorn from printing a traceback for every connection we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, ConnectionDropped):
                return False
            exc = exc.__cause__ or exc.__context__
        if isinstance(record.exc_info, tuple) and isinstance(
            record.exc_info[1], BaseExceptionGroup
        ):
            return not any(isinstance(e, ConnectionDropped) for e in record.exc_info[1].exceptions)
        return True


_filter = _HideDroppedConnections()
logging.getLogger("uvicorn.error").addFilter(_filter)


class EmulatorServer(ThreadedService):
    """The emulator served over HTTP on loopback from a background thread.

    Use it as a context manager (sync or async)::

        with EmulatorServer(EmulatorConfig(time_scale=600)) as emulator:
            client = AuraClient(base_url=emulator.base_url, ...)

    With ``config.bolt`` on (the ``live`` and ``chaos`` presets) it also serves Bolt for the
    running instances on a second port (:attr:`bolt`), and their ``connection_url`` points
    there.

    Args:
        config: the run's settings.
        host: the address to bind (loopback by default), for HTTP and Bolt alike.
        port: the port; 0 picks a free one.
        clock: an explicit clock (a :class:`~aura_async.emulator.clock.ManualClock` in tests).
        log_level: uvicorn's log level.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        log_level: str = "warning",
    ) -> None:
        self.config = config or EmulatorConfig()
        self.app = create_app(self.config, clock=clock)
        self.host = host
        self._requested_port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._bolt: BoltListener | None = None
        self.port = 0

    @property
    def state(self) -> EmulatorState:
        """The app's state: backend, tokens, limiters."""
        state: EmulatorState = self.app.state.emulator
        return state

    @property
    def backend(self) -> AuraBackend:
        """The emulated service's state, for inspection.

        The server thread changes it while requests arrive: hold ``backend.lock`` while
        reading more than one value, or read through ``/_emulator/counters``.
        """
        return self.state.backend

    @property
    def bolt(self) -> BoltListener | None:
        """The Bolt listener while it serves (``config.bolt`` on), else None."""
        return self._bolt

    @property
    def base_url(self) -> str:
        """The API's base URL without ``/v1`` (clients append it, like the official tools)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return f"{self.base_url}/oauth/token"

    @property
    def client_id(self) -> str:
        """The first configured client id."""
        return self.config.credentials[0].client_id

    @property
    def client_secret(self) -> str:
        """The first configured client secret."""
        return self.config.credentials[0].client_secret

    @property
    def project_id(self) -> str:
        """The default project's id."""
        return self.backend.default_project_id

    def start(self) -> None:
        """Bind the port and start serving; return once the server accepts connections.

        With ``config.bolt`` on, the Bolt listener starts too, before this returns.

        Raises:
            OSError: if an address cannot be bound.
            RuntimeError: if the server fails to start within 10 seconds.
        """
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted connections of a
        # socket that says so, and without it every kept-alive answer waits ~40 ms for an ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
        except BaseException:
            sock.close()
            raise
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level=self._log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            # The app sends its own Date, of the emulated clock; uvicorn's would be real time.
            date_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="aura-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator's HTTP server did not start")
            time.sleep(0.005)
        if self.config.bolt:
            bolt = BoltListener(self.state, host=self.host)
            try:
                bolt.start()
            except BaseException:
                self.stop()
                raise
            self._bolt = bolt

    def stop(self) -> None:
        """Stop serving (Bolt too) and wait for the threads to end."""
        if self._bolt is not None:
            self._bolt.stop()
            self._bolt = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __repr__(self) -> str:
        return f"EmulatorServer(base_url={self.base_url!r})"
