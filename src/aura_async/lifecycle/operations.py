"""What "done" means for each asynchronous operation, and how patiently to poll for it.

Each :class:`Target` judges one observation (the resource as a GET showed it, or its absence)
as done, failed or pending, by the operation's own rule, never by "status is running" alone:
a resize is done when the NEW memory shows, an overwrite when the instance runs again after the
overwrite was seen (or after long enough), a delete when the instance is gone.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from aura_async.models import (
    GraphAnalyticsSession,
    Instance,
    InstanceStatus,
    KeyStatus,
    SessionStatus,
    Snapshot,
    SnapshotStatus,
)

__all__ = ["Observation", "Operation", "PollPolicy", "Target", "Verdict"]


class Operation(enum.StrEnum):
    """An asynchronous operation one can wait for."""

    CREATE = "create"
    PAUSE = "pause"
    RESUME = "resume"
    DELETE = "delete"
    RESIZE = "resize"
    UPDATE = "update"
    OVERWRITE = "overwrite"
    RESTORE = "restore"
    SNAPSHOT = "snapshot"
    KEY = "key"
    SESSION = "session"


class Verdict(enum.Enum):
    """How an observation stands against a target."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


Resource = Instance | Snapshot | GraphAnalyticsSession | object


@attrs.frozen
class Observation:
    """One poll's result: the resource as seen, or None when the API answered 404.

    Attributes:
        value: the parsed resource, or None for "not found".
        status: its status as a string ("" when not found).
        at: the monotonic time of the answer.
    """

    value: object | None
    status: str
    at: float


_GONE = (InstanceStatus.DESTROYING, InstanceStatus.DELETING)
_BROKEN = (*_GONE, InstanceStatus.LOADING_FAILED)


@attrs.frozen
class Target:
    """The condition a wait is for.

    Args:
        operation: which operation is awaited.
        memory: for a resize, the memory it must show when done.
        storage: for a resize, the storage it must show when done.
        underway: for overwrite and restore, the transient status that proves the operation
            began (``overwriting``, ``restoring``).
        settle_after: for overwrite and restore, seconds after which ``running`` counts as done
            even if the transient status was never seen (the poll may have missed it).
        not_found_grace: seconds after submission during which a 404 is tolerated (a just
            created resource can briefly be missing); 0 where a 404 means it is gone.
        within_window: the watcher's not-found window (how long a new resource may answer
            404, as learnt) is added to ``not_found_grace`` when each observation is judged,
            so a window learnt during the wait lengthens it.
    """

    operation: Operation
    memory: str | None = None
    storage: str | None = None
    underway: str | None = None
    settle_after: float = 0.0
    not_found_grace: float = 0.0
    within_window: bool = False

    def judge(
        self, seen: Observation, *, elapsed: float, underway_seen: bool, window: float = 0.0
    ) -> tuple[Verdict, str]:
        """Return the verdict on an observation and, for a failure, why.

        ``elapsed`` is the time since the operation was submitted; ``underway_seen`` whether
        an earlier observation showed the operation's transient status; ``window`` the
        not-found window now (see ``within_window``).
        """
        op = self.operation
        value = seen.value
        if value is None:  # 404
            if op is Operation.DELETE:
                return Verdict.DONE, ""
            if elapsed < self.not_found_grace + (window if self.within_window else 0.0):
                return Verdict.PENDING, ""
            return Verdict.FAILED, "it was not found"
        status = seen.status
        if op is Operation.DELETE:
            return Verdict.PENDING, ""
        if op is Operation.SNAPSHOT:
            if status == SnapshotStatus.COMPLETED:
                return Verdict.DONE, ""
            if status in (SnapshotStatus.FAILED, SnapshotStatus.CANCELLED):
                return Verdict.FAILED, f"the snapshot is {status}"
            return Verdict.PENDING, ""
        if op is Operation.KEY:
            return (Verdict.DONE, "") if status == KeyStatus.READY else (Verdict.PENDING, "")
        if op is Operation.SESSION:
            if status == SessionStatus.READY:
                return Verdict.DONE, ""
            if status in (SessionStatus.FAILED, SessionStatus.EXPIRED):
                return Verdict.FAILED, f"the session is {status}"
            return Verdict.PENDING, ""
        # Instance operations from here on.
        broken = _GONE if op is not Operation.CREATE else _BROKEN
        if status in broken:
            return Verdict.FAILED, f"the instance is {status}"
        if op is Operation.PAUSE:
            done = status == InstanceStatus.PAUSED
        elif op is Operation.RESIZE:
            assert isinstance(value, Instance)
            done = (
                status == InstanceStatus.RUNNING
                and (self.memory is None or value.memory == self.memory)
                and (self.storage is None or value.storage == self.storage)
            )
        elif op in (Operation.OVERWRITE, Operation.RESTORE, Operation.UPDATE):
            done = status == InstanceStatus.RUNNING and (
                underway_seen or elapsed >= self.settle_after
            )
        else:  # create, resume
            done = status == InstanceStatus.RUNNING
        return (Verdict.DONE, "") if done else (Verdict.PENDING, "")

    def shows_underway(self, seen: Observation) -> bool:
        """Whether an observation shows the operation's transient status."""
        return self.underway is not None and seen.status == self.underway


# Seconds each operation typically takes on the live service (the first poll waits for part of
# it), and how long a wait gives up after. Learnt durations replace the first as they come.
_EXPECTED: Mapping[Operation, float] = {
    Operation.CREATE: 120.0,
    Operation.PAUSE: 60.0,
    Operation.RESUME: 90.0,
    Operation.DELETE: 30.0,
    Operation.RESIZE: 180.0,
    Operation.UPDATE: 30.0,
    Operation.OVERWRITE: 120.0,
    Operation.RESTORE: 120.0,
    Operation.SNAPSHOT: 60.0,
    Operation.KEY: 30.0,
    Operation.SESSION: 60.0,
}
_TIMEOUTS: Mapping[Operation, float] = {
    Operation.CREATE: 1800.0,
    Operation.PAUSE: 900.0,
    Operation.RESUME: 1800.0,
    Operation.DELETE: 900.0,
    Operation.RESIZE: 3600.0,
    Operation.UPDATE: 1800.0,
    Operation.OVERWRITE: 3600.0,
    Operation.RESTORE: 3600.0,
    Operation.SNAPSHOT: 1800.0,
    Operation.KEY: 1800.0,
    Operation.SESSION: 1800.0,
}


_share = [attrs.validators.gt(0.0), attrs.validators.lt(1.0)]


@attrs.frozen
class PollPolicy:
    """How patiently the watcher polls, and its bounds.

    No duration needs to be right here: the watcher learns each operation's durations from
    its own polls (see :mod:`aura_async.lifecycle.planner`), and ``expected`` is only a hint
    used until it has (for the settle time of overwrites and the 404 grace after creates).

    Args:
        expected: hint of the typical seconds per operation, until this client has seen some.
        timeouts: default seconds before a wait gives up, per operation.
        min_interval: the shortest gap between two polls of one resource, and the first rung
            of the scouting ladder (the age of the first poll while nothing is known).
        max_interval: the longest gap between two polls of a single wait.
        first_fraction: the 404 grace after a create counts from this fraction of the
            expected duration (a create may briefly answer 404 after it was accepted).
        not_found_grace: seconds a just-created resource may go on answering 404 beyond that.
        max_in_flight: polls in flight at once, across all resources.
        scout_growth: while nothing is known of an operation, each poll comes this many times
            the age of the last (1.3: a wait is seen at most 30 % of its duration late, and
            durations from seconds to an hour cost about 30 polls).
        fleet_chance: a fleet's wait polls next when this share of the operations still busy
            at its last poll should be done (fleets pay for every poll N times).
        single_pace: once durations are known, a single wait spends about what fixed
            polling at this pace would, its polls placed at equal chances of finding the
            operation done (close together where operations usually end).
        tail_step: past every duration seen, a wait polls again after this fraction of its
            age; a fleet's step is this times the number of its waits still busy (at most
            half its age).
        poll_share: the share of each window of the rate limit a fleet's polls may be
            planned in (all of it by default: mutations go ahead of polls at the limiter
            anyway, and a share left unplanned is lost where polls are the bottleneck).
        verify_timeout: how long ``instances.verify`` keeps trying an address that does
            not accept connections yet (a running instance's has had long enough to resolve
            and accept by then); its pauses grow from ``min_interval`` to a third of
            ``max_interval``.
    """

    expected: Mapping[Operation, float] = attrs.field(factory=lambda: dict(_EXPECTED))
    timeouts: Mapping[Operation, float] = attrs.field(factory=lambda: dict(_TIMEOUTS))
    min_interval: float = 1.0
    max_interval: float = 30.0
    first_fraction: float = 0.5
    not_found_grace: float = 60.0
    max_in_flight: int = 16
    scout_growth: float = attrs.field(default=1.3, validator=attrs.validators.gt(1.0))
    fleet_chance: float = attrs.field(default=0.7, validator=_share)
    single_pace: float = attrs.field(default=10.0, validator=attrs.validators.gt(0.0))
    tail_step: float = attrs.field(default=0.03, validator=attrs.validators.gt(0.0))
    poll_share: float = attrs.field(
        default=1.0, validator=[attrs.validators.gt(0.0), attrs.validators.le(1.0)]
    )
    verify_timeout: float = attrs.field(default=300.0, validator=attrs.validators.gt(0.0))

    def scaled(self, factor: float) -> PollPolicy:
        """Return this policy with every duration multiplied by ``factor``.

        For an emulator whose clock runs 600 times faster, ``PollPolicy().scaled(1 / 600)``.

        Raises:
            ValueError: if ``factor`` is not positive.
        """
        if not factor > 0:
            raise ValueError("the scale factor must be positive")
        return attrs.evolve(
            self,
            expected={op: s * factor for op, s in self.expected.items()},
            timeouts={op: s * factor for op, s in self.timeouts.items()},
            min_interval=self.min_interval * factor,
            max_interval=self.max_interval * factor,
            single_pace=self.single_pace * factor,
            not_found_grace=self.not_found_grace * factor,
            verify_timeout=self.verify_timeout * factor,
        )

    def first_delay(self, expected: float) -> float:
        """Seconds from submission to the first poll of an operation expected to take that long."""
        return max(self.min_interval, self.first_fraction * expected)

    def timeout(self, operation: Operation) -> float:
        """Return the default timeout of an operation."""
        return self.timeouts.get(operation, max(_TIMEOUTS.values()))
