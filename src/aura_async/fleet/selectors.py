"""Which instances a fleet verb acts on: ids, a name prefix or glob, an age, or a ledger."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Collection

import attrs

from aura_async._durations import parse_human_duration
from aura_async._validation import check_instance_id
from aura_async.errors import ValidationError
from aura_async.fleet.store import CredentialStore
from aura_async.models import InstanceSummary

__all__ = ["Selector", "parse_age"]


def parse_age(text: str | float | dt.timedelta) -> dt.timedelta:
    """Parse an age such as ``"2h"``, ``"90m"``, ``"1d12h"``, ``"2 weeks"`` or a number of
    seconds: the package's one grammar for durations people write
    (:func:`aura_async._durations.parse_human_duration`), or a timedelta.

    Raises:
        ValidationError: anything else, or an age that is not positive.
    """
    if isinstance(text, dt.timedelta):
        age = text
    elif isinstance(text, int | float) and not isinstance(text, bool):
        age = _seconds(float(text), text)
    elif isinstance(text, str) and text.strip():
        try:
            seconds = parse_human_duration(text)
        except ValueError:
            raise ValidationError(
                f"cannot read the age {text!r}; write it like 45s, 90m, 2h, 1d12h or 1w",
                field="older_than",
            ) from None
        age = _seconds(seconds, text)
    else:
        raise ValidationError(
            f"an age must be text such as 2h, or seconds; got {text!r}", field="older_than"
        )
    if age <= dt.timedelta(0):
        raise ValidationError(f"an age must be positive, got {text!r}", field="older_than")
    return age


def _seconds(seconds: float, text: object) -> dt.timedelta:
    try:
        return dt.timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # inf, nan, or more days than a timedelta holds
        raise ValidationError(
            f"the age {text!r} is not a usable span of time", field="older_than"
        ) from None


def _tuple(value: Collection[str] | None) -> tuple[str, ...] | None:
    if isinstance(value, str):
        raise ValidationError(
            f"ids must be a list of instance ids, not one text ({value!r}); write [{value!r}]",
            field="ids",
        )
    if value is None:
        return None
    try:
        return tuple(value)
    except TypeError:
        raise ValidationError(
            f"ids must be a list of instance ids, got {type(value).__name__}", field="ids"
        ) from None


def _age(value: str | float | dt.timedelta | None) -> dt.timedelta | None:
    return None if value is None else parse_age(value)


@attrs.frozen(kw_only=True)
class Selector:
    """A choice of instances; an instance is chosen when it meets EVERY criterion given.

    Args:
        ids: exactly these instance ids.
        prefix: names starting with this.
        glob: names matching this shell pattern (``ci-*``, ``test-??``), case-sensitive.
        older_than: created longer ago than this (``"2h"``, seconds, or a timedelta).
        tenant_id: only this project's instances (default: the client's project).
        ledger: only instances recorded in this credential store's ledger (created,
            adopted or found without credentials, and not yet deleted).
        everything: choose every instance of the project; required to select with no
            other criterion, so that a slip cannot select everything.

    Raises:
        ValidationError: no criterion at all, or a malformed one.
    """

    ids: tuple[str, ...] | None = attrs.field(default=None, converter=_tuple)
    prefix: str | None = None
    glob: str | None = None
    older_than: dt.timedelta | None = attrs.field(default=None, converter=_age)
    tenant_id: str | None = None
    ledger: CredentialStore | None = None
    everything: bool = False

    def __attrs_post_init__(self) -> None:
        narrowing = (self.ids, self.prefix, self.glob, self.older_than, self.ledger)
        if all(value is None for value in narrowing) and not self.everything:
            raise ValidationError(
                "choose instances by ids, prefix, glob, older_than or ledger (or pass "
                "everything=True to mean every instance of the project)",
                field="selector",
            )
        if self.ids is not None:
            if not self.ids:
                raise ValidationError("ids must be a non-empty list of ids", field="ids")
            for instance_id in self.ids:
                check_instance_id(instance_id, "ids")
        for field in ("prefix", "glob"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValidationError(f"{field} must be non-empty text", field=field)
        if self.ledger is not None and not isinstance(self.ledger, CredentialStore):
            raise ValidationError(
                "ledger must be a credential store (FileStore(directory)), got "
                f"{type(self.ledger).__name__}",
                field="ledger",
            )
        if self.everything is not True and self.everything is not False:
            raise ValidationError("everything must be True or False", field="everything")

    def matches(
        self,
        summary: InstanceSummary,
        *,
        now: dt.datetime,
        in_ledger: Collection[str] | None = None,
    ) -> bool:
        """Whether ``summary`` meets every criterion (``in_ledger``: the ledger's ids)."""
        if self.ids is not None and summary.id not in self.ids:
            return False
        if not self.matches_name(summary.name):
            return False
        # An instance whose creation time is unknown is never old enough to be chosen by
        # age: a teardown must not guess.
        if self.older_than is not None and (
            summary.created_at is None or now - summary.created_at <= self.older_than
        ):
            return False
        return not (self.ledger is not None and summary.id not in (in_ledger or ()))

    def matches_name(self, name: str) -> bool:
        """Whether ``name`` meets the name criteria (prefix and glob)."""
        if self.prefix is not None and not name.startswith(self.prefix):
            return False
        return self.glob is None or fnmatch.fnmatchcase(name, self.glob)

    def describe(self) -> str:
        """The criteria in words, for dry runs and messages."""
        parts = []
        if self.ids is not None:
            parts.append(f"ids {', '.join(self.ids)}")
        if self.prefix is not None:
            parts.append(f"name starting {self.prefix!r}")
        if self.glob is not None:
            parts.append(f"name like {self.glob!r}")
        if self.older_than is not None:
            parts.append(f"older than {self.older_than}")
        if self.ledger is not None:
            parts.append(f"in the ledger {self.ledger.location}")
        if not parts:
            parts.append("every instance")
        return " and ".join(parts)
