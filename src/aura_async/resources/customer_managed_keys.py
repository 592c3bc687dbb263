"""``aura.customer_managed_keys``: encryption keys of your cloud account, for VDC and AuraDS."""

from __future__ import annotations

import builtins
from typing import Any

import anyio

from aura_async._validation import check_enum, check_id, check_name, check_text
from aura_async.errors import ValidationError
from aura_async.lifecycle.operations import Operation
from aura_async.models import (
    CloudProvider,
    CustomerManagedKey,
    CustomerManagedKeySummary,
    InstanceType,
)
from aura_async.resources._base import ACTION, READ, Resource, body, check_timeout

__all__ = ["CustomerManagedKeys"]

_KEY_TYPES = (InstanceType.ENTERPRISE_DB, InstanceType.ENTERPRISE_DS)


class CustomerManagedKeys(Resource):
    """Customer managed keys: pending until you grant Aura access, then ready."""

    async def list(self, tenant_id: str | None = None) -> builtins.list[CustomerManagedKeySummary]:
        """List key summaries, of one project (default: the client's) or of all.

        Raises:
            AuraError: on any failure.
        """
        tenant = self._default_tenant(tenant_id)
        params = {"tenantId": tenant} if tenant else None
        return await self._call(
            "GET",
            "/customer-managed-keys",
            list[CustomerManagedKeySummary],
            kind=READ,
            params=params,
        )

    async def get(self, key_id: str) -> CustomerManagedKey:
        """Return a key with its status.

        Raises:
            NotFoundError: no such key.
            AuraError: on any other failure.
        """
        check_id(key_id, "key_id")
        return await self._call(
            "GET", f"/customer-managed-keys/{key_id}", CustomerManagedKey, kind=READ
        )

    async def create(
        self,
        *,
        name: str,
        key_id: str,
        region: str,
        cloud_provider: CloudProvider | str,
        instance_type: InstanceType | str,
        tenant_id: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> CustomerManagedKey:
        """Register a key of your cloud account (its ARN or resource id as ``key_id``).

        It stays pending until Aura has been granted access to it in your cloud account;
        ``wait=True`` returns once it is ready.

        Raises:
            ValidationError: invalid input; nothing was sent (but, with no project named
                or configured, the listing that finds the account's only one).
            CreateOutcomeUnknownError: the request failed after it may have been carried out.
            AuraError: on any other failure.
        """
        check_name(name)
        check_timeout(timeout)
        check_text(key_id, "key_id")
        check_text(region, "region")
        cloud = check_enum(cloud_provider, CloudProvider, "cloud_provider")
        kind = check_enum(instance_type, InstanceType, "instance_type")
        if kind not in _KEY_TYPES:
            raise ValidationError(
                "customer managed keys are for enterprise-db (VDC) and enterprise-ds only",
                field="instance_type",
            )
        # Last: without a project named, finding the account's only one sends a listing.
        tenant = await self._resolve_tenant(tenant_id)
        payload = body(
            name=name,
            key_id=key_id,
            region=region,
            cloud_provider=cloud.value,
            instance_type=kind.value,
            tenant_id=tenant,
        )
        path = "/customer-managed-keys"

        async def commit(data: Any) -> CustomerManagedKey:
            # The key was made; only its answer may be unreadable: look it up by name then.
            return self._parse_created(data, CustomerManagedKey, path)

        created = await self._create(
            path, payload, name=name, what="customer managed key", commit=commit
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        if not wait or timeout == 0:
            return created
        return await self.wait(created.id, name=name, submitted=submitted, timeout=timeout)

    async def wait(
        self,
        key_id: str,
        *,
        name: str | None = None,
        submitted: float | None = None,
        timeout: float | None = None,
    ) -> CustomerManagedKey:
        """Wait until a key is ready, on the client's shared poller.

        Raises:
            WaitFailedError: the key disappeared.
            WaitTimeoutError: the timeout passed (access may not have been granted yet).
            WaitCancelledError: the client was closed.
        """
        check_id(key_id, "key_id")
        result = await self._await(
            key_id,
            lambda: self.get(key_id),
            self._target(Operation.KEY),
            name=name,
            submitted=submitted,
            timeout=timeout,
        )
        assert isinstance(result, CustomerManagedKey)
        return result

    async def delete(self, key_id: str) -> None:
        """Delete a key no instance uses.

        Raises:
            BadRequestError: ``encryption-key-is-active``: an instance still uses it.
            NotFoundError: no such key.
            AuraError: on any other failure.
        """
        check_id(key_id, "key_id")
        await self._pipeline.request("DELETE", f"/customer-managed-keys/{key_id}", kind=ACTION)
