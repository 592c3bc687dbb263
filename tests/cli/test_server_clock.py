"""Ages are measured with the server's clock (its answers' ``Date``), not the local one.

An emulator whose clock runs 600 times faster stamps ``created_at`` far ahead of the local
clock, as a live service does when the local clock is behind: ``fleet status --older-than``
must still choose the instances older than that by the server's clock.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time

import httpx

from aura_async._http.server_clock import ServerClock
from aura_async.emulator import EmulatorServer

from .conftest import CliRun
from .test_fleet import PRO


def test_the_emulator_dates_its_answers_by_its_own_clock(emulator: EmulatorServer) -> None:
    response = httpx.get(f"{emulator.base_url}/v1/instances")  # 401: still dated
    stamped = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
    with emulator.backend.lock:
        now = emulator.state.clock.now()
    assert abs(stamped - now) <= 2 * 600  # whole seconds, at 600x: within two real seconds
    assert response.headers.get_list("Date") == [response.headers["Date"]]  # one, the app's


def test_older_than_uses_the_servers_clock(cli_run: CliRun, emulator: EmulatorServer) -> None:
    made = cli_run("fleet", "up", "--count", "2", "--name", "old", *PRO)
    assert made.exit_code == 0, made.output
    time.sleep(0.2)  # two emulated minutes, but not two real ones
    result = cli_run("-o", "json", "fleet", "status", "--older-than", "1m")
    assert result.exit_code == 0, result.output
    assert sorted(i["name"] for i in json.loads(result.stdout)) == ["old-1", "old-2"]
    young = cli_run("-o", "json", "fleet", "status", "--older-than", "1h")
    assert young.exit_code == 0, young.output
    assert json.loads(young.stdout) == []


def test_the_server_clock_follows_the_newest_date() -> None:
    local = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    clock = ServerClock(lambda: local)
    assert clock.now() == local  # before any answer: the local clock
    clock.saw("Thu, 01 Jan 2026 12:10:00 GMT")
    assert clock.now() == local + dt.timedelta(minutes=10, seconds=0.5)
    clock.saw("not a date")  # ignored
    clock.saw("Thu, 01 Jan 2026 11:59:00 -0000")
    assert clock.offset == dt.timedelta(minutes=-1, seconds=0.5)
