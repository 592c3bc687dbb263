"""Benchmarks: figures and ratios measured side by side in one run. Nothing here asserts on time.

emulator throughput: how many API requests per second the emulator answers, in process
(httpx.ASGITransport) and over loopback HTTP (uvicorn), for reads (GET an instance) and for
creates, with the ratio between the two transports. It tells how much of a test suite's time
the emulator itself costs, and which transport to use where speed matters.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable

import anyio
import httpx

from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    EmulatorServer,
    ProjectSpec,
    RateLimitSettings,
    create_app,
)

CONFIG = EmulatorConfig(
    time_scale=1000.0,
    seed=1,
    token_lifetime=1e9,
    rate_limit=RateLimitSettings(enabled=False),
    projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Benchmarks", max_instances=1_000_000),),
)


async def _measure(
    http: httpx.AsyncClient, project: str, requests: int, concurrency: int
) -> tuple[float, float]:
    token = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    body = {
        "version": "5",
        "region": "europe-west1",
        "memory": "2GB",
        "name": "bench",
        "type": "professional-db",
        "tenant_id": project,
        "cloud_provider": "gcp",
    }
    created = await http.post("/v1/instances", json=body, headers=headers)
    instance_id = created.json()["data"]["id"]

    async def run(call: Callable[[], Awaitable[httpx.Response]]) -> float:
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                response = await call()
                assert response.status_code < 300, response.text

        start = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker)
        return requests / (time.perf_counter() - start)

    reads = await run(lambda: http.get(f"/v1/instances/{instance_id}", headers=headers))
    creates = await run(lambda: http.post("/v1/instances", json=body, headers=headers))
    return reads, creates


async def emulator_throughput(requests: int, concurrency: int) -> None:
    """Print requests per second in process and over loopback HTTP, and their ratio."""
    app = create_app(CONFIG)
    project = app.state.emulator.backend.default_project_id
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
        asgi = await _measure(http, project, requests, concurrency)
    with EmulatorServer(CONFIG) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            loopback = await _measure(http, server.project_id, requests, concurrency)
    print(f"emulator throughput ({requests} requests, {concurrency} concurrent)")
    for label, index in (("GET instance", 0), ("POST create", 1)):
        ratio = asgi[index] / loopback[index]
        print(
            f"  {label:13s} in process {asgi[index]:8.0f}/s   loopback HTTP "
            f"{loopback[index]:8.0f}/s   in-process/loopback = {ratio:4.1f}x"
        )


def main() -> None:
    """Run every benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    anyio.run(emulator_throughput, args.requests, args.concurrency)


if __name__ == "__main__":
    main()
