"""Projects (tenants): listing them and their metrics integration endpoint."""

from __future__ import annotations

from aura_async.emulator.backend.core import BackendCore
from aura_async.emulator.errors import ApiError
from aura_async.emulator.records import ProjectRecord

METRICS_TYPES = ("enterprise-db", "enterprise-ds", "business-critical")


class ProjectsMixin(BackendCore):
    """The rules of the project routes."""

    def list_projects(self) -> list[ProjectRecord]:
        """Return every project."""
        return list(self.projects.values())

    def get_project(self, tenant_id: str) -> ProjectRecord:
        """Return one project.

        Raises:
            ApiError: 404 ``tenant-not-found``.
        """
        return self._project(tenant_id)

    def metrics_integration(self, tenant_id: str) -> str:
        """Return the project's metrics endpoint.

        Raises:
            ApiError: 404 ``tenant-not-found``; 400 ``tenant-incapable-of-action`` when the
                project has no instance eligible for metrics integration (as the live
                service answers, although the spec says 404).
        """
        self._project(tenant_id)
        self.settle_all()
        if not any(
            i.tenant_id == tenant_id and i.type in METRICS_TYPES for i in self.instances.values()
        ):
            raise ApiError(
                400,
                "This tenant has no instances eligible for metrics integration",
                "tenant-incapable-of-action",
            )
        return f"https://customer-metrics-api.neo4j.io/api/v1/{tenant_id}/metrics"
