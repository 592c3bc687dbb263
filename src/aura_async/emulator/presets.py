"""Presets: which live behaviours an emulator run shows, all at once, by one name.

- ``live`` (the default of ``emulator serve``, the embedded ``--emulator``, the demo and the
  pytest fixture): every behaviour of the live service that ``BEHAVIOUR.md`` records and the
  spec leaves out, at once, with durations that vary per operation and a few stragglers.
  Where the live service is known to do one of several things (the rate limit's model,
  whether token requests count), the preset takes the strictest: code that passes on it is
  not relying on the lenient case.
- ``ideal``: the quirk-free service the spec describes, with narrow durations: for unit tests
  that want determinism. :class:`~aura_async.emulator.EmulatorConfig`'s own default.
- ``chaos``: a random mix of the live behaviours, faults (5xx, dropped connections, latency,
  failed operations), rate models and duration shapes, drawn from the run's seed. Each seed
  is a different, plausible service; the same seed is the same service again, so a failure
  replays from the seed the run printed.

A preset only chooses the defaults of :class:`EmulatorConfig`'s fields; any field given
explicitly wins (``EmulatorConfig(preset="live", faults=FaultPlan())`` is live without its
quirks). :func:`describe` renders what a configuration turns on, for people.
"""

from __future__ import annotations

import functools
import random
from typing import TYPE_CHECKING, Literal

import attrs

from aura_async.emulator.durations import DISTRIBUTIONS, OPERATIONS, Durations, DurationShape
from aura_async.emulator.faults import DropFault, ErrorFault, FaultPlan, LatencyFault

if TYPE_CHECKING:
    from aura_async.emulator.config import EmulatorConfig, RateLimitSettings

__all__ = [
    "LIVE_BOLT_DELAY",
    "PRESETS",
    "Behaviour",
    "Preset",
    "behaviour",
    "describe",
    "live_durations",
]

Preset = Literal["ideal", "live", "chaos"]
PRESETS: tuple[Preset, ...] = ("live", "ideal", "chaos")

#: How long a just-created instance may answer 404 (emulated seconds) in the live preset:
#: "a short while" in BEHAVIOUR.md; long enough that a delete sent right after the create
#: meets it.
LIVE_NOT_FOUND_WINDOW = 20.0

#: How long, in emulated seconds, a just-running instance of the live preset refuses Bolt
#: connections: the database's address lags its status. BEHAVIOUR.md records no such number;
#: it is a fixed guess, long enough that code connecting the moment it sees ``running`` meets
#: a refusal and must retry, as it should against any real database.
LIVE_BOLT_DELAY = 15.0


@attrs.frozen
class Behaviour:
    """The settings a preset chooses: defaults for the matching :class:`EmulatorConfig` fields."""

    rate_limit: RateLimitSettings
    durations: Durations
    faults: FaultPlan
    resize_status: Literal["resizing", "updating"] = "resizing"
    duplicate_names: Literal["allow", "reject"] = "allow"
    rename_while_busy: Literal["reject", "allow"] = "reject"
    bolt: bool = False
    bolt_delay: float = 0.0


def live_durations() -> Durations:
    """Durations of the live preset: log-normal around per-operation medians, 3 % stragglers.

    Medians follow what users of the live service report (a professional instance runs two
    to five minutes after its create; a resize takes longer than a pause); the log-normal
    spread makes most draws land within half to twice the median, and one draw in about 33
    takes three times longer: the slow machine every large fleet meets.
    """
    return Durations(
        create=180.0,
        pause=60.0,
        resume=120.0,
        delete=40.0,
        resize=300.0,
        update=60.0,
        overwrite=240.0,
        restore=240.0,
        snapshot=90.0,
        key=60.0,
        session=150.0,
        jitter=0.35,
        distribution="lognormal",
        stragglers=0.03,
        straggler_factor=3.0,
    )


def _live() -> Behaviour:
    from aura_async.emulator.config import RateLimitSettings

    return Behaviour(
        # The strictest of the gateway's models: a sliding log that counts refused requests
        # and token requests, and a Retry-After in whole seconds as the live service sends.
        rate_limit=RateLimitSettings(
            model="sliding",
            retry_after="integer",
            count_token_requests=True,
            count_rejected=True,
        ),
        durations=live_durations(),
        faults=FaultPlan(
            not_found_after_create=LIVE_NOT_FOUND_WINDOW,
            not_found_after_create_probability=0.5,
            null_connection_url=0.3,
            null_connection_url_until_running=True,
            deleting_status=0.5,
            memory_missing_while_deleting=0.5,
            pause_resume_200=0.5,
        ),
        bolt=True,
        bolt_delay=LIVE_BOLT_DELAY,
    )


def _ideal() -> Behaviour:
    from aura_async.emulator.config import RateLimitSettings

    return Behaviour(rate_limit=RateLimitSettings(), durations=Durations(), faults=FaultPlan())


def _chance(rng: random.Random, on: float, low: float, high: float) -> float:
    """With probability ``on``, a probability drawn between ``low`` and ``high``; else 0."""
    return round(rng.uniform(low, high), 3) if rng.random() < on else 0.0


# Plausible spreads: a heavy tail of index 2.5 or more still makes one draw in 600 ten times
# the median; wider ones would model an outage, not a service.
_SPREADS = {"uniform": (0.1, 0.6), "lognormal": (0.1, 0.6), "heavy": (0.1, 0.4)}


def _chaos(seed: int) -> Behaviour:
    """Draw a plausible service from ``seed``: every draw comes from one source, in order."""
    from aura_async.emulator.config import RateLimitSettings

    rng = random.Random(f"aura-emulator-chaos-{seed}")
    rate = RateLimitSettings(
        limit=rng.choice((125, 125, 125, 100)),
        model=rng.choice(("fixed", "sliding", "bucket")),
        retry_after=rng.choice(("integer", "integer", "date")),
        count_token_requests=rng.random() < 0.5,
        count_rejected=rng.random() < 0.5,
    )
    shapes: dict[str, DurationShape] = {}
    base = live_durations()
    for operation in OPERATIONS:
        if rng.random() < 0.5:
            distribution = rng.choice(DISTRIBUTIONS)
            shapes[operation] = DurationShape(
                median=round(getattr(base, operation) * rng.uniform(0.4, 2.5), 1),
                spread=round(rng.uniform(*_SPREADS[distribution]), 2),
                distribution=distribution,
            )
    distribution = rng.choice(("lognormal", "heavy"))
    durations = attrs.evolve(
        base,
        jitter=round(rng.uniform(*_SPREADS[distribution]), 2),
        distribution=distribution,
        stragglers=_chance(rng, 0.6, 0.01, 0.1),
        straggler_factor=round(rng.uniform(2.0, 4.0), 1),
        shapes=shapes,
    )
    errors = tuple(
        ErrorFault(
            status=status,
            probability=_chance(rng, 1.0, 0.005, 0.03),
            retry_after=rng.choice((None, 1.0, 5.0)),
        )
        for status in (500, 502, 503, 504)
        if rng.random() < 0.4
    )
    latency = (
        (LatencyFault(probability=_chance(rng, 1.0, 0.01, 0.05), seconds=0.05),)
        if rng.random() < 0.3
        else ()
    )
    faults = FaultPlan(
        errors=errors,
        latency=latency,
        drop=DropFault(probability=_chance(rng, 0.5, 0.005, 0.03)),
        not_found_after_create=round(rng.uniform(5.0, 60.0), 1) if rng.random() < 0.8 else 0.0,
        not_found_after_create_probability=round(rng.uniform(0.2, 1.0), 2),
        not_found_after_create_unlisted=rng.random() < 0.3,
        null_connection_url=_chance(rng, 0.6, 0.1, 1.0),
        null_connection_url_until_running=rng.random() < 0.5,
        deleting_status=_chance(rng, 0.6, 0.1, 1.0),
        memory_missing_while_deleting=_chance(rng, 0.6, 0.1, 1.0),
        pause_resume_200=_chance(rng, 0.6, 0.1, 1.0),
        create_failure=_chance(rng, 0.3, 0.01, 0.05),
        snapshot_failure=_chance(rng, 0.3, 0.01, 0.1),
        session_failure=_chance(rng, 0.3, 0.01, 0.1),
    )
    return Behaviour(
        rate_limit=rate,
        durations=durations,
        faults=faults,
        resize_status=rng.choice(("resizing", "updating")),
        duplicate_names=rng.choice(("allow", "allow", "reject")),
        rename_while_busy=rng.choice(("reject", "allow")),
        bolt=True,
        # Drawn last, so that the draws above stay what each seed always gave.
        bolt_delay=round(rng.uniform(0.0, 60.0), 1),
    )


@functools.lru_cache(maxsize=64)
def behaviour(preset: Preset, seed: int | None = None) -> Behaviour:
    """Return the settings ``preset`` chooses (``chaos`` draws them from ``seed``).

    Raises:
        ValueError: for an unknown preset, or ``chaos`` without a seed.
    """
    if preset == "live":
        return _live()
    if preset == "ideal":
        return _ideal()
    if preset == "chaos":
        if seed is None:
            raise ValueError("the chaos preset needs a seed")
        return _chaos(seed)
    raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")


def _share(probability: float) -> str:
    return f"{probability:.0%}" if probability < 1 else "all"


def describe(config: EmulatorConfig) -> list[str]:
    """Describe, one line each, the behaviours and faults ``config`` turns on, for people."""
    rate = config.rate_limit
    lines: list[str] = []
    if rate.enabled:
        counted = [
            what
            for what, on in (
                ("token requests", rate.count_token_requests),
                ("refused requests", rate.count_rejected),
            )
            if on
        ]
        lines.append(
            f"rate limit {rate.limit} per {rate.window:g} s ({rate.model}"
            + (f", counting {' and '.join(counted)}" if counted else "")
            + f"); Retry-After as {rate.retry_after}"
        )
    else:
        lines.append("rate limit off")
    faults = config.faults
    if faults.not_found_after_create > 0:
        lines.append(
            f"404 for {faults.not_found_after_create:g} s after a create "
            f"({_share(faults.not_found_after_create_probability)} of instances"
            + (", unlisted too" if faults.not_found_after_create_unlisted else "")
            + ")"
        )
    for label, probability in (
        (
            "connection_url null"
            + (" while creating" if faults.null_connection_url_until_running else ""),
            faults.null_connection_url,
        ),
        ("'deleting' instead of 'destroying'", faults.deleting_status),
        ("memory missing while deleting", faults.memory_missing_while_deleting),
        ("pause/resume answer 200", faults.pause_resume_200),
        ("creates end 'loading failed'", faults.create_failure),
        ("snapshots fail", faults.snapshot_failure),
        ("sessions fail", faults.session_failure),
    ):
        if probability > 0:
            lines.append(f"{label} ({_share(probability)})")
    lines.extend(
        f"{error.status} on {_share(error.probability)} of requests"
        for error in faults.errors
        if error.probability > 0
    )
    if faults.drop.probability > 0:
        lines.append(f"connections dropped after the work ({_share(faults.drop.probability)})")
    lines.extend(
        f"+{latency.seconds:g} s latency ({_share(latency.probability)})"
        for latency in faults.latency
        if latency.probability > 0
    )
    lines.append(f"resizing shows '{config.resize_status}'")
    if config.duplicate_names == "reject":
        lines.append("duplicate names answer 409")
    if config.rename_while_busy == "allow":
        lines.append("renames accepted during an ongoing operation")
    if config.bolt:
        lines.append(
            f"Bolt on loopback for running instances, {config.bolt_delay:g} s after they run"
        )
    durations = config.durations
    create = durations.shape("create")
    lines.append(
        f"durations {durations.distribution} (spread {durations.jitter:g}), create median "
        f"{create.median:g} s ({create.distribution})"
        + (
            f", {durations.stragglers:.0%} stragglers x{durations.straggler_factor:g}"
            if durations.stragglers
            else ""
        )
    )
    return lines
