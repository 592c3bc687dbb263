"""``aura.instances``: list, inspect, create, change, pause, resume, overwrite, upgrade, delete,
and verify (connect with the official driver)."""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from aura_async._http.pipeline import Pipeline
from aura_async._validation import (
    check_count,
    check_enum,
    check_id,
    check_instance_id,
    check_name,
    check_no_controls,
    check_size,
    check_strings,
    check_tenant_id,
    check_text,
)
from aura_async.errors import (
    AuraError,
    BadRequestError,
    ConflictError,
    CreateOutcomeUnknownError,
    CredentialStoreError,
    NotFoundError,
    OngoingOperationError,
    ResponseValidationError,
    ValidationError,
    VerifyAuthError,
    VerifyError,
    VerifyUnreachableError,
    WaitError,
    WaitFailedError,
    WaitTimeoutError,
)
from aura_async.lifecycle.connectivity import (
    QUERY,
    Connectivity,
    Login,
    check_connectable,
    check_login,
)
from aura_async.lifecycle.events import Connectable, VerifyFailed
from aura_async.lifecycle.operations import Operation, Target
from aura_async.lifecycle.watcher import Watcher
from aura_async.models import (
    CdcEnrichmentMode,
    CloudProvider,
    CreatedInstance,
    Instance,
    InstanceSizing,
    InstanceStatus,
    InstanceSummary,
    InstanceType,
)
from aura_async.resources._base import ACTION, CREATE, READ, Resource, body, check_timeout
from aura_async.resources._sightings import Listings, Sightings
from aura_async.resources.catalogue import (
    Catalogue,
    check_offered,
    check_offline,
    check_sizes_offered,
    check_sizes_offline,
)
from aura_async.resources.tenants import Tenants

__all__ = ["Instances"]

# What the official CLI sends for AuraDB Free, which has exactly one configuration.
_FREE_DEFAULTS = {"region": "europe-west1", "memory": "1GB", "cloud_provider": "gcp"}


class Instances(Resource):
    """Database instances. Every change is asynchronous: the answer comes when it starts."""

    def __init__(self, pipeline: Pipeline, watcher: Watcher) -> None:
        super().__init__(pipeline, watcher)
        self._sightings = Sightings()
        self._listings = Listings(self._fetch_list)

    async def list(
        self, tenant_id: str | None = None, *, sent_after: float | None = None
    ) -> builtins.list[InstanceSummary]:
        """List instance summaries (no status: get each instance for that).

        Args:
            tenant_id: only this project's; defaults to the client's project, or all
                projects when the client has none.
            sent_after: a monotonic time (``anyio.current_time()``): any listing of the
                project started since then will do, one in flight included, so concurrent
                callers that only need the project's state after some moment (a fleet's
                items, each confirming a 404) share one request.

        Raises:
            ValidationError: a malformed project id or ``sent_after``; nothing was sent.
            AuraError: on any other failure.
        """
        tenant = self._default_tenant(tenant_id)
        if sent_after is None:
            return await self._fetch_list(tenant)
        if (
            isinstance(sent_after, bool)
            or not isinstance(sent_after, int | float)
            or not math.isfinite(sent_after)
        ):
            raise ValidationError(
                f"sent_after must be a moment of anyio.current_time(); got {sent_after!r}",
                field="sent_after",
            )
        return await self._listings.sent_after(tenant, sent_after)

    async def _fetch_list(self, tenant: str | None) -> builtins.list[InstanceSummary]:
        """One listing request: of ``tenant``'s instances, or of every project's when None."""
        params = {"tenantId": tenant} if tenant else None
        listed = await self._call(
            "GET", "/instances", list[InstanceSummary], kind=READ, params=params
        )
        self._sightings.saw_listed(listed)
        return listed

    async def get(self, instance_id: str) -> Instance:
        """Return an instance with its current status.

        Raises:
            NotFoundError: no such instance (a just-created one may briefly be missing).
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        found = await self._call("GET", f"/instances/{instance_id}", Instance, kind=READ)
        self._sightings.saw_one(found)
        return found

    async def create(
        self,
        *,
        name: str,
        type: InstanceType | str,
        region: str | None = None,
        memory: str | None = None,
        cloud_provider: CloudProvider | str | None = None,
        version: str = "5",
        tenant_id: str | None = None,
        storage: str | None = None,
        source_instance_id: str | None = None,
        source_snapshot_id: str | None = None,
        customer_managed_key_id: str | None = None,
        vector_optimized: bool | None = None,
        graph_analytics_plugin: bool | None = None,
        wait: bool = False,
        timeout: float | None = None,
        on_created: Callable[[CreatedInstance], Awaitable[None]] | None = None,
    ) -> CreatedInstance:
        """Start creating an instance; the answer holds its only copy of the password.

        AuraDB Free (``type="free-db"``) needs no region, memory or cloud: it has one
        configuration (GCP, 1GB). Other types need all three; the project's configurations
        (``aura.tenants.get()``) list what it offers.

        A create is never resent after it may have reached the server: an ambiguous failure
        raises :class:`~aura_async.errors.CreateOutcomeUnknownError` so the caller can look
        the name up instead of creating a duplicate.

        With ``wait=True`` it returns once the instance is running (``timeout`` seconds at the
        most, the policy's default when None, not at all when 0).

        Cancelling the call while the create waits for the rate limiter sends nothing; once
        the request has its slot it is carried through to the answer, and ``on_created`` (an
        async callable, the place to persist the password) is awaited with that answer under
        the same shield, before anything else happens. The cancellation is delivered after.

        Before anything is sent the configuration is checked against the project's own
        (:meth:`validate_create`: one GET of the project per client, or offline rules when it
        cannot be read).

        Raises:
            ValidationError: invalid input, or a configuration the project does not offer
                (the message names the field and what is offered); nothing was sent.
            WaitError: waiting failed (the instance broke), timed out or was cancelled by
                closing the client; its ``created`` holds the answer with the password.
                (A cancel from outside the call loses it: wait separately to be safe.)
            CreateOutcomeUnknownError: the create failed after it may have been carried out.
            CredentialStoreError: ``on_created`` raised; its ``created`` holds the answer.
            BadRequestError: the project does not offer the configuration.
            NotAllowedError: the project's instance quota is reached.
            AuraError: on any other failure.
        """
        check_timeout(timeout)
        payload = await self.validate_create(
            name=name,
            type=type,
            region=region,
            memory=memory,
            cloud_provider=cloud_provider,
            version=version,
            tenant_id=tenant_id,
            storage=storage,
            source_instance_id=source_instance_id,
            source_snapshot_id=source_snapshot_id,
            customer_managed_key_id=customer_managed_key_id,
            vector_optimized=vector_optimized,
            graph_analytics_plugin=graph_analytics_plugin,
        )
        started = dt.datetime.now(dt.UTC)

        async def commit(data: Any) -> CreatedInstance:
            try:
                created = self._parse(data, CreatedInstance, "POST", "/instances")
            except ResponseValidationError as error:
                # The instance exists and this answer holds its only password: hand back what
                # can be read of it rather than lose it with the parse failure.
                raw = data if isinstance(data, dict) else {}
                text = {k: v for k, v in raw.items() if isinstance(v, str) and v}
                raise CreateOutcomeUnknownError(
                    name,
                    started,
                    error,
                    instance_id=text.get("id"),
                    username=text.get("username"),
                    password=text.get("password"),
                ) from None
            self._sightings.saw_one(created)
            if on_created is not None:
                await _run_hook(on_created, created)
            return created

        created: CreatedInstance = await self._pipeline.request(
            "POST", "/instances", kind=CREATE, json=payload, create_name=name, commit=commit
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        if wait and timeout != 0:
            try:
                await self.wait(
                    created.id, Operation.CREATE, name=name, submitted=submitted, timeout=timeout
                )
            except WaitError as error:
                error.created = created  # the only copy of the password rides on the error
                raise
        return created

    def check_create(
        self,
        *,
        name: str,
        type: InstanceType | str,
        region: str | None = None,
        memory: str | None = None,
        cloud_provider: CloudProvider | str | None = None,
        version: str = "5",
        tenant_id: str | None = None,
        storage: str | None = None,
        source_instance_id: str | None = None,
        source_snapshot_id: str | None = None,
        customer_managed_key_id: str | None = None,
        vector_optimized: bool | None = None,
        graph_analytics_plugin: bool | None = None,
    ) -> dict[str, Any]:
        """Check :meth:`create`'s arguments without sending anything; return the request body.

        The offline checks only: what the project offers is checked by
        :meth:`validate_create`, which :meth:`create` calls. With no project named or
        configured, the body has no ``tenant_id`` until the account's only project is known
        (:meth:`validate_create` lists the projects once per client to find it).

        Raises:
            ValidationError: the arguments are invalid (the message names the field).
        """
        check_name(name)
        kind = check_enum(type, InstanceType, "type")
        # With no project named or configured, the body's tenant_id is left for
        # validate_create to fill in (the account's only project, which takes a listing).
        tenant = self._known_tenant(tenant_id)
        if tenant is None and self._project is None:
            tenant = self._tenant(tenant_id)  # raises: nothing could fill it in later
        if tenant is not None:
            check_tenant_id(tenant)
        if kind is InstanceType.FREE_DB:
            # Only what was left out is defaulted: an empty string is an error to report.
            region = _FREE_DEFAULTS["region"] if region is None else region
            memory = _FREE_DEFAULTS["memory"] if memory is None else memory
            if cloud_provider is None:
                cloud_provider = _FREE_DEFAULTS["cloud_provider"]
            _check_free(memory, cloud_provider, storage, customer_managed_key_id)
        for field, value in (
            ("region", region),
            ("memory", memory),
            ("cloud_provider", cloud_provider),
        ):
            if value is None:
                raise ValidationError(
                    f"{field} is required for {kind.value} instances", field=field
                )
        cloud = check_enum(cloud_provider, CloudProvider, "cloud_provider")
        check_no_controls(check_text(region, "region"), "region")
        check_size(memory, "memory")
        check_no_controls(check_text(version, "version"), "version")
        if storage is not None:
            check_size(storage, "storage")
        if source_instance_id is not None:
            check_instance_id(source_instance_id, "source_instance_id")
        if source_snapshot_id is not None:
            if source_instance_id is None:
                raise ValidationError(
                    "source_snapshot_id needs source_instance_id (the snapshot's instance)",
                    field="source_snapshot_id",
                )
            check_id(source_snapshot_id, "source_snapshot_id")
        if customer_managed_key_id is not None:
            check_id(customer_managed_key_id, "customer_managed_key_id")
        payload = body(
            version=version,
            region=region,
            memory=memory,
            name=name,
            type=kind.value,
            tenant_id=tenant,
            cloud_provider=cloud.value,
            storage=storage,
            source_instance_id=source_instance_id,
            source_snapshot_id=source_snapshot_id,
            customer_managed_key_id=customer_managed_key_id,
            vector_optimized=_flag(vector_optimized, "vector_optimized"),
            graph_analytics_plugin=_flag(graph_analytics_plugin, "graph_analytics_plugin"),
        )
        return payload

    # What the client's projects offer; the client shares its own (one GET per project).
    _catalogue: Catalogue | None = None

    @property
    def catalogue(self) -> Catalogue:
        """What the projects offer, as the create and resize checks read it (one GET per
        project; the client sets its own, shared by everything on it)."""
        if self._catalogue is None:
            self._catalogue = Catalogue(Tenants(self._pipeline, self._watcher).get)
        return self._catalogue

    @catalogue.setter
    def catalogue(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue

    async def validate_create(self, **create_arguments: Any) -> dict[str, Any]:
        """Check :meth:`create`'s arguments, against the project's offer too; nothing is created.

        First :meth:`check_create` (offline), then the type, cloud, region, memory, version
        and storage against the project's instance configurations (``GET /tenants/{id}``,
        read once per project and kept for the client's life, so a fleet pays one GET).
        Where the configurations cannot be read, offline rules apply instead (Aura's memory
        and storage sizes, versions 4 and 5, each cloud's region names) and the server has
        the last word: the catalogue being unreadable never fails a create by itself.

        Args:
            create_arguments: the keyword arguments of :meth:`create` that make its body
                (name, type, region, memory, cloud_provider, version, tenant_id, storage,
                source_instance_id, source_snapshot_id, customer_managed_key_id,
                vector_optimized, graph_analytics_plugin).

        Returns:
            The request body :meth:`create` would send.

        Raises:
            ValidationError: invalid arguments, a configuration the project does not offer
                (the message names the field and what is offered), or no project named or
                configured and the account has none or several (listed). Nothing was sent
                but (at most once per client) the listing of the projects and (at most once
                per project) the read of the project.
        """
        payload = self.check_create(**create_arguments)
        if "tenant_id" not in payload:
            # Every local check passed: only now may the account's projects be listed.
            payload["tenant_id"] = check_tenant_id(await self._resolve_tenant(None))
        tenant = payload["tenant_id"]
        wanted = {
            "cloud_provider": payload["cloud_provider"],
            "region": payload["region"],
            "memory": payload["memory"],
            "version": payload["version"],
            "storage": payload.get("storage"),
        }
        configurations = await self.catalogue.configurations(tenant)
        if configurations is None:
            check_offline(**wanted)
        else:
            check_offered(configurations, tenant_id=tenant, type=payload["type"], **wanted)
        return payload

    async def validate_resize(
        self, *, memory: str | None, storage: str | None, tenant_id: str | None = None
    ) -> None:
        """Check resize sizes against the sizes the project offers at all (any tier).

        The project is ``tenant_id``, else the client's; the sizes are checked against its
        instance configurations (read once per client, see :meth:`validate_create`), or by
        Aura's known sizes when they cannot be read or no project is known. Whether the
        instance's own tier offers the size is for the server to say (summaries carry no
        type).

        Raises:
            ValidationError: a malformed size or project id, or a size the project does not
                offer (the message lists those it does); nothing was sent but (at most once
                per project) the read of the project.
        """
        if memory is not None:
            check_size(memory, "memory")
        if storage is not None:
            check_size(storage, "storage")
        if memory is None and storage is None:
            return
        tenant = self._default_tenant(tenant_id)
        if tenant is not None:
            configurations = await self.catalogue.configurations(check_tenant_id(tenant))
            if configurations is not None:
                check_sizes_offered(
                    configurations, memory=memory, storage=storage, tenant_id=tenant
                )
                return
        check_sizes_offline(memory=memory, storage=storage)

    async def wait(
        self,
        instance_id: str,
        operation: Operation | str = Operation.CREATE,
        *,
        memory: str | None = None,
        storage: str | None = None,
        name: str | None = None,
        submitted: float | None = None,
        timeout: float | None = None,
        cohort: bool = False,
    ) -> Instance | None:
        """Wait until an operation on an instance is done, wherever it was started.

        Each operation has its own rule: ``create`` and ``resume`` wait for running, ``pause``
        for paused, ``delete`` for the instance to be gone (then None is returned), ``resize``
        for running with the given ``memory``/``storage``, ``overwrite``, ``restore`` and
        ``update`` for running after the operation was seen (or after long enough). A
        destroyed or failed instance ends the wait with an error; a brief 404 after a create
        is tolerated. Cancel it like any awaitable (a cancel scope, or its task).

        Args:
            instance_id: the instance.
            operation: what to wait for.
            memory: for ``resize``, the memory it must reach.
            storage: for ``resize``, the storage it must reach.
            name: the instance's name, for events.
            submitted: when the operation was submitted (``anyio.current_time()``); now
                when None.
            timeout: seconds at the most (the policy's default per operation when None).
            cohort: this wait is one of many like it (a fleet's): poll for the time the
                slowest of them is seen done, not for this one's own lag.

        Raises:
            ValidationError: an unknown operation, a resize without a well-formed memory or
                storage, a malformed id, or a negative timeout; nothing was sent.
            WaitFailedError: the instance reached a state the operation cannot recover from.
            WaitTimeoutError: the timeout passed; the operation may still finish.
            WaitCancelledError: the client was closed.
        """
        check_instance_id(instance_id)
        op = _instance_operation(operation)
        if op is Operation.RESIZE and memory is None and storage is None:
            raise ValidationError(
                "a resize wait needs the memory or storage to reach", field="memory"
            )
        if memory is not None:
            check_size(memory, "memory")
        if storage is not None:
            check_size(storage, "storage")
        if op is Operation.DELETE:
            check_timeout(timeout)
            await self._until_gone(
                instance_id,
                send=False,
                name=name,
                submitted=submitted,
                timeout=timeout,
                cohort=cohort,
            )
            return None
        target = self._target(op, memory=memory, storage=storage)
        fetch: Callable[[], Awaitable[Instance]] = functools.partial(self.get, instance_id)
        if op is Operation.CREATE:
            started = anyio.current_time() if submitted is None else submitted
            fetch = self._found_or_listed(instance_id, target, started)
        result = await self._await(
            instance_id,
            fetch,
            target,
            name=name,
            submitted=submitted,
            timeout=timeout,
            cohort=cohort,
        )
        return result if isinstance(result, Instance) else None

    async def verify(
        self,
        credentials: Login,
        *,
        timeout: float | None = None,
        query: str = QUERY,
    ) -> Connectivity:
        """Prove that an instance accepts connections: connect with the official driver and
        run ``query`` (``RETURN 1``) with its saved user name and password.

        ``credentials`` is a create's answer (:class:`~aura_async.models.CreatedInstance`),
        the ledger's :class:`~aura_async.fleet.Credentials`, or anything with
        ``connection_url``, ``username`` and ``password``. Without a URL (the live service
        may send none at first) the instance is read for it. Refused connections and names
        that do not resolve yet are tried again, pausing from the policy's
        ``min_interval`` up to a third of its ``max_interval``, until ``timeout`` seconds
        (the policy's ``verify_timeout`` when None); a refused password is tried once.
        Publishes :class:`~aura_async.lifecycle.events.Connectable` or
        :class:`~aura_async.lifecycle.events.VerifyFailed`. Needs ``aura-async[verify]``
        and asyncio.

        Raises:
            ConfigurationError: the driver (``neo4j``) is not installed.
            ValidationError: no URL, user name or password, or a negative timeout.
            VerifyAuthError: the password was refused: the saved copy is stale.
            VerifyUnreachableError: nothing accepted a connection before the timeout.
            VerifyError: the driver refused the URL, or the server refused the query.
            AuraError: reading the instance for its URL failed.
        """
        check_timeout(timeout)
        instance_id = str(
            getattr(credentials, "instance_id", None) or getattr(credentials, "id", "") or ""
        )
        name = getattr(credentials, "name", None)
        check_login(credentials.username, credentials.password, instance_id)
        url = credentials.connection_url
        if not url and instance_id:
            url = (await self.get(instance_id)).connection_url
        began = self._watcher.now()

        def stamp() -> dict[str, Any]:
            now = self._watcher.now()
            return {
                "resource_id": instance_id,
                "name": name if isinstance(name, str) else None,
                "at": dt.datetime.now(dt.UTC),
                "monotonic": now,
                "elapsed": now - began,
            }

        try:
            found = await check_connectable(
                url or "",
                credentials.username,
                credentials.password,
                policy=self._watcher.policy,
                timeout=timeout,
                instance_id=instance_id,
                query=query,
                clock=self._watcher.now,
            )
        except VerifyError as error:
            reason = (
                "auth"
                if isinstance(error, VerifyAuthError)
                else "unreachable"
                if isinstance(error, VerifyUnreachableError)
                else "error"
            )
            self._watcher.publish(
                VerifyFailed(
                    reason=reason, message=error.message, attempts=error.attempts, **stamp()
                )
            )
            raise
        self._watcher.publish(Connectable(attempts=found.attempts, server=found.server, **stamp()))
        return found

    def _found_or_listed(
        self, instance_id: str, target: Target, started: float
    ) -> Callable[[], Awaitable[Instance]]:
        """A create wait's poll, which looks again before a 404 can end the wait.

        A 404 past the grace (the not-found window after the first poll) is checked against
        a listing: an instance still listed exists, so it is inside its creation's 404
        window, which is then at least as long as it has been known: the window is learnt
        (and the wait, judged against it, goes on). The 404 is the poll's answer either way.
        """

        async def fetch() -> Instance:
            try:
                return await self.get(instance_id)
            except NotFoundError as missing:
                now = anyio.current_time()
                window = self._watcher.not_found_window()
                if now - started >= target.not_found_grace + window:
                    try:
                        listed = await self._still_listed(instance_id, now)
                    except AuraError:
                        raise missing from None  # (no better knowledge: the 404 stands)
                    if listed:
                        self._learn_window(instance_id, anyio.current_time())
                raise

        return fetch

    async def update(
        self,
        instance_id: str,
        *,
        name: str | None = None,
        memory: str | None = None,
        storage: str | None = None,
        vector_optimized: bool | None = None,
        graph_analytics_plugin: bool | None = None,
        secondaries_count: int | None = None,
        cdc_enrichment_mode: CdcEnrichmentMode | str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> Instance:
        """Rename, resize or reconfigure an instance.

        A rename is immediate; anything else starts an operation, and the instance reports
        its OLD memory until it is done. With ``wait=True`` it returns once the new values
        show and the instance runs again.

        A new memory or storage is first checked against the sizes the project offers
        (:meth:`validate_resize`).

        Raises:
            ValidationError: invalid input, a size the project does not offer, or nothing
                to change; nothing was sent.
            OngoingOperationError: another operation is in flight.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_timeout(timeout)
        if name is not None:
            check_name(name)
        if memory is not None:
            check_size(memory, "memory")
        if storage is not None:
            check_size(storage, "storage")
        if secondaries_count is not None and (
            isinstance(secondaries_count, bool)
            or not isinstance(secondaries_count, int)
            or secondaries_count < 0
        ):
            raise ValidationError(
                "secondaries_count must be a non-negative integer", field="secondaries_count"
            )
        cdc = (
            check_enum(cdc_enrichment_mode, CdcEnrichmentMode, "cdc_enrichment_mode").value
            if cdc_enrichment_mode is not None
            else None
        )
        payload = body(
            name=name,
            memory=memory,
            storage=storage,
            vector_optimized=_flag(vector_optimized, "vector_optimized"),
            graph_analytics_plugin=_flag(graph_analytics_plugin, "graph_analytics_plugin"),
            secondaries_count=secondaries_count,
            cdc_enrichment_mode=cdc,
        )
        if not payload:
            raise ValidationError("update needs at least one thing to change")
        await self.validate_resize(memory=memory, storage=storage)
        resizing = (InstanceStatus.RESIZING, InstanceStatus.UPDATING)
        result = await self._send(
            instance_id,
            "PATCH",
            "",
            payload,
            lambda i: i.status in resizing,
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        if not wait or timeout == 0 or set(payload) == {"name"}:
            return result
        op = Operation.RESIZE if memory is not None or storage is not None else Operation.UPDATE
        waited = await self.wait(
            instance_id,
            op,
            memory=memory,
            storage=storage,
            name=result.name,
            submitted=submitted,
            timeout=timeout,
        )
        return waited or result

    async def delete(
        self,
        instance_id: str,
        *,
        wait: bool = False,
        timeout: float | None = None,
        cohort: bool = False,
    ) -> Instance | None:
        """Delete an instance (there is no way back).

        Without ``wait``, one request: returns the instance as it starts ``destroying``, or
        None when a resend after an ambiguous failure found it already gone (the first
        attempt did the work).

        With ``wait=True``, returns None once the instance is proven gone: a 404 (on the
        DELETE, or on a GET after it) counts only when the instance is also missing from a
        listing sent after that 404 and its creation lies further back than the window in
        which the live service answers 404 for a just-created instance. Until then it keeps
        at it: it waits out that window and deletes again, and waits out another operation
        in flight (409), so a delete sent right after a create still deletes it.

        Args:
            instance_id: the instance.
            wait: wait until the instance is proven gone.
            timeout: seconds to wait at the most (the policy's default when None; 0: send
                one request and do not wait).
            cohort: this delete is one of many like it (a fleet's): poll for the time the
                slowest of them is seen gone.

        Raises:
            ValidationError: a malformed id or timeout; nothing was sent.
            NotFoundError: (without wait) no such instance, or one created too recently to
                be found yet (live Aura answers 404 for a while after a create).
            OngoingOperationError: (without wait) another operation is in flight.
            WaitTimeoutError: (with wait) it was not proven gone within ``timeout``: it may
                still exist (the message says what was last seen).
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_timeout(timeout)
        if wait and timeout != 0:
            await self.ensure_deleted(instance_id, wait=True, timeout=timeout, cohort=cohort)
            return None
        data = await self._pipeline.request("DELETE", f"/instances/{instance_id}", kind=ACTION)
        if data is None:
            return None
        deleting = self._parse(data, Instance, "DELETE", f"/instances/{instance_id}")
        self._sightings.saw_one(deleting)
        return deleting

    async def ensure_deleted(
        self,
        instance_id: str,
        *,
        wait: bool = True,
        timeout: float | None = None,
        cohort: bool = False,
    ) -> bool:
        """Delete an instance and make sure of it, whatever the service first answers.

        Returns once the service accepted the delete (202) and, with ``wait``, once the
        instance is gone: True; or once it is proven absent with no delete of it accepted
        nor seen under way (it was gone already): False. A 404 is never taken at its word:
        live Aura answers 404 for a just-created instance for a while, so a 404 counts only
        when the instance is also missing from a listing sent after it and its creation lies
        further back than that window; until then the delete is sent again after the
        window, and another operation in flight (409) is waited out. This is what fleets
        and ``delete(wait=True)`` use.

        Args:
            instance_id: the instance.
            wait: wait until the instance is gone, not only until its delete was accepted.
            timeout: seconds (the policy's delete timeout when None); as every wait's, they
                count again from the moment the delete was accepted, so that the time spent
                before (a create waited out, a window) is not taken from the delete's own.
            cohort: one of many like it (a fleet's): poll for the slowest of them.

        Raises:
            ValidationError: a malformed id or timeout; nothing was sent.
            WaitTimeoutError: not proven gone (or, with ``wait``, not gone) within
                ``timeout``: it may still exist (the message says what was last seen).
            WaitFailedError: (with ``wait``) the instance reached a state a delete cannot
                come back from.
            AuraError: a request failed for good.
        """
        check_instance_id(instance_id)
        check_timeout(timeout)
        return await self._until_gone(
            instance_id, send=True, timeout=timeout, cohort=cohort, accepted_is_enough=not wait
        )

    async def _until_gone(
        self,
        instance_id: str,
        *,
        send: bool,
        timeout: float | None,
        name: str | None = None,
        submitted: float | None = None,
        cohort: bool = False,
        accepted_is_enough: bool = False,
    ) -> bool:
        """Return once the instance is proven gone; delete it too when ``send``.

        Returns whether a deletion was seen (a DELETE accepted, or without ``send`` the one
        waited for): False when ``send`` found it absent already.

        The proof: a 404 seen once the instance's creation is older than the not-found
        window (:meth:`Watcher.not_found_window`), then a listing sent after that 404 that
        does not show it. A DELETE answered 404 inside the window is sent again after it; a
        409 (a create or another operation still in flight) is waited out. With
        ``accepted_is_enough``, a DELETE answered 202 ends it too.

        Raises:
            WaitTimeoutError: not proven gone within the timeout.
            WaitCancelledError: the client was closed.
            AuraError: a request failed for good.
        """
        policy = self._watcher.policy
        began = anyio.current_time()
        limit = policy.timeout(Operation.DELETE) if timeout is None else timeout
        # Waits count from the moment the server accepted the operation (the request may
        # have queued behind the rate limit before).
        deadline = (began if submitted is None else submitted) + limit
        pause = policy.min_interval
        accepted = not send  # without sending, the deletion is someone else's, under way
        refused_at: float | None = None  # when a DELETE last answered 404
        last = ""
        while True:
            now = anyio.current_time()
            if now >= deadline:
                raise _not_proven(instance_id, last or "nothing yet", now - began)
            if send and not accepted:
                try:
                    going = await self.delete(instance_id)
                except NotFoundError:
                    going = None
                except OngoingOperationError:
                    last = "busy with another operation"
                    if not await self._wait_out(instance_id, deadline, began, cohort=cohort):
                        pause = await self._pause(pause, deadline, instance_id, last, began)
                    continue
                if going is None:
                    # A 404 (or a resend after an ambiguous failure that met one): inside a
                    # new instance's window that proves nothing, so the DELETE stays unsent.
                    refused_at = now = anyio.current_time()
                    last = "not found"
                else:
                    accepted, submitted = True, anyio.current_time()
                    deadline = max(deadline, submitted + limit)
                    name = name or going.name
                    if refused_at is not None:
                        # It answered 404 then took the delete: the 404s were the window's.
                        self._learn_window(instance_id, refused_at)
                    if accepted_is_enough:
                        return True
            if accepted:
                await self._await(
                    instance_id,
                    functools.partial(self.get, instance_id),
                    self._target(Operation.DELETE),
                    name=name,
                    submitted=submitted,
                    timeout=max(0.0, deadline - anyio.current_time()),
                    cohort=cohort,
                )
                now = anyio.current_time()
                last = "not found"
            window = self._watcher.not_found_window()
            trusted = self._sightings.trusted_from(instance_id, window=window, otherwise=began)
            if now < trusted:
                # Too young for a 404 to mean anything: look again once it is not.
                last = "not found, too soon after its creation to count"
                await self._sleep_until(min(trusted, deadline), deadline, instance_id, last, began)
                if accepted:
                    submitted = None  # (what follows measures no delete's duration)
                continue
            # A fleet's items see their 404s a little apart: a listing that waits a tenth of
            # a delete's time for the others serves most of them.
            gather = 0.1 * self._watcher.expected(Operation.DELETE) if cohort else 0.0
            if not await self._still_listed(instance_id, now, gather=gather):
                return accepted
            last = "not found, but still listed"
            if send and not accepted:
                # Refused with a 404, yet listed: someone else is deleting it, or it is still
                # inside its creation's 404 window, which is then longer than allowed for.
                try:
                    current = await self.get(instance_id)
                except NotFoundError:
                    missing_at = anyio.current_time()
                    later = -math.inf
                    if self._learn_window(instance_id, missing_at):
                        window = self._watcher.not_found_window()
                        later = self._sightings.trusted_from(
                            instance_id, window=window, otherwise=began
                        )
                    if later > missing_at:
                        last = "not found, but listed (inside its creation's 404 window)"
                        await self._sleep_until(
                            min(later, deadline), deadline, instance_id, last, began
                        )
                        continue
                    # (Nothing learnt moves it: pause like any other look.)
                else:
                    if current.status in (InstanceStatus.DESTROYING, InstanceStatus.DELETING):
                        # Someone else's delete is under way: wait for it to end.
                        accepted, submitted = True, None
                        continue
                    last = f"{current.status}, and a delete answered 404"
            pause = await self._pause(pause, deadline, instance_id, last, began)
            if accepted:
                submitted = None

    def not_found_counts_from(self, instance_id: str) -> float:
        """The time (``anyio.current_time()``) from which a 404 for this instance means gone.

        Live Aura answers 404 for a just-created instance for a while: a 404 before this
        time proves nothing, and the call that met it may be sent again then. For an
        instance this client never saw, or one older than that window, it is ``-inf``.

        Raises:
            ValidationError: a malformed id.
        """
        check_instance_id(instance_id)
        window = self._watcher.not_found_window()
        return self._sightings.trusted_from(instance_id, window=window, otherwise=-math.inf)

    async def _still_listed(self, instance_id: str, after: float, *, gather: float = 0.0) -> bool:
        """Whether a listing sent no earlier than ``after`` (shared) still shows the instance.

        Its project's listing, or every project's for an instance never seen.

        Raises:
            AuraError: the listing failed.
        """
        sighting = self._sightings.get(instance_id)
        tenant = sighting.tenant_id if sighting is not None else None
        listed = await self._listings.sent_after(tenant, after, gather=gather)
        return any(s.id == instance_id for s in listed)

    def _learn_window(self, instance_id: str, missing_at: float) -> bool:
        """Learn from a young instance that still answered 404 at ``missing_at``.

        It existed before it was first seen, so the window is at least that long; but only
        for an instance not known to be older than the window (an old one's 404 is no
        window's; and the watcher learns no more than a create's timeout). (Its stated age
        bounds nothing here: under a compressed or skewed clock it may read as younger than
        the time this client has known it.) Returns whether it taught anything.
        """
        sighting = self._sightings.get(instance_id)
        if sighting is None:
            return False
        window = self._watcher.not_found_window()
        if self._sightings.trusted_from(instance_id, window=window, otherwise=0.0) == -math.inf:
            return False
        self._watcher.saw_not_found(missing_at - sighting.first_seen)
        return True

    async def _wait_out(
        self, instance_id: str, deadline: float, began: float, *, cohort: bool
    ) -> bool:
        """Wait for the operation in flight (a 409) to end; True when the DELETE may go at once.

        Polls are reads, which the rate limiter sends after mutations: cheaper than sending
        the DELETE again and again while a create runs its course. False (the caller pauses
        before it deletes again) when the status shows no operation to wait for, or the
        instance answers 404 meanwhile.

        Raises:
            WaitTimeoutError: the deadline passed first.
        """
        try:
            current = await self.get(instance_id)
        except NotFoundError:
            return False
        status = str(current.status)
        operation = _UNDER_WAY.get(status)
        if operation is None:
            return False
        try:
            await self.wait(
                instance_id,
                operation,
                name=current.name,
                timeout=max(0.0, deadline - anyio.current_time()),
                cohort=cohort,
            )
        except WaitFailedError as failed:
            # Ended some other way: loading failed, say, and the DELETE may go now; or not
            # found (then the caller pauses first).
            return failed.last_status != _NOT_FOUND
        except WaitTimeoutError:
            elapsed = anyio.current_time() - began
            raise _not_proven(instance_id, f"still {status}", elapsed) from None
        return True

    async def _pause(
        self, pause: float, deadline: float, instance_id: str, last: str, began: float
    ) -> float:
        """Sleep ``pause`` (jittered) before looking again; return the next, longer pause.

        Raises:
            WaitTimeoutError: the deadline comes first.
        """
        wake = anyio.current_time() + pause * random.uniform(1.0, 1.25)
        await self._sleep_until(min(wake, deadline), deadline, instance_id, last, began)
        return min(pause * 2, self._watcher.policy.max_interval)

    async def _sleep_until(
        self, when: float, deadline: float, instance_id: str, last: str, began: float
    ) -> None:
        """Sleep until ``when``; past the deadline, give up.

        Raises:
            WaitTimeoutError: the deadline has passed (or ``when`` is the deadline).
        """
        now = anyio.current_time()
        if now >= deadline or when >= deadline:
            await anyio.sleep(max(0.0, deadline - now))
            raise _not_proven(instance_id, last, anyio.current_time() - began)
        await anyio.sleep(max(0.0, when - now))

    async def pause(
        self, instance_id: str, *, wait: bool = False, timeout: float | None = None
    ) -> Instance:
        """Start pausing a running instance; return it as it starts ``pausing``.

        A resend that finds the instance already pausing (its first attempt's answer was
        lost) returns it too.

        Raises:
            OngoingOperationError: another operation is in flight.
            BadRequestError: the instance is not running.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_timeout(timeout)
        underway = (InstanceStatus.PAUSING, InstanceStatus.PAUSED)
        result = await self._send(
            instance_id, "POST", "/pause", None, lambda i: i.status in underway
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        return await self._then_wait(result, Operation.PAUSE, submitted, wait, timeout)

    async def resume(
        self, instance_id: str, *, wait: bool = False, timeout: float | None = None
    ) -> Instance:
        """Start resuming a paused instance; return it as it starts ``resuming``.

        A resend that finds the instance already resuming (its first attempt's answer was
        lost) returns it too.

        Raises:
            ConflictError: the instance is not paused, or another operation is in flight.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_timeout(timeout)
        underway = (InstanceStatus.RESUMING, InstanceStatus.RUNNING)
        result = await self._send(
            instance_id, "POST", "/resume", None, lambda i: i.status in underway
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        return await self._then_wait(result, Operation.RESUME, submitted, wait, timeout)

    async def _then_wait(
        self,
        accepted: Instance,
        operation: Operation,
        submitted: float,
        wait: bool,
        timeout: float | None,
    ) -> Instance:
        if not wait or timeout == 0:
            return accepted
        waited = await self.wait(
            accepted.id, operation, name=accepted.name, submitted=submitted, timeout=timeout
        )
        return waited or accepted

    async def _send(
        self,
        instance_id: str,
        method: str,
        action: str,
        payload: dict[str, object] | None,
        started: Callable[[Instance], bool],
    ) -> Instance:
        """Send an instance change; after a lost answer, accept the change already under way.

        A resend whose first attempt did the work meets that very work: a 409 (an operation
        in flight, or an upgrade already done), or for a pause a 400 (no longer running).
        Then the instance is read, and if ``started`` says it is doing or has done what was
        asked, that is success, not an error.
        """
        try:
            return await self._call(
                method, f"/instances/{instance_id}{action}", Instance, kind=ACTION, json=payload
            )
        except (ConflictError, BadRequestError) as error:
            # (A resent pause meets 400 "not running", a resend of the others 409.)
            if not error.after_lost_answer:
                raise
            current = await self.get(instance_id)
            if started(current):
                return current
            raise

    async def overwrite(
        self,
        instance_id: str,
        *,
        source_instance_id: str,
        source_snapshot_id: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> Instance:
        """Start replacing an instance's data with another's (a new snapshot of it, or one given).

        The instance is ``overwriting`` and then ``running`` again: it starts and ends running.

        Raises:
            UnsupportedForTierError: AuraDB Free cannot be overwritten (420).
            ServerError: the source is larger than the target.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_instance_id(source_instance_id, "source_instance_id")
        check_timeout(timeout)
        if source_snapshot_id is not None:
            check_id(source_snapshot_id, "source_snapshot_id")
        payload = body(source_instance_id=source_instance_id, source_snapshot_id=source_snapshot_id)
        result = await self._send(
            instance_id,
            "POST",
            "/overwrite",
            payload,
            lambda i: i.status == InstanceStatus.OVERWRITING,
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        return await self._then_wait(result, Operation.OVERWRITE, submitted, wait, timeout)

    async def upgrade(
        self, instance_id: str, *, memory: str | None = None, storage: str | None = None
    ) -> Instance:
        """Upgrade AuraDB Professional to Business Critical, optionally resizing it.

        Raises:
            ValidationError: only one of memory and storage given; nothing was sent.
            ConflictError: not a Professional instance, or not running.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        if (memory is None) != (storage is None):
            raise ValidationError(
                "give memory and storage together, or neither",
                field="memory" if memory is None else "storage",
            )
        if memory is not None and storage is not None:
            check_size(memory, "memory")
            check_size(storage, "storage")
        return await self._send(
            instance_id,
            "POST",
            "/upgrade",
            body(memory=memory, storage=storage) or None,
            lambda i: i.type == InstanceType.BUSINESS_CRITICAL,
        )

    async def sizing(
        self,
        *,
        node_count: int,
        relationship_count: int,
        instance_type: InstanceType | str | None = None,
        algorithm_categories: Sequence[str] = (),
    ) -> InstanceSizing:
        """Estimate the memory an AuraDS instance needs for a graph of this size.

        Raises:
            ValidationError: negative or non-integer counts; nothing was sent.
            AuraError: on any other failure.
        """
        payload = body(
            node_count=check_count(node_count, "node_count"),
            relationship_count=check_count(relationship_count, "relationship_count"),
            instance_type=(
                check_enum(instance_type, InstanceType, "instance_type").value
                if instance_type is not None
                else None
            ),
            algorithm_categories=check_strings(algorithm_categories, "algorithm_categories")
            or None,
        )
        return await self._call(
            "POST", "/instances/sizing", InstanceSizing, kind=ACTION, json=payload
        )


async def _run_hook(
    hook: Callable[[CreatedInstance], Awaitable[None]], created: CreatedInstance
) -> None:
    """Await ``on_created``; if it fails, raise an error that still carries the answer."""
    try:
        await hook(created)
    except Exception as error:
        failure = CredentialStoreError(
            f"on_created failed for instance {created.id} ({type(error).__name__}); its "
            "credentials are in this error's `created` only",
            location="on_created",
        )
        failure.created = created
        raise failure from error


def _check_free(
    memory: str, cloud: CloudProvider | str, storage: str | None, key: str | None
) -> None:
    if memory != "1GB":
        raise ValidationError("AuraDB Free has 1GB of memory only", field="memory")
    if check_enum(cloud, CloudProvider, "cloud_provider") is not CloudProvider.GCP:
        raise ValidationError("AuraDB Free runs on GCP only", field="cloud_provider")
    if storage is not None:
        raise ValidationError("AuraDB Free takes no storage size", field="storage")
    if key is not None:
        raise ValidationError(
            "AuraDB Free cannot use a customer managed key", field="customer_managed_key_id"
        )


def _flag(value: object, field: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValidationError(f"{field} must be True or False", field=field)
    return value


_NOT_FOUND = "not found"  # what the waits call a 404


def _not_proven(instance_id: str, last: str, elapsed: float) -> WaitTimeoutError:
    """The error of a delete whose instance could not be proven gone in time."""
    return WaitTimeoutError(
        f"Deleting {instance_id}: not proven gone after {elapsed:.1f}s (last seen: {last}); "
        "it may still exist",
        resource_id=instance_id,
        operation=Operation.DELETE.value,
        last_status=last,
        elapsed=elapsed,
    )


# The operation an instance's status shows in flight, which a delete waits out (a 409).
_UNDER_WAY = {
    InstanceStatus.CREATING.value: Operation.CREATE,
    InstanceStatus.LOADING.value: Operation.CREATE,
    InstanceStatus.PAUSING.value: Operation.PAUSE,
    InstanceStatus.RESUMING.value: Operation.RESUME,
}

_INSTANCE_OPERATIONS = (
    Operation.CREATE,
    Operation.PAUSE,
    Operation.RESUME,
    Operation.DELETE,
    Operation.RESIZE,
    Operation.UPDATE,
    Operation.OVERWRITE,
    Operation.RESTORE,
)


def _instance_operation(value: Operation | str) -> Operation:
    operation = next((o for o in _INSTANCE_OPERATIONS if o.value == value), None)
    if operation is None:
        names = ", ".join(o.value for o in _INSTANCE_OPERATIONS)
        raise ValidationError(f"operation must be one of {names}; got {value!r}", field="operation")
    return operation
