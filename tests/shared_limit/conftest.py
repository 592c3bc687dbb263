"""Fixtures of the shared limiter's tests: a real Redis server per test, on loopback.

Each test that asks for ``redis_server`` (or ``redis_url``) gets a redis-server process of
its own on a free port of 127.0.0.1, so pytest-xdist workers never share one. Starting one
takes a few milliseconds. No binary found is a failure with the reason, never a skip (see
tests/redis_server.py for where it is looked for).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio

from tests.redis_server import RedisServer, RedisServerNotFound, find_redis_server


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A running redis-server for this test alone; ``stop()``/``start()`` keep its port."""
    try:
        executable = find_redis_server()
    except RedisServerNotFound as error:
        pytest.fail(str(error), pytrace=False)
    server = RedisServer(executable, directory=tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:<port>/0`` of this test's server."""
    return redis_server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A redis-py asyncio client of this test's server, to look at what the limiter stored."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()
