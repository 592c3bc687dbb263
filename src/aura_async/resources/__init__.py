"""One module per API resource: thin, typed methods over the request pipeline."""

from __future__ import annotations

from aura_async.resources.customer_managed_keys import CustomerManagedKeys
from aura_async.resources.graph_analytics import GraphAnalytics
from aura_async.resources.instances import Instances
from aura_async.resources.snapshots import Snapshots
from aura_async.resources.tenants import Tenants

__all__ = ["CustomerManagedKeys", "GraphAnalytics", "Instances", "Snapshots", "Tenants"]
