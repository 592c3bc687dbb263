"""A scripted tour of the emulator over real HTTP: what ``--demo`` runs.

It speaks the raw API with httpx, as any client would, and shows each lifecycle: three
instances created at once, waited for, paused, resumed, resized, snapshotted and deleted,
then the emulator's own counters. Passwords are never printed.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import anyio
import httpx

from aura_async.emulator.server import EmulatorServer

__all__ = ["run_tour"]


def _retry_after(header: str | None) -> float:
    """Seconds a 429's ``Retry-After`` asks for: delta seconds or an HTTP date (0.1 if none)."""
    if not header:
        return 0.1
    try:
        return max(float(header), 0.0)
    except ValueError:
        when = email.utils.parsedate_to_datetime(header).timestamp()
        return max(when - time.time(), 0.0)


class _Tour:
    def __init__(self, server: EmulatorServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http
        self.started = time.monotonic()
        self.token = ""

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.2f}s] {text}", flush=True)  # noqa: T201

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        while True:
            response = await self.http.request(
                method, f"/v1{path}", json=body, headers={"Authorization": f"Bearer {self.token}"}
            )
            if response.status_code != 429:
                return response
            await anyio.sleep(_retry_after(response.headers.get("Retry-After")))

    async def wait_for(self, instance_id: str, done: Any) -> dict[str, Any]:
        last = None
        while True:
            response = await self.call("GET", f"/instances/{instance_id}")
            data: dict[str, Any] = response.json()["data"] if response.status_code == 200 else {}
            # (A just-created instance may answer 404 for a while, as live Aura's do.)
            status = data.get("status", "not found" if response.status_code == 404 else "?")
            if status != last:
                self.say(f"  {instance_id} is {status}")
                last = status
            if done(response.status_code, data):
                return data
            await anyio.sleep(0.05)

    async def run(self) -> None:
        token = await self.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.server.client_id, self.server.client_secret),
        )
        token.raise_for_status()
        self.token = token.json()["access_token"]
        self.say("got an access token (client-credentials flow)")
        project = self.server.project_id
        names = ["tour-alpha", "tour-beta", "tour-gamma"]
        ids: list[str] = []

        async def create(name: str) -> None:
            response = await self.call(
                "POST",
                "/instances",
                {
                    "name": name,
                    "type": "professional-db",
                    "tenant_id": project,
                    "cloud_provider": "gcp",
                    "region": "europe-west1",
                    "memory": "2GB",
                    "version": "5",
                },
            )
            response.raise_for_status()
            data = response.json()["data"]
            ids.append(data["id"])
            self.say(f"created {name} as {data['id']} (password received, kept out of sight)")
            await self.wait_for(data["id"], lambda code, d: d.get("status") == "running")

        async with anyio.create_task_group() as group:
            for name in names:
                group.start_soon(create, name)
        first = ids[0]
        self.say(f"pausing {first}")
        (await self.call("POST", f"/instances/{first}/pause")).raise_for_status()
        await self.wait_for(first, lambda code, d: d.get("status") == "paused")
        self.say(f"resuming {first}")
        (await self.call("POST", f"/instances/{first}/resume")).raise_for_status()
        await self.wait_for(first, lambda code, d: d.get("status") == "running")
        self.say(f"resizing {first} from 2GB to 4GB (memory shows 2GB until it is done)")
        (await self.call("PATCH", f"/instances/{first}", {"memory": "4GB"})).raise_for_status()
        await self.wait_for(
            first, lambda code, d: d.get("status") == "running" and d.get("memory") == "4GB"
        )
        response = await self.call("POST", f"/instances/{first}/snapshots")
        snapshot_id = response.json()["data"]["snapshot_id"]
        self.say(f"snapshot {snapshot_id} started")
        while True:
            snap = await self.call("GET", f"/instances/{first}/snapshots/{snapshot_id}")
            if snap.json()["data"]["status"] in ("Completed", "Failed"):
                self.say(f"snapshot is {snap.json()['data']['status']}")
                break
            await anyio.sleep(0.05)
        self.say("deleting every instance")
        async with anyio.create_task_group() as group:
            for instance_id in ids:
                (await self.call("DELETE", f"/instances/{instance_id}")).raise_for_status()
                group.start_soon(self.wait_for, instance_id, lambda code, d: code == 404)
        counters = (await self.http.get("/_emulator/counters")).json()
        self.say(
            f"done: {counters['requests_total']} requests, "
            f"{counters['rate_limited']} rate limited, "
            f"most accepted in one window: {counters['max_accepted_in_window']}"
        )


def run_tour(server: EmulatorServer) -> int:
    """Run the tour against a started server; return 0 on success, 1 on failure."""

    async def main() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            await _Tour(server, http).run()

    try:
        anyio.run(main)
    except (httpx.HTTPError, KeyError) as exc:
        print(f"tour failed: {exc!r}", flush=True)  # noqa: T201
        return 1
    return 0
