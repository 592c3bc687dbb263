"""The request pipeline: the only place that builds HTTP requests.

resource method -> :meth:`Pipeline.request` -> auth flow -> rate-limited transport -> httpx ->
answer -> classify (success data, or an error from the tree) -> retry when it is safe.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import httpx

from aura_async._http.auth import ClientCredentialsAuth
from aura_async._http.limiter import Permit, RateLimiter
from aura_async._http.redis_limiter import RedisRateLimiter
from aura_async._http.redis_token import SharedToken
from aura_async._http.retry import (
    RETRY_STATUSES,
    AmbiguousOutcome,
    RequestKind,
    RetryPolicy,
    parse_retry_after,
    sent_nothing,
    transient_failure,
)
from aura_async._http.server_clock import ServerClock
from aura_async._http.transport import ATTEMPT, PRIORITY, RESERVED_PERMIT, RateLimitedTransport
from aura_async._version import __version__
from aura_async.config import ClientSettings
from aura_async.errors import (
    APIError,
    AuraError,
    ConfigurationError,
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
    return failed.extensions.get(PRIORITY) is Priority.TOKEN


@attrs.frozen
class _Call:
    """One API call as the resource asked for it, the same for each of its attempts."""

    method: str
    path: str
    shown: str  # the path on the wire, for errors and events
    kind: RequestKind
    json: Any
    params: Mapping[str, str] | None
    commit: Callable[[Any], Awaitable[Any]] | None


class _Verdict(enum.Enum):
    """What one attempt's answer or failure means for the call."""

    DATA = "data"  # done: return the data
    RETRY = "retry"  # safe to send again (if the retry budget allows)
    FINAL = "final"  # raise the error
    AMBIGUOUS = "ambiguous"  # a create that may have been carried out: never resent


@attrs.frozen
class _Judged:
    """One attempt, judged: its verdict and what the verdict needs."""

    verdict: _Verdict
    data: Any = None
    error: AuraError | None = None
    cause: BaseException | None = None  # the exception ``error`` was made from, if any
    retry_after: float | None = None
    rate_limited: bool = False  # a 429: no work was done, a budget of its own
    reached: bool = False  # this attempt may have reached the server
    reason: str = ""


def _final(judged: _Judged) -> AuraError:
    """The error a final (or exhausted) verdict raises, chained to its cause."""
    assert judged.error is not None
    if judged.cause is not None:
        judged.error.__cause__ = judged.cause
    return judged.error


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
                authorize=self.auth.authorize,
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
        if self.limiter is not None:
            await self.limiter.start()

    async def aclose(self) -> None:
        """Close the connection pool, and leave a shared budget."""
        try:
            await self.http.aclose()
        finally:
            if self.limiter is not None:
                await self.limiter.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        kind: RequestKind,
        json: Any = _MISSING,
        params: Mapping[str, str] | None = None,
        commit: Callable[[Any], Awaitable[Any]] | None = None,
    ) -> Any:
        """Send one API call and return the ``data`` of its answer (None for 204).

        ``kind`` decides what may be resent (see :mod:`aura_async._http.retry`): each attempt's
        answer or failure is judged once (:meth:`_judge_answer`, :meth:`_judge_network`,
        :meth:`_judge_token_failure`) as data, a retry, a final error, or an ambiguous create.

        A CREATE can be cancelled while it waits for the rate limiter; once its slot is taken
        it is carried through to its answer, shielded from cancellation, and ``commit`` (when
        given) is awaited with the answer's data under the same shield: a create's answer may
        hold the only copy of a password, and a cancel must not throw it away. The request
        then returns what ``commit`` returned.

        Raises:
            AmbiguousOutcome: a CREATE failed in a way that may have done the work (the
                resource turns it into CreateOutcomeUnknownError; it never reaches a user).
            APIError: the API answered with an error (the subclass says which).
            TransportError: the network failed and retries ran out (or were not safe).
            ResponseValidationError: a success answer was not the documented JSON envelope.
            Whatever ``commit`` raises (e.g. AmbiguousOutcome, CredentialStoreError).
        """
        # A pending cancellation wins over "closed": a wait cancelled by aclose() must see it.
        await anyio.lowlevel.checkpoint_if_cancelled()
        if self.http.is_closed:
            raise ConfigurationError("The client is closed; create a new AuraClient")
        call = _Call(method, path, self.wire_path(path), kind, json, params, commit)
        reached = False  # an earlier attempt may have reached the server
        attempt = 0
        limited = 0  # 429s: no work was done, so they have a budget of their own
        while True:
            attempt += 1
            judged = await self._attempt(call, attempt, reached)
            if judged.verdict is _Verdict.DATA:
                return judged.data
            if judged.verdict is _Verdict.AMBIGUOUS:
                assert judged.error is not None
                raise AmbiguousOutcome(judged.error) from judged.cause
            if judged.verdict is _Verdict.FINAL:
                raise _final(judged)
            reached = reached or judged.reached
            retry_after = judged.retry_after
            if judged.rate_limited:
                limited += 1
                exhausted = limited > self.retry.max_rate_limited_retries
                if self.limiter is not None:
                    retry_after = 0.0  # the limiter already holds every request back
            else:
                exhausted = attempt - limited > self.retry.max_retries
            if exhausted:
                raise _final(judged)
            await self._wait(method, call.shown, attempt, retry_after, judged.reason)

    async def _attempt(self, call: _Call, attempt: int, reached: bool) -> _Judged:
        """Send one attempt and judge what came of it (``reached``: an earlier one may have
        reached the server).

        Raises:
            Whatever ``call.commit`` raises (every other failure is judged).
        """
        try:
            response, committed = await self._send(call, attempt)
        except httpx.TransportError as exc:
            return self._judge_network(exc, call)
        except APIError as exc:
            return self._judge_token_failure(exc)
        except ResponseValidationError as error:
            # An answer with no readable envelope: a token answer (the create was never
            # sent), or a success answer read before its commit (the work was done).
            if call.kind is RequestKind.CREATE and error.path != self._token_path:
                return _Judged(_Verdict.AMBIGUOUS, error=error)
            return _Judged(_Verdict.FINAL, error=error)
        if response.status_code < 400 and committed is not _MISSING:
            return _Judged(_Verdict.DATA, data=committed)
        return self._judge_answer(response, call, reached)

    def _judge_network(self, exc: httpx.TransportError, call: _Call) -> _Judged:
        """A failure on the network: retried when safe; a create that may have left, ambiguous."""
        error = self._transport_error(exc, call.method, call.shown)
        # A token request that failed means the API request itself was never sent.
        unsent = sent_nothing(exc) or _token_request_failed(exc)
        if call.kind is RequestKind.CREATE and not unsent:
            return _Judged(_Verdict.AMBIGUOUS, error=error, cause=exc)
        return _Judged(
            _Verdict.RETRY, error=error, cause=exc, reached=not unsent, reason=type(exc).__name__
        )

    @staticmethod
    def _judge_token_failure(exc: APIError) -> _Judged:
        """The token endpoint refused or failed, so the API request was not sent: it may be
        resent whatever it is, if the answer was a passing one (429, 502-504)."""
        if exc.status not in RETRY_STATUSES:
            return _Judged(_Verdict.FINAL, error=exc)  # e.g. TokenError
        return _Judged(
            _Verdict.RETRY,
            error=exc,
            retry_after=exc.retry_after if isinstance(exc, RateLimitedError) else None,
            rate_limited=exc.status == 429,
            reason=f"token {exc.status}",
        )

    def _judge_answer(self, response: httpx.Response, call: _Call, reached: bool) -> _Judged:
        """An answer from the API: its data, or what its error status allows."""
        status = response.status_code
        if status < 400:
            try:
                return _Judged(_Verdict.DATA, data=self._data(response, call.method, call.shown))
            except ResponseValidationError as error:
                ambiguous = call.kind is RequestKind.CREATE
                return _Judged(_Verdict.AMBIGUOUS if ambiguous else _Verdict.FINAL, error=error)
        failure = self._api_error(response, call.method, call.shown)
        failure.after_lost_answer = reached
        if status == 404 and call.method == "DELETE" and reached:
            # Our own earlier attempt deleted it; the second answer is the 404 the spec
            # promises after a 202.
            return _Judged(_Verdict.DATA, data=None)
        if call.kind is RequestKind.CREATE and status != 429:
            return _Judged(_Verdict.AMBIGUOUS if status >= 500 else _Verdict.FINAL, error=failure)
        if not transient_failure(status, failure.reasons):
            return _Judged(_Verdict.FINAL, error=failure)
        return _Judged(
            _Verdict.RETRY,
            error=failure,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            rate_limited=status == 429,
            reached=status >= 500,
            reason=str(status),
        )

    async def _send(self, call: _Call, attempt: int) -> tuple[httpx.Response, Any]:
        """Send one attempt; a CREATE's is shielded once it has its slot (see :meth:`request`).

        Returns the response and what ``commit`` returned (``_MISSING`` if it did not run).
        """
        priority = Priority.READ if call.kind is RequestKind.READ else Priority.MUTATION
        extensions: dict[str, Any] = {PRIORITY: priority, ATTEMPT: attempt}
        reserved = None
        if call.kind is RequestKind.CREATE:
            reserved = await self._reserve(priority)
            extensions[RESERVED_PERMIT] = reserved
        try:
            with anyio.CancelScope(shield=call.kind is RequestKind.CREATE):
                response = await self.http.request(
                    call.method,
                    call.path,
                    json=None if call.json is _MISSING else call.json,
                    params=call.params,
                    extensions=extensions,
                )
                self.server_clock.saw(response.headers.get("Date"))
                committed = _MISSING
                if call.commit is not None and response.status_code < 400:
                    committed = await call.commit(self._data(response, call.method, call.shown))
            return response, committed
        finally:
            if reserved is not None:
                reserved.release(sent=False)  # a no-op once the transport released it

    async def _reserve(self, priority: Priority) -> Permit | None:
        """Take a create's token and slot while a cancel can still stop it cleanly.

        Under the shield a create must neither queue for a slot nor wait on the token lock
        (whose holder may be waiting for the very slot held here). None without a limiter.

        Raises:
            TokenError, ResponseValidationError, httpx.TransportError: fetching the token
                failed (see :meth:`ClientCredentialsAuth.ensure_token`).
        """
        if self.limiter is None:
            return None
        while True:
            await self.auth.ensure_token(self.http, self.http.timeout.as_dict())
            reserved = await self.limiter.acquire(priority)
            if not self.auth.needs_token():
                return reserved
            reserved.release(sent=False)  # the token aged while queued: fetch again

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
