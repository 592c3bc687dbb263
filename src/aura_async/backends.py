"""Where the client keeps its rate budget: in the process (default) or shared on Redis.

The Aura limit belongs to the API credential, not to a process. Processes that share a
credential (a CI matrix, a service's workers) pass the same :class:`RedisBackend` and so keep
one budget between them: no window carries more than the limit across all of them, a 429 seen
by one holds them all back, and (opt-in) they share one access token.
"""

from __future__ import annotations

import math
from typing import Literal

import attrs
import httpx

__all__ = ["RedisBackend", "redact_url"]

OnUnavailable = Literal["fail", "local"]


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` and its query (which may carry
    ``password=``) hidden: safe for a log line or an error."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<an unreadable URL>"
    hidden = "?..." if parsed.query else ""
    parsed = parsed.copy_with(query=None, fragment=None)
    if parsed.password:
        parsed = parsed.copy_with(password="***")  # noqa: S106 - the mask, not a secret
    return str(parsed) + hidden


def _check_url(instance: RedisBackend, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        scheme = httpx.URL(value).scheme if isinstance(value, str) else ""
    except httpx.InvalidURL:
        scheme = ""
    if scheme not in ("redis", "rediss", "unix"):
        shown = redact_url(value) if isinstance(value, str) else type(value).__name__
        raise ValueError(
            f"the shared rate limit needs a Redis URL such as redis://localhost:6379/0, got {shown}"
        )


def _positive(instance: RedisBackend, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{attribute.name} must be a number of seconds, got {value!r}")
    if not 0 < value < math.inf:
        raise ValueError(f"{attribute.name} must be positive and finite, got {value!r}")


def _share(instance: RedisBackend, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError(f"local_share must be a fraction in (0, 1], got {value!r}")


def _policy(instance: RedisBackend, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("fail", "local"):
        raise ValueError(f"on_unavailable must be 'fail' or 'local', got {value!r}")


def _prefix(instance: RedisBackend, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value or any(c in value for c in "{} \t\n"):
        raise ValueError(
            f"key_prefix must be a non-empty name without braces or spaces, got {value!r}"
        )


@attrs.frozen
class RedisBackend:
    """One rate budget for every process using the same credential and Redis.

    Args:
        url: the Redis server (``redis://[:password@]host:port/db``, ``rediss://`` for TLS,
            ``unix:///path``); its password never shows in a repr, log or error.
        on_unavailable: what a client does when Redis stops answering mid-run: ``"fail"``
            (default) raises :class:`~aura_async.errors.RateLimitBackendError` for each
            request that would start (none is sent); ``"local"`` goes on alone with
            ``local_share`` of the limit until Redis is back. An event
            (:class:`~aura_async.events.RateLimitBackendLost`) and a WARNING tell either way.
            At start an unreachable Redis is always an error.
        local_share: the fraction of the limit a client keeps to while Redis is away under
            ``"local"``; with N processes, 1/N or less keeps them all within the limit.
        share_token: also share one access token per credential through Redis (one fetch per
            token lifetime for all processes). Off by default: the bearer token then sits in
            Redis (with its expiry as TTL) where anyone who can read the server can use it.
        key_prefix: the namespace of every key (the budget's keys are
            ``<prefix>:{<hash of client id and API host>}:...``, never the secret).
        heartbeat: how often a process tells Redis it is alive, in seconds.
        dead_after: a process silent this long is taken for dead: the slots its requests
            held count as completed then and expire a period later. Must exceed the longest
            stall of an event loop, and ``heartbeat``.
        timeout: the longest one Redis call may take before it counts as unreachable.

    Raises:
        ValueError: for a URL that is not Redis's, or a bad number or choice.
    """

    url: str = attrs.field(validator=_check_url, repr=redact_url)
    on_unavailable: OnUnavailable = attrs.field(default="fail", validator=_policy)
    local_share: float = attrs.field(default=0.25, validator=_share)
    share_token: bool = False
    key_prefix: str = attrs.field(default="aura-async", validator=_prefix)
    heartbeat: float = attrs.field(default=1.0, validator=_positive)
    dead_after: float = attrs.field(default=5.0, validator=_positive)
    timeout: float = attrs.field(default=5.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.dead_after <= self.heartbeat:
            raise ValueError(
                f"dead_after ({self.dead_after} s) must be longer than heartbeat "
                f"({self.heartbeat} s), or live processes would be taken for dead"
            )
