"""Duration shapes: the distribution, spread and stragglers an operation's durations are drawn by.

``Durations`` sets them for every operation (``distribution``, ``jitter``, ``stragglers``,
``straggler_factor``), ``Durations.shapes`` per operation (``DurationShape``). Statistical
checks draw thousands of durations from a fixed seed, so they are exact reruns, not flaky;
the bounds are several standard errors wide. Also: the default draws are exactly the ones the
emulator made before shapes existed, the ``--durations`` and ``--duration-shape`` flags, and
``GET``/``PUT``/``PATCH /_emulator/durations``.
"""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

import attrs
import pytest

from aura_async.emulator import Durations, DurationShape, EmulatorConfig
from aura_async.emulator.__main__ import build_parser, config_from_args, main
from aura_async.emulator.durations import (
    CAP,
    DISTRIBUTIONS,
    OPERATIONS,
    parse_duration_shape,
    parse_durations,
)
from aura_async.emulator.presets import live_durations
from tests.conftest import Api, ApiFactory, only_error

DRAWS = 2000


def _draws(durations: Durations, operation: str = "create", seed: int = 5) -> list[float]:
    rng, stragglers = random.Random(seed), random.Random(seed + 100)
    return [durations.draw(operation, rng, stragglers) for _ in range(DRAWS)]


async def _counters(api: Api) -> dict[str, Any]:
    response = await api.http.get("/_emulator/counters")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


async def _create_durations(api: Api, count: int) -> list[float]:
    for index in range(count):
        await api.create(name=f"db-{index}")
    return list((await _counters(api))["create_durations"].values())


# ------------------------------------------------------------ defaults unchanged


def test_the_defaults_are_todays() -> None:
    durations = Durations()
    assert (durations.create, durations.pause, durations.resume, durations.delete) == (
        120.0,
        60.0,
        90.0,
        30.0,
    )
    assert durations.jitter == 0.2
    assert durations.distribution == "uniform"
    assert durations.stragglers == 0.0
    assert durations.straggler_factor == 4.0
    assert dict(durations.shapes) == {}
    assert durations == Durations()
    assert hash(durations) == hash(Durations())  # a frozen config stays hashable


def test_default_draws_are_exactly_the_old_formula() -> None:
    """``base x (1 + uniform(-jitter, jitter))``, one draw each, in the order asked."""
    durations = Durations()
    new, old = random.Random(42), random.Random(42)
    operations = [OPERATIONS[i % len(OPERATIONS)] for i in range(200)]
    drawn = [durations.draw(operation, new, random.Random(0)) for operation in operations]
    expected = [getattr(durations, op) * (1 + old.uniform(-0.2, 0.2)) for op in operations]
    assert drawn == expected
    assert new.random() == old.random()  # nothing else was taken from the source


async def test_the_emulators_create_durations_are_unchanged_for_a_seed(
    make_api: ApiFactory,
) -> None:
    api: Api = await make_api(EmulatorConfig(seed=7))
    drawn = await _create_durations(api, 6)
    old = random.Random(7 + 1)  # the backend's duration source, as before shapes
    assert drawn == [120.0 * (1 + old.uniform(-0.2, 0.2)) for _ in range(6)]


async def test_zero_jitter_still_draws_exactly_the_base(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, durations=Durations(jitter=0)))
    assert await _create_durations(api, 3) == [120.0] * 3


# ------------------------------------------------------------ medians and spreads


@pytest.mark.parametrize(
    ("distribution", "spread"),
    [
        ("uniform", 0.2),
        ("uniform", 1.0),
        ("lognormal", 0.25),
        ("lognormal", 1.0),
        ("heavy", 0.3),
        ("heavy", 1.0),
    ],
)
def test_the_median_is_the_base(distribution: str, spread: float) -> None:
    durations = Durations(create=300.0, jitter=spread, distribution=distribution)  # type: ignore[arg-type]
    median = statistics.median(_draws(durations))
    assert abs(median / 300.0 - 1) < 0.05, median


@pytest.mark.parametrize("spread", [0.1, 0.2, 0.5])
def test_uniform_spreads_evenly_within_its_bounds(spread: float) -> None:
    draws = _draws(Durations(create=100.0, jitter=spread))
    assert all(100 * (1 - spread) <= d <= 100 * (1 + spread) for d in draws)
    expected = 100 * spread / math.sqrt(3)  # the standard deviation of U(-s, s), scaled
    assert abs(statistics.stdev(draws) / expected - 1) < 0.05


@pytest.mark.parametrize("sigma", [0.25, 0.5, 1.0])
def test_lognormal_spread_is_sigma_of_the_log(sigma: float) -> None:
    draws = _draws(Durations(create=100.0, jitter=sigma, distribution="lognormal"))
    logs = [math.log(d / 100.0) for d in draws]
    assert abs(statistics.mean(logs)) < 0.05 * sigma * 2
    assert abs(statistics.stdev(logs) / sigma - 1) < 0.05


@pytest.mark.parametrize("spread", [0.5, 1.0])
def test_heavy_has_a_pareto_tail_above_a_floor(spread: float) -> None:
    draws = _draws(Durations(create=100.0, jitter=spread, distribution="heavy"))
    assert min(draws) >= 100.0 * 2**-spread  # Pareto type I: nothing below its scale
    for k in (2.0, 4.0):  # P(X > k x median) = k^(-1/spread) / 2
        share = sum(d > k * 100.0 for d in draws) / DRAWS
        expected = k ** (-1 / spread) / 2
        assert abs(share - expected) < 4 * math.sqrt(expected * (1 - expected) / DRAWS), (k, share)
    assert max(draws) <= CAP * 100.0


def test_heavy_is_far_heavier_than_uniform_at_the_same_spread() -> None:
    uniform = _draws(Durations(create=100.0, jitter=1.0))
    heavy = _draws(Durations(create=100.0, jitter=1.0, distribution="heavy"))
    assert max(uniform) <= 200.0
    assert sum(d > 1000.0 for d in heavy) / DRAWS > 0.03  # one in 20 in theory


@pytest.mark.parametrize("distribution", ["lognormal", "heavy"])
def test_long_tails_are_capped_at_fifty_times_the_median(distribution: str) -> None:
    durations = Durations(create=10.0, jitter=3.0, distribution=distribution)  # type: ignore[arg-type]
    draws = _draws(durations)
    assert max(draws) == CAP * 10.0  # the cap is reached, and never passed
    assert all(math.isfinite(d) and d > 0 for d in draws)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_a_spread_of_zero_draws_nothing(distribution: str) -> None:
    durations = Durations(jitter=0, distribution=distribution)  # type: ignore[arg-type]
    rng = random.Random(3)
    assert [durations.draw("pause", rng) for _ in range(5)] == [60.0] * 5
    assert rng.random() == random.Random(3).random()


# ------------------------------------------------------------ stragglers


def test_a_share_of_draws_are_stragglers_factor_times_slower() -> None:
    draws = _draws(Durations(create=100.0, jitter=0, stragglers=0.1, straggler_factor=6.0))
    assert set(draws) == {100.0, 600.0}
    share = draws.count(600.0) / DRAWS
    assert abs(share - 0.1) < 0.02, share


def test_stragglers_slow_some_draws_and_change_none_of_the_others() -> None:
    """The straggler coin has a source of its own: the spread's draws stay the same."""
    plain = _draws(Durations(create=100.0))
    slowed = _draws(Durations(create=100.0, stragglers=0.25, straggler_factor=4.0))
    ratios = [s / p for s, p in zip(slowed, plain, strict=True)]
    assert all(math.isclose(r, 1.0) or math.isclose(r, 4.0) for r in ratios)
    assert abs(sum(math.isclose(r, 4.0) for r in ratios) / DRAWS - 0.25) < 0.03


def test_a_factor_of_one_makes_stragglers_harmless() -> None:
    assert _draws(Durations(stragglers=1.0, straggler_factor=1.0)) == _draws(Durations())


async def test_the_emulator_draws_stragglers_from_its_seed(make_api: ApiFactory) -> None:
    config = EmulatorConfig(seed=4, durations=Durations(jitter=0, stragglers=0.5))
    runs = []
    for _ in range(2):
        api: Api = await make_api(config)
        runs.append(await _create_durations(api, 20))
    assert runs[0] == runs[1]
    assert set(runs[0]) == {120.0, 480.0}


# ------------------------------------------------------------ per-operation shapes


def test_a_shape_overrides_one_operation_and_inherits_the_rest() -> None:
    durations = Durations(
        jitter=0.1,
        stragglers=0.05,
        shapes={"create": DurationShape(median=300.0, distribution="lognormal", spread=0.5)},
    )
    assert durations.shape("create") == DurationShape(
        median=300.0, spread=0.5, distribution="lognormal", stragglers=0.05, straggler_factor=4.0
    )
    assert durations.shape("pause") == DurationShape(
        median=60.0, spread=0.1, distribution="uniform", stragglers=0.05, straggler_factor=4.0
    )
    creates = _draws(durations, "create")
    assert abs(statistics.median(creates) / 300.0 - 1) < 0.05
    pauses = _draws(attrs.evolve(durations, stragglers=0.0), "pause")
    assert all(54.0 <= d <= 66.0 for d in pauses)


def test_a_shape_without_a_median_keeps_the_operations_base() -> None:
    durations = Durations(delete=45.0, shapes={"delete": DurationShape(stragglers=1.0)})
    assert durations.shape("delete").median == 45.0
    assert _draws(attrs.evolve(durations, jitter=0), "delete") == [180.0] * DRAWS


async def test_the_emulator_draws_each_operation_by_its_shape(make_api: ApiFactory) -> None:
    durations = Durations(
        jitter=0,
        shapes={
            "create": DurationShape(median=300.0),
            "pause": DurationShape(median=10.0, stragglers=1.0, straggler_factor=2.0),
        },
    )
    api: Api = await make_api(EmulatorConfig(seed=1, durations=durations))
    created = await api.create(name="shaped")
    assert (await _counters(api))["create_durations"] == {created["id"]: 300.0}
    api.clock.advance(300.0)
    assert (await api.data("GET", f"/instances/{created['id']}"))["status"] == "running"
    await api.data("POST", f"/instances/{created['id']}/pause", expect=202)
    record = api.state.backend.instances[created["id"]]
    assert record.operation is not None
    assert record.operation.ends_at == api.clock.now() + 20.0


def test_every_operation_is_named_as_its_field() -> None:
    assert (
        tuple(a.name for a in attrs.fields(Durations) if a.name not in _NOT_OPERATIONS)
        == OPERATIONS
    )
    for operation in OPERATIONS:
        assert Durations().shape(operation).median == getattr(Durations(), operation)


_NOT_OPERATIONS = {"jitter", "distribution", "stragglers", "straggler_factor", "shapes"}


# ------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"distribution": "normal"}, "distribution must be one of uniform, lognormal, heavy"),
        ({"jitter": -0.1}, "jitter must be a non-negative, finite number"),
        ({"jitter": math.inf}, "jitter must be a non-negative, finite number"),
        ({"jitter": 1.5}, "jitter must be at most 1 with the uniform distribution"),
        ({"stragglers": 1.5}, "stragglers must be a share between 0 and 1"),
        ({"stragglers": -0.1}, "stragglers must be a share between 0 and 1"),
        ({"straggler_factor": 0.5}, "straggler_factor must be a finite number of at least 1"),
        ({"straggler_factor": math.nan}, "straggler_factor must be a finite number"),
        ({"create": -1.0}, "create must be a non-negative, finite number of seconds"),
        ({"pause": math.inf}, "pause must be a non-negative, finite number of seconds"),
        ({"shapes": {"creat": DurationShape()}}, "unknown operation(s) in shapes: 'creat'"),
        ({"shapes": {"create": {"median": 1}}}, "shapes['create'] must be a DurationShape"),
        (
            {"shapes": {"create": DurationShape(spread=2.0)}},
            "the uniform spread of create must be at most 1",
        ),
    ],
)
def test_invalid_durations_raise_a_clear_value_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=_escaped(message)):
        Durations(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"median": -5.0}, "median must be a non-negative, finite number of seconds"),
        ({"spread": -1.0}, "spread must be a non-negative, finite number"),
        ({"distribution": "pareto"}, "distribution must be one of"),
        ({"stragglers": 2.0}, "stragglers must be a share between 0 and 1"),
        ({"straggler_factor": 0.9}, "straggler_factor must be a finite number of at least 1"),
        ({"median": True}, "median must be a non-negative"),
    ],
)
def test_invalid_shapes_raise_a_clear_value_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=_escaped(message)):
        DurationShape(**kwargs)


def test_a_wide_spread_is_fine_for_the_long_tailed_distributions() -> None:
    assert Durations(jitter=2.0, distribution="lognormal").jitter == 2.0
    shaped = Durations(shapes={"create": DurationShape(spread=3.0, distribution="heavy")})
    assert shaped.shape("create").spread == 3.0


def test_drawing_an_unknown_operation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown operation 'upgrade'"):
        Durations().draw("upgrade", random.Random(1))


def _escaped(message: str) -> str:
    return message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")


# ------------------------------------------------------------ JSON


def test_json_round_trip() -> None:
    durations = Durations(
        create=300.0,
        distribution="heavy",
        jitter=0.5,
        stragglers=0.1,
        shapes={"pause": DurationShape(median=5.0, distribution="lognormal")},
    )
    data = durations.to_json()
    assert data["shapes"] == {"pause": {"median": 5.0, "distribution": "lognormal"}}
    assert Durations.from_json(data) == durations
    assert Durations.from_json({}) == Durations()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "durations must be a JSON object"),
        ({"speed": 2}, "unknown duration setting(s): speed"),
        ({"shapes": []}, "shapes must be a JSON object"),
        ({"shapes": {"create": 5}}, "a duration shape must be a JSON object"),
        ({"shapes": {"create": {"sigma": 1}}}, "unknown duration shape setting(s): sigma"),
        ({"create": "5m"}, "create must be a non-negative, finite number of seconds"),
    ],
)
def test_bad_json_raises_value_error(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=_escaped(message)):
        Durations.from_json(data)


# ------------------------------------------------------------ command line


def _config(*args: str) -> EmulatorConfig:
    # The flags change the ideal preset's durations here, whose defaults are Durations().
    return config_from_args(build_parser().parse_args(["--preset", "ideal", *args]))


def test_no_flags_take_the_presets_durations() -> None:
    assert config_from_args(build_parser().parse_args([])).durations == live_durations()
    assert _config().durations == Durations()


def test_durations_flag_sets_bases_and_the_shape_for_every_operation() -> None:
    config = _config(
        "--durations",
        "create=300,pause=30s,resize=5m,session=1h",
        "--durations",
        "jitter=0.5,distribution=lognormal,stragglers=0.1,straggler-factor=6",
    )
    assert config.durations == Durations(
        create=300.0,
        pause=30.0,
        resize=300.0,
        session=3600.0,
        jitter=0.5,
        distribution="lognormal",
        stragglers=0.1,
        straggler_factor=6.0,
    )


def test_durations_flags_are_applied_together() -> None:
    """A uniform jitter of 2 is refused, a lognormal one is not: order of flags is no matter."""
    config = _config("--durations", "jitter=2", "--durations", "distribution=lognormal")
    assert (config.durations.jitter, config.durations.distribution) == (2.0, "lognormal")


def test_duration_shape_flag_overrides_one_operation_and_merges_repeats() -> None:
    config = _config(
        "--durations",
        "jitter=0.1",
        "--duration-shape",
        "create:median=5m,spread=0.5,distribution=heavy",
        "--duration-shape",
        "create:stragglers=0.1,straggler_factor=8",
        "--duration-shape",
        "delete:median=10",
    )
    assert dict(config.durations.shapes) == {
        "create": DurationShape(
            median=300.0, spread=0.5, distribution="heavy", stragglers=0.1, straggler_factor=8.0
        ),
        "delete": DurationShape(median=10.0),
    }
    assert config.durations.jitter == 0.1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--durations", "create"], "'create' is not key=value"),
        (["--durations", "create=soon"], "create must be seconds such as 300, 90s, 5m or 1h"),
        (["--durations", "create=-5"], "create must be seconds"),
        (["--durations", "speed=2"], "unknown duration setting(s) 'speed'"),
        (["--durations", "distribution=normal"], "distribution must be one of"),
        (["--durations", "jitter=-1"], "jitter must be a non-negative, finite number"),
        (["--durations", "jitter=nan"], "jitter must be a non-negative, finite number"),
        (["--durations", "stragglers=1.5"], "stragglers must be a share between 0 and 1"),
        (["--durations", "straggler_factor=0.5"], "straggler_factor must be a finite number"),
        (["--duration-shape", "create"], "a duration shape looks like OPERATION:KEY=VALUE"),
        (["--duration-shape", "creat:median=3"], "unknown operation 'creat'"),
        (["--duration-shape", "create:"], "no settings given"),
        (["--duration-shape", "create:sigma=1"], "unknown duration shape setting(s) 'sigma'"),
        (["--duration-shape", "create:spread=x"], "spread must be a number"),
        (["--duration-shape", "create:spread=3"], "the uniform spread of create must be at most"),
    ],
)
def test_bad_duration_flags_fail_with_one_clear_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match=_escaped(message)):
        _config(*args)
    with pytest.raises(SystemExit) as exit_info:
        main(["--preset", "ideal", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if "error:" in line]
    assert f"invalid {args[0]}" in line
    assert message in line


def test_parsers_work_on_their_own() -> None:
    durations = parse_durations("create=10", Durations())
    assert durations.create == 10.0
    shaped = parse_duration_shape("key: median = 2m , spread=0", durations)
    assert shaped.shape("key").median == 120.0
    assert shaped.create == 10.0


# ------------------------------------------------------------ control endpoint


async def test_get_shows_the_configured_durations(make_api: ApiFactory) -> None:
    durations = Durations(shapes={"create": DurationShape(stragglers=0.2)})
    api: Api = await make_api(EmulatorConfig(seed=1, durations=durations))
    response = await api.http.get("/_emulator/durations")
    assert response.status_code == 200
    assert response.json() == durations.to_json()
    assert response.json()["shapes"] == {"create": {"stragglers": 0.2}}


async def test_put_replaces_the_durations_for_operations_started_later(
    make_api: ApiFactory,
) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, durations=Durations(jitter=0)))
    before = (await api.create(name="before"))["id"]
    body = {
        "jitter": 0,
        "distribution": "heavy",
        "shapes": {"create": {"median": 500, "stragglers": 1, "straggler_factor": 2}},
    }
    response = await api.http.put("/_emulator/durations", json=body)
    assert response.status_code == 200, response.text
    expected = Durations(
        jitter=0,
        distribution="heavy",
        shapes={"create": DurationShape(median=500, stragglers=1, straggler_factor=2)},
    )
    assert response.json() == expected.to_json()
    assert (await api.http.get("/_emulator/durations")).json() == expected.to_json()
    assert api.state.config.durations == expected  # what tests read to move the clock
    assert api.state.backend.config.durations == expected
    after = (await api.create(name="after"))["id"]
    drawn = (await _counters(api))["create_durations"]
    assert drawn == {before: 120.0, after: 1000.0}  # the running create kept its draw


async def test_patch_is_a_json_merge_patch(make_api: ApiFactory) -> None:
    api: Api = await make_api()
    first = await api.http.patch(
        "/_emulator/durations",
        json={"stragglers": 0.1, "shapes": {"create": {"median": 300}, "pause": {"spread": 0}}},
    )
    assert first.status_code == 200, first.text
    second = await api.http.patch(
        "/_emulator/durations",
        json={"create": 200, "shapes": {"create": {"distribution": "lognormal"}, "pause": None}},
    )
    assert second.status_code == 200, second.text
    assert Durations.from_json(second.json()) == Durations(
        create=200,
        stragglers=0.1,
        shapes={"create": DurationShape(median=300, distribution="lognormal")},
    )
    reset = await api.http.patch("/_emulator/durations", json={"stragglers": None})
    assert reset.json()["stragglers"] == 0.0  # null returns a setting to its default


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "Expecting property name"),
        (b'{"distribution": "normal"}', "distribution must be one of"),
        (b'{"stragglers": 3}', "stragglers must be a share between 0 and 1"),
        (b'{"shapes": {"creat": {}}}', "unknown operation(s) in shapes: 'creat'"),
        (b'{"shapes": {"create": {"spread": -1}}}', "spread must be a non-negative"),
        (b'{"speed": 1}', "unknown duration setting(s): speed"),
        (b"[1]", "must be a JSON object"),
    ],
)
async def test_a_bad_body_answers_400_and_changes_nothing(
    make_api: ApiFactory, method: str, content: bytes, message: str
) -> None:
    api: Api = await make_api()
    response = await api.http.request(
        method,
        "/_emulator/durations",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    item = only_error(response, 400)
    assert item["reason"] == "invalid-request"
    assert message in item["message"]
    assert (await api.http.get("/_emulator/durations")).json() == Durations().to_json()
    assert api.state.config.durations == Durations()
