"""MemoryStore: the ledger's semantics with no files, for tests and callers who keep the
credentials themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from aura_async.fleet.store.ledger import DocumentLedger, Kind

__all__ = ["MemoryStore"]

_T = TypeVar("_T")


class MemoryStore(DocumentLedger):
    """A ledger in memory, with the same semantics as :class:`FileStore` but no files.

    For tests, and for callers who keep the credentials themselves: read them back with
    :meth:`entries` or :meth:`lookup` before the process ends.

    Attributes:
        unreadable: always empty (kept for parity with :class:`FileStore`).
    """

    def __init__(self) -> None:
        """An empty ledger."""
        super().__init__()
        # The same JSON texts FileStore writes, so both stores read and check them alike.
        self._documents: dict[tuple[Kind, str], str] = {}

    @property
    def location(self) -> str:
        """``"memory"``."""
        return "memory"

    def __repr__(self) -> str:
        return f"MemoryStore(documents={len(self._documents)})"

    def _get(self, kind: Kind, key: str) -> str | None:
        return self._documents.get((kind, key))

    def _put(self, kind: Kind, key: str, text: str) -> None:
        self._documents[kind, key] = text

    def _all(self, kind: Kind, unreadable: list[str]) -> Iterator[tuple[str, str]]:
        for (each, key), text in sorted(self._documents.items()):
            if each == kind:
                yield f"memory:{kind}/{key}", text

    async def _run(self, call: Callable[[], _T]) -> _T:
        return call()
