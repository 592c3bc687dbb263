"""Pure parts of the emulator: clocks, the catalog, settings parsers, durations."""

from __future__ import annotations

import time

import pytest

from aura_async.emulator import (
    Credential,
    EmulatorConfig,
    ManualClock,
    ProjectSpec,
    RateLimitSettings,
    ScaledClock,
)
from aura_async.emulator.backend import format_go_duration, iso, parse_go_duration
from aura_async.emulator.catalog import (
    MEMORY_BY_TYPE,
    REGIONS,
    default_configurations,
    gigabytes,
)
from aura_async.emulator.config import parse_rate_limit


def test_scaled_clock_runs_faster_than_real_time() -> None:
    clock = ScaledClock(1000.0)
    start = clock.now()
    time.sleep(0.01)
    elapsed = clock.now() - start
    # 10 ms of real time is ~10 emulated seconds; allow for scheduling noise.
    assert 9.0 <= elapsed <= 60.0
    assert abs(ScaledClock(1.0).now() - time.time()) < 1.0


def test_scaled_clock_advance_jumps_forward_and_never_back() -> None:
    clock = ScaledClock(1.0)
    before = clock.now()
    clock.advance(3600)
    assert clock.now() - before >= 3600
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0)


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(start=100.0, time_scale=60.0)
    assert clock.now() == 100.0
    clock.advance(5)
    assert clock.now() == 105.0
    assert clock.time_scale == 60.0
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-0.1)


def test_catalog_offers_free_only_on_gcp_at_1gb_and_paid_tiers_everywhere() -> None:
    configs = list(default_configurations())
    free = [c for c in configs if c.type == "free-db"]
    assert free
    assert {c.cloud_provider for c in free} == {"gcp"}
    assert {c.memory for c in free} == {"1GB"}
    for tier in ("professional-db", "business-critical"):
        assert {c.cloud_provider for c in configs if c.type == tier} == {"gcp", "aws", "azure"}
    for config in configs:
        assert config.region in REGIONS[config.cloud_provider]
        assert config.memory in MEMORY_BY_TYPE[config.type]
        assert gigabytes(config.storage) == 2 * (gigabytes(config.memory) or 0)
    assert set(configs[0].to_json()) == {
        "region",
        "region_name",
        "type",
        "memory",
        "storage",
        "version",
        "cloud_provider",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [("16GB", 16), ("1GB", 1), ("16", None), ("0GB", None), ("01GB", None), ("1.5GB", None)],
)
def test_gigabytes(text: str, expected: int | None) -> None:
    assert gigabytes(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("125", (125, 60.0)), ("25/60", (25, 60.0)), ("125/1s", (125, 1.0)), ("10/2m", (10, 120.0))],
)
def test_parse_rate_limit(text: str, expected: tuple[int, float]) -> None:
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize("text", ["", "fast", "0/60", "125/0", "-1/60", "125/60h"])
def test_parse_rate_limit_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        parse_rate_limit(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800.0), ("1h", 3600.0), ("1h30m", 5400.0), ("20m0s", 1200.0), ("45s", 45.0)],
)
def test_go_durations_parse(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "30", "m", "1d"])
def test_go_durations_reject_garbage(text: str) -> None:
    assert parse_go_duration(text) is None


def test_go_durations_render_as_go_prints_them() -> None:
    assert format_go_duration(3600) == "1h0m0s"
    assert format_go_duration(1200) == "20m0s"
    assert format_go_duration(45) == "45s"


def test_timestamps_render_as_rfc3339_utc_seconds() -> None:
    assert iso(1674222282.7) == "2023-01-20T13:44:42Z"


def test_config_rejects_inconsistent_settings() -> None:
    with pytest.raises(ValueError, match="credential"):
        EmulatorConfig(credentials=())
    with pytest.raises(ValueError, match="project"):
        EmulatorConfig(projects=())
    with pytest.raises(ValueError, match="time_scale"):
        EmulatorConfig(time_scale=0)
    with pytest.raises(ValueError, match="token_lifetime"):
        EmulatorConfig(token_lifetime=-1)
    with pytest.raises(ValueError, match="rate model"):
        EmulatorConfig(rate_limit=RateLimitSettings(model="leaky"))  # type: ignore[arg-type]


def test_config_reprs_never_show_secrets() -> None:
    config = EmulatorConfig(
        credentials=(Credential("id", "very-secret-value"),),
        projects=(ProjectSpec("p", "P"),),
    )
    assert "very-secret-value" not in repr(config)
