"""How Bolt is switched on: ``EmulatorConfig.bolt``/``bolt_delay``, the presets' choices, the
emulator's command line, ``describe()``, and the instance record's running moment."""

from __future__ import annotations

import math

import attrs
import pytest

from aura_async.emulator import (
    BoltListener,
    BoltStats,
    Durations,
    EmulatorConfig,
    EmulatorServer,
    ManualClock,
    create_app,
)
from aura_async.emulator.__main__ import build_parser, config_from_args
from aura_async.emulator.presets import LIVE_BOLT_DELAY, describe
from tests.conftest import instance_body


def _args(*args: str) -> EmulatorConfig:
    return config_from_args(build_parser().parse_args(list(args)))


def test_each_preset_chooses_whether_bolt_serves_and_its_delay() -> None:
    ideal, live = EmulatorConfig(), EmulatorConfig(preset="live")
    assert (ideal.bolt, ideal.bolt_delay) == (False, 0.0)
    assert (live.bolt, live.bolt_delay) == (True, LIVE_BOLT_DELAY) == (True, 15.0)
    delays = {EmulatorConfig(preset="chaos", seed=seed).bolt_delay for seed in range(20)}
    assert all(0 <= d <= 60 for d in delays)
    assert len(delays) > 10  # drawn per seed...
    assert EmulatorConfig(preset="chaos", seed=4) == EmulatorConfig(preset="chaos", seed=4)
    assert all(EmulatorConfig(preset="chaos", seed=s).bolt for s in range(5))


def test_an_explicit_setting_wins_over_the_preset() -> None:
    config = EmulatorConfig(preset="live", bolt=False, bolt_delay=2.5)
    assert (config.bolt, config.bolt_delay) == (False, 2.5)


@pytest.mark.parametrize("delay", [-1.0, math.inf, math.nan, True, "5"])
def test_the_delay_must_be_finite_and_not_negative(delay: object) -> None:
    with pytest.raises(ValueError, match="bolt_delay must be a finite number"):
        EmulatorConfig(bolt_delay=delay)  # type: ignore[arg-type]


def test_the_command_line_switches_bolt_and_its_delay() -> None:
    assert (_args().bolt, _args().bolt_delay) == (True, 15.0)  # serve defaults to live
    assert _args("--no-bolt").bolt is False
    assert _args("--preset", "ideal", "--bolt").bolt is True
    assert _args("--bolt-delay", "3").bolt_delay == 3.0
    with pytest.raises(ValueError, match="bolt_delay"):
        _args("--bolt-delay", "-2")


def test_describe_says_whether_bolt_serves() -> None:
    assert "Bolt on loopback for running instances, 15 s after they run" in describe(
        EmulatorConfig(preset="live")
    )
    assert not any("Bolt" in line for line in describe(EmulatorConfig()))


def test_a_server_runs_a_listener_only_when_bolt_is_on() -> None:
    with EmulatorServer(EmulatorConfig(seed=1)) as plain:
        assert plain.bolt is None
        assert plain.backend.bolt_address is None
    with EmulatorServer(EmulatorConfig(seed=1, bolt=True)) as served:
        bolt = served.bolt
        assert isinstance(bolt, BoltListener)
        assert served.backend.bolt_address == bolt.address == f"127.0.0.1:{bolt.port}"
        assert bolt.stats("anything") == BoltStats()
        assert "running=True" in repr(bolt)
    assert served.bolt is None
    assert not bolt.running


def test_a_listener_needs_a_backend_and_starts_once() -> None:
    with pytest.raises(TypeError, match="AuraBackend"):
        BoltListener(object())  # type: ignore[arg-type]
    app = create_app(EmulatorConfig(seed=1))
    with BoltListener(app.state.emulator.backend) as bolt, pytest.raises(RuntimeError):
        bolt.start()


def test_the_record_keeps_when_the_instance_last_became_running() -> None:
    clock = ManualClock()
    config = EmulatorConfig(seed=1, durations=Durations(jitter=0))
    backend = create_app(config, clock=clock).state.emulator.backend
    instance = backend.create_instance(instance_body()).instance
    assert instance.running_since is None
    created_at = clock.now()
    clock.advance(500)
    assert backend.settled_instance(instance.id) is instance
    assert instance.running_since == created_at + 120  # the create's end, not the look
    backend.update_instance(instance.id, {"vector_optimized": True})
    clock.advance(30)
    backend.settled_instance(instance.id)
    assert instance.running_since == created_at + 120  # an online operation: still up
    backend.pause_instance(instance.id)
    clock.advance(60)
    backend.resume_instance(instance.id)
    resumed_at = clock.now()
    clock.advance(90)
    backend.settled_instance(instance.id)
    assert instance.running_since == resumed_at + 90
    backend.delete_instance(instance.id)
    clock.advance(30)
    assert backend.settled_instance(instance.id) is None


def test_a_bolt_config_evolves_like_any_other() -> None:
    config = attrs.evolve(EmulatorConfig(), bolt=True, bolt_delay=1.0)
    assert (config.bolt, config.bolt_delay) == (True, 1.0)
