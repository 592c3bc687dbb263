"""The rate limiter's budget shared on Redis: one budget for every process on one credential.

:class:`RedisBudget` is a :class:`~aura_async._http.budget.Budget`: the limiter keeps its queue
(priorities, first come first served, one timer for the head) and the budget asks Redis,
atomically, whether the head of that queue may go (:mod:`aura_async._http.redis_scripts` holds
the rule). Completions, cool-downs, a lowered limit and the process's heartbeat travel to Redis
on one background task, so releasing a permit never waits on the network.
:class:`RedisRateLimiter` is a :class:`~aura_async._http.limiter.RateLimiter` made with one.

It also keeps its own record of its requests (in flight, and completed within a period). That
record is the budget it keeps alone, at ``local_share`` of the limit, while Redis is away under
``on_unavailable="local"``, and what it puts back into Redis when Redis answers again, in case
the server lost its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import math
import os
import secrets
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from aura_async._http.budget import BudgetHost
from aura_async._http.limiter import Priority, RateLimit, RateLimiter, RequestLog
from aura_async._http.redis_scripts import ACQUIRE, FLUSH, KEY_NAMES, REPLAY
from aura_async.backends import RedisBackend, redact_url
from aura_async.errors import ConfigurationError, RateLimitBackendError
from aura_async.events import ClientEvent, RateLimitBackendLost, RateLimitBackendRestored

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["RedisBudget", "RedisRateLimiter", "budget_keys", "connect"]

logger = logging.getLogger("aura_async")

# Keys outlive the last call by this much beyond two periods and the dead-process time.
_KEY_MARGIN = 60.0
# The shortest pause before asking Redis again, when the processes ahead have not yet taken
# the slots freed for them (it doubles while they stay slow).
_MIN_RETRY = 0.002
# A waiting process refreshes its place at least every heartbeat; one not seen for two
# heartbeats and this much more is passed over (a dead or cut-off process holds no slot).
_STALE_MARGIN = 0.25


def _is_stale_connection(error: BaseException) -> bool:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
    except ImportError:  # pragma: no cover - redis-py is there when this runs
        return False
    return isinstance(error, RedisConnectionError)


def _namespace(backend: RedisBackend, client_id: str, api_url: str) -> str:
    """Where one credential's keys live: a hash of the client id and the API host (never the
    secret), in braces so a Redis Cluster keeps all of them on one node."""
    host = f"{api_url}".split("://", 1)[-1].split("/", 1)[0].lower()
    digest = hashlib.sha256(f"{client_id}\0{host}".encode()).hexdigest()[:24]
    return f"{backend.key_prefix}:{{{digest}}}"


def budget_keys(backend: RedisBackend, client_id: str, api_url: str) -> tuple[str, ...]:
    """The Redis keys of one credential's budget, in the scripts' KEYS order."""
    namespace = _namespace(backend, client_id, api_url)
    return tuple(f"{namespace}:{name}" for name in KEY_NAMES)


def connect(backend: RedisBackend) -> redis.asyncio.Redis:
    """A redis-py asyncio client for ``backend`` (not yet connected).

    Raises:
        ConfigurationError: if redis-py is not installed.
    """
    try:
        import redis.asyncio
    except ImportError:
        raise ConfigurationError(
            "the shared rate limit needs redis-py: pip install 'aura-async[redis]'"
        ) from None
    return redis.asyncio.Redis.from_url(
        backend.url,
        socket_timeout=backend.timeout,
        socket_connect_timeout=backend.timeout,
        decode_responses=True,
    )


def _unreachable(backend: RedisBackend, error: BaseException) -> RateLimitBackendError:
    # redis-py's messages name host and port only; the URL is redacted all the same.
    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return RateLimitBackendError(
        f"the shared rate limit's Redis at {redact_url(backend.url)} does not answer ({reason})"
    )


class RedisBudget:
    """A :class:`~aura_async._http.budget.Budget` shared on Redis by every process on a
    credential.

    Start it with :meth:`start` (its limiter's ``start``; the client calls that on
    ``async with``) and stop it with :meth:`aclose`; the first :meth:`take` starts it if
    nobody did.

    Args:
        rate: the limit its limiter starts with (the same in every process).
        backend: the Redis server and how to behave when it is away.
        client_id: the credential's id (hashed into the key names).
        api_url: the API's URL (its host is hashed into the key names).
        emit: receives :class:`RateLimitBackendLost` and :class:`RateLimitBackendRestored`.
        redis_client: a ready redis-py asyncio client (default: one made from the URL).
    """

    _host: BudgetHost

    def __init__(
        self,
        rate: RateLimit,
        backend: RedisBackend,
        *,
        client_id: str,
        api_url: str,
        emit: Callable[[ClientEvent], None] = lambda event: None,
        redis_client: redis.asyncio.Redis | None = None,
    ) -> None:
        self.backend = backend
        self._emit = emit
        self._keys = budget_keys(backend, client_id, api_url)
        self.token_key = f"{_namespace(backend, client_id, api_url)}:token"
        self._owns_redis = redis_client is None
        self.redis = redis_client if redis_client is not None else connect(backend)
        self._scripts: dict[str, Any] = {}
        # A name no other process (or earlier life of this one) can have.
        self._proc = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._numbers = itertools.count(1)
        self._ttl_ms = 0
        # This process's own record: permits in flight, and (local time, name) completed.
        self._own = RequestLog(self._share(rate))
        self._own_flight: set[str] = set()
        self._own_done: deque[tuple[float, str]] = deque()
        # Writes for Redis not yet made: completions, leaving the queue, a cool-down, a
        # lowered limit. The flusher task makes them (and is the heartbeat).
        self._pending: list[tuple[str, bool]] = []
        self._pending_leave = False
        self._pending_cool: float | None = None
        self._pending_lower: int | None = None
        self._wake = anyio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._start_lock = anyio.Lock()
        self._started = False
        self._closed = False
        self._lost = False  # Redis stopped answering and has not answered since
        self._lost_at = -math.inf
        self._epoch: str | None = None  # the budget's life on Redis, as last seen
        self._spin = 0.0
        self._replay = False  # put our own record back before the next call

    def attach(self, host: BudgetHost) -> None:
        """Serve ``host`` (the limiter) from now on."""
        self._host = host

    # ----------------------------------------------------------------- lifecycle

    @property
    def shared(self) -> bool:
        """Whether the budget is on Redis now (False while falling back to a local share)."""
        return not self._lost

    async def start(self) -> None:
        """Connect to Redis, check that it answers, and start the heartbeat.

        Raises:
            RateLimitBackendError: Redis does not answer, refuses, or cannot run scripts.
            ConfigurationError: redis-py is not installed.
        """
        async with self._start_lock:
            if self._started:
                return
            if self._closed:
                raise RateLimitBackendError("the shared rate limiter was closed")
            try:
                with anyio.fail_after(self.backend.timeout):
                    await self.redis.ping()
                    self._scripts = {
                        "acquire": self.redis.register_script(ACQUIRE),
                        "flush": self.redis.register_script(FLUSH),
                        "replay": self.redis.register_script(REPLAY),
                    }
                    await self._call("flush", "0", "", "", "0")
            except Exception as error:
                raise _unreachable(self.backend, error) from None
            self._started = True
            # Its life is the client's, not any one caller's scope: a task of its own.
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def aclose(self) -> None:
        """Stop the heartbeat and hand back this process's place: flush, then leave.

        Never raises; what Redis misses expires on its own (``dead_after``).
        """
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None:
            self._wake.set()  # the flusher sees _closed and ends after its current flush
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(2 * self.backend.timeout):
                    await asyncio.wait([self._flusher])
                self._flusher.cancel()
                with anyio.move_on_after(self.backend.timeout):
                    await self._flush(exiting=True)
        if self._owns_redis:
            # Suppressed: closing a connection that is gone already is no news either.
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(self.backend.timeout),
                contextlib.suppress(Exception),
            ):
                await self.redis.aclose()

    # ----------------------------------------------------------------- the budget

    def _share(self, rate: RateLimit) -> RateLimit:
        limit = max(1, math.floor(rate.limit * self.backend.local_share))
        return RateLimit(limit, rate.period)

    @property
    def in_flight(self) -> int:
        """This process's permits taken and not yet released."""
        return self._own.in_flight

    @property
    def max_wait(self) -> float:
        """The heartbeat: a waiting head refreshes its place on Redis at least that often."""
        return self.backend.heartbeat

    async def take(self, priority: Priority) -> str | float:
        """Ask Redis for a slot for the head of the queue (or keep to the local share while
        Redis is away, under ``on_unavailable="local"``). A wait returned may exceed
        :attr:`max_wait`: the limiter asks again after that much at most.

        Raises:
            RateLimitBackendError: Redis does not answer under ``on_unavailable="fail"``, did
                not answer at start, or the budget was closed.
        """
        if not self._started:
            await self.start()
        if self._closed:
            raise RateLimitBackendError("the shared rate limiter was closed")
        if self._lost and self.backend.on_unavailable == "local":
            # The heartbeat tries Redis again; meanwhile keep to the local share.
            return self._take_locally()
        host = self._host
        cooling = host.cool_until - host.clock()
        if cooling > 0:
            # A 429 seen here may not have reached Redis yet: no need to ask.
            return cooling
        answer = None
        for attempt in (1, 2):
            key = f"{self._proc}|{next(self._numbers)}"
            # Shielded: a grant Redis made must not be lost to a cancel while its answer
            # travels. (A native asyncio cancel still gets through: the key goes back then.)
            with anyio.CancelScope(shield=True):
                try:
                    answer = await self._call(
                        "acquire",
                        str(int(priority)),
                        str(host.rate.limit),
                        repr(host.rate.period),
                        repr(self.backend.dead_after),
                        key,
                    )
                    break
                except BaseException as error:
                    # Redis may have granted it before the answer was lost: hand it back.
                    self._pending.append((key, False))
                    self._poke()
                    if not isinstance(error, Exception):
                        raise
                    if attempt == 1 and _is_stale_connection(error):
                        continue  # a pooled connection from before a restart: once more
                    self._went_away(error)
                    return self._take_locally()
        assert answer is not None
        self._back()
        granted, delay, limit, cool_left = (float(part) for part in answer[:4])
        # What the other processes told Redis: a lowered limit, a cool-down.
        host.adopt(int(limit), cool_left)
        if granted:
            self._spin = 0.0
            return self._granted(key)
        if delay > 0:
            self._spin = 0.0
            return delay
        # Slots are free but kept for processes ahead: ask again, backing off if they are slow.
        self._spin = min(max(2 * self._spin, _MIN_RETRY), self.backend.heartbeat)
        return self._spin

    def _poke(self) -> None:
        if self._started:
            self._wake.set()

    def _take_locally(self) -> str | float:
        host = self._host
        now = host.clock()
        # The shared window that spans the loss may be full of other processes' requests:
        # the local share starts only a whole period after Redis was lost.
        clean = self._lost_at + host.rate.period * 1.001
        delay = max(self._own.ready_at(now), host.cool_until, clean) - now
        if delay > 0:
            return delay
        return self._granted(f"{self._proc}|{next(self._numbers)}")

    def _granted(self, key: str) -> str:
        self._own.start()
        self._own_flight.add(key)
        return key

    def complete(self, key: str, *, sent: bool) -> bool:
        """Record the release in this process's own record and send it on the heartbeat task.

        Returns True while the local share decides (Redis away) or for a slot freed at once
        (``sent=False``); otherwise the waiting head learns of the free slot from Redis.
        """
        now = self._host.clock()
        if sent:
            self._own.complete(now)
            self._own_done.append((now, key))
        else:
            self._own.abandon()
        self._own_flight.discard(key)
        self._forget_old(now)
        self._pending.append((key, sent))
        self._wake.set()
        # A slot this process alone decides on, or one freed at once: the head may go.
        return self._lost or not sent

    def _forget_old(self, now: float) -> None:
        keep = self._host.rate.period * 1.001
        done = self._own_done
        while done and done[0][0] + keep <= now:
            done.popleft()

    def left_queue(self) -> None:
        """Take this process out of Redis's queue (on the heartbeat task)."""
        self._pending_leave = True
        self._wake.set()

    def cooled(self, seconds: float) -> None:
        """Hold every process sharing the budget back for ``seconds`` (sent on the heartbeat
        task)."""
        self._pending_cool = max(self._pending_cool or 0.0, seconds)
        self._wake.set()

    def lowered(self, limit: int) -> None:
        """Have every process sharing the budget keep ``limit`` (sent on the heartbeat task)."""
        self._pending_lower = limit
        self._wake.set()

    def rate_set(self, rate: RateLimit) -> None:
        """The local share follows ``rate``."""
        self._own.set_rate(self._share(rate))

    # ----------------------------------------------------------------- Redis

    async def _call(self, script: str, *args: str) -> Any:
        with anyio.fail_after(self.backend.timeout):
            if self._replay and script != "replay":
                await self._put_back()
            answer = await self._run(script, *args)
        self._note_epoch(str(answer[-1]))
        return answer

    async def _run(self, script: str, *args: str) -> Any:
        # Every script takes the time within which each live process is heard from: a new
        # budget's hold, and how long a waiting head may go unseen before others pass it.
        heard = repr(2 * self.backend.heartbeat + _STALE_MARGIN)
        return await self._scripts[script](
            keys=self._keys, args=[self._proc, str(self._ttl()), heard, *args]
        )

    def _note_epoch(self, epoch: str) -> None:
        """A new epoch means Redis forgot the budget: put this process's record back."""
        if self._epoch is not None and epoch != self._epoch:
            logger.warning(
                "the shared rate limit's Redis at %s lost its record (restarted or failed "
                "over): putting this process's recent requests back",
                redact_url(self.backend.url),
            )
            self._replay = True
            self._poke()
        self._epoch = epoch

    def _ttl(self) -> int:
        keep = 2 * self._host.rate.period + self.backend.dead_after + _KEY_MARGIN
        return math.ceil(keep * 1000)

    async def _put_back(self) -> None:
        """Give Redis this process's own record again, in case it lost its data."""
        now = self._host.clock()
        self._forget_old(now)
        args: list[str] = []
        for key in self._own_flight:
            args += [key, "f", "0"]
        for done_at, key in self._own_done:
            args += [key, "d", repr(done_at)]
        # Redis's clock minus ours, measured from before the call: an offset too large
        # only stamps the completions later, which keeps their slots longer.
        answer = await self._run("replay", "0")
        offset = float(answer[0]) - now
        answer = await self._run("replay", repr(offset), *args)
        self._replay = False
        self._epoch = str(answer[-1])

    def _went_away(self, error: BaseException) -> None:
        """Redis failed a call: fall back or fail, and say so once per outage."""
        if self.backend.on_unavailable == "fail":
            # Nothing is sent on a budget nobody can vouch for.
            if not self._lost:
                self._announce_lost(error, fallback=None)
            self._lost = True
            self._replay = True
            raise _unreachable(self.backend, error) from None
        if not self._lost:
            self._lost_at = self._host.clock()
            self._announce_lost(error, fallback=str(self._own_rate()))
        self._lost = True
        self._replay = True

    def _own_rate(self) -> RateLimit:
        return RateLimit(self._own.limit, self._own.period)

    def _announce_lost(self, error: BaseException, fallback: str | None) -> None:
        reason = str(_unreachable(self.backend, error).args[0])
        if fallback is None:
            logger.warning("%s: requests fail until it answers again", reason)
        else:
            logger.warning("%s: going on alone with %s until it answers again", reason, fallback)
        self._emit(RateLimitBackendLost(reason=reason, fallback=fallback))

    def _back(self) -> None:
        if self._lost:
            self._lost = False
            logger.warning(
                "the shared rate limit's Redis at %s answers again: back on the shared budget",
                redact_url(self.backend.url),
            )
            self._emit(RateLimitBackendRestored())
            self._host.wake_head()

    async def _flush(self, *, exiting: bool = False) -> None:
        pending, self._pending = self._pending, []
        leave, self._pending_leave = self._pending_leave, False
        cool, self._pending_cool = self._pending_cool, None
        lower, self._pending_lower = self._pending_lower, None
        if leave and self._host.waiting:
            leave = False  # a new waiter came meanwhile and holds the place
        args = ["1" if leave else "0", "" if cool is None else repr(cool)]
        args += ["" if lower is None else str(lower), "1" if exiting else "0"]
        for key, sent in pending:
            args += [key, "1" if sent else "0"]
        try:
            await self._call("flush", *args)
        except Exception as error:
            # Keep it all for the next try; a cool-down or a lower limit still holds here.
            self._pending[:0] = pending
            self._pending_leave = self._pending_leave or leave
            if cool is not None:
                self._pending_cool = max(self._pending_cool or 0.0, cool)
            if lower is not None:
                self._pending_lower = min(self._pending_lower or lower, lower)
            if not exiting:
                # Told once; the requests that try to start will raise it themselves.
                with contextlib.suppress(RateLimitBackendError):
                    self._went_away(error)
            return
        self._back()

    async def _flush_loop(self) -> None:
        while not self._closed:
            with anyio.move_on_after(self.backend.heartbeat):
                await self._wake.wait()
            self._wake = anyio.Event()
            with anyio.CancelScope(shield=True):
                await self._flush()


class RedisRateLimiter(RateLimiter):
    """A :class:`RateLimiter` whose budget is a :class:`RedisBudget`, shared on Redis by every
    process on a credential.

    It adds nothing to the limiter's behaviour: it makes the budget and shows what the
    pipeline and tests read of it. Start it with :meth:`start` (the client does, on
    ``async with``) and stop it with :meth:`aclose`; :meth:`acquire` starts it if nobody did.
    :attr:`in_flight` counts this process's permits only.

    Args:
        rate, backend, client_id, api_url, emit, redis_client: as for :class:`RedisBudget`.
        lower_after, on_lowered: as for :class:`RateLimiter`; a lowered limit is shared.
    """

    def __init__(
        self,
        rate: RateLimit,
        backend: RedisBackend,
        *,
        client_id: str,
        api_url: str,
        emit: Callable[[ClientEvent], None] = lambda event: None,
        lower_after: int = 3,
        on_lowered: Callable[[RateLimit, RateLimit], None] | None = None,
        redis_client: redis.asyncio.Redis | None = None,
    ) -> None:
        self._shared_budget = RedisBudget(
            rate,
            backend,
            client_id=client_id,
            api_url=api_url,
            emit=emit,
            redis_client=redis_client,
        )
        super().__init__(
            rate, budget=self._shared_budget, lower_after=lower_after, on_lowered=on_lowered
        )

    @property
    def budget(self) -> RedisBudget:
        """The shared budget this limiter counts its slots in."""
        return self._shared_budget

    @property
    def backend(self) -> RedisBackend:
        """The Redis server and how to behave when it is away."""
        return self._shared_budget.backend

    @property
    def redis(self) -> redis.asyncio.Redis:
        """The redis-py client the budget uses (the shared token uses it too)."""
        return self._shared_budget.redis

    @property
    def token_key(self) -> str:
        """The Redis key of the credential's shared access token."""
        return self._shared_budget.token_key

    @property
    def shared(self) -> bool:
        """Whether the budget is on Redis now (False while falling back to a local share)."""
        return self._shared_budget.shared
