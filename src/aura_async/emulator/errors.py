"""The emulator's own error: an API answer that is not a success."""

from __future__ import annotations

__all__ = ["ApiError"]


class ApiError(Exception):
    """An error answer of the emulated API, raised by the backend and rendered by the app.

    Args:
        status: the HTTP status.
        message: the human text (``errors[0].message``).
        reason: the machine reason code (``errors[0].reason``); may be empty, as the live
            service leaves it for graph-analytics sessions.
        field: the request-body property the error is about, if any.
    """

    def __init__(self, status: int, message: str, reason: str = "", field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.field = field

    def to_json(self) -> dict[str, list[dict[str, str]]]:
        """Return the ``{"errors": [...]}`` body the API sends."""
        item = {"message": self.message, "reason": self.reason}
        if self.field is not None:
            item["field"] = self.field
        return {"errors": [item]}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.message!r}, reason={self.reason!r})"
