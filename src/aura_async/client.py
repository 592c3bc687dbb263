"""``AuraClient``: owns the HTTP client, the rate limiter, the token, and the resources."""

from __future__ import annotations

from collections.abc import Collection
from types import TracebackType
from typing import Any

import anyio
import httpx

from aura_async._http.limiter import RateLimiter
from aura_async._http.pipeline import Pipeline
from aura_async.backends import RedisBackend
from aura_async.config import DEFAULT_BASE_URL, DEFAULT_LIMITS, DEFAULT_TIMEOUT, ClientSettings
from aura_async.events import EventHook
from aura_async.fleet.fleet import Fleet
from aura_async.lifecycle.bus import EventBus, Subscription
from aura_async.lifecycle.operations import PollPolicy
from aura_async.lifecycle.watcher import Watcher
from aura_async.policies import RateLimit, RetryPolicy
from aura_async.resources import CustomerManagedKeys, GraphAnalytics, Instances, Snapshots, Tenants
from aura_async.resources._project import DefaultProject
from aura_async.resources.catalogue import Catalogue

__all__ = ["AuraClient"]

_PAID = RateLimit.paid()


class AuraClient:
    """An asyncio client for the Aura management API (v1).

    Use it as an async context manager, one per credential, shared by every task::

        async with AuraClient(client_id, client_secret, tenant_id=project) as aura:
            created = await aura.instances.create(name="db", type="free-db")

    Args:
        client_id: the API client id.
        client_secret: its secret (never shown in a repr, log or error).
        tenant_id: the default project (tenant) for calls that take one. Without it (nor
            ``AURA_TENANT_ID`` in :meth:`from_env`), the account's only project, found by
            listing the projects once when first needed; with several, those calls raise a
            ValidationError that lists them.
        base_url: the API host; the client appends ``/v1``.
        auth_url: the token endpoint (default ``<base_url>/oauth/token``).
        rate_limit: what the client allows itself: ``RateLimit.paid()`` (125/min, default),
            ``RateLimit.free()`` (25/min), any ``RateLimit(count, period)``, text as
            ``AURA_RATE_LIMIT`` takes it (``"25/60"``, ``"free"``), or None for none.
        rate_limit_backend: keep the rate budget on Redis, shared by every process using
            this credential: a :class:`~aura_async.backends.RedisBackend` or its URL
            (``AURA_RATE_LIMIT_REDIS_URL``). Default None: this process alone.
        timeout: per-request timeouts (default 30 s, connect 10 s, pool 120 s).
        limits: the connection pool (default 64 connections).
        retry: when failed requests are resent (default: 5 resends, backoff 0.5 s to 8 s).
        settings: a ready :class:`~aura_async.config.ClientSettings` instead of the above.
        transport: an httpx transport to send through (e.g. ``httpx.ASGITransport`` for the
            emulator in process).
        on_event: called with every event: the client's (:mod:`aura_async.events`) and the
            lifecycle's (:mod:`aura_async.lifecycle.events`).
        poll: how waits poll (default: Aura's real durations; ``PollPolicy().scaled(f)`` for
            an emulator whose clock runs faster).

    Raises:
        ConfigurationError: missing credentials or a malformed setting.
    """

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        tenant_id: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        auth_url: str | None = None,
        rate_limit: RateLimit | str | None = _PAID,
        rate_limit_backend: RedisBackend | str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_LIMITS,
        retry: RetryPolicy | None = None,
        settings: ClientSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_event: EventHook | None = None,
        poll: PollPolicy | None = None,
    ) -> None:
        if settings is None:
            settings = ClientSettings(
                client_id=client_id or "",
                client_secret=client_secret or "",
                tenant_id=tenant_id,
                base_url=base_url,
                auth_url=auth_url,
                rate_limit=rate_limit,
                timeout=timeout,
                limits=limits,
                retry=retry or RetryPolicy(),
                rate_limit_backend=rate_limit_backend,
            )
        self.settings = settings
        self._bus = EventBus(on_event)  # type: ignore[arg-type]
        self._pipeline = Pipeline(settings, transport=transport, on_event=self._bus.publish)
        self.watcher = Watcher(poll or PollPolicy(), self._bus.publish, rate=self._poll_budget)
        self.tenants = Tenants(self._pipeline, self.watcher)
        # What each project may create: read once per project, for the client's life, and
        # shared by everything on it (a fleet of creates costs one GET).
        self.catalogue = Catalogue(self.tenants.get)
        self.instances = Instances(self._pipeline, self.watcher)
        self.instances.catalogue = self.catalogue
        self.snapshots = Snapshots(self._pipeline, self.watcher)
        self.customer_managed_keys = CustomerManagedKeys(self._pipeline, self.watcher)
        self.graph_analytics = GraphAnalytics(self._pipeline, self.watcher)
        # With no project configured, the account's only one: listed once, on first need,
        # and shared by every resource.
        default_project = DefaultProject(self.tenants.list)
        for resource in (
            self.tenants,
            self.instances,
            self.snapshots,
            self.customer_managed_keys,
            self.graph_analytics,
        ):
            resource._project = default_project
        self.fleet = Fleet(
            self.instances,
            self.snapshots,
            self.watcher,
            self._bus.publish,
            tenant_id=settings.tenant_id,
            rate=lambda: self.limiter.rate if self.limiter is not None else None,
            server_now=self._pipeline.server_clock.now,
        )

    @classmethod
    def from_env(
        cls,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_event: EventHook | None = None,
        poll: PollPolicy | None = None,
        **overrides: Any,
    ) -> AuraClient:
        """Build a client from AURA_* variables and a ``.env`` file; keyword arguments win.

        Raises:
            ConfigurationError: missing credentials (naming the variables) or a bad value.
        """
        settings = ClientSettings.from_env(**overrides)
        return cls(settings=settings, transport=transport, on_event=on_event, poll=poll)

    @property
    def limiter(self) -> RateLimiter | None:
        """The client's rate limiter (None when disabled)."""
        return self._pipeline.limiter

    def _poll_budget(self) -> tuple[int, float] | None:
        """The request budget the watcher plans a fleet's polls in: (requests, seconds)."""
        limiter = self._pipeline.limiter
        if limiter is None:
            return None
        return limiter.rate.limit, limiter.rate.period

    @property
    def tenant_id(self) -> str | None:
        """The default project id."""
        return self.settings.tenant_id

    def events(
        self,
        *,
        resource_ids: Collection[str] | None = None,
        kinds: Collection[type[Any]] | None = None,
        buffer: int = 1000,
    ) -> Subscription:
        """Subscribe to events: ``async with aura.events() as events: async for e in events``.

        Each subscriber has its own bounded buffer; one that falls behind loses the newest
        events (counted in ``Subscription.dropped``) and never slows the client down.

        Args:
            resource_ids: only events about these instances (snapshots, keys, sessions).
            kinds: only events of these classes.
            buffer: events held for a slow reader.

        Raises:
            ValueError: if ``buffer`` is not positive.
        """
        return self._bus.subscribe(resource_ids=resource_ids, kinds=kinds, buffer=buffer)

    async def aclose(self) -> None:
        """Cancel every wait, end every subscription, close the connection pool.

        Waits still running raise :class:`~aura_async.errors.WaitCancelledError`.
        """
        self.watcher.close()
        # Give the cancelled waits a moment to publish WaitCancelled before the streams end.
        with anyio.move_on_after(1):
            await self.watcher.drained()
        self._bus.close()
        await self._pipeline.aclose()

    async def __aenter__(self) -> AuraClient:
        """Connect a shared budget's Redis, if the client has one.

        Raises:
            RateLimitBackendError: that Redis does not answer.
        """
        try:
            await self._pipeline.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"AuraClient(base_url={self.settings.base_url!r}, tenant_id={self.tenant_id!r}, "
            f"rate_limit={str(self.settings.rate_limit) if self.settings.rate_limit else None})"
        )
