"""The transport every request leaves through: the one place the rate limit is enforced.

It sits under httpx's auth flow, so token requests and every resend pass it too. A request
holds a slot of the limiter from the moment it may start until its answer's headers arrive
(or it fails); a 429 makes every request wait until its Retry-After has passed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import attrs
import httpx

from aura_async._http.limiter import Permit, Priority, RateLimiter
from aura_async._http.retry import parse_retry_after
from aura_async.events import (
    ClientEvent,
    DeprecationNotice,
    RateLimited,
    RequestSent,
    ResponseReceived,
)

__all__ = [
    "ATTEMPT",
    "PRIORITY",
    "RESERVED_PERMIT",
    "RateLimitedTransport",
    "RequestTally",
    "counting_requests",
]

logger = logging.getLogger("aura_async")


@attrs.define
class RequestTally:
    """Requests sent (every attempt, token requests too) and 429s received by one task's work.

    Counted in the context of the tasks that run inside :func:`counting_requests`, so a
    fleet's report can say what it spent on a client that others use at the same time.
    """

    sent: int = 0
    rate_limited: int = 0


_tallies: ContextVar[tuple[RequestTally, ...]] = ContextVar("aura_tallies", default=())

# What a request tells the transport, in its extensions:
PRIORITY = "aura_priority"  # its Priority in the limiter's queue (READ when absent)
ATTEMPT = "aura_attempt"  # which attempt of its call it is, for events
# A Permit the pipeline took before it shielded a create: the request leaves on it instead
# of queueing for another (once; a resend after a 401 queues like any other).
RESERVED_PERMIT = "aura_reserved_permit"


@contextmanager
def counting_requests() -> Iterator[RequestTally]:
    """Count the requests sent by this task and the tasks it starts, until the block ends.

    Tallies nest: an outer one counts what an inner one counts too. Never raises.
    """
    tally = RequestTally()
    token = _tallies.set((*_tallies.get(), tally))
    try:
        yield tally
    finally:
        _tallies.reset(token)


def _count(rate_limited: bool) -> None:
    for tally in _tallies.get():
        if rate_limited:
            tally.rate_limited += 1
        else:
            tally.sent += 1


class RateLimitedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport with the client's rate limiter and its 429 cool-down.

    Args:
        inner: the transport that does the I/O (an ``httpx.AsyncHTTPTransport``, or an
            ``httpx.ASGITransport`` in tests).
        limiter: the limiter, or None to send without limit.
        emit: receives request, response and rate-limit events.
        max_wait: the longest cool-down a ``Retry-After`` may impose.
        authorize: puts the newest access token on a request once it has its slot (a
            request may queue behind the limit for longer than a token lives).
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        limiter: RateLimiter | None,
        emit: Callable[[ClientEvent], None],
        *,
        max_wait: float = 60.0,
        authorize: Callable[[httpx.Request], None] | None = None,
    ) -> None:
        self._authorize = authorize
        self.inner = inner
        self.limiter = limiter
        self._emit = emit
        self._max_wait = max_wait
        self._deprecation_told = False  # said once per client, not on every answer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Wait for a slot, send, and feed a 429's Retry-After to the limiter.

        Raises:
            httpx.TransportError: whatever the inner transport raises.
        """
        method, path = request.method, request.url.path
        attempt = int(request.extensions.get(ATTEMPT, 1))
        if self.limiter is None:
            self._stamp(request)
            response = await self._send(request, method, path, attempt)
            if response.status_code == 429:
                _count(rate_limited=True)
            return response
        permit: Permit | None = request.extensions.get(RESERVED_PERMIT)
        if permit is not None and not permit.released:
            # A 429 may have arrived since the permit was taken: no request leaves during
            # the cool-down it asked for.
            await self.limiter.sit_out_cool_down()
        else:
            permit = await self.limiter.acquire(
                Priority(request.extensions.get(PRIORITY, Priority.READ))
            )
        try:
            self._stamp(request)
            response = await self._send(request, method, path, attempt)
        finally:
            permit.release()
        if response.status_code == 429:
            self._cool_down(response, method, path, permit.generation)
        return response

    def _stamp(self, request: httpx.Request) -> None:
        if self._authorize is not None:
            self._authorize(request)

    async def _send(
        self, request: httpx.Request, method: str, path: str, attempt: int
    ) -> httpx.Response:
        self._emit(RequestSent(method, path, attempt))
        _count(rate_limited=False)
        started = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        elapsed = time.perf_counter() - started
        request_id = response.headers.get("X-Request-Id")
        logger.debug(
            "%s %s -> %s in %.3fs (%s)", method, path, response.status_code, elapsed, request_id
        )
        self._emit(ResponseReceived(method, path, response.status_code, elapsed, request_id))
        expires = response.headers.get("X-Tyk-Api-Expires")
        if expires and not self._deprecation_told:
            self._deprecation_told = True
            logger.warning("this version of the Aura API is deprecated and expires %s", expires)
            self._emit(DeprecationNotice(expires))
        return response

    def _cool_down(self, response: httpx.Response, method: str, path: str, generation: int) -> None:
        assert self.limiter is not None
        rate = self.limiter.rate
        wait = parse_retry_after(response.headers.get("Retry-After"))
        if wait is None:
            # No advice: wait as long as two requests' share of the window.
            wait = 2 * rate.period / rate.limit
        wait = min(wait, self._max_wait)
        _count(rate_limited=True)
        self.limiter.cool_down(wait)
        logger.info("rate limited on %s %s: every request waits %.3fs", method, path, wait)
        self._emit(RateLimited(method, path, wait))
        self.limiter.note_rate_limited(generation)

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()
