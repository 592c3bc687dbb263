"""Another client of the emulator: raw httpx with a token of its own, no SDK in between.

It stands for Terraform, the console or a colleague, when a test needs something to change
behind the back of the client under test. A test's rig keeps the token and calls
:func:`raw_token` once, then :func:`raw_request` for each call.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["raw_request", "raw_token"]


async def raw_token(http: httpx.AsyncClient, client_id: str, client_secret: str) -> str:
    """A bearer token for the credential, fetched with the client-credentials grant."""
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, client_secret),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def raw_request(
    http: httpx.AsyncClient,
    token: str,
    method: str,
    path: str,
    body: Any = None,
    expect: int = 200,
) -> Any:
    """Call ``/v1{path}`` with ``token``; assert the status is ``expect``; return ``data``.

    Returns None for an answer without a body.
    """
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}"}}
    if body is not None:
        kwargs["json"] = body
    response = await http.request(method, f"/v1{path}", **kwargs)
    assert response.status_code == expect, response.text
    return response.json()["data"] if response.content else None
