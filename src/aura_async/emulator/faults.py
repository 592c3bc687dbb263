"""Faults injected on demand: the misbehaviour of the live service and its gateway, reproducibly.

A :class:`FaultPlan` says what may go wrong and how often; the emulator draws from its seeded
random source to decide each time. Gateway faults apply to requests (optionally only some
methods or routes); instance faults are decided once per instance, when it is created.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any, cast

import attr
import attrs

__all__ = ["DropFault", "ErrorFault", "FaultPlan", "LatencyFault", "RequestFilter", "parse_fault"]


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability between 0 and 1, got {value!r}")


def _seconds(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ValueError(
            f"{attribute.name} must be a non-negative number of seconds, got {value!r}"
        )


@attrs.frozen
class RequestFilter:
    """Which requests a gateway fault applies to: all, by default.

    ``methods`` are HTTP methods (empty = any); ``route`` is a substring of the route template
    such as ``/instances/{instanceId}/pause`` (empty = any).
    """

    methods: tuple[str, ...] = ()
    route: str = ""

    def matches(self, method: str, route: str) -> bool:
        """Return whether a request with this method and route template is affected."""
        return (not self.methods or method in self.methods) and self.route in route


@attrs.frozen
class ErrorFault:
    """Answer ``status`` BEFORE doing any work, with ``probability``.

    ``retry_after`` (emulated seconds) adds a ``Retry-After`` header; ``None`` omits it.
    """

    status: int = 503
    probability: float = attrs.field(default=0.0, validator=_probability)
    retry_after: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_seconds)
    )
    only: RequestFilter = RequestFilter()

    def __attrs_post_init__(self) -> None:
        if not 500 <= self.status <= 599:
            raise ValueError(f"an error fault must be a 5xx status, got {self.status}")


@attrs.frozen
class LatencyFault:
    """Delay the answer by ``seconds`` of REAL time, with ``probability``.

    Latency models the network between client and service, so it is not compressed by the
    emulator's time scale: it exercises the client's own timeouts.
    """

    probability: float = attrs.field(default=0.0, validator=_probability)
    seconds: float = attrs.field(default=1.0, validator=_seconds)
    only: RequestFilter = RequestFilter()


@attrs.frozen
class DropFault:
    """Carry the request out, then drop the connection before the answer is complete.

    The client sees a transport error although the work was done: the create that "failed"
    left an instance behind. By default only mutations (POST, PATCH, DELETE) are affected.
    """

    probability: float = attrs.field(default=0.0, validator=_probability)
    only: RequestFilter = RequestFilter(methods=("POST", "PATCH", "DELETE"))


@attrs.frozen
class FaultPlan:
    """Everything that may go wrong, and how often. The default plan injects nothing.

    Args:
        errors: 5xx answers sent before any work.
        latency: added real-time delays.
        drop: connections dropped after the work was done.
        not_found_after_create: for this many emulated seconds after a create, the new
            instance answers 404 on every route by id (GET, DELETE, pause, ...), as the live
            service does for a while (decided per instance with
            ``not_found_after_create_probability``).
        not_found_after_create_unlisted: during that window the instance is missing from
            listings too (the worst case: nothing shows it exists but its create's answer).
        null_connection_url: probability that an instance reports ``connection_url: null``.
        null_connection_url_until_running: such an instance reports null only while it is
            being created (in its create's answer too), and its address once it runs.
        deleting_status: probability that a deleted instance shows ``deleting`` instead of
            ``destroying``.
        memory_missing_while_deleting: probability that a deleted instance omits ``memory``
            while it is being deleted.
        pause_resume_200: probability that pause and resume answer 200 instead of 202.
        create_failure: probability that a create ends in ``loading failed``.
        snapshot_failure: probability that a snapshot ends ``Failed``.
        session_failure: probability that a graph-analytics session ends ``Failed``.
    """

    errors: tuple[ErrorFault, ...] = ()
    latency: tuple[LatencyFault, ...] = ()
    drop: DropFault = DropFault()
    not_found_after_create: float = attrs.field(default=0.0, validator=_seconds)
    not_found_after_create_probability: float = attrs.field(default=1.0, validator=_probability)
    not_found_after_create_unlisted: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    null_connection_url: float = attrs.field(default=0.0, validator=_probability)
    null_connection_url_until_running: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    deleting_status: float = attrs.field(default=0.0, validator=_probability)
    memory_missing_while_deleting: float = attrs.field(default=0.0, validator=_probability)
    pause_resume_200: float = attrs.field(default=0.0, validator=_probability)
    create_failure: float = attrs.field(default=0.0, validator=_probability)
    snapshot_failure: float = attrs.field(default=0.0, validator=_probability)
    session_failure: float = attrs.field(default=0.0, validator=_probability)

    def choose_error(self, rng: random.Random, method: str, route: str) -> ErrorFault | None:
        """Draw whether this request fails with an injected 5xx, and which."""
        for fault in self.errors:
            if fault.only.matches(method, route) and rng.random() < fault.probability:
                return fault
        return None

    def choose_latency(self, rng: random.Random, method: str, route: str) -> float:
        """Draw the real seconds of latency to add to this request."""
        delay = 0.0
        for fault in self.latency:
            if fault.only.matches(method, route) and rng.random() < fault.probability:
                delay += fault.seconds
        return delay

    def choose_drop(self, rng: random.Random, method: str, route: str) -> bool:
        """Draw whether to drop this request's connection after doing its work."""
        return self.drop.only.matches(method, route) and rng.random() < self.drop.probability

    def to_json(self) -> dict[str, Any]:
        """Return the plan as JSON-ready data (the shape the control endpoint accepts)."""
        # The classic API turns tuples into lists, the shape JSON gives back.
        return attr.asdict(self, retain_collection_types=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultPlan:
        """Build a plan from JSON data as :meth:`to_json` renders it.

        Raises:
            ValueError: on unknown keys or invalid values.
            TypeError: on values of the wrong type.
        """
        data = dict(data)
        known = {a.name for a in attrs.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")

        def _filter(raw: Any) -> RequestFilter:
            if raw is None:
                return RequestFilter()
            raw = dict(raw)
            extra = set(raw) - {"methods", "route"}
            if extra:
                raise ValueError(f"unknown filter setting(s): {', '.join(sorted(extra))}")
            methods = raw.get("methods", ())
            if isinstance(methods, str) or not all(isinstance(m, str) for m in methods):
                raise ValueError('methods must be a list of strings such as ["POST"]')
            return RequestFilter(
                methods=tuple(m.upper() for m in raw.get("methods", ())),
                route=str(raw.get("route", "")),
            )

        def _with_filter(raw: Mapping[str, Any], kind: type[Any]) -> Any:
            raw = dict(raw)
            only = raw.pop("only", None)
            if only is None:
                return kind(**raw)
            return kind(**raw, only=_filter(only))

        if "errors" in data:
            data["errors"] = tuple(_with_filter(e, ErrorFault) for e in data["errors"])
        if "latency" in data:
            data["latency"] = tuple(_with_filter(e, LatencyFault) for e in data["latency"])
        if "drop" in data:
            data["drop"] = _with_filter(data["drop"], DropFault)
        return cls(**data)


_SCALAR_FAULTS = {
    "deleting-status": "deleting_status",
    "memory-missing-while-deleting": "memory_missing_while_deleting",
    "pause-resume-200": "pause_resume_200",
    "create-failure": "create_failure",
    "snapshot-failure": "snapshot_failure",
    "session-failure": "session_failure",
}


def parse_fault(text: str, plan: FaultPlan) -> FaultPlan:
    """Add one command-line fault such as ``error=0.05,status=503,retry_after=2`` to ``plan``.

    Forms: ``error=P[,status=S][,retry_after=SECONDS]``, ``latency=P[,seconds=S]``,
    ``drop=P``, ``not-found-after-create=SECONDS[,probability=P][,unlisted=1]``,
    ``null-connection-url=P[,until_running=1]``, and
    ``KIND=P`` for the
    probabilities
    ``null-connection-url``, ``deleting-status``, ``pause-resume-200``, ``create-failure``,
    ``snapshot-failure`` and ``session-failure``. ``methods=POST+PATCH`` and ``route=/pause``
    narrow error, latency and drop faults.

    Raises:
        ValueError: if the text names an unknown fault or has a malformed value.
    """
    head, *rest = [part.strip() for part in text.split(",") if part.strip()] or [""]
    kind, sep, value = head.partition("=")
    if not sep:
        raise ValueError(f"a fault looks like KIND=VALUE[,key=value...]; got {text!r}")
    options: dict[str, str] = {}
    for part in rest:
        key, sep, val = part.partition("=")
        if not sep:
            raise ValueError(f"fault option {part!r} must look like key=value")
        options[key.strip()] = val.strip()
    filters = (
        {k: options.pop(k) for k in ("methods", "route") if k in options}
        if kind in ("error", "latency", "drop")
        else {}  # instance faults take no filter: left in options, they are refused below
    )
    only = RequestFilter(
        methods=tuple(m.upper() for m in filters.get("methods", "").split("+") if m),
        route=filters.get("route", ""),
    )
    try:
        number = float(value)
        if kind == "error":
            retry = options.pop("retry_after", None)
            error = ErrorFault(
                status=int(options.pop("status", "503")),
                probability=number,
                retry_after=float(retry) if retry is not None else None,
                only=only,
            )
            result = attrs.evolve(plan, errors=(*plan.errors, error))
        elif kind == "latency":
            seconds = float(options.pop("seconds", "1"))
            latency = LatencyFault(probability=number, seconds=seconds, only=only)
            result = attrs.evolve(plan, latency=(*plan.latency, latency))
        elif kind == "drop":
            default = DropFault().only
            narrowed = RequestFilter(methods=only.methods or default.methods, route=only.route)
            result = attrs.evolve(plan, drop=DropFault(probability=number, only=narrowed))
        elif kind == "not-found-after-create":
            chance = float(options.pop("probability", "1"))
            unlisted = options.pop("unlisted", "0")
            if unlisted not in ("0", "1"):
                raise ValueError(f"unlisted must be 0 or 1, got {unlisted!r}")
            result = attrs.evolve(
                plan,
                not_found_after_create=number,
                not_found_after_create_probability=chance,
                not_found_after_create_unlisted=unlisted == "1",
            )
        elif kind == "null-connection-url":
            until = options.pop("until_running", "0")
            if until not in ("0", "1"):
                raise ValueError(f"until_running must be 0 or 1, got {until!r}")
            result = attrs.evolve(
                plan, null_connection_url=number, null_connection_url_until_running=until == "1"
            )
        elif kind in _SCALAR_FAULTS:
            result = attrs.evolve(plan, **cast(dict[str, Any], {_SCALAR_FAULTS[kind]: number}))
        else:
            known = ", ".join(
                [
                    "error",
                    "latency",
                    "drop",
                    "not-found-after-create",
                    "null-connection-url",
                    *_SCALAR_FAULTS,
                ]
            )
            raise ValueError(f"unknown fault {kind!r}; known faults: {known}")
    except (TypeError, ValueError) as exc:
        if "unknown fault" in str(exc):
            raise
        raise ValueError(f"invalid fault {text!r}: {exc}") from None
    if options:
        raise ValueError(f"unknown option(s) for fault {kind!r}: {', '.join(sorted(options))}")
    return result
