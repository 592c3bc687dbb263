"""The Bolt listener: one loopback port on which every running instance answers the driver.

It runs its own asyncio loop in a daemon thread, so it serves beside uvicorn's thread
(:class:`~aura_async.emulator.EmulatorServer` starts one when ``EmulatorConfig.bolt`` is on)
and equally beside an in-process ASGI app with no server at all::

    app = create_app(config)
    with BoltListener(app.state.emulator) as bolt:
        ...  # connection URLs now read neo4j://127.0.0.1:PORT?instance=ID

A refused connection is reset (SO_LINGER 0) without an answer to the message that named the
instance: the driver raises ``neo4j.exceptions.ServiceUnavailable`` for a ``neo4j://`` URI
and ``SessionExpired`` for ``bolt://`` (see :mod:`aura_async.emulator.bolt`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import struct
import threading
from typing import Protocol

from aura_async.emulator.backend import AuraBackend
from aura_async.emulator.bolt.gate import InstanceGate
from aura_async.emulator.bolt.messages import (
    HANDSHAKE_SIZE,
    MAGIC,
    encode_message,
    negotiate,
    read_message,
    version_bytes,
)
from aura_async.emulator.bolt.packstream import PackStreamError
from aura_async.emulator.bolt.session import BoltSession
from aura_async.emulator.bolt.stats import BoltStats, StatsBook
from aura_async.emulator.threaded import ThreadedService

__all__ = ["BoltListener"]

log = logging.getLogger("aura_async.emulator.bolt")

#: Real seconds a client has to send its handshake, and to hang up after a final FAILURE.
HANDSHAKE_TIMEOUT = 10.0
CLOSE_TIMEOUT = 1.0
_START_TIMEOUT = 10.0


class _HasBackend(Protocol):
    @property
    def backend(self) -> AuraBackend: ...


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP reset, as a server that is not there."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close after the last answer was sent, letting the client read it first.

    Closing a socket with unread input resets it, and a reset may destroy the answer in
    flight (the FAILURE of a refused LOGON): so send FIN, then wait for the client to hang
    up (the driver does once it has read the failure), for a second at most.
    """
    try:
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(CLOSE_TIMEOUT):
            while await reader.read(4096):
                pass
    except (OSError, TimeoutError):
        pass
    writer.close()


class BoltListener(ThreadedService):
    """Serve Bolt for the emulator's instances on one port (see the module's docstring).

    Args:
        state_or_backend: the emulator's :class:`~aura_async.emulator.backend.AuraBackend`,
            or anything with a ``backend`` (the app's ``state.emulator``).
        host: the address to bind (loopback by default).
        port: the port; 0 picks a free one.

    Raises:
        TypeError: if ``state_or_backend`` holds no backend.
    """

    def __init__(
        self, state_or_backend: AuraBackend | _HasBackend, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        backend = (
            state_or_backend
            if isinstance(state_or_backend, AuraBackend)
            else getattr(state_or_backend, "backend", None)
        )
        if not isinstance(backend, AuraBackend):
            raise TypeError("BoltListener needs the emulator's AuraBackend or its app state")
        self.backend = backend
        self.host = host
        self._requested_port = port
        self.port = 0
        self._gate = InstanceGate(backend)
        self._stats = StatsBook()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._connections: set[asyncio.Task[None]] = set()

    # ---------------------------------------------------------------- public

    @property
    def address(self) -> str:
        """``host:port`` as clients dial it (a wildcard bind is dialled on loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the listener is serving."""
        return self._thread is not None and self._thread.is_alive()

    def url(self, instance_id: str) -> str:
        """The routing URI of one instance: ``neo4j://127.0.0.1:PORT?instance=ID``."""
        return f"neo4j://{self.address}?instance={instance_id}"

    def stats(self, instance_id: str | None = None) -> BoltStats:
        """What the listener saw of one instance, or with ``None`` of every connection."""
        return self._stats.stats(instance_id)

    def start(self) -> None:
        """Bind the port, start serving, and point the instances' connection URLs here.

        Raises:
            OSError: if the address cannot be bound.
            RuntimeError: if already started, or the loop fails to start in 10 seconds.
        """
        if self._thread is not None:
            raise RuntimeError("the Bolt listener is already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose
        # listening socket says so, and small answers would otherwise wait for an ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._ready.clear()
        self._failure = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="aura-emulator-bolt", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT) or self._failure is not None:
            failure = self._failure
            self.stop()
            raise RuntimeError("the emulator's Bolt listener did not start") from failure
        with self.backend.lock:
            self.backend.bolt_address = self.address

    def stop(self) -> None:
        """Reset every open connection, stop serving, and restore Aura's connection URLs."""
        with self.backend.lock:
            if self.backend.bolt_address == self.address:
                self.backend.bolt_address = None
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            thread.join(timeout=10)
        self._thread = self._loop = self._stopping = None

    def __repr__(self) -> str:
        return f"BoltListener(address={self.address!r}, running={self.running})"

    # ------------------------------------------------------------ the thread

    def _run(self, sock: socket.socket) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(sock))
        except BaseException as exc:  # reported to start(), or lost at shutdown
            self._failure = exc
            sock.close()
        finally:
            leftover = asyncio.all_tasks(loop)
            for task in leftover:
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._ready.set()

    async def _serve(self, sock: socket.socket) -> None:
        # Its own accept callback rather than asyncio.start_server or sock_accept: in
        # CPython 3.11 a Server closed with connections in its backlog may still accept one
        # and fail to wrap it, and a cancelled sock_accept may accept one into a cancelled
        # future; either leaves a socket nobody closes. Here accepting is synchronous, and
        # every accepted socket belongs at once to a task that stop() cancels and that
        # closes it when it ends.
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        sock.listen(128)
        loop.add_reader(sock.fileno(), self._accept, sock)
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            loop.remove_reader(sock.fileno())
            sock.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

    def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(64):  # a burst at a time, then the loop's other work
            try:
                conn, _peer = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, a peer gone before accept()
                log.debug("Bolt: accept failed: %s", exc)
                return
            conn.setblocking(False)
            task = loop.create_task(self._connection(conn))
            self._connections.add(task)

            def finished(task: asyncio.Task[None], conn: socket.socket = conn) -> None:
                self._connections.discard(task)
                conn.close()  # a no-op once its transport closed it; else never wrapped

            task.add_done_callback(finished)

    async def _connection(self, conn: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=conn)
        try:
            await self._converse(reader, writer, f"bolt-{next(self._ids)}")
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            _reset(writer)  # the client hung up or stalled
        except PackStreamError as exc:
            log.debug("Bolt: closing a connection that sent no valid message: %s", exc)
            _reset(writer)
        except asyncio.CancelledError:
            _reset(writer)  # stop(): the database goes away
        except Exception:
            log.exception("Bolt: the emulator failed on a connection; resetting it")
            _reset(writer)
        finally:
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection_id: str
    ) -> None:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            handshake = await reader.readexactly(HANDSHAKE_SIZE)
        if handshake[:4] != MAGIC:
            _reset(writer)  # not a Bolt client (an HTTP request, a port scan)
            return
        version = negotiate(handshake[4:])
        writer.write(version_bytes(version))
        await writer.drain()
        if version is None:
            await _close(reader, writer)
            return
        session = BoltSession(
            self._gate, self._stats, address=self.address, connection_id=connection_id
        )
        while True:
            message = await read_message(reader)
            reply = session.handle(message)
            if reply.then == "abort":
                log.debug(
                    "Bolt: %s reset: instance %s is not connectable",
                    connection_id,
                    session.instance_id,
                )
                _reset(writer)
                return
            for answer in reply.messages:
                writer.write(encode_message(answer))
            await writer.drain()
            if reply.then == "close":
                await _close(reader, writer)
                return
