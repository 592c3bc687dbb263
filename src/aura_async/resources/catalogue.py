"""What a project may create: its instance configurations, read once and checked locally.

Live Aura tells each project which (type, cloud, region, memory, storage, version)
combinations it may create, in ``GET /tenants/{id}`` (``instance_configurations``). A
:class:`Catalogue` reads that once per project and keeps it for the client's life, shared by
everything on the client (a fleet of 500 creates costs one GET), so a create the project
cannot carry out is refused before it is sent, with what the project does offer.

Where the catalogue cannot be read (an error, a 403 for credentials without that right, the
network), nothing fails for it: the create is checked against the offline rules below instead
and the server has the last word. The failure is logged (INFO) and the catalogue is not asked
again for :attr:`Catalogue.retry_after` seconds.

The offline rules come from Aura's own tools (``shared/notes/aura-api-reference.md``): the
memory sizes the official CLI's ``--memory`` flag accepts, the storage sizes of the Terraform
provider, the versions the CLI accepts (4 and 5), and the shape of each cloud's region names
(``europe-west1`` on GCP, ``us-east-1`` on AWS, ``westeurope`` on Azure), a format rule rather
than a list, since clouds add regions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence

import anyio

from aura_async._validation import escape_controls
from aura_async.errors import AuraError, ValidationError
from aura_async.models import InstanceConfiguration, Project

__all__ = [
    "MEMORY_SIZES",
    "STORAGE_SIZES",
    "VERSIONS",
    "Catalogue",
    "check_offered",
    "check_offline",
    "check_sizes_offered",
    "check_sizes_offline",
]

logger = logging.getLogger("aura_async")

# The official CLI's --memory values (flags/memory.go; the Terraform provider's list too).
MEMORY_SIZES: tuple[str, ...] = (
    "1GB", "2GB", "4GB", "8GB", "16GB", "24GB", "32GB", "48GB", "64GB", "128GB", "192GB",
    "256GB", "384GB", "512GB",
)  # fmt: skip
# The Terraform provider's storage values (instance_constants.go).
STORAGE_SIZES: tuple[str, ...] = (
    "2GB", "4GB", "8GB", "16GB", "32GB", "48GB", "64GB", "96GB", "128GB", "192GB", "256GB",
    "384GB", "512GB", "768GB", "1024GB", "1536GB", "2048GB",
)  # fmt: skip
# The versions the official CLI accepts (instance/create.go).
VERSIONS: tuple[str, ...] = ("4", "5")
# The shape of each cloud's region names.
_REGION_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "gcp": (re.compile(r"[a-z]+-[a-z]+[0-9]+"), "europe-west1, us-central1"),
    "aws": (re.compile(r"[a-z]{2}(?:-gov)?-[a-z]+-[0-9]+"), "us-east-1, eu-west-1"),
    "azure": (re.compile(r"[a-z]+[0-9]*"), "westeurope, eastus2"),
}
_HINT = "See what the project offers with aura.tenants.get() (aura-async regions)"
_OFFLINE_HINT = (
    "The project's own configurations could not be read, so this was checked against the "
    "sizes and region names Aura uses; see aura.tenants.get() (aura-async regions)"
)
_SHOWN = 12  # values listed at most in a message


class Catalogue:
    """The instance configurations of the client's projects, one GET each, kept for its life.

    Args:
        fetch: reads a project (``aura.tenants.get``).
        retry_after: seconds before a project whose catalogue could not be read is asked
            again (meanwhile the offline rules apply).
    """

    def __init__(
        self, fetch: Callable[[str], Awaitable[Project]], *, retry_after: float = 60.0
    ) -> None:
        self._fetch = fetch
        self.retry_after = retry_after
        self._known: dict[str, tuple[InstanceConfiguration, ...]] = {}
        self._failed: dict[str, float] = {}  # project -> when reading it last failed
        self._locks: dict[str, anyio.Lock] = {}

    def cached(self, tenant_id: str) -> tuple[InstanceConfiguration, ...] | None:
        """The configurations already read for ``tenant_id``, or None (nothing is sent)."""
        return self._known.get(tenant_id)

    async def configurations(self, tenant_id: str) -> tuple[InstanceConfiguration, ...] | None:
        """Return the project's instance configurations, reading them the first time.

        Concurrent callers share one GET. Returns None when they cannot be read (logged at
        INFO; asked again only after :attr:`retry_after` seconds): the caller falls back to
        the offline rules.

        Raises:
            ValidationError: the project id is malformed; nothing was sent.
        """
        known = self._known.get(tenant_id)
        if known is not None:
            return known
        lock = self._locks.setdefault(tenant_id, anyio.Lock())
        async with lock:
            known = self._known.get(tenant_id)
            if known is not None:
                return known
            failed = self._failed.get(tenant_id)
            if failed is not None and anyio.current_time() - failed < self.retry_after:
                return None
            try:
                project = await self._fetch(tenant_id)
            except ValidationError:
                raise
            except AuraError as error:
                self._failed[tenant_id] = anyio.current_time()
                logger.info(
                    "the instance configurations of project %s could not be read (%s); "
                    "checking creates against the offline rules",
                    tenant_id,
                    escape_controls(str(error)),
                )
                return None
            self._failed.pop(tenant_id, None)
            self._known[tenant_id] = project.instance_configurations
            logger.debug(
                "project %s offers %d instance configurations",
                tenant_id,
                len(project.instance_configurations),
            )
            return project.instance_configurations

    def forget(self, tenant_id: str | None = None) -> None:
        """Drop what was read (of one project, or all): the next check reads it again."""
        if tenant_id is None:
            self._known.clear()
            self._failed.clear()
        else:
            self._known.pop(tenant_id, None)
            self._failed.pop(tenant_id, None)


def check_offered(
    configurations: Sequence[InstanceConfiguration],
    *,
    tenant_id: str,
    type: str,
    cloud_provider: str,
    region: str,
    memory: str,
    version: str,
    storage: str | None = None,
) -> None:
    """Check a create's configuration against the project's instance configurations.

    Raises:
        ValidationError: the project does not offer it; the message names the field, the
            value, and what the project offers in its place.
    """
    offered = [c for c in configurations if str(c.type) == type]
    if not offered:
        types = _listed(str(c.type) for c in configurations)
        _refuse("type", type, f"by project {tenant_id}", types)
    where = type
    offered, before = [c for c in offered if str(c.cloud_provider) == cloud_provider], offered
    if not offered:
        _refuse("cloud_provider", cloud_provider, f"for {where}", _clouds(before))
    where = f"{type} on {cloud_provider}"
    offered, before = [c for c in offered if c.region == region], offered
    if not offered:
        _refuse("region", region, f"for {where}", _listed(c.region for c in before))
    where = f"{type} on {cloud_provider} {region}"
    by_memory = [c for c in offered if c.memory == memory]
    if not by_memory:
        _refuse("memory", memory, f"for {where}", _sizes(c.memory for c in offered))
    if not any(c.version == version for c in by_memory):
        versions = _listed(c.version for c in by_memory)
        _refuse("version", version, f"for {where} with {memory}", versions)
    if storage is not None and storage not in {c.storage for c in offered}:
        _refuse("storage", storage, f"for {where}", _sizes(c.storage for c in offered))


def check_offline(
    *, cloud_provider: str, region: str, memory: str, version: str, storage: str | None = None
) -> None:
    """Check a create's configuration by the offline rules (the catalogue could not be read).

    Raises:
        ValidationError: a memory or storage size Aura does not use, an unknown version, or
            a region name not shaped like the cloud's.
    """
    shape = _REGION_SHAPES.get(cloud_provider)
    if shape is not None and not shape[0].fullmatch(region):
        raise ValidationError(
            f"region {_shown(region)} is not a {cloud_provider} region name (such as {shape[1]})",
            field="region",
            hint=_OFFLINE_HINT,
        )
    check_sizes_offline(memory=memory, storage=storage)
    if version not in VERSIONS:
        raise ValidationError(
            f"version {_shown(version)} is not one Aura offers; offered: {', '.join(VERSIONS)}",
            field="version",
            hint=_OFFLINE_HINT,
        )


def check_sizes_offered(
    configurations: Sequence[InstanceConfiguration],
    *,
    memory: str | None,
    storage: str | None,
    tenant_id: str,
) -> None:
    """Check resize sizes against every size the project offers (any type, cloud, region).

    Raises:
        ValidationError: the project offers the size nowhere; the message lists its sizes.
    """
    if memory is not None and memory not in {c.memory for c in configurations}:
        sizes = _sizes(c.memory for c in configurations)
        _refuse("memory", memory, f"by project {tenant_id}", sizes)
    if storage is not None and storage not in {c.storage for c in configurations}:
        sizes = _sizes(c.storage for c in configurations)
        _refuse("storage", storage, f"by project {tenant_id}", sizes)


def check_sizes_offline(*, memory: str | None, storage: str | None) -> None:
    """Check sizes against the sizes Aura uses (the catalogue could not be read).

    Raises:
        ValidationError: a size Aura does not offer; the message lists those it does.
    """
    for field, value, sizes in (
        ("memory", memory, MEMORY_SIZES),
        ("storage", storage, STORAGE_SIZES),
    ):
        if value is not None and value not in sizes:
            raise ValidationError(
                f"{field} {_shown(value)} is not a size Aura offers; offered: "
                f"{_truncated(list(sizes))}",
                field=field,
                hint=_OFFLINE_HINT,
            )


def _refuse(field: str, value: str, where: str, offered: list[str]) -> None:
    listed = _truncated(offered) if offered else "nothing"
    raise ValidationError(
        f"{field} {_shown(value)} is not offered {where}; offered: {listed}",
        field=field,
        hint=_HINT,
    )


def _shown(value: str) -> str:
    return escape_controls(value) if value and value == value.strip() else repr(value)


def _listed(values: Iterable[str]) -> list[str]:
    return [escape_controls(v) for v in dict.fromkeys(values)]


def _clouds(configurations: Iterable[InstanceConfiguration]) -> list[str]:
    return _listed(str(c.cloud_provider) for c in configurations)


def _sizes(values: Iterable[str]) -> list[str]:
    distinct = list(dict.fromkeys(values))

    def gigabytes(size: str) -> tuple[int, str]:
        digits = size[:-2] if size.endswith("GB") else ""
        return (int(digits), size) if digits.isdigit() else (1 << 62, size)

    return [escape_controls(v) for v in sorted(distinct, key=gigabytes)]


def _truncated(values: list[str]) -> str:
    if len(values) <= _SHOWN:
        return ", ".join(values)
    return ", ".join(values[:_SHOWN]) + f", ... ({len(values) - _SHOWN} more)"
