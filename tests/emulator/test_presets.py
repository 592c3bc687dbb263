"""Presets: ``ideal`` (EmulatorConfig's default), ``live`` (the default everywhere a person or a
user's test meets the emulator) and seeded ``chaos``; how each is chosen from Python, the
emulator's command line, the ``aura-async`` command and the pytest fixture."""

from __future__ import annotations

import attrs
import pytest

from aura_async.emulator import Durations, EmulatorConfig, FaultPlan, RateLimitSettings
from aura_async.emulator.__main__ import build_parser, config_from_args, describe_run
from aura_async.emulator.presets import LIVE_NOT_FOUND_WINDOW, describe, live_durations

QUIRKS = (
    "not_found_after_create",
    "null_connection_url",
    "deleting_status",
    "memory_missing_while_deleting",
    "pause_resume_200",
)


def _args(*args: str) -> EmulatorConfig:
    return config_from_args(build_parser().parse_args(list(args)))


def test_the_config_default_is_the_ideal_service() -> None:
    config = EmulatorConfig()
    assert config.preset == "ideal"
    assert config.faults == FaultPlan()
    assert config.durations == Durations()
    assert config.rate_limit == RateLimitSettings()
    assert (config.resize_status, config.duplicate_names, config.rename_while_busy) == (
        "resizing",
        "allow",
        "reject",
    )


def test_live_turns_on_every_quirk_at_once() -> None:
    config = EmulatorConfig(preset="live")
    assert all(getattr(config.faults, quirk) > 0 for quirk in QUIRKS)
    assert config.faults.not_found_after_create == LIVE_NOT_FOUND_WINDOW
    assert config.faults.null_connection_url_until_running
    # The strictest of the gateway's models, whole-second Retry-After.
    assert (config.rate_limit.model, config.rate_limit.retry_after) == ("sliding", "integer")
    assert config.rate_limit.count_rejected
    assert config.rate_limit.count_token_requests
    assert config.durations == live_durations()
    assert config.durations.distribution == "lognormal"
    assert config.durations.stragglers > 0
    # Nothing unsettled: no 5xx, no drops, no failed operations.
    assert not config.faults.errors
    assert config.faults.drop.probability == 0
    assert config.faults.create_failure == 0


def test_a_field_given_explicitly_wins_over_the_preset() -> None:
    config = EmulatorConfig(preset="live", faults=FaultPlan(), resize_status="updating")
    assert config.faults == FaultPlan()
    assert config.resize_status == "updating"
    assert config.durations == live_durations()  # the rest is still the preset's


def test_chaos_is_drawn_from_the_seed_and_replays_from_it() -> None:
    first, again = EmulatorConfig(preset="chaos", seed=3), EmulatorConfig(preset="chaos", seed=3)
    assert first == again
    draws = {
        (c.faults, c.rate_limit, c.durations.jitter, c.resize_status)
        for c in (EmulatorConfig(preset="chaos", seed=seed) for seed in range(20))
    }
    assert len(draws) == 20  # every seed a different service
    models = {EmulatorConfig(preset="chaos", seed=seed).rate_limit.model for seed in range(20)}
    assert models == {"fixed", "sliding", "bucket"}


@pytest.mark.parametrize("seed", [None, 7])
def test_chaos_always_has_a_seed_to_print(seed: int | None) -> None:
    config = EmulatorConfig(preset="chaos", seed=seed)
    assert config.seed is not None
    if seed is not None:
        assert config.seed == seed
    assert EmulatorConfig(seed=None).seed is None  # other presets leave it to the backend


def test_an_unknown_preset_is_refused() -> None:
    with pytest.raises(ValueError, match="preset must be one of live, ideal, chaos"):
        EmulatorConfig(preset="wild")  # type: ignore[arg-type]


def test_describe_says_what_is_on() -> None:
    lines = describe(EmulatorConfig(preset="live"))
    text = "\n".join(lines)
    assert "sliding, counting token requests and refused requests" in text
    assert "404 for 20 s after a create (50% of instances)" in text
    assert "connection_url null while creating (30%)" in text
    assert "pause/resume answer 200 (50%)" in text
    assert describe(EmulatorConfig())[0].startswith("rate limit 125 per 60 s (fixed)")
    assert not any("404" in line for line in describe(EmulatorConfig()))


# -------------------------------------------------------- the emulator's command line


def test_serve_defaults_to_the_live_preset() -> None:
    assert _args() == attrs.evolve(EmulatorConfig(preset="live"), seed=None)
    assert _args("--preset", "ideal") == EmulatorConfig()


def test_flags_change_the_presets_choices() -> None:
    config = _args("--rate-model", "fixed", "--no-count-token-requests", "--rate-limit", "25/60")
    rate = config.rate_limit
    assert (rate.model, rate.limit, rate.count_token_requests) == ("fixed", 25, False)
    assert rate.count_rejected  # untouched: still the live preset's
    plan = _args("--fault", "error=0.1").faults
    assert plan.pause_resume_200 == 0.5  # a fault flag adds to the preset's quirks
    assert len(plan.errors) == 1


def test_serve_prints_the_chaos_seed_and_what_is_on() -> None:
    config = _args("--preset", "chaos", "--seed", "12")
    lines = describe_run(config, 12)
    assert lines[0].split() == ["preset:", "chaos"]
    assert "chaos seed:          12 (replay: --preset chaos --seed 12)" in lines
    assert all(line.startswith("  - ") for line in lines[2:])
    assert _args("--preset", "chaos").seed is not None  # drawn, so it can be printed


# ------------------------------------------------------------------ the pytest fixture

FIXTURE_TESTS = """
def test_preset(aura_emulator_config, pytestconfig):
    expected = pytestconfig.getoption("--aura-emulator-preset") or "live"
    assert aura_emulator_config.preset == expected
    assert aura_emulator_config.time_scale == 600
    print("SEED", aura_emulator_config.seed)
"""


@pytest.mark.parametrize(
    ("args", "header"),
    [
        ((), None),
        (("--aura-emulator-preset", "ideal"), "aura emulator: ideal preset"),
        (
            ("--aura-emulator-preset", "chaos", "--aura-emulator-seed", "99"),
            "aura emulator: chaos seed 99 (replay: --aura-emulator-seed 99)",
        ),
    ],
)
def test_fixture_preset_options(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    header: str | None,
) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(test_fixture_preset=FIXTURE_TESTS)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", *args, timeout=120)
    result.assert_outcomes(passed=1)
    if header is None:
        assert "aura emulator:" not in result.stdout.str()
        result.stdout.fnmatch_lines(["*SEED 0*"])
    else:
        result.stdout.fnmatch_lines([header])
    if "99" in args:
        result.stdout.fnmatch_lines(["*SEED 99*"])


def test_fixture_chaos_without_a_seed_prints_the_one_it_drew(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(test_fixture_preset=FIXTURE_TESTS)
    result = pytester.runpytest_subprocess(
        "-s", "-p", "no:cacheprovider", "--aura-emulator-preset", "chaos", timeout=120
    )
    result.assert_outcomes(passed=1)
    header = next(line for line in result.outlines if line.startswith("aura emulator: chaos"))
    seed = header.split()[4]
    result.stdout.fnmatch_lines([f"*SEED {seed}*"])
