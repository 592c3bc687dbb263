"""A pytest plugin that gives tests a running Aura emulator in one line.

Installed with the package (entry point ``pytest11``), it provides:

- ``aura_emulator``: an :class:`~aura_async.emulator.EmulatorServer` serving on a free
  loopback port for the duration of one test;
- ``aura_emulator_config``: the :class:`~aura_async.emulator.EmulatorConfig` it starts with.
  Override this fixture in your ``conftest.py`` to change credentials, time scale, rate
  limit or faults.

Example::

    def test_provisioning(aura_emulator):
        url = aura_emulator.base_url          # point your client here (it appends /v1)
        cid, secret = aura_emulator.client_id, aura_emulator.client_secret
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from aura_async.emulator.config import EmulatorConfig
    from aura_async.emulator.server import EmulatorServer

__all__ = ["aura_emulator", "aura_emulator_config"]


@pytest.fixture
def aura_emulator_config() -> EmulatorConfig:
    """The configuration ``aura_emulator`` starts with: time compressed 600 times, seed 0."""
    from aura_async.emulator.config import EmulatorConfig

    return EmulatorConfig(time_scale=600.0, seed=0)


@pytest.fixture
def aura_emulator(aura_emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    """A running emulator on a free loopback port, stopped after the test."""
    from aura_async.emulator.server import EmulatorServer

    with EmulatorServer(aura_emulator_config) as server:
        yield server
