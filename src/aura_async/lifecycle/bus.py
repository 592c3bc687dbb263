"""Delivery of events: to callbacks, and to each subscriber on its own bounded stream.

A subscriber that falls behind never slows the client down: when its buffer is full, the
newest events are dropped for it alone and counted in :attr:`Subscription.dropped`. Events are
delivered in the order they were published, each once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Collection
from types import TracebackType
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["EventBus", "Subscription"]

logger = logging.getLogger("aura_async")


def _resource_of(event: object) -> str | None:
    return getattr(event, "resource_id", None)


class Subscription:
    """One subscriber's stream of events: ``async for event in subscription``.

    Attributes:
        dropped: how many events were dropped because this subscriber fell behind.
    """

    def __init__(
        self,
        bus: EventBus,
        resource_ids: Collection[str] | None,
        kinds: Collection[type[Any]] | None,
        buffer: int,
    ) -> None:
        self._bus = bus
        self._resource_ids = set(resource_ids) if resource_ids is not None else None
        self._kinds = tuple(kinds) if kinds is not None else None
        self._send: MemoryObjectSendStream[object]
        self._receive: MemoryObjectReceiveStream[object]
        self._send, self._receive = anyio.create_memory_object_stream[object](buffer)
        self.dropped = 0

    def wants(self, event: object) -> bool:
        """Whether this subscription's filters let ``event`` through."""
        if self._kinds is not None and not isinstance(event, self._kinds):
            return False
        if self._resource_ids is not None:
            return _resource_of(event) in self._resource_ids
        return True

    def offer(self, event: object) -> None:
        """Queue an event without waiting; count it as dropped when the buffer is full."""
        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            self.dropped += 1
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._bus._remove(self)

    def close(self) -> None:
        """Stop receiving; iteration ends once what is buffered has been read."""
        self._bus._remove(self)
        self._send.close()

    def __aiter__(self) -> AsyncIterator[object]:
        return self

    async def __anext__(self) -> object:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            # Read to the end (or closed by the reader): release the stream, so that a
            # subscription iterated without ``async with`` leaves nothing open behind.
            self._receive.close()
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        self._receive.close()


class EventBus:
    """Fans each event out to the callbacks and the subscriptions that want it."""

    def __init__(self, callback: Callable[[object], None] | None = None) -> None:
        self._callbacks: list[Callable[[object], None]] = [callback] if callback is not None else []
        self._subscriptions: list[Subscription] = []
        self._closed = False

    def subscribe(
        self,
        *,
        resource_ids: Collection[str] | None = None,
        kinds: Collection[type[Any]] | None = None,
        buffer: int = 1000,
    ) -> Subscription:
        """Open a subscription; close it (or use ``async with``) when done.

        Args:
            resource_ids: only events about these instances (or snapshots, keys, sessions).
            kinds: only events of these classes.
            buffer: events held for a slow reader before the newest are dropped.

        Raises:
            ValueError: if ``buffer`` is not positive.
        """
        if buffer < 1 and buffer != math.inf:
            raise ValueError("the buffer must hold at least one event")
        subscription = Subscription(self, resource_ids, kinds, buffer)
        if self._closed:
            subscription.close()  # nothing will come: iteration ends at once
        else:
            self._subscriptions.append(subscription)
        return subscription

    def publish(self, event: object) -> None:
        """Deliver one event; a failing callback is logged, never propagated."""
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception:
                logger.exception("the on_event hook raised on %s", type(event).__name__)
        for subscription in list(self._subscriptions):
            if subscription.wants(event):
                subscription.offer(event)

    def close(self) -> None:
        """End every subscription, and any opened from now on."""
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.close()

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
