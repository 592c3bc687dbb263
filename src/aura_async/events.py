"""What the client does, as events: a hook for observability (and, later, the event stream).

Pass ``on_event=`` to :class:`~aura_async.AuraClient` to receive each event as it happens. A
hook must be quick and must not raise: an exception from it is logged and swallowed. Events
never carry a secret.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

__all__ = [
    "ClientEvent",
    "CredentialsSaved",
    "DeprecationNotice",
    "EventHook",
    "RateLimited",
    "RateLowered",
    "RequestSent",
    "ResponseReceived",
    "RetryScheduled",
    "TokenRefreshed",
]


@attrs.frozen
class RequestSent:
    """A request is leaving (after the rate limiter let it through)."""

    method: str
    path: str
    attempt: int


@attrs.frozen
class ResponseReceived:
    """An answer arrived."""

    method: str
    path: str
    status: int
    elapsed: float
    request_id: str | None


@attrs.frozen
class RetryScheduled:
    """A failed attempt will be resent after ``delay`` seconds."""

    method: str
    path: str
    attempt: int
    delay: float
    reason: str


@attrs.frozen
class RateLimited:
    """The server answered 429; every request waits ``retry_after`` seconds."""

    method: str
    path: str
    retry_after: float


@attrs.frozen
class TokenRefreshed:
    """A new access token was fetched; it lives ``expires_in`` seconds."""

    expires_in: float


@attrs.frozen
class DeprecationNotice:
    """The API version in use is deprecated and expires on ``expires`` (X-Tyk-Api-Expires)."""

    expires: str


@attrs.frozen
class CredentialsSaved:
    """A new instance's credentials were written to the credential store."""

    resource_id: str
    name: str | None
    location: str


@attrs.frozen
class RateLowered:
    """429s kept coming at the configured rate, so the client lowered its own limit."""

    old: str
    new: str


ClientEvent = (
    RequestSent
    | ResponseReceived
    | RetryScheduled
    | RateLimited
    | TokenRefreshed
    | RateLowered
    | DeprecationNotice
    | CredentialsSaved
)
EventHook = Callable[[ClientEvent], None]
