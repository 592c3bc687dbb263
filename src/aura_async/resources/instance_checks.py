"""The checks made before a create, an update or a resize is sent: the arguments on their own
(offline), then against what the project offers (its instance configurations, read once per
project)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aura_async._validation import (
    check_enum,
    check_id,
    check_instance_id,
    check_name,
    check_no_controls,
    check_size,
    check_tenant_id,
    check_text,
)
from aura_async.errors import ValidationError
from aura_async.models import CdcEnrichmentMode, CloudProvider, InstanceType
from aura_async.resources._base import Resource, body
from aura_async.resources.catalogue import (
    Catalogue,
    check_offered,
    check_offline,
    check_sizes_offered,
    check_sizes_offline,
)
from aura_async.resources.tenants import Tenants

__all__ = ["CREATE_FIELDS", "InstanceChecks", "create_fields", "update_body"]

# The fields of a create's body, in the order they are sent: the keyword arguments of
# Instances.create and check_create (besides create's wait, timeout and on_created).
CREATE_FIELDS = (
    "version",
    "region",
    "memory",
    "name",
    "type",
    "tenant_id",
    "cloud_provider",
    "storage",
    "source_instance_id",
    "source_snapshot_id",
    "customer_managed_key_id",
    "vector_optimized",
    "graph_analytics_plugin",
)

# What the official CLI sends for AuraDB Free, which has exactly one configuration.
_FREE_DEFAULTS = {"region": "europe-west1", "memory": "1GB", "cloud_provider": "gcp"}


def create_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The create fields (:data:`CREATE_FIELDS`) of ``values`` (a call's ``locals()``)."""
    return {field: values[field] for field in CREATE_FIELDS}


class InstanceChecks(Resource):
    """The create and resize checks of :class:`~aura_async.resources.instances.Instances`."""

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
        _check_references(source_instance_id, source_snapshot_id, customer_managed_key_id)
        # The arguments as checked (AuraDB Free's defaults filled in), then as sent.
        fields = create_fields(locals())
        fields.update(
            type=kind.value,
            tenant_id=tenant,
            cloud_provider=cloud.value,
            vector_optimized=_check_flag(vector_optimized, "vector_optimized"),
            graph_analytics_plugin=_check_flag(graph_analytics_plugin, "graph_analytics_plugin"),
        )
        return body(**fields)

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


def update_body(
    *,
    name: str | None,
    memory: str | None,
    storage: str | None,
    vector_optimized: bool | None,
    graph_analytics_plugin: bool | None,
    secondaries_count: int | None,
    cdc_enrichment_mode: CdcEnrichmentMode | str | None,
) -> dict[str, Any]:
    """Check :meth:`Instances.update`'s changes (offline); return its request body.

    Raises:
        ValidationError: an invalid value, or nothing to change.
    """
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
        vector_optimized=_check_flag(vector_optimized, "vector_optimized"),
        graph_analytics_plugin=_check_flag(graph_analytics_plugin, "graph_analytics_plugin"),
        secondaries_count=secondaries_count,
        cdc_enrichment_mode=cdc,
    )
    if not payload:
        raise ValidationError("update needs at least one thing to change")
    return payload


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


def _check_references(
    source_instance_id: str | None, source_snapshot_id: str | None, key: str | None
) -> None:
    """Check the ids a create refers to: the instance and snapshot it copies, its key."""
    if source_instance_id is not None:
        check_instance_id(source_instance_id, "source_instance_id")
    if source_snapshot_id is not None:
        if source_instance_id is None:
            raise ValidationError(
                "source_snapshot_id needs source_instance_id (the snapshot's instance)",
                field="source_snapshot_id",
            )
        check_id(source_snapshot_id, "source_snapshot_id")
    if key is not None:
        check_id(key, "customer_managed_key_id")


def _check_flag(value: object, field: str) -> bool | None:
    """``value`` when None, True or False.

    Raises:
        ValidationError: anything else (the message names ``field``).
    """
    if value is not None and not isinstance(value, bool):
        raise ValidationError(f"{field} must be True or False", field=field)
    return value
