"""``aura.tenants``: projects (the API calls them tenants) and what they may create."""

from __future__ import annotations

import builtins

from aura_async._validation import check_tenant_id
from aura_async.models import MetricsIntegration, Project, ProjectSummary
from aura_async.resources._base import READ, Resource

__all__ = ["Tenants"]


class Tenants(Resource):
    """Projects: their instance configurations and metrics endpoint."""

    async def list(self) -> builtins.list[ProjectSummary]:
        """List the projects these credentials can use.

        Raises:
            AuraError: on any failure.
        """
        return await self._call("GET", "/tenants", list[ProjectSummary], kind=READ)

    async def get(self, tenant_id: str | None = None) -> Project:
        """Return a project with every (type, cloud, region, memory, version) it offers.

        Args:
            tenant_id: the project; defaults to the client's, else the account's only one.

        Raises:
            ValidationError: not a UUID, or none given or configured and the account has
                no project or several (listed); nothing but that listing was sent.
            NotFoundError: no such project.
            AuraError: on any other failure.
        """
        tenant = check_tenant_id(await self._resolve_tenant(tenant_id))
        return await self._call("GET", f"/tenants/{tenant}", Project, kind=READ)

    async def metrics_integration(self, tenant_id: str | None = None) -> MetricsIntegration:
        """Return the project's metrics endpoint (for Business Critical and VDC instances).

        Raises:
            ValidationError: not a UUID, or none given or configured and the account has
                no project or several (listed); nothing but that listing was sent.
            BadRequestError: the project has no instance eligible for metrics.
            AuraError: on any other failure.
        """
        tenant = check_tenant_id(await self._resolve_tenant(tenant_id))
        return await self._call(
            "GET", f"/tenants/{tenant}/metrics-integration", MetricsIntegration, kind=READ
        )
