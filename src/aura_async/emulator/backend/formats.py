"""The API's text forms of time: ISO timestamps and Go durations (a session's ``ttl``)."""

from __future__ import annotations

import datetime as dt
import re

_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_go_duration(text: str) -> float | None:
    """Parse a Go-style duration such as ``30m``, ``1h30m`` or ``20m0s`` into seconds."""
    match = _DURATION_RE.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_go_duration(seconds: float) -> str:
    """Render seconds the way Go's ``time.Duration`` prints: ``1h0m0s``, ``20m0s``, ``45s``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def iso(timestamp: float) -> str:
    """Render an emulated timestamp as the API does: ``2023-01-20T13:44:42Z``."""
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
