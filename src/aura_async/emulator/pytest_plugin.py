"""A pytest plugin that gives tests a running Aura emulator in one line.

Installed with the package (entry point ``pytest11``), it provides:

- ``aura_emulator``: an :class:`~aura_async.emulator.EmulatorServer` serving on a free
  loopback port for the duration of one test;
- ``aura_emulator_config``: the :class:`~aura_async.emulator.EmulatorConfig` it starts with:
  the ``live`` preset (every behaviour the live service shows), time compressed 600 times.
  Override this fixture in your ``conftest.py`` to change credentials, time scale, rate
  limit or faults. The ``live`` preset serves Bolt too (``aura_emulator.bolt``): an
  instance's ``connection_url`` (``neo4j://127.0.0.1:PORT?instance=ID``) answers the
  ``neo4j`` driver's ``RETURN 1`` from 15 emulated seconds after it runs (25 ms at 600x).

Options (command line, or the same names in the ini file without the dashes):

- ``--aura-emulator-preset live|ideal|chaos``: ``ideal`` for the quirk-free service;
  ``chaos`` for a random mix of quirks, faults and rate models drawn from the seed;
- ``--aura-emulator-seed N``: the seed (default 0; with ``chaos``, a random seed that the
  test report's header prints, so a failing night replays with it).

Example::

    def test_provisioning(aura_emulator):
        url = aura_emulator.base_url          # point your client here (it appends /v1)
        cid, secret = aura_emulator.client_id, aura_emulator.client_secret
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

import pytest

if TYPE_CHECKING:
    from aura_async.emulator.config import EmulatorConfig
    from aura_async.emulator.presets import Preset
    from aura_async.emulator.server import EmulatorServer

__all__ = ["aura_emulator", "aura_emulator_config"]

_PRESETS = ("live", "ideal", "chaos")
_SEED = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--aura-emulator-preset`` and ``--aura-emulator-seed`` (and their ini keys)."""
    group = parser.getgroup("aura-emulator", "Aura API emulator")
    group.addoption(
        "--aura-emulator-preset",
        choices=_PRESETS,
        default=None,
        help="behaviour of the aura_emulator fixture: live (default), ideal or chaos",
    )
    group.addoption(
        "--aura-emulator-seed",
        type=int,
        default=None,
        help="seed of the aura_emulator fixture (default 0; random with chaos, printed)",
    )
    parser.addini("aura_emulator_preset", "live (default), ideal or chaos", default="live")
    parser.addini("aura_emulator_seed", "seed of the aura_emulator fixture", default="")


def _preset(config: pytest.Config) -> Preset:
    value = config.getoption("--aura-emulator-preset") or config.getini("aura_emulator_preset")
    if value not in _PRESETS:
        raise pytest.UsageError(
            f"aura_emulator_preset must be one of {', '.join(_PRESETS)}; got {value!r}"
        )
    return cast("Preset", value)


def _seed(config: pytest.Config) -> int:
    """The session's seed: given, or 0, or (chaos) drawn once and kept for the header."""
    if _SEED in config.stash:
        return int(config.stash[_SEED])
    workerinput = getattr(config, "workerinput", None)
    if isinstance(workerinput, dict) and "aura_emulator_seed" in workerinput:
        # An xdist worker runs the controller's seed, the one its header printed.
        config.stash[_SEED] = int(workerinput["aura_emulator_seed"])
        return config.stash[_SEED]
    given: int | None = config.getoption("--aura-emulator-seed")
    if given is None and config.getini("aura_emulator_seed"):
        try:
            given = int(config.getini("aura_emulator_seed"))
        except ValueError:
            raise pytest.UsageError("aura_emulator_seed must be an integer") from None
    if given is None:
        given = secrets.randbits(32) if _preset(config) == "chaos" else 0
    config.stash[_SEED] = given
    return given


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: object) -> None:
    """Hand the controller's seed to each xdist worker (so one seed replays the whole run)."""
    workerinput = getattr(node, "workerinput", None)
    if isinstance(workerinput, dict):
        workerinput["aura_emulator_seed"] = _seed(node.config)  # type: ignore[attr-defined]


def pytest_report_header(config: pytest.Config) -> str | None:
    """Print the chaos seed (or a preset other than live) at the top of the test report."""
    preset = _preset(config)
    if preset == "chaos":
        seed = _seed(config)
        return f"aura emulator: chaos seed {seed} (replay: --aura-emulator-seed {seed})"
    if preset != "live":
        return f"aura emulator: {preset} preset"
    return None


@pytest.fixture
def aura_emulator_config(pytestconfig: pytest.Config) -> EmulatorConfig:
    """The configuration ``aura_emulator`` starts with: the chosen preset (live), 600x."""
    from aura_async.emulator.config import EmulatorConfig

    return EmulatorConfig(preset=_preset(pytestconfig), time_scale=600.0, seed=_seed(pytestconfig))


@pytest.fixture
def aura_emulator(aura_emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    """A running emulator on a free loopback port, stopped after the test."""
    from aura_async.emulator.server import EmulatorServer

    with EmulatorServer(aura_emulator_config) as server:
        yield server
