"""The client-credentials token as an httpx auth flow: cached, refreshed early, one at a time.

Many tasks may need a token at the same moment (a fleet starting); a lock and a second look
after taking it make exactly one of them fetch it while the others wait and reuse it. When
that one fetch is refused (a wrong secret), the tasks that waited for it get the same refusal
instead of asking again one after another. A 401 or 403 answer (expired or revoked token)
triggers one refresh and one resend; a second failure is the caller's to see. Token requests
are yielded by the flow, so they travel through the same transport as every other request,
pass the rate limiter too, and carry the timeouts of the request they are fetched for.

The flow makes sure a token exists; the transport puts the newest one on each request as it
leaves (:meth:`ClientCredentialsAuth.authorize`), once the request has its rate-limit slot:
one place stamps tokens, however long the request queued.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import anyio
import httpx

from aura_async._http.redis_token import SharedToken
from aura_async._http.retry import parse_retry_after
from aura_async._http.transport import PRIORITY, RESERVED_PERMIT
from aura_async.errors import APIError, ResponseValidationError, error_for_response
from aura_async.events import ClientEvent, TokenRefreshed
from aura_async.policies import Priority

__all__ = ["ClientCredentialsAuth"]

logger = logging.getLogger("aura_async")

# Refresh this far ahead of expiry, but never more than a tenth of the token's life, so a
# short-lived token (a compressed emulator clock) is not refreshed on every request.
_REFRESH_AHEAD = 60.0


def _fetched_for(request: httpx.Request) -> tuple[Any, object]:
    """What a token request takes from the request it is fetched for: its timeouts, and the
    rate-limit slot reserved for it."""
    return request.extensions.get("timeout"), request.extensions.get(RESERVED_PERMIT)


class ClientCredentialsAuth(httpx.Auth):
    """OAuth client-credentials for the Aura API: Basic auth to the token endpoint, Bearer after.

    Args:
        client_id: the API client id.
        client_secret: its secret; it only ever leaves in the token request's Basic header.
        token_url: the token endpoint.
        emit: called with a :class:`~aura_async.events.TokenRefreshed` for each new token.
        clock: monotonic seconds (injectable for tests).
        shared: where processes sharing the credential share one token (Redis), if anywhere.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        token_url: str,
        *,
        emit: Callable[[ClientEvent], None] = lambda event: None,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedToken | None = None,
    ) -> None:
        credentials = f"{client_id}:{client_secret}".encode()
        self._basic = "Basic " + base64.b64encode(credentials).decode("ascii")
        self._token_url = token_url
        self._emit = emit
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._shared = shared
        self._lock = anyio.Lock()
        self.tokens_fetched = 0
        # Token answers seen so far, and the last refusal as (answer number, its error's
        # parts): a task that waited for the lock while a fetch was refused shares that answer.
        self._answers = 0
        self._refusal: tuple[int, int, Any, str | None, float | None] | None = None

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(token_url={self._token_url!r})"

    def _current(self) -> str | None:
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        return None

    def authorize(self, request: httpx.Request) -> None:
        """Put the newest access token on an API request, as it leaves (token requests keep
        their Basic header). Called by the transport once the request has its rate-limit slot:
        the flow made sure a token exists, but the request may have queued longer than that
        token lived. Never raises.
        """
        if request.extensions.get(PRIORITY) is Priority.TOKEN or self._token is None:
            return
        request.headers["Authorization"] = f"Bearer {self._token}"

    def needs_token(self) -> bool:
        """Whether a request now would first fetch a token (none yet, or due for refresh)."""
        return self._current() is None

    async def ensure_token(self, client: httpx.AsyncClient, timeouts: Any) -> None:
        """Fetch a token now if one is needed, as the auth flow would, through ``client``.

        For a request that must not wait for the token once it holds its rate-limit slot
        (a create, carried through under a shield): the token comes first.

        Raises:
            TokenError: the token endpoint refused (bad or revoked credentials).
            ResponseValidationError: the token endpoint's answer had no token.
            httpx.TransportError: the token request failed on the network.
        """
        if self._current() is not None:
            return
        seen = self._answers
        async with self._lock:
            if self._current() is not None:
                return
            refusal = self._shared_refusal(seen)
            if refusal is not None:
                raise refusal
            if await self._adopt(self._token) is not None:
                return
            try:
                answer = await client.send(self._token_request(timeouts), auth=None)
                await answer.aread()
                self._accept(answer)
            except BaseException:  # cancelled too: the other processes must not wait
                await self._unclaim()
                raise
            await self._publish()

    async def _adopt(self, stale: str | None) -> str | None:
        """Take the token other processes share, if any (not ``stale``): None to fetch one."""
        if self._shared is None:
            return None
        found = await self._shared.claim(stale)
        if found is None:
            return None
        token, seconds = found
        self._token = token
        self._refresh_at = self._clock() + seconds
        logger.debug("took the shared access token (%ss left)", seconds)
        return token

    async def _publish(self) -> None:
        if self._shared is not None and self._token is not None:
            await self._shared.publish(self._token, self._refresh_at - self._clock())

    async def _unclaim(self) -> None:
        if self._shared is not None:
            # Shielded and short: this runs while a failure or a cancel unwinds.
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                await self._shared.give_up()

    def _token_request(self, timeout: Any, reserved: object = None) -> httpx.Request:
        """The token request, with the timeouts of the request it is fetched for and the
        rate-limit slot reserved for that one (a create's), if any: the first request to leave
        uses that slot, so none queues for another under the create's shield."""
        extensions: dict[str, Any] = {PRIORITY: Priority.TOKEN}
        if reserved is not None:
            extensions[RESERVED_PERMIT] = reserved
        # Built here rather than by the client, so it would carry no timeout at all (httpcore
        # then waits forever): give it the timeouts of the request it is fetched for.
        if timeout is not None:
            extensions["timeout"] = timeout
        return httpx.Request(
            "POST",
            self._token_url,
            headers={"Authorization": self._basic, "Accept": "application/json"},
            data={"grant_type": "client_credentials"},
            extensions=extensions,
        )

    def _refused(
        self, status: int, body: Any, request_id: str | None, wait: float | None
    ) -> APIError:
        return error_for_response(
            status,
            body,
            request_id=request_id,
            method="POST",
            path=httpx.URL(self._token_url).path,
            retry_after=wait,
            token_endpoint=True,
        )

    def _shared_refusal(self, seen: int) -> APIError | None:
        """The refusal of a fetch answered after answer number ``seen``, if the last was one."""
        if self._refusal is None or self._refusal[0] <= seen:
            return None
        return self._refused(*self._refusal[1:])

    def _accept(self, response: httpx.Response) -> str:
        """Store the token from the token endpoint's answer, or raise what went wrong."""
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = None
        self._answers += 1
        if response.status_code != 200:
            parts = (
                response.status_code,
                body,
                response.headers.get("X-Request-Id"),
                parse_retry_after(response.headers.get("Retry-After")),
            )
            self._refusal = (self._answers, *parts)
            raise self._refused(*parts)
        self._refusal = None
        token = body.get("access_token") if isinstance(body, dict) else None
        lifetime = body.get("expires_in") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ResponseValidationError(
                "The token endpoint answered without an access_token",
                status=response.status_code,
                method="POST",
                path=httpx.URL(self._token_url).path,
            )
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = 3600.0  # the documented lifetime, when the answer does not say
        self._token = token
        self._refresh_at = self._clock() + lifetime - min(_REFRESH_AHEAD, lifetime * 0.1)
        self.tokens_fetched += 1
        logger.debug("fetched an access token that lives %ss", lifetime)
        self._emit(TokenRefreshed(expires_in=float(lifetime)))
        return token

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Make sure a bearer token exists, fetching or refreshing it as needed; resend once on
        401/403. The transport puts the token on (:meth:`authorize`).

        Raises:
            TokenError: the token endpoint refused (bad or revoked credentials).
            ResponseValidationError: the token endpoint's answer had no token.
        """
        token = self._current()
        if token is None:
            seen = self._answers
            async with self._lock:
                token = self._current()
                if token is None:
                    refusal = self._shared_refusal(seen)
                    if refusal is not None:
                        raise refusal
                    token = await self._adopt(None)
                    if token is None:
                        try:
                            answer = yield self._token_request(*_fetched_for(request))
                            await answer.aread()
                            token = self._accept(answer)
                        except BaseException:  # GeneratorExit too: httpx closes the flow
                            await self._unclaim()
                            raise
                        await self._publish()
        # No header here: the transport puts the newest token on when the request leaves
        # (authorize), since it may queue behind the rate limit longer than a token lives.
        response = yield request
        if response.status_code not in (401, 403):
            return
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        seen = self._answers
        async with self._lock:
            # Another task may have refreshed already while this one waited for the lock.
            fresh = self._token if self._token != token else None
            if fresh is None:
                refusal = self._shared_refusal(seen)
                if refusal is not None:
                    raise refusal
                fresh = await self._adopt(token)
            if fresh is None:
                try:
                    answer = yield self._token_request(*_fetched_for(request))
                    await answer.aread()
                    fresh = self._accept(answer)
                except BaseException:  # GeneratorExit too: httpx closes the flow
                    await self._unclaim()
                    raise
                await self._publish()
        logger.debug("refreshed the token after a %s and resent", response.status_code)
        yield request  # with the fresh token, put on as it leaves

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        """Not supported: this client is asynchronous only.

        Raises:
            RuntimeError: always.
        """
        raise RuntimeError("ClientCredentialsAuth works with httpx.AsyncClient only")
