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

__all__ = ["RateLimitedTransport", "RequestTally", "counting_requests", "reserved_permit"]

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

# A slot the pipeline took before it shielded a create: the first request this task sends
# through the transport uses it instead of waiting for another (see Pipeline.request).
reserved_permit: ContextVar[Permit | None] = ContextVar("aura_reserved_permit", default=None)


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
        token: returns the newest access token, put on a request once it has its slot.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        limiter: RateLimiter | None,
        emit: Callable[[ClientEvent], None],
        *,
        max_wait: float = 60.0,
        token: Callable[[], str | None] | None = None,
    ) -> None:
        self._token = token
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
        attempt = int(request.extensions.get("aura_attempt", 1))
        if self.limiter is None:
            response = await self._send(request, method, path, attempt)
            if response.status_code == 429:
                _count(rate_limited=True)
            return response
        priority = Priority(request.extensions.get("aura_priority", Priority.READ))
        permit = reserved_permit.get()
        if permit is not None and not permit.released:
            reserved_permit.set(None)  # used once, by whichever request comes first
            # A 429 may have arrived since the permit was taken: no request leaves during
            # the cool-down it asked for.
            await self.limiter.sit_out_cool_down()
        else:
            permit = await self.limiter.acquire(priority)
        if self._token is not None and priority is not Priority.TOKEN:
            # The request may have queued longer than its token lived: send the newest one.
            token = self._token()
            if token and request.headers.get("Authorization", "").startswith("Bearer "):
                request.headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self._send(request, method, path, attempt)
        finally:
            permit.release()
        if response.status_code == 429:
            self._cool_down(response, method, path, permit.generation)
        return response

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
