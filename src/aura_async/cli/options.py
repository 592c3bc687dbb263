"""The global options of one invocation, as the command line gave them (``CliOptions``).

Its own module because both the config file (``--config``, ``--profile``) and the settings
(every other flag) read it, and neither should import the other for it.
"""

from __future__ import annotations

import attrs

__all__ = ["CliOptions"]


@attrs.frozen
class CliOptions:
    """The global options of one invocation, as given on the command line."""

    profile: str | None = None
    config: str | None = None
    client_id: str | None = None
    client_secret_file: str | None = None
    tenant_id: str | None = None
    base_url: str | None = None
    auth_url: str | None = None
    rate_limit: str | None = None
    rate_limit_redis: str | None = None
    credentials_dir: str | None = None
