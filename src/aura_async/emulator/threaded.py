"""Context management shared by the emulator's services that run in a thread of their own."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import anyio
import anyio.to_thread

__all__ = ["ThreadedService"]


class ThreadedService:
    """A service with blocking ``start()`` and ``stop()``, usable with ``with`` and ``async
    with``. Subclasses implement both; the async forms run them in a worker thread, since
    they wait on the service's own thread and the caller's event loop must stay free."""

    def start(self) -> None:
        """Start serving; return once the service accepts connections."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving and wait for the service's thread to end."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        # Shielded: leaving a cancelled scope (Ctrl-C) must still stop the thread and free
        # the port, and run_sync would otherwise be cancelled before it ran.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.stop)
