"""What the client does, as events: a hook for observability (and, later, the event stream).

Pass ``on_event=`` to :class:`~aura_async.AuraClient` to receive each event as it happens. A
hook must be quick and must not raise: an exception from it is logged and swallowed. Events
never carry a secret.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import attrs

__all__ = [
    "ClientEvent",
    "CredentialsSaved",
    "DeprecationNotice",
    "EventHook",
    "RateLimitBackendLost",
    "RateLimitBackendRestored",
    "RateLimited",
    "RateLowered",
    "RequestSent",
    "ResponseReceived",
    "RetryScheduled",
    "TokenRefreshed",
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen
class _Stamped:
    """When an event happened: wall-clock (UTC) and monotonic time.

    Keyword-only and left out of equality, so events compare by what happened.
    """

    at: dt.datetime = attrs.field(factory=_now, kw_only=True, eq=False)
    monotonic: float = attrs.field(factory=time.monotonic, kw_only=True, eq=False)


@attrs.frozen
class RequestSent(_Stamped):
    """A request is leaving (after the rate limiter let it through)."""

    method: str
    path: str
    attempt: int


@attrs.frozen
class ResponseReceived(_Stamped):
    """An answer arrived."""

    method: str
    path: str
    status: int
    elapsed: float
    request_id: str | None


@attrs.frozen
class RetryScheduled(_Stamped):
    """A failed attempt will be resent after ``delay`` seconds."""

    method: str
    path: str
    attempt: int
    delay: float
    reason: str


@attrs.frozen
class RateLimited(_Stamped):
    """The server answered 429; every request waits ``retry_after`` seconds."""

    method: str
    path: str
    retry_after: float


@attrs.frozen
class TokenRefreshed(_Stamped):
    """A new access token was fetched; it lives ``expires_in`` seconds."""

    expires_in: float


@attrs.frozen
class DeprecationNotice(_Stamped):
    """The API version in use is deprecated and expires on ``expires`` (X-Tyk-Api-Expires)."""

    expires: str


@attrs.frozen
class CredentialsSaved(_Stamped):
    """A new instance's credentials were written to the credential store."""

    resource_id: str
    name: str | None
    location: str


@attrs.frozen
class RateLowered(_Stamped):
    """429s kept coming at the configured rate, so the client lowered its own limit."""

    old: str
    new: str


@attrs.frozen
class RateLimitBackendLost(_Stamped):
    """The shared rate-limit store stopped answering mid-run.

    ``fallback`` is the local share the client now keeps to (``"31/60s"``), or None when
    it fails its requests instead (``on_unavailable="fail"``).
    """

    reason: str
    fallback: str | None


@attrs.frozen
class RateLimitBackendRestored(_Stamped):
    """The shared rate-limit store answers again; the client is back on the shared budget."""


ClientEvent = (
    RequestSent
    | ResponseReceived
    | RetryScheduled
    | RateLimited
    | TokenRefreshed
    | RateLowered
    | DeprecationNotice
    | CredentialsSaved
    | RateLimitBackendLost
    | RateLimitBackendRestored
)
EventHook = Callable[[ClientEvent], None]
