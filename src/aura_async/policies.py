"""The client's value types: how fast (RateLimit), in which order (Priority), and how often
again (RetryPolicy). Public and free of I/O, so settings, the fleet and the command line take
them without reaching into the request pipeline that uses them."""

from __future__ import annotations

import enum
import math
import random
import re
from typing import ClassVar

import attrs

__all__ = ["Priority", "RateLimit", "RetryPolicy"]

_UNITS = {"": 1.0, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_RATE_RE = re.compile(
    r"""\s*(?P<limit>\d+)\s*
        (?:/\s*(?P<amount>(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)?\s*(?P<unit>[a-z]*)\s*)?""",
    re.IGNORECASE | re.VERBOSE,
)


def _check_limit(instance: RateLimit, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"a rate limit needs at least 1 request per period, got {value!r}")


def _check_period(instance: RateLimit, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, int | float) and 0 < value < math.inf):
        raise ValueError(
            f"a rate limit's period must be a positive number of seconds, got {value!r}"
        )


@attrs.frozen
class RateLimit:
    """At most ``limit`` requests in any ``period`` seconds.

    Raises:
        ValueError: if ``limit`` is not an integer of at least 1, or ``period`` is not a
            positive, finite number of seconds.
    """

    limit: int = attrs.field(validator=_check_limit)
    period: float = attrs.field(converter=float, validator=_check_period)

    PAID_LIMIT: ClassVar[int] = 125
    FREE_LIMIT: ClassVar[int] = 25
    DEFAULT_PERIOD: ClassVar[float] = 60.0

    @classmethod
    def paid(cls) -> RateLimit:
        """The limit of paid accounts: 125 requests per 60 seconds."""
        return cls(cls.PAID_LIMIT, cls.DEFAULT_PERIOD)

    @classmethod
    def free(cls) -> RateLimit:
        """The limit of free and trial accounts: 25 requests per 60 seconds."""
        return cls(cls.FREE_LIMIT, cls.DEFAULT_PERIOD)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Read a limit as written in ``AURA_RATE_LIMIT`` or on the command line.

        Accepted forms: ``"paid"``, ``"free"``, a count (``"125"``, per 60 seconds), or a count
        and a period in seconds or with a unit (``"25/60"``, ``"125/1s"``, ``"125/1m"``,
        ``"10/500ms"``, ``"125/min"``). Units: ms, s, sec, m, min, h.

        Raises:
            ValueError: if ``text`` is none of these, or names a count below 1 or a period
                that is not positive and finite.
        """
        named = text.strip().lower()
        if named == "paid":
            return cls.paid()
        if named == "free":
            return cls.free()
        match = _RATE_RE.fullmatch(text)
        unit = (match.group("unit") or "").lower() if match else ""
        if match is None or unit not in _UNITS or ("/" in text and not (match["amount"] or unit)):
            raise ValueError(
                f"cannot read the rate limit {text!r}: expected 'paid', 'free', a request count "
                "such as '125' (per 60 s), or count/period such as '25/60', '125/1s' or '125/1m'"
            )
        limit = int(match["limit"])
        if match["amount"] is None and not unit:
            period = cls.DEFAULT_PERIOD
        else:
            period = float(match["amount"] or 1) * _UNITS[unit]
        try:
            return cls(limit, period)
        except ValueError as error:
            raise ValueError(f"cannot use the rate limit {text!r}: {error}") from None

    def __str__(self) -> str:
        """Write the limit as ``count/periods``, e.g. ``125/60s``, which :meth:`parse` reads."""
        period = self.period
        shown = str(int(period)) if period.is_integer() and period < 1e15 else repr(period)
        return f"{self.limit}/{shown}s"


class Priority(enum.IntEnum):
    """Which waiting request goes first when a slot frees up; a lower value goes first."""

    TOKEN = 0
    """Token requests: every other request waits on them."""
    MUTATION = 1
    """Creates, updates and deletes go ahead of reads, so polls never starve the real work."""
    READ = 2
    """Reads, including status polls."""


@attrs.frozen
class RetryPolicy:
    """How many times, and how long between, a safe request is resent.

    Args:
        max_retries: resends after the first attempt (0 disables retries).
        base_delay: the first backoff, in seconds; each later one doubles.
        max_delay: the longest backoff.
        max_retry_after: the longest wait honoured from a ``Retry-After`` header.
        max_rate_limited_retries: resends after 429s, counted apart: a 429 did no work, and
            the limiter slows the client down meanwhile.
    """

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    max_rate_limited_retries: int = 20

    def __attrs_post_init__(self) -> None:
        if not math.isfinite(self.max_retry_after + self.max_delay + self.base_delay):
            raise ValueError("retry delays must be finite")
        if (
            min(self.max_retries, self.max_rate_limited_retries) < 0
            or min(self.base_delay, self.max_delay, self.max_retry_after) < 0
        ):
            raise ValueError("retry settings must not be negative")

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Return the wait before resending after failed ``attempt`` (1-based).

        The server's ``Retry-After`` wins, capped; otherwise exponential backoff with full
        jitter in its upper half, so many tasks failing together do not resend together.
        """
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling: float = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)
