"""The request pipeline: the only place that builds HTTP requests.

resource method -> :meth:`Pipeline.request` -> auth flow -> rate-limited transport -> httpx ->
answer -> classify (success data, or an error from the tree) -> retry when it is safe.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.lowlevel
import httpx

from aura_async._http.auth import ClientCredentialsAuth
from aura_async._http.limiter import RateLimiter
from aura_async._http.redis_limiter import RedisRateLimiter
from aura_async._http.redis_token import SharedToken
from aura_async._http.retry import (
    RETRY_STATUSES,
    RequestKind,
    RetryPolicy,
    parse_retry_after,
    sent_nothing,
    transient_failure,
)
from aura_async._http.server_clock import ServerClock
from aura_async._http.transport import RateLimitedTransport, reserved_permit
from aura_async._version import __version__
from aura_async.config import ClientSettings
from aura_async.errors import (
    APIError,
    ConfigurationError,
    CreateOutcomeUnknownError,
    RateLimitedError,
    ResponseValidationError,
    TimeoutError,
    TransportError,
    error_for_response,
)
from aura_async.events import ClientEvent, EventHook, RateLowered, RetryScheduled
from aura_async.policies import Priority, RateLimit

__all__ = ["Pipeline"]

logger = logging.getLogger("aura_async")

_MISSING = object()


def _token_request_failed(error: httpx.TransportError) -> bool:
    """Return whether ``error`` broke a token request (one the auth flow sent)."""
    try:
        failed = error.request
    except RuntimeError:  # httpx attaches the request to every error it raises; be safe
        return False
    return failed.extensions.get("aura_priority") is Priority.TOKEN


class Pipeline:
    """Sends API requests for the resources: auth, rate limit, send, classify, retry.

    Args:
        settings: the client's settings.
        transport: the transport doing the I/O (default: httpx's, with the settings' pool).
        on_event: receives every :mod:`aura_async.events` event.
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_event: EventHook | None = None,
    ) -> None:
        self.settings = settings
        self.server_clock = ServerClock()
        self._prefix = httpx.URL(settings.api_url).path.rstrip("/")
        self._token_path = httpx.URL(settings.token_url).path
        self._hook = on_event
        self.limiter: RateLimiter | None = None
        shared: SharedToken | None = None
        backend = settings.rate_limit_backend
        if settings.rate_limit is not None and backend is not None:
            self.limiter = RedisRateLimiter(
                settings.rate_limit,
                backend,
                client_id=settings.client_id,
                api_url=settings.api_url,
                emit=self.emit,
                on_lowered=self._rate_lowered,
            )
            if backend.share_token:
                shared = SharedToken(
                    self.limiter.redis,
                    self.limiter.token_key,
                    lock_seconds=settings.timeout.read or 30.0,
                )
        elif settings.rate_limit is not None:
            self.limiter = RateLimiter(settings.rate_limit, on_lowered=self._rate_lowered)
        inner = transport or httpx.AsyncHTTPTransport(limits=settings.limits)
        self.auth = ClientCredentialsAuth(
            settings.client_id,
            settings.client_secret,
            settings.token_url,
            emit=self.emit,
            shared=shared,
        )
        self.http = httpx.AsyncClient(
            base_url=settings.api_url,
            transport=RateLimitedTransport(
                inner,
                self.limiter,
                self.emit,
                max_wait=settings.retry.max_retry_after,
                token=self.auth.latest_token,
            ),
            auth=self.auth,
            timeout=settings.timeout,
            headers={"User-Agent": f"aura-async/{__version__}", "Accept": "application/json"},
            follow_redirects=False,
        )

    def wire_path(self, path: str) -> str:
        """Return an API path as it goes on the wire (with the ``/v1`` prefix)."""
        return self._prefix + path

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force."""
        return self.settings.retry

    def emit(self, event: ClientEvent) -> None:
        """Hand an event to the hook; a failing hook is logged, never propagated."""
        if self._hook is None:
            return
        try:
            self._hook(event)
        except Exception:
            logger.exception("the on_event hook raised on %s", type(event).__name__)

    def _rate_lowered(self, old: RateLimit, new: RateLimit) -> None:
        self.emit(RateLowered(old=str(old), new=str(new)))

    async def start(self) -> None:
        """Connect what must be connected before the first request: a shared budget's Redis.

        Raises:
            RateLimitBackendError: the shared budget's Redis does not answer.
        """
        if isinstance(self.limiter, RedisRateLimiter):
            await self.limiter.start()

    async def aclose(self) -> None:
        """Close the connection pool, and leave a shared budget."""
        try:
            await self.http.aclose()
        finally:
            if isinstance(self.limiter, RedisRateLimiter):
                await self.limiter.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        kind: RequestKind,
        json: Any = _MISSING,
        params: Mapping[str, str] | None = None,
        create_name: str | None = None,
        create_what: str = "instance",
        commit: Callable[[Any], Awaitable[Any]] | None = None,
    ) -> Any:
        """Send one API call and return the ``data`` of its answer (None for 204).

        ``kind`` decides what may be resent (see :mod:`aura_async._http.retry`).
        ``create_name`` and ``create_what`` name what a CREATE makes, for the error raised when
        it fails ambiguously.

        A CREATE can be cancelled while it waits for the rate limiter; once its slot is taken
        it is carried through to its answer, shielded from cancellation, and ``commit`` (when
        given) is awaited with the answer's data under the same shield: a create's answer may
        hold the only copy of a password, and a cancel must not throw it away. The request
        then returns what ``commit`` returned.

        Raises:
            APIError: the API answered with an error (the subclass says which).
            CreateOutcomeUnknownError: a create failed in a way that may have done the work.
            TransportError: the network failed and retries ran out (or were not safe).
            ResponseValidationError: a success answer was not the documented JSON envelope
                (for a CREATE: CreateOutcomeUnknownError, since the work was done).
            Whatever ``commit`` raises (e.g. CreateOutcomeUnknownError, CredentialStoreError).
        """
        # A pending cancellation wins over "closed": a wait cancelled by aclose() must see it.
        await anyio.lowlevel.checkpoint_if_cancelled()
        if self.http.is_closed:
            raise ConfigurationError("The client is closed; create a new AuraClient")
        priority = Priority.READ if kind is RequestKind.READ else Priority.MUTATION
        shown = self.wire_path(path)  # for errors and events
        started = dt.datetime.now(dt.UTC)
        ambiguous = False  # an earlier attempt may have reached the server
        attempt = 0
        limited = 0  # 429s: no work was done, so they have a budget of their own
        while True:
            attempt += 1
            extensions = {"aura_priority": priority, "aura_attempt": attempt}
            try:
                response, committed = await self._attempt_classified(
                    kind,
                    create_name,
                    create_what,
                    started,
                    method,
                    path,
                    json=json,
                    params=params,
                    extensions=extensions,
                    commit=commit,
                    shown=shown,
                )
            except httpx.TransportError as exc:
                error = self._transport_error(exc, method, shown)
                # A token request that failed means the API request itself was never sent.
                unsent = sent_nothing(exc) or _token_request_failed(exc)
                if kind is RequestKind.CREATE and not unsent:
                    raise CreateOutcomeUnknownError(
                        create_name or "", started, error, resource=create_what
                    ) from exc
                ambiguous = ambiguous or not unsent
                if attempt - limited > self.retry.max_retries:
                    raise error from exc
                await self._wait(method, shown, attempt, None, type(exc).__name__)
                continue
            except APIError as exc:
                # Only the auth flow raises these: the token endpoint refused or failed, so the
                # API request was not sent and may be resent whatever it is, if the answer
                # was a passing one (429, 502-504); a TokenError is final.
                if exc.status not in RETRY_STATUSES:
                    raise
                failure: APIError = exc
                status = exc.status
                retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
                reason = f"token {status}"
            else:
                status = response.status_code
                if status < 400:
                    if committed is not _MISSING:
                        return committed
                    try:
                        return self._data(response, method, shown)
                    except ResponseValidationError as error:
                        if kind is RequestKind.CREATE:
                            raise CreateOutcomeUnknownError(
                                create_name or "", started, error, resource=create_what
                            ) from None
                        raise
                failure = self._api_error(response, method, shown)
                failure.after_lost_answer = ambiguous
                if status == 404 and method == "DELETE" and ambiguous:
                    # Our own earlier attempt deleted it; the second answer is the 404 the
                    # spec promises after a 202.
                    return None
                if kind is RequestKind.CREATE and status != 429:
                    if status >= 500:
                        raise CreateOutcomeUnknownError(
                            create_name or "", started, failure, resource=create_what
                        )
                    raise failure
                if not transient_failure(status, failure.reasons):
                    raise failure
                ambiguous = ambiguous or status >= 500
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                reason = str(status)
            if status == 429:
                limited += 1
                exhausted = limited > self.retry.max_rate_limited_retries
                if self.limiter is not None:
                    retry_after = 0.0  # the limiter already holds every request back
            else:
                exhausted = attempt - limited > self.retry.max_retries
            if exhausted:
                raise failure
            await self._wait(method, shown, attempt, retry_after, reason)

    async def _attempt_classified(
        self,
        kind: RequestKind,
        create_name: str | None,
        create_what: str,
        started: dt.datetime,
        method: str,
        path: str,
        **attempt: Any,
    ) -> tuple[httpx.Response, Any]:
        """:meth:`_attempt`, where a create answered with success but no readable body is an
        ambiguous create (it was done; the answer is lost), not a plain parse failure."""
        try:
            return await self._attempt(method, path, kind=kind, **attempt)
        except ResponseValidationError as error:
            if kind is not RequestKind.CREATE or error.path == self._token_path:
                raise  # (a token answer that made no sense: the create was never sent)
            raise CreateOutcomeUnknownError(
                create_name or "", started, error, resource=create_what
            ) from None

    async def _attempt(
        self,
        method: str,
        path: str,
        *,
        kind: RequestKind,
        json: Any,
        params: Mapping[str, str] | None,
        extensions: dict[str, Any],
        commit: Callable[[Any], Awaitable[Any]] | None,
        shown: str,
    ) -> tuple[httpx.Response, Any]:
        """Send one attempt; a CREATE's is shielded once it has its slot (see :meth:`request`).

        Returns the response and what ``commit`` returned (``_MISSING`` if it did not run).
        """
        reserved = None
        if kind is RequestKind.CREATE and self.limiter is not None:
            # Wait for the token and the slot while a cancel can still stop the create
            # cleanly: under the shield it must neither queue for a slot nor wait on the
            # token lock (whose holder may be waiting for the very slot held here).
            while True:
                await self.auth.ensure_token(self.http, self.http.timeout.as_dict())
                reserved = await self.limiter.acquire(extensions["aura_priority"])
                if not self.auth.needs_token():
                    break
                reserved.release(sent=False)  # the token aged while queued: fetch again
        context = reserved_permit.set(reserved)
        try:
            with anyio.CancelScope(shield=kind is RequestKind.CREATE):
                response = await self.http.request(
                    method,
                    path,
                    json=None if json is _MISSING else json,
                    params=params,
                    extensions=extensions,
                )
                self.server_clock.saw(response.headers.get("Date"))
                committed = _MISSING
                if commit is not None and response.status_code < 400:
                    committed = await commit(self._data(response, method, shown))
            return response, committed
        finally:
            unused = reserved is not None and reserved_permit.get() is reserved
            reserved_permit.reset(context)
            if reserved is not None and unused:
                reserved.release(sent=False)  # it never reached the transport

    async def _wait(
        self, method: str, path: str, attempt: int, retry_after: float | None, reason: str
    ) -> None:
        delay = self.retry.backoff(attempt, retry_after)
        logger.info(
            "%s %s failed (%s); attempt %d resent in %.3fs",
            method,
            path,
            reason,
            attempt + 1,
            delay,
        )
        self.emit(RetryScheduled(method, path, attempt, delay, reason))
        await anyio.sleep(delay)

    @staticmethod
    def _transport_error(exc: httpx.TransportError, method: str, path: str) -> TransportError:
        cls = TimeoutError if isinstance(exc, httpx.TimeoutException) else TransportError
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return cls(f"{method} {path} failed: {detail}", method=method, path=path)

    @staticmethod
    def _body(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _api_error(self, response: httpx.Response, method: str, path: str) -> APIError:
        return error_for_response(
            response.status_code,
            self._body(response),
            request_id=response.headers.get("X-Request-Id"),
            method=method,
            path=path,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _data(self, response: httpx.Response, method: str, path: str) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        body = self._body(response)
        if not isinstance(body, dict) or "data" not in body:
            raise ResponseValidationError(
                f"{method} {path} answered {response.status_code} without a JSON "
                '{"data": ...} envelope',
                status=response.status_code,
                request_id=response.headers.get("X-Request-Id"),
                method=method,
                path=path,
            )
        return body["data"]
