"""Aura's tiers, clouds, regions and sizes: where a project's instance configurations come from.

The live service tells each project which (type, cloud, region, memory, storage, version)
combinations it may create, in ``GET /tenants/{id}``. These tables stand in for that, shaped
after Aura's console: AuraDB Free only on GCP at 1GB, the paid tiers on all three clouds, and
the memory steps of each tier with storage at twice the memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs

__all__ = [
    "INSTANCE_TYPES",
    "MEMORY_BY_TYPE",
    "REGIONS",
    "SESSION_MEMORY_SIZES",
    "InstanceConfiguration",
    "default_configurations",
    "gigabytes",
]

INSTANCE_TYPES: tuple[str, ...] = (
    "enterprise-db",
    "enterprise-ds",
    "business-critical",
    "professional-db",
    "professional-ds",
    "free-db",
)
CLOUD_PROVIDERS: tuple[str, ...] = ("gcp", "aws", "azure")

# region -> human-friendly name, per cloud (the names Aura shows as ``region_name``).
REGIONS: Mapping[str, Mapping[str, str]] = {
    "gcp": {
        "europe-west1": "Belgium (europe-west1)",
        "europe-west2": "London (europe-west2)",
        "europe-west3": "Frankfurt (europe-west3)",
        "us-central1": "Iowa (us-central1)",
        "us-east1": "South Carolina (us-east1)",
        "asia-southeast1": "Singapore (asia-southeast1)",
        "australia-southeast1": "Sydney (australia-southeast1)",
    },
    "aws": {
        "us-east-1": "N. Virginia (us-east-1)",
        "us-east-2": "Ohio (us-east-2)",
        "us-west-2": "Oregon (us-west-2)",
        "eu-west-1": "Ireland (eu-west-1)",
        "eu-central-1": "Frankfurt (eu-central-1)",
        "ap-southeast-1": "Singapore (ap-southeast-1)",
    },
    "azure": {
        "eastus": "Virginia (eastus)",
        "westus2": "Washington (westus2)",
        "westeurope": "Netherlands (westeurope)",
        "francecentral": "Paris (francecentral)",
        "uksouth": "London (uksouth)",
        "southeastasia": "Singapore (southeastasia)",
    },
}

# AuraDB Free runs on GCP only, in a few regions.
FREE_REGIONS: tuple[str, ...] = ("europe-west1", "us-central1", "asia-southeast1")

MEMORY_BY_TYPE: Mapping[str, tuple[str, ...]] = {
    "free-db": ("1GB",),
    "professional-db": ("1GB", "2GB", "4GB", "8GB", "16GB", "24GB", "32GB", "48GB", "64GB"),
    "professional-ds": ("8GB", "16GB", "24GB", "32GB", "48GB", "64GB"),
    "business-critical": ("2GB", "4GB", "8GB", "16GB", "32GB", "64GB", "128GB"),
    "enterprise-db": ("4GB", "8GB", "16GB", "32GB", "64GB", "128GB", "256GB", "512GB"),
    "enterprise-ds": ("16GB", "32GB", "48GB", "64GB", "128GB", "256GB", "384GB", "512GB"),
}

VERSIONS: tuple[str, ...] = ("5",)

SESSION_MEMORY_SIZES: tuple[str, ...] = (
    "2GB", "4GB", "8GB", "16GB", "24GB", "32GB", "48GB", "64GB", "96GB", "128GB", "192GB", "256GB",
)  # fmt: skip


def gigabytes(size: str) -> int | None:
    """Parse ``"16GB"`` into 16; return None for anything that is not a whole number of GB."""
    if not size.endswith("GB"):
        return None
    digits = size[:-2]
    if not digits.isdigit() or digits.startswith("0"):
        return None
    return int(digits)


@attrs.frozen
class InstanceConfiguration:
    """One combination a project may create (an item of ``instance_configurations``)."""

    type: str
    cloud_provider: str
    region: str
    region_name: str
    memory: str
    storage: str
    version: str

    def to_json(self) -> dict[str, str]:
        """Return the item as the API renders it."""
        return {
            "region": self.region,
            "region_name": self.region_name,
            "type": self.type,
            "memory": self.memory,
            "storage": self.storage,
            "version": self.version,
            "cloud_provider": self.cloud_provider,
        }


def _storage_for(memory: str) -> str:
    gb = gigabytes(memory)
    assert gb is not None
    return f"{gb * 2}GB"


def default_configurations(
    types: tuple[str, ...] = INSTANCE_TYPES,
) -> Iterator[InstanceConfiguration]:
    """Yield every configuration a fully enabled project gets, for the given instance types."""
    for type_ in types:
        for cloud, regions in REGIONS.items():
            if type_ == "free-db" and cloud != "gcp":
                continue
            for region, region_name in regions.items():
                if type_ == "free-db" and region not in FREE_REGIONS:
                    continue
                for memory in MEMORY_BY_TYPE[type_]:
                    for version in VERSIONS:
                        yield InstanceConfiguration(
                            type=type_,
                            cloud_provider=cloud,
                            region=region,
                            region_name=region_name,
                            memory=memory,
                            storage=_storage_for(memory),
                            version=version,
                        )
