"""Fleet events: a fleet call starting, each of its items ending, and the call ending.

They go through the client's event bus with the lifecycle events of the items' waits, so
``aura.events()`` and ``on_event`` see a fleet's whole progress; :func:`to_json` from
:mod:`aura_async.lifecycle.events` turns them into JSON.
"""

from __future__ import annotations

import datetime as dt

import attrs

__all__ = ["FleetFinished", "FleetItemFinished", "FleetStarted"]


@attrs.frozen(kw_only=True)
class FleetStarted:
    """A fleet call checked its input and starts ``items`` items."""

    operation: str
    items: int
    at: dt.datetime
    monotonic: float


@attrs.frozen(kw_only=True)
class FleetItemFinished:
    """One item of a fleet call ended (``outcome`` is an :class:`~aura_async.fleet.Outcome`)."""

    operation: str
    name: str
    resource_id: str | None
    outcome: str
    error: str | None
    elapsed: float | None
    at: dt.datetime
    monotonic: float


@attrs.frozen(kw_only=True)
class FleetFinished:
    """A fleet call ended; ``totals`` counts its items by outcome."""

    operation: str
    totals: dict[str, int]
    requests: int
    rate_limited: int
    elapsed: float
    at: dt.datetime
    monotonic: float
