"""What a fleet call returns: one :class:`FleetItem` per instance, and the totals."""

from __future__ import annotations

import enum
import statistics
from collections import Counter
from typing import Any

import attrs

from aura_async.errors import FleetError
from aura_async.fleet.store import Credentials
from aura_async.models import Instance

__all__ = ["ErrorPolicy", "FleetItem", "FleetReport", "Outcome"]


class Outcome(enum.StrEnum):
    """How one item of a fleet call ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # nothing to do (already in the state asked), or never started
    ADOPTED = "adopted"  # an instance already existed under the name: taken over, not created
    CANCELLED = "cancelled"  # the call was cancelled or stopped while the item was under way
    ROLLED_BACK = "rolled back"  # created by this call, then deleted because the call failed


class ErrorPolicy(enum.StrEnum):
    """What a fleet call does when an item fails.

    ``CONTINUE`` carries on with every other item (the default for teardown); ``STOP`` starts
    nothing more and stops waiting (items under way are reported cancelled); ``ROLLBACK``
    stops too, then deletes every instance this call created (create only; also on cancel).
    """

    CONTINUE = "continue"
    STOP = "stop"
    ROLLBACK = "rollback"


@attrs.define(eq=False)
class FleetItem:
    """One instance of a fleet call, filled in as it goes.

    Attributes:
        name: the instance's name (for create, the spec's).
        instance_id: its id, once known.
        outcome: how it ended (None while under way).
        error: why it failed, or what went wrong beside success (a store error).
        started: monotonic seconds when its work began (None if it never did).
        submitted: monotonic seconds when the server accepted its request.
        finished: monotonic seconds when it ended.
        instance: the instance as last seen (None when gone or never read).
        credentials: for an instance this call created (or adopted from the ledger), its
            credentials; the repr hides the password.
        credentials_known: False for an adopted or reconciled instance whose password was
            never received: it cannot be used and should be deleted and created again.
        saved_to: where the credentials were saved (None if they were not).
        snapshot_id: for a fleet snapshot, the snapshot taken.
        snapshot_status: for a fleet snapshot, its last status seen (``Pending`` when only
            the create's answer was seen).
        already_gone: for a fleet delete, the instance was proven absent, nothing deleted.
        connectable_after: for a create with ``verify=True``, seconds from the instance
            seen running (for one adopted running, found so) to its database answering a
            query (None when not verified).
    """

    name: str
    instance_id: str | None = None
    outcome: Outcome | None = None
    error: Exception | None = None
    started: float | None = None
    submitted: float | None = None
    finished: float | None = None
    instance: Instance | None = None
    credentials: Credentials | None = None
    credentials_known: bool = True
    saved_to: str | None = None
    snapshot_id: str | None = None
    snapshot_status: str | None = None
    already_gone: bool = False
    connectable_after: float | None = None

    @property
    def elapsed(self) -> float | None:
        """Seconds from the item's start to its end (None if it did not both start and end)."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    def to_json(self) -> dict[str, Any]:
        """The item as JSON values; never includes the password."""
        return {
            "name": self.name,
            "instance_id": self.instance_id,
            "outcome": None if self.outcome is None else self.outcome.value,
            "error": None if self.error is None else str(self.error),
            "error_type": None if self.error is None else type(self.error).__name__,
            "elapsed": None if self.elapsed is None else round(self.elapsed, 3),
            "status": None if self.instance is None else str(self.instance.status),
            "credentials_known": self.credentials_known,
            "saved_to": self.saved_to,
            "snapshot_id": self.snapshot_id,
            "snapshot_status": self.snapshot_status,
            "already_gone": self.already_gone,
            "connectable_after": (
                None if self.connectable_after is None else round(self.connectable_after, 3)
            ),
        }


@attrs.frozen
class FleetReport:
    """The result of a fleet call.

    Attributes:
        operation: the verb (``create``, ``pause``, ``resume``, ``resize``, ``snapshot``,
            ``delete``).
        items: one per instance, in the order given.
        requests: HTTP requests this call sent (every attempt, token requests too).
        rate_limited: 429 answers it received.
        elapsed: seconds the call took.
        dry_run: True when nothing was changed (a teardown's preview).
    """

    operation: str
    items: tuple[FleetItem, ...]
    requests: int
    rate_limited: int
    elapsed: float
    dry_run: bool = False

    @property
    def totals(self) -> dict[Outcome, int]:
        """How many items ended in each outcome (outcomes with none left out)."""
        counts = Counter(item.outcome for item in self.items if item.outcome is not None)
        return {outcome: counts[outcome] for outcome in Outcome if counts[outcome]}

    @property
    def failed(self) -> list[FleetItem]:
        """The items that failed, or succeeded with an error beside (a store error)."""
        return [item for item in self.items if item.error is not None]

    @property
    def ok(self) -> bool:
        """Whether every item succeeded, was adopted or was skipped, with no error at all.

        An instance adopted without its password (``credentials_known=False``) is not ok:
        nobody can connect to it.
        """
        good = {Outcome.SUCCEEDED, Outcome.ADOPTED, Outcome.SKIPPED}
        return all(
            item.outcome in good and item.error is None and item.credentials_known
            for item in self.items
        )

    def raise_for_failures(self) -> FleetReport:
        """Return this report if :attr:`ok`, else raise.

        Raises:
            FleetError: some items failed or were cancelled; it carries this report.
        """
        if self.ok:
            return self
        raise FleetError.from_report(self)

    @property
    def connectable_after(self) -> tuple[float, float, float] | None:
        """Seconds from running to connectable over the verified items: (fastest, median,
        slowest); None when none was verified."""
        seen = sorted(i.connectable_after for i in self.items if i.connectable_after is not None)
        if not seen:
            return None
        return seen[0], statistics.median(seen), seen[-1]

    def summary(self) -> str:
        """One line: the verb, the totals, the requests spent and, for a verified create,
        how long databases took from running to connectable."""
        totals = ", ".join(f"{count} {outcome.value}" for outcome, count in self.totals.items())
        line = (
            f"{self.operation}: {totals or 'nothing to do'} in {self.elapsed:.1f}s, "
            f"{self.requests} requests, {self.rate_limited} rate-limited"
        )
        spread = self.connectable_after
        if spread is not None:
            line += (
                f"; connectable {spread[1]:.1f}s after running (median; "
                f"{spread[0]:.1f}-{spread[2]:.1f}s)"
            )
        return line

    def to_json(self) -> dict[str, Any]:
        """The report as JSON values; never includes a password."""
        return {
            "operation": self.operation,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "totals": {outcome.value: count for outcome, count in self.totals.items()},
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "elapsed": round(self.elapsed, 3),
            "connectable_after": (
                None
                if self.connectable_after is None
                else {
                    key: round(value, 3)
                    for key, value in zip(
                        ("fastest", "median", "slowest"), self.connectable_after, strict=True
                    )
                }
            ),
            "items": [item.to_json() for item in self.items],
        }
