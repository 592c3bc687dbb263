"""The API's own clock, as the ``Date`` headers of its answers tell it.

An instance's age is its ``created_at`` against *now*; the server stamped ``created_at`` with
its clock, so *now* must be the server's too. A local clock that is off (a laptop minutes
behind, a CI container's), or an emulator whose clock runs faster, would otherwise make
``--older-than 1h`` choose nothing or everything. Every answer (HTTP requires a ``Date`` on
them) tells the offset again; the newest is kept, as an emulator's clock drifts on.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable

__all__ = ["ServerClock"]

# A Date header has whole seconds: the server's time lies, on average, half a second later.
_HALF_SECOND = dt.timedelta(seconds=0.5)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ServerClock:
    """The server's current time: the local clock plus the offset the last ``Date`` showed.

    Args:
        local: the local clock (UTC, aware).
    """

    def __init__(self, local: Callable[[], dt.datetime] = _utc_now) -> None:
        self._local = local
        self._offset: dt.timedelta | None = None

    @property
    def offset(self) -> dt.timedelta | None:
        """The server's clock minus the local one, as last seen (None before any answer)."""
        return self._offset

    def saw(self, date_header: str | None) -> None:
        """Learn the offset from an answer's ``Date`` header (unreadable ones are ignored)."""
        if not date_header:
            return
        try:
            stamped = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        if stamped.tzinfo is None:  # "-0000": UTC without saying so
            stamped = stamped.replace(tzinfo=dt.UTC)
        self._offset = stamped + _HALF_SECOND - self._local()

    def now(self) -> dt.datetime:
        """The server's time now (the local time until an answer told the offset)."""
        return self._local() + (self._offset or dt.timedelta(0))
