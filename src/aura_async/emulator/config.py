"""Settings of an emulator run: credentials, projects, durations, rate limit, behaviour switches.

All durations are in emulated seconds (see :mod:`aura_async.emulator.clock`); how they are
drawn is set by :class:`Durations` (see :mod:`aura_async.emulator.durations`). Every class is a
frozen attrs class, so a configuration can be shared, compared and changed with
``attrs.evolve``.
"""

from __future__ import annotations

import math
import re
import secrets
from typing import Any, Literal

import attrs

from aura_async.emulator.catalog import INSTANCE_TYPES
from aura_async.emulator.durations import Durations, DurationShape
from aura_async.emulator.faults import FaultPlan
from aura_async.emulator.presets import PRESETS, Preset, behaviour

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PROJECT_ID",
    "PRESETS",
    "REAL_TOKEN_LIFETIME",
    "Credential",
    "DurationShape",
    "Durations",
    "EmulatorConfig",
    "Preset",
    "ProjectSpec",
    "RateLimitSettings",
    "parse_rate_limit",
]

DEFAULT_CLIENT_ID = "aura-emulator-client"
DEFAULT_CLIENT_SECRET = "aura-emulator-secret"  # noqa: S105  (documented public default)
DEFAULT_PROJECT_ID = "6c0b0a3e-7f3c-4b7e-9a55-0e3f1c2d4a5b"
#: An access token's lifetime in real seconds, unless ``EmulatorConfig.token_lifetime`` says.
REAL_TOKEN_LIFETIME = 3600.0

RateModel = Literal["fixed", "sliding", "bucket"]
RATE_MODELS: tuple[RateModel, ...] = ("fixed", "sliding", "bucket")


@attrs.frozen
class Credential:
    """An API client the emulator accepts on ``POST /oauth/token``.

    ``rate_limit`` overrides the emulator-wide request limit for this client (25 models a free
    or trial account); ``None`` uses the global setting.
    """

    client_id: str
    client_secret: str = attrs.field(repr=False)
    rate_limit: int | None = None


@attrs.frozen
class ProjectSpec:
    """A project (Aura calls them tenants in paths) seeded at start.

    Args:
        id: the project id (a UUID in the live service).
        name: its display name.
        instance_types: the types its ``instance_configurations`` offer.
        max_instances: creates beyond this many live instances answer 405.
        max_free_instances: how many ``free-db`` instances may exist at once.
        billing_details: without them, paid creates answer 400 ``missing-billing-details``.
    """

    id: str
    name: str
    instance_types: tuple[str, ...] = INSTANCE_TYPES
    max_instances: int = 1000
    max_free_instances: int = 1
    billing_details: bool = True


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


def _positive_seconds(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{attribute.name} must be a positive, finite number, got {value!r}")


_bool = attrs.validators.instance_of(bool)


def _rate_model(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if value not in RATE_MODELS:
        raise ValueError(f"rate model must be one of {', '.join(RATE_MODELS)}; got {value!r}")


@attrs.frozen
class RateLimitSettings:
    """The API's request limit, per credential.

    Args:
        limit: requests allowed per ``window``.
        window: the window in emulated seconds.
        model: how the server counts: ``fixed`` windows aligned to the clock, a ``sliding``
            log of the last ``window`` seconds, or a token ``bucket`` of size ``limit`` that
            refills ``limit`` per ``window`` (the gateway's default; it may accept up to twice
            the limit in one window).
        retry_after: render ``Retry-After`` as whole seconds of the client's real time,
            rounded up (``integer``, the default: the only delta form HTTP allows), as an
            HTTP ``date``, or as ``seconds`` with milliseconds under a compressed clock (not
            a valid HTTP value; for tests whose compressed windows last under a second).
        count_token_requests: whether ``POST /oauth/token`` spends from the same budget.
        count_rejected: whether rejected requests still count (a sliding log's behaviour in
            the live gateway: a client that keeps retrying stays limited).
        enabled: switch the limit off entirely.
    """

    limit: int = attrs.field(default=125, validator=_positive_int)
    window: float = attrs.field(default=60.0, validator=_positive_seconds)
    model: RateModel = attrs.field(default="fixed", validator=_rate_model)
    retry_after: Literal["seconds", "integer", "date"] = attrs.field(
        default="integer", validator=attrs.validators.in_(("seconds", "integer", "date"))
    )
    count_token_requests: bool = attrs.field(default=False, validator=_bool)
    count_rejected: bool = attrs.field(default=False, validator=_bool)
    enabled: bool = attrs.field(default=True, validator=_bool)


_RATE_RE = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d+(?:\.\d+)?)\s*(s|m)?)?\s*$")


def parse_rate_limit(text: str) -> tuple[int, float]:
    """Parse ``"125"``, ``"25/60"``, ``"125/1s"`` or ``"125/1m"`` into (limit, window seconds).

    Raises:
        ValueError: if the text is not of that form or either number is not positive.
    """
    match = _RATE_RE.match(text)
    if match is None:
        raise ValueError(f"rate limit must look like 125, 125/60, 125/1s or 125/1m; got {text!r}")
    limit = int(match.group(1))
    window = float(match.group(2)) if match.group(2) else 60.0
    if match.group(3) == "m":
        window *= 60.0
    if limit <= 0 or window <= 0:
        raise ValueError(f"rate limit and window must be positive; got {text!r}")
    return limit, window


def _preset(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if value not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {value!r}")


def _seed(value: int | None, config: Any) -> int | None:
    # Chaos is drawn from the seed, so a chaos run always has one to print and replay.
    if value is None and config.preset == "chaos":
        return secrets.randbits(32)
    return value


def _from_preset(name: str) -> Any:
    """A default taken from the configuration's preset (see :mod:`.presets`)."""
    return attrs.Factory(
        lambda config: getattr(behaviour(config.preset, config.seed), name), takes_self=True
    )


@attrs.frozen
class EmulatorConfig:
    """Everything an emulator run is made of.

    Args:
        credentials: the API clients accepted.
        projects: the projects seeded at start; the first is the default.
        preset: which behaviours of the live service the run shows, as defaults for the
            rate limit, durations, faults and switches below (see
            :mod:`aura_async.emulator.presets`): ``ideal`` (the spec's quirk-free service,
            the default here), ``live`` (every behaviour seen live, varied durations) or
            ``chaos`` (a random mix drawn from ``seed``). Fields given explicitly win.
        time_scale: emulated seconds per real second (60 makes a minute last a second).
        seed: seeds ids, jitter, faults and the chaos mix; ``None`` picks a random seed.
        token_lifetime: how long an access token lives, in emulated seconds; ``None`` (the
            default) is an hour of REAL time whatever the time scale, since tokens are not
            part of the lifecycle being compressed. An explicit value must last at least
            one real second (``expires_in`` is whole seconds).
        rate_limit: the request limit.
        durations: how long operations take, and the shape of their spread.
        faults: faults injected on demand.
        resize_status: the status of a resizing instance: ``resizing`` (seen live) or
            ``updating`` (the spec's word).
        duplicate_names: ``allow`` a second instance with a name already in use in the
            project (the spec's contract) or ``reject`` it with 409 (reported by some guides).
        rename_while_busy: ``reject`` a rename with 409 ``ongoing-database-operation`` while
            an operation is in flight, as every other change (the default: no evidence
            either way about the live service), or ``allow`` it.
        deprecation_date: when set, every answer carries ``X-Tyk-Api-Expires`` with it.
        free_auto_pause_after: a running AuraDB Free instance pauses itself after this many
            emulated seconds (Aura pauses free instances idle for 72 hours).
        bolt: whether :class:`~aura_async.emulator.EmulatorServer` also serves Bolt on
            loopback for the running instances (see :mod:`aura_async.emulator.bolt`), so the
            official ``neo4j`` driver can connect and ``RETURN 1``; their ``connection_url``
            then points there. Off in ``ideal``, on in ``live`` and ``chaos``.
        bolt_delay: emulated seconds, after an instance becomes running, before the Bolt
            listener accepts its connections (the database's address lags its status).
            ``ideal`` 0, ``live`` 15 (a fixed guess: ``BEHAVIOUR.md`` records no such
            delay), ``chaos`` drawn from the seed between 0 and 60.

    Raises:
        ValueError: for an unknown preset or inconsistent settings.
    """

    credentials: tuple[Credential, ...] = (Credential(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),)
    projects: tuple[ProjectSpec, ...] = (ProjectSpec(DEFAULT_PROJECT_ID, "Emulator Project"),)
    preset: Preset = attrs.field(default="ideal", validator=_preset)
    time_scale: float = 1.0
    # (mypy's attrs plugin does not know attrs.Converter yet.)
    seed: int | None = attrs.field(
        default=None,
        converter=attrs.Converter(_seed, takes_self=True),  # type: ignore[misc]
    )
    token_lifetime: float | None = None
    rate_limit: RateLimitSettings = attrs.field(default=_from_preset("rate_limit"))
    durations: Durations = attrs.field(default=_from_preset("durations"))
    faults: FaultPlan = attrs.field(default=_from_preset("faults"))
    resize_status: Literal["resizing", "updating"] = attrs.field(
        default=_from_preset("resize_status")
    )
    duplicate_names: Literal["allow", "reject"] = attrs.field(
        default=_from_preset("duplicate_names")
    )
    rename_while_busy: Literal["reject", "allow"] = attrs.field(
        default=_from_preset("rename_while_busy"),
        validator=attrs.validators.in_(("reject", "allow")),
    )
    deprecation_date: str | None = None
    free_auto_pause_after: float = 72 * 3600.0
    # Refuse with 400 what the official spec's schemas refuse (emulator/validation.py).
    validate_requests: bool = True
    bolt: bool = attrs.field(default=_from_preset("bolt"), validator=_bool)
    bolt_delay: float = attrs.field(default=_from_preset("bolt_delay"))

    def __attrs_post_init__(self) -> None:
        if not self.credentials:
            raise ValueError("the emulator needs at least one credential")
        if not self.projects:
            raise ValueError("the emulator needs at least one project")
        if not (self.time_scale > 0 and math.isfinite(self.time_scale)):
            raise ValueError("time_scale must be positive and finite")
        if self.token_lifetime is not None:
            if not (self.token_lifetime > 0 and math.isfinite(self.token_lifetime)):
                raise ValueError("token_lifetime must be positive and finite")
            if self.token_lifetime / self.time_scale < 1:
                # expires_in is whole real seconds; a shorter life could not be told truthfully.
                raise ValueError(
                    "token_lifetime must last at least one real second at this time_scale"
                )
        if (
            isinstance(self.bolt_delay, bool)
            or not isinstance(self.bolt_delay, int | float)
            or not (self.bolt_delay >= 0 and math.isfinite(self.bolt_delay))
        ):
            raise ValueError(
                f"bolt_delay must be a finite number of seconds >= 0, got {self.bolt_delay!r}"
            )
        if self.rate_limit.model not in RATE_MODELS:
            raise ValueError(f"rate model must be one of {', '.join(RATE_MODELS)}")

    def token_seconds(self, time_scale: float) -> float:
        """How long an access token lives in emulated seconds on a clock at ``time_scale``."""
        if self.token_lifetime is None:
            return REAL_TOKEN_LIFETIME * time_scale
        return self.token_lifetime
