"""Customer managed encryption keys: registering, reading and deleting them."""

from __future__ import annotations

from aura_async.emulator.backend.checks import _bad, _check_name, _choice, _object, _text
from aura_async.emulator.backend.core import CLOUD_PROVIDERS, CMK_TYPES, BackendCore
from aura_async.emulator.errors import ApiError
from aura_async.emulator.records import KeyRecord


class KeysMixin(BackendCore):
    """The rules of the customer managed key routes."""

    def list_keys(self, tenant_id: str | None) -> list[KeyRecord]:
        """Return the customer managed keys, optionally of one project.

        Raises:
            ApiError: 404 ``tenant-not-found``.
        """
        if tenant_id is not None:
            self._project(tenant_id)
        return [k for k in self.keys.values() if tenant_id is None or k.tenant_id == tenant_id]

    def create_key(self, raw: object) -> KeyRecord:
        """Register a customer managed key; it becomes ready after a while.

        Raises:
            ApiError: 400 for invalid input or an unknown project.
        """
        body = _object(raw)
        key_id = _text(body, "key_id")
        region = _text(body, "region")
        name = _check_name(_text(body, "name"))
        instance_type = _text(body, "instance_type")
        tenant_id = _text(body, "tenant_id")
        cloud = _text(body, "cloud_provider")
        project = self._project_in_body(tenant_id)
        _choice(instance_type, CMK_TYPES, "instance_type")
        _choice(cloud, CLOUD_PROVIDERS, "cloud_provider")
        if not self._configs(project, type=instance_type, cloud=cloud, region=region):
            raise _bad(f"Region {region} is not available for {instance_type} on {cloud}", "region")
        now = self.now()
        key = KeyRecord(
            id=self._uuid(),
            name=name,
            tenant_id=tenant_id,
            cloud_provider=cloud,
            region=region,
            instance_type=instance_type,
            key_id=key_id,
            created=now,
            ready_at=now + self._duration("key"),
        )
        self.keys[key.id] = key
        return key

    def get_key(self, key_id: str) -> KeyRecord:
        """Return one key.

        Raises:
            ApiError: 404 ``encryption-key-not-found``.
        """
        key = self.keys.get(key_id)
        if key is None:
            raise ApiError(404, f"Encryption Key not found: {key_id}", "encryption-key-not-found")
        return key

    def delete_key(self, key_id: str) -> None:
        """Delete a key that no instance uses.

        Raises:
            ApiError: 404; 400 ``encryption-key-is-active`` while an instance uses it.
        """
        self.get_key(key_id)
        self.settle_all()
        if any(i.customer_managed_key_id == key_id for i in self.instances.values()):
            raise _bad(
                f"Can not delete encryption key {key_id}. The key is linked to an active instance.",
                reason="encryption-key-is-active",
            )
        del self.keys[key_id]
