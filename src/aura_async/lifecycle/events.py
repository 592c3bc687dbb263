"""Lifecycle events: what happened to which resource during which operation, and when.

Every event is a frozen attrs class that turns into JSON with :func:`to_json`. Each carries
the resource id and name, the operation, wall-clock and monotonic timestamps, and the seconds
since the operation was submitted. A verification's events (:class:`Connectable`,
:class:`VerifyFailed`) follow no API operation: they carry the attempts instead, and count
from the first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from aura_async.lifecycle.operations import Operation

__all__ = [
    "Connectable",
    "LifecycleEvent",
    "OperationSubmitted",
    "StatusChanged",
    "StatusObserved",
    "TargetReached",
    "UnknownStatusSeen",
    "VerifyFailed",
    "WaitCancelled",
    "WaitFailed",
    "WaitTimedOut",
    "to_json",
]


@attrs.frozen(kw_only=True)
class _Base:
    resource_id: str
    name: str | None
    operation: Operation
    at: dt.datetime
    monotonic: float
    elapsed: float


@attrs.frozen(kw_only=True)
class OperationSubmitted(_Base):
    """The API accepted an operation (or a wait started for one begun elsewhere)."""


@attrs.frozen(kw_only=True)
class StatusObserved(_Base):
    """A poll saw the resource (``status`` is empty when it was not found)."""

    status: str


@attrs.frozen(kw_only=True)
class StatusChanged(_Base):
    """The resource's status changed since the previous poll."""

    previous: str
    status: str


@attrs.frozen(kw_only=True)
class UnknownStatusSeen(_Base):
    """A status this SDK does not know; waiting goes on."""

    status: str


@attrs.frozen(kw_only=True)
class TargetReached(_Base):
    """The operation is done."""

    status: str


@attrs.frozen(kw_only=True)
class WaitFailed(_Base):
    """The resource reached a state the operation cannot come back from."""

    status: str
    reason: str


@attrs.frozen(kw_only=True)
class WaitTimedOut(_Base):
    """The wait gave up; the operation may still finish."""

    status: str


@attrs.frozen(kw_only=True)
class WaitCancelled(_Base):
    """The wait was cancelled (by its caller or by closing the client)."""

    status: str


@attrs.frozen(kw_only=True)
class _Verification:
    resource_id: str
    name: str | None
    at: dt.datetime
    monotonic: float
    elapsed: float
    attempts: int


@attrs.frozen(kw_only=True)
class Connectable(_Verification):
    """The database accepted a connection with its credentials and answered a query
    (``instances.verify``). ``elapsed`` counts from the first connection attempt;
    ``attempts`` is how many it took; ``server`` is the server's agent."""

    server: str


@attrs.frozen(kw_only=True)
class VerifyFailed(_Verification):
    """A verification ended without a connection: ``reason`` is ``auth`` (the password was
    refused), ``unreachable`` (nothing accepted before the timeout) or ``error``."""

    reason: str
    message: str


LifecycleEvent = (
    OperationSubmitted
    | StatusObserved
    | StatusChanged
    | UnknownStatusSeen
    | TargetReached
    | WaitFailed
    | WaitTimedOut
    | WaitCancelled
    | Connectable
    | VerifyFailed
)


def to_json(event: object) -> dict[str, Any]:
    """Return an event (lifecycle or client) as JSON-ready data, with its kind named."""
    data: dict[str, Any] = {"kind": type(event).__name__}
    for field in attrs.fields(type(event)):  # type: ignore[arg-type]
        value = getattr(event, field.name)
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, Operation):
            value = value.value
        data[field.name] = value
    return data
