"""One access token per credential for every process, kept on Redis (opt-in: ``share_token``).

The token sits under ``<prefix>:{<hash>}:token`` with its remaining life (less the client's
refresh margin) as TTL, so it vanishes when it is due for refresh. A process that needs one
takes it from there; if there is none, one process at a time takes a short lock
(``...:token-lock``), fetches and stores it, while the others wait for it to appear.
This puts a bearer token in Redis: anyone who can read that server can call the API with it
until it expires. That is why it is off by default.

Redis trouble never stops a token fetch: the process then fetches its own.
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["SharedToken"]

logger = logging.getLogger("aura_async")

_POLL = 0.05

# Delete the lock only if this process still holds it.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SharedToken:
    """The token's place on Redis and the lock for fetching it.

    Args:
        redis_client: returns the connected redis-py asyncio client (None before start).
        key: the token's key; the lock is ``key + "-lock"``.
        lock_seconds: how long a fetch may hold the lock before others may fetch too.
    """

    def __init__(
        self,
        redis_client: redis.asyncio.Redis,
        key: str,
        *,
        lock_seconds: float,
    ) -> None:
        self._redis = redis_client
        self._key = key
        self._lock = key + "-lock"
        self._lock_ms = max(1, math.ceil(lock_seconds * 1000))
        self._me = secrets.token_hex(8)
        self._holding = False
        self._told = False

    async def claim(self, stale: str | None) -> tuple[str, float] | None:
        """A shared token other than ``stale`` and its seconds left, or None to fetch one.

        None means this process now holds the fetch lock (or Redis failed: fetch alone);
        call :meth:`publish` with the token fetched, or :meth:`give_up`.
        Never raises but for cancellation.
        """
        try:
            while True:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.get(self._key)
                    pipe.pttl(self._key)
                    token, ttl_ms = await pipe.execute()
                if token and token != stale and ttl_ms > 0:
                    return str(token), ttl_ms / 1000
                if await self._redis.set(self._lock, self._me, nx=True, px=self._lock_ms):
                    self._holding = True
                    return None
                await anyio.sleep(_POLL)
        except Exception as error:
            self._trouble(error)
            return None

    async def publish(self, token: str, seconds: float) -> None:
        """Store ``token`` for ``seconds`` and release the lock. Never raises but for cancel."""
        if not self._holding:
            return
        self._holding = False
        try:
            if seconds > 0:
                await self._redis.set(self._key, token, px=max(1, math.floor(seconds * 1000)))
            await self._redis.eval(_UNLOCK, 1, self._lock, self._me)
        except Exception as error:
            self._trouble(error)

    async def give_up(self) -> None:
        """Release the lock after a failed fetch. Never raises but for cancellation."""
        if not self._holding:
            return
        self._holding = False
        try:
            await self._redis.eval(_UNLOCK, 1, self._lock, self._me)
        except Exception as error:
            self._trouble(error)

    def _trouble(self, error: Exception) -> None:
        if not self._told:
            self._told = True
            logger.warning(
                "the shared token's Redis failed (%s); this process fetches its own tokens",
                type(error).__name__,
            )
