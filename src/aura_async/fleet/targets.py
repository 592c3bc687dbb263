"""Which instances a fleet call acts on: ids as given, or what a :class:`Selector` chooses.

A selector lists the project once (and reads its ledger, when it has one); a teardown's
selector also takes what it names that a listing may not show yet, since live Aura lists a
new instance only after a while (see DESIGN.md, "Deleted means absent").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from aura_async._validation import check_instance_id
from aura_async.errors import ValidationError
from aura_async.fleet.context import FleetContext, now
from aura_async.fleet.report import FleetItem
from aura_async.fleet.selectors import Selector
from aura_async.fleet.store import EntryState, LedgerEntry
from aura_async.models import InstanceSummary

__all__ = ["Targets", "check_targets", "resolve", "select"]

Targets = Sequence[str] | Selector


def check_targets(targets: Targets) -> list[str]:
    """The distinct ids of a list of targets (none for a selector), checked; nothing is sent.

    Raises:
        ValidationError: not a list of well-formed instance ids, or an empty one.
    """
    if isinstance(targets, Selector):
        return []
    if isinstance(targets, str) or not isinstance(targets, Sequence):
        raise ValidationError(
            "targets must be a list of instance ids or a Selector", field="targets"
        )
    if not targets:
        raise ValidationError("no instances given", field="targets")
    unique: dict[str, None] = {}
    for instance_id in targets:
        unique[check_instance_id(instance_id, "targets")] = None
    return list(unique)


async def select(context: FleetContext, selector: Selector) -> list[InstanceSummary]:
    """List the instances a selector chooses (one listing request).

    Raises:
        AuraError: the listing failed.
    """
    listed = await context.instances.list(tenant_id=selector.tenant_id)
    in_ledger: set[str] | None = None
    if selector.ledger is not None:
        entries = await selector.ledger.entries()
        live = (EntryState.CREATED, EntryState.ADOPTED, EntryState.LOST, EntryState.INTENDED)
        in_ledger = {e.instance_id for e in entries if e.state in live and e.instance_id}
        # An intent never matched to an instance (a crash mid-create) still names what
        # may exist: recover() matches those; here only known ids count.
    at = context.server_now()
    return [s for s in listed if selector.matches(s, now=at, in_ledger=in_ledger)]


async def resolve(
    context: FleetContext, targets: Targets, *, unlisted: bool = False
) -> list[FleetItem]:
    """The items a call works on: ids as given, or what a selector chooses.

    With ``unlisted`` (a teardown), a selector also chooses what it names that the
    listing may not show yet: its ids, and its ledger's instances recorded within the
    window in which a new instance may be missing from listings.
    """
    if isinstance(targets, Selector):
        chosen = [FleetItem(name=s.name, instance_id=s.id) for s in await select(context, targets)]
        if unlisted:
            listed = {item.instance_id for item in chosen}
            chosen += [
                FleetItem(name=name, instance_id=instance_id)
                for instance_id, name in await _unlisted(context, targets)
                if instance_id not in listed
            ]
        return chosen
    return [FleetItem(name=i, instance_id=i) for i in check_targets(targets)]


async def _unlisted(context: FleetContext, selector: Selector) -> list[tuple[str, str]]:
    """(id, name) of what a selector names that may be too new to be listed.

    Raises:
        CredentialStoreError: the selector's ledger cannot be read.
    """
    found: dict[str, str] = {}
    if selector.older_than is not None:
        return []  # what is too new to be listed is not old
    if selector.ids is not None and selector.ledger is None:
        found.update((i, i) for i in selector.ids)
    if selector.ledger is not None:
        recent = now() - dt.timedelta(seconds=context.watcher.not_found_window())
        live = (EntryState.CREATED, EntryState.ADOPTED, EntryState.LOST)
        for entry in await selector.ledger.entries():
            if (
                entry.instance_id is not None
                and entry.state in live
                and entry.updated_at >= recent
                and (selector.ids is None or entry.instance_id in selector.ids)
                and selector.matches_name(entry.name)
                and _in_project(entry, selector.tenant_id)
            ):
                found[entry.instance_id] = entry.name
    return sorted(found.items())


def _in_project(entry: LedgerEntry, tenant_id: str | None) -> bool:
    """Whether a ledger entry may be of the project (any, when ``tenant_id`` is None)."""
    if tenant_id is None:
        return True
    known = (entry.intent.tenant_id if entry.intent else None) or (
        entry.credentials.tenant_id if entry.credentials else None
    )
    return known is None or known == tenant_id
