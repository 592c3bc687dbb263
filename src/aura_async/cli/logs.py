"""``--verbose`` and ``--debug``: the SDK's log lines on standard error, for one command.

The ``aura_async`` logger says what the command does behind its output: retries and their
reasons, rate limiting and cool-downs, a lowered limit, token refreshes, the only project
found, and (at DEBUG) every request with its status, time and request id. Its lines hold no
secret (tests sweep them). They go to standard error, so ``-o json`` and ``-o jsonl`` output
stays clean, one line each, with control characters escaped as every other output is.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from aura_async._validation import escape_controls

__all__ = ["log_to_stderr"]


class _OneLine(logging.Formatter):
    """``12:03:04 INFO message``, on one line, whatever the message holds."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` and escape what would break the line or drive the terminal."""
        return escape_controls(super().format(record))


def log_to_stderr(level: int) -> Callable[[], None]:
    """Print the ``aura_async`` logger's records of ``level`` and above on standard error.

    Returns the function that undoes it (the command calls it when it ends, so an embedding
    program or a test runner keeps its own logging). Never raises.
    """
    logger = logging.getLogger("aura_async")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    handler.setLevel(level)
    before = logger.level
    logger.addHandler(handler)
    if before == logging.NOTSET or before > level:
        logger.setLevel(level)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(before)

    return undo
