"""Which failures are safe to resend, and when.

The API has no idempotency key, so what may be resent depends on what the request does:

- reads, deletes and the other actions (PATCH, pause, resume, overwrite, restore, snapshot,
  upgrade, session get-or-create) are resent on 429, 502/503/504, a bare 500 and transport
  errors: doing them twice is harmless or answers a recognisable 404/409;
- a create (``POST /instances``, ``POST /customer-managed-keys``) is resent only when the
  server surely did no work: a 429, or a connection that failed before the request was sent.
  Anything else is ambiguous and must be reconciled by name, never resent.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import time

import attrs
import httpx

from aura_async.errors import AuraError
from aura_async.policies import RetryPolicy

__all__ = [
    "AmbiguousOutcome",
    "Recovered",
    "RequestKind",
    "RetryPolicy",
    "parse_retry_after",
    "sent_nothing",
    "transient_failure",
]


class RequestKind(enum.Enum):
    """How a request may be retried."""

    READ = "read"
    ACTION = "action"
    CREATE = "create"


@attrs.frozen
class Recovered:
    """What could be read of a create's answer that failed to parse (never shown in a repr)."""

    instance_id: str | None = None
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)


class AmbiguousOutcome(Exception):
    """A create failed in a way that may have done the work: it must not be resent.

    Raised by the pipeline (and by a create's commit step) for the resource, which turns it,
    in one place, into :class:`~aura_async.errors.CreateOutcomeUnknownError` naming what it
    created. It never reaches a caller of the SDK.

    Attributes:
        cause: the failure (transport error, 5xx, unreadable answer, ...).
        recovered: what could be read of an answer that arrived but did not parse.
    """

    def __init__(self, cause: AuraError, recovered: Recovered | None = None) -> None:
        super().__init__(cause.message)
        self.cause = cause
        self.recovered = recovered or Recovered()


# A 500 that names a reason is the API's own answer (an overwrite's size disparity) and no
# retry can fix it; a bare 500 (the gateway's, or a crash) is as passing as a 503, so
# transient_failure() lets it be resent. Like every 5xx it may have done the work.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


def transient_failure(status: int, reasons: tuple[str, ...]) -> bool:
    """Return whether an error answer is worth resending (when the request may be resent).

    429 and 502-504 always are; a 500 only without a reason code, since a 500 that names
    one (``db-overwrite-size-disparity``) answers the same however often it is asked.
    """
    return status in RETRY_STATUSES or (status == 500 and not reasons)


# Failures that happen before a single byte of the request left: the server did nothing.
_BEFORE_SENDING = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def sent_nothing(error: httpx.TransportError) -> bool:
    """Return whether the request surely never reached the server."""
    return isinstance(error, _BEFORE_SENDING)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delta seconds (decimals allowed) or an HTTP date.

    Returns the seconds to wait (never negative), or None when absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (ValueError, TypeError, OverflowError):
            return None  # unreadable advice is no advice; backoff applies
        if parsed.tzinfo is None:  # "-0000" means UTC without saying so
            parsed = parsed.replace(tzinfo=dt.UTC)
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)
