"""How long each asynchronous operation takes, and the shape of the spread around it.

Every duration is in emulated seconds (see :mod:`aura_async.emulator.clock`) and is drawn
from the emulator's seeded random sources, so runs are varied but reproducible. Each operation
has a base (its median) and the run draws around it by one of three distributions:

- ``uniform`` (the default): ``base x (1 + U(-spread, +spread))``, spread at most 1;
- ``lognormal``: ``base x exp(N(0, spread))``: median ``base``, ``spread`` is sigma;
- ``heavy``: a Pareto (type I) draw with tail index ``1 / spread``, scaled so its median is
  ``base``: ``base x (2U)^-spread`` for ``U`` uniform on (0, 1]. It is never below
  ``base x 2^-spread`` and has a power-law right tail: ``P(duration > k x base) =
  k^(-1/spread) / 2``, so a spread of 0.5 makes one draw in 32 four times the median and a
  spread of 1 (an infinite mean) one in 20 ten times it.

``lognormal`` and ``heavy`` draws are capped at :data:`CAP` (50) times the median, so every
duration stays finite. A spread of 0 draws nothing: every operation takes exactly its base.

On top of that, a share ``stragglers`` of the draws (decided by a source of its own, so the
draws themselves stay the same) take ``straggler_factor`` times longer: the one slow machine
of a fleet. :class:`Durations` sets all of this for every operation; its ``shapes`` override
any of it for one operation.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, cast

import attrs

__all__ = [
    "CAP",
    "DISTRIBUTIONS",
    "OPERATIONS",
    "DurationShape",
    "Durations",
    "parse_duration_shape",
    "parse_durations",
]

Distribution = Literal["uniform", "lognormal", "heavy"]
DISTRIBUTIONS: tuple[Distribution, ...] = ("uniform", "lognormal", "heavy")
#: The operations whose durations are drawn, named as :class:`Durations`' fields.
OPERATIONS: tuple[str, ...] = (
    "create",
    "pause",
    "resume",
    "delete",
    "resize",
    "update",
    "overwrite",
    "restore",
    "snapshot",
    "key",
    "session",
)
#: ``lognormal`` and ``heavy`` draws never exceed this many times the median.
CAP = 50.0


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _seconds(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not _is_number(value) or cast(float, value) < 0:
        raise ValueError(
            f"{attribute.name} must be a non-negative, finite number of seconds, got {value!r}"
        )


def _spread(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not _is_number(value) or cast(float, value) < 0:
        raise ValueError(f"{attribute.name} must be a non-negative, finite number, got {value!r}")


def _distribution(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in DISTRIBUTIONS:
        raise ValueError(
            f"{attribute.name} must be one of {', '.join(DISTRIBUTIONS)}; got {value!r}"
        )


def _share(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not _is_number(value) or not 0 <= cast(float, value) <= 1:
        raise ValueError(f"{attribute.name} must be a share between 0 and 1, got {value!r}")


def _factor(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not _is_number(value) or cast(float, value) < 1:
        raise ValueError(f"{attribute.name} must be a finite number of at least 1, got {value!r}")


_optional = attrs.validators.optional


@attrs.frozen
class DurationShape:
    """How one operation's durations are drawn; ``None`` takes the :class:`Durations` setting.

    Args:
        median: the base (and median) in emulated seconds, instead of the operation's field.
        spread: the width of the draw, instead of ``jitter``: the uniform fraction either way,
            the lognormal sigma, or the heavy tail's ``1 / tail index``.
        distribution: ``uniform``, ``lognormal`` or ``heavy``.
        stragglers: the share (0 to 1) of draws that take ``straggler_factor`` times longer.
        straggler_factor: how many times longer a straggler takes (at least 1).

    Raises:
        ValueError: for a negative or non-finite median or spread, an unknown distribution,
            a share outside 0..1 or a factor below 1.
    """

    median: float | None = attrs.field(default=None, validator=_optional(_seconds))
    spread: float | None = attrs.field(default=None, validator=_optional(_spread))
    distribution: Distribution | None = attrs.field(
        default=None, validator=_optional(_distribution)
    )
    stragglers: float | None = attrs.field(default=None, validator=_optional(_share))
    straggler_factor: float | None = attrs.field(default=None, validator=_optional(_factor))

    def to_json(self) -> dict[str, Any]:
        """Return the settings this shape overrides (those not ``None``), JSON-ready."""
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: object) -> DurationShape:
        """Build a shape from a JSON object as :meth:`to_json` renders it.

        Raises:
            ValueError: if the data is not an object, has unknown keys or invalid values.
        """
        return cls(**_json_settings(data, "a duration shape", "duration shape", cls))


def _json_settings(data: object, what: str, setting: str, cls: type) -> dict[str, Any]:
    """The keys and values of a JSON object of ``cls``'s settings (ValueError otherwise)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{what} must be a JSON object, got {data!r}")
    known = [a.name for a in attrs.fields(cls)]
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(
            f"unknown {setting} setting(s): {', '.join(sorted(map(str, unknown)))}; "
            f"known: {', '.join(known)}"
        )
    return dict(data)


def _freeze_shapes(value: Mapping[str, DurationShape]) -> Mapping[str, DurationShape]:
    if not isinstance(value, Mapping):
        raise ValueError(f"shapes must be a mapping of operation to DurationShape, got {value!r}")
    return MappingProxyType(dict(value))


def _shapes(
    instance: object, attribute: attrs.Attribute[Any], value: Mapping[str, DurationShape]
) -> None:
    unknown = [name for name in value if name not in OPERATIONS]
    if unknown:
        raise ValueError(
            f"unknown operation(s) in shapes: {', '.join(map(repr, unknown))}; "
            f"operations: {', '.join(OPERATIONS)}"
        )
    for name, shape in value.items():
        if not isinstance(shape, DurationShape):
            raise ValueError(f"shapes[{name!r}] must be a DurationShape, got {shape!r}")


@attrs.frozen
class Durations:
    """How long each asynchronous operation takes, in emulated seconds, and how it varies.

    Each operation's field is its base: the median of its draws. ``jitter`` is the spread of
    the draws and ``distribution`` their shape (see :mod:`aura_async.emulator.durations`):
    by default ``uniform``, the base times ``1 + U(-jitter, +jitter)``. A share
    ``stragglers`` of the draws take ``straggler_factor`` times longer. ``shapes`` overrides
    any of these for single operations, e.g. ``{"create": DurationShape(median=300,
    distribution="heavy", spread=0.5)}``. Draws come from the emulator's seeded random
    sources, so runs are varied but reproducible.

    Raises:
        ValueError: for a negative or non-finite base or jitter, an unknown distribution, a
            ``stragglers`` share outside 0..1, a ``straggler_factor`` below 1, an unknown
            operation in ``shapes``, or a uniform spread above 1 (it would draw negative
            durations).
    """

    create: float = attrs.field(default=120.0, validator=_seconds)
    pause: float = attrs.field(default=60.0, validator=_seconds)
    resume: float = attrs.field(default=90.0, validator=_seconds)
    delete: float = attrs.field(default=30.0, validator=_seconds)
    resize: float = attrs.field(default=180.0, validator=_seconds)
    update: float = attrs.field(default=30.0, validator=_seconds)
    overwrite: float = attrs.field(default=120.0, validator=_seconds)
    restore: float = attrs.field(default=120.0, validator=_seconds)
    snapshot: float = attrs.field(default=60.0, validator=_seconds)
    key: float = attrs.field(default=30.0, validator=_seconds)
    session: float = attrs.field(default=60.0, validator=_seconds)
    jitter: float = attrs.field(default=0.2, validator=_spread)
    distribution: Distribution = attrs.field(default="uniform", validator=_distribution)
    stragglers: float = attrs.field(default=0.0, validator=_share)
    straggler_factor: float = attrs.field(default=4.0, validator=_factor)
    shapes: Mapping[str, DurationShape] = attrs.field(
        factory=dict,
        converter=_freeze_shapes,
        validator=_shapes,
        hash=False,
        repr=lambda shapes: repr(dict(shapes)),
    )

    def __attrs_post_init__(self) -> None:
        if self.distribution == "uniform" and self.jitter > 1:
            raise ValueError(
                "jitter must be at most 1 with the uniform distribution (it would draw "
                f"negative durations), got {self.jitter!r}"
            )
        for operation in OPERATIONS:
            shape = self.shape(operation)
            if shape.distribution == "uniform" and cast(float, shape.spread) > 1:
                raise ValueError(
                    f"the uniform spread of {operation} must be at most 1 (it would draw "
                    f"negative durations), got {shape.spread!r}"
                )

    def shape(self, operation: str) -> DurationShape:
        """Return the shape ``operation``'s durations are drawn by, with every setting filled.

        Raises:
            ValueError: for an operation not in :data:`OPERATIONS`.
        """
        if operation not in OPERATIONS:
            raise ValueError(
                f"unknown operation {operation!r}; operations: {', '.join(OPERATIONS)}"
            )
        override = self.shapes.get(operation, _INHERIT)
        return DurationShape(
            median=getattr(self, operation) if override.median is None else override.median,
            spread=self.jitter if override.spread is None else override.spread,
            distribution=override.distribution or self.distribution,
            stragglers=self.stragglers if override.stragglers is None else override.stragglers,
            straggler_factor=(
                self.straggler_factor
                if override.straggler_factor is None
                else override.straggler_factor
            ),
        )

    def draw(
        self, operation: str, rng: random.Random, straggler_rng: random.Random | None = None
    ) -> float:
        """Draw one duration of ``operation`` in emulated seconds.

        ``rng`` draws the spread (nothing when the spread is 0); ``straggler_rng`` (``rng``
        when None) decides, only when the share of stragglers is above 0, whether this draw
        is a straggler. With the defaults this is exactly ``base x (1 + rng.uniform(-0.2,
        0.2))``, one draw per duration.

        Raises:
            ValueError: for an operation not in :data:`OPERATIONS`.
        """
        shape = self.shape(operation)
        median = cast(float, shape.median)
        spread = cast(float, shape.spread)
        if spread <= 0:
            value = median
        elif shape.distribution == "uniform":
            value = median * (1 + rng.uniform(-spread, spread))
        elif shape.distribution == "lognormal":
            value = min(median * rng.lognormvariate(0.0, spread), CAP * median)
        else:  # heavy: Pareto type I with tail index 1/spread and median `median`
            u = 1.0 - rng.random()  # in (0, 1]
            value = min(median * (2.0 * u) ** -spread, CAP * median)
        stragglers = cast(float, shape.stragglers)
        if stragglers > 0 and (straggler_rng or rng).random() < stragglers:
            value *= cast(float, shape.straggler_factor)
        return value

    def to_json(self) -> dict[str, Any]:
        """Return the settings as JSON-ready data (the shape the control endpoint accepts)."""
        data = {a.name: getattr(self, a.name) for a in attrs.fields(Durations)}
        data["shapes"] = {name: shape.to_json() for name, shape in self.shapes.items()}
        return data

    @classmethod
    def from_json(cls, data: object) -> Durations:
        """Build settings from JSON data as :meth:`to_json` renders it; missing keys default.

        Raises:
            ValueError: if the data is not an object, has unknown keys or invalid values.
        """
        fields = _json_settings(data, "durations", "duration", cls)
        if "shapes" in fields:
            raw = fields["shapes"]
            if not isinstance(raw, Mapping):
                raise ValueError(f"shapes must be a JSON object, got {raw!r}")
            fields["shapes"] = {name: DurationShape.from_json(shape) for name, shape in raw.items()}
        return cls(**fields)


_INHERIT = DurationShape()

# ------------------------------------------------------------------- command line

_SECONDS_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|m|h)?\s*$")
_UNITS = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def _parse_seconds(name: str, text: str) -> float:
    match = _SECONDS_RE.match(text)
    if match is None:
        raise ValueError(f"{name} must be seconds such as 300, 90s, 5m or 1h; got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _parse_number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {text!r}") from None


def _pairs(text: str, form: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{part!r} is not key=value; the form is {form}")
        pairs[key.strip().replace("-", "_")] = value.strip()
    if not pairs:
        raise ValueError(f"no settings given; the form is {form}")
    return pairs


def _parse_value(name: str, text: str) -> Any:
    if name in OPERATIONS or name == "median":
        return _parse_seconds(name, text)
    if name == "distribution":
        return text
    return _parse_number(name, text)


def parse_durations(text: str, durations: Durations) -> Durations:
    """Apply one ``--durations`` value such as ``create=300,pause=30,jitter=0.3`` to ``durations``.

    The keys are :class:`Durations`' fields: an operation's base in seconds (``300``,
    ``90s``, ``5m``, ``1h``), ``jitter``, ``distribution`` (``uniform``, ``lognormal`` or
    ``heavy``), ``stragglers`` and ``straggler_factor`` (``straggler-factor`` works too).

    Raises:
        ValueError: for a malformed pair, an unknown key or an invalid value.
    """
    form = "KEY=VALUE[,KEY=VALUE...]"
    pairs = _pairs(text, form)
    known = [*OPERATIONS, "jitter", "distribution", "stragglers", "straggler_factor"]
    return attrs.evolve(durations, **_changes(pairs, known, "duration"))


def _changes(pairs: dict[str, str], known: list[str], setting: str) -> dict[str, Any]:
    """The parsed values of ``KEY=VALUE`` pairs whose keys must all be ``known``."""
    unknown = [key for key in pairs if key not in known]
    if unknown:
        raise ValueError(
            f"unknown {setting} setting(s) {', '.join(map(repr, unknown))};"
            f" known: {', '.join(known)}"
        )
    return {key: _parse_value(key, value) for key, value in pairs.items()}


def parse_duration_shape(text: str, durations: Durations) -> Durations:
    """Apply one ``--duration-shape`` value such as ``create:median=300,distribution=heavy``.

    The form is ``OPERATION:KEY=VALUE[,KEY=VALUE...]`` with :class:`DurationShape`'s fields
    as keys: ``median`` (seconds: ``300``, ``90s``, ``5m``, ``1h``), ``spread``,
    ``distribution``, ``stragglers`` and ``straggler_factor``. Settings given again for the
    same operation are merged with its earlier ones.

    Raises:
        ValueError: for a malformed value, an unknown operation or key, or an invalid value.
    """
    form = "OPERATION:KEY=VALUE[,KEY=VALUE...]"
    operation, sep, rest = text.partition(":")
    operation = operation.strip()
    if not sep:
        raise ValueError(f"a duration shape looks like {form}; got {text!r}")
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; operations: {', '.join(OPERATIONS)}")
    known = [a.name for a in attrs.fields(DurationShape)]
    changes = _changes(_pairs(rest, form), known, "duration shape")
    shape = attrs.evolve(durations.shapes.get(operation, _INHERIT), **changes)
    return attrs.evolve(durations, shapes={**durations.shapes, operation: shape})
