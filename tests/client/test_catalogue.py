"""Bad input is refused before anything billable is sent: names, project ids, and what the
project offers (its instance configurations, read once per client).

Each refusal is checked on an in-process emulator's own counters: no mutation (POST, PATCH,
DELETE) reached it. The project's catalogue costs one GET per client, shared by every create
and resize; where it cannot be read, offline rules apply and a valid create still goes
through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from aura_async import AuraClient, ValidationError
from aura_async._http.retry import RetryPolicy
from aura_async._validation import (
    check_name,
    check_tenant_id,
    control_characters,
    escape_controls,
)
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    ManualClock,
    create_app,
)
from aura_async.errors import TransportError
from aura_async.fleet.specs import InstanceSpec, expand
from aura_async.resources.catalogue import Catalogue, check_offline, check_sizes_offline

pytestmark = pytest.mark.anyio

TENANTS_ROUTE = "GET /v1/tenants/{tenantId}"
PRO: dict[str, Any] = {
    "type": "professional-db",
    "region": "europe-west1",
    "memory": "2GB",
    "cloud_provider": "gcp",
}
MUTATING = ("POST /v1/instances", "PATCH ", "DELETE ", "/pause", "/resume", "/overwrite")


class Rig:
    """An in-process emulator, its counters, and clients on it (optionally behind a filter)."""

    def __init__(self) -> None:
        self.app = create_app(EmulatorConfig(seed=3), clock=ManualClock())
        self.refuse_tenants: int | None = None  # answer GET /tenants/{id} with this status

    def transport(self) -> httpx.AsyncBaseTransport:
        inner = httpx.ASGITransport(app=self.app)
        rig = self

        class Filter(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                path = request.url.path
                if rig.refuse_tenants is not None and path.startswith("/v1/tenants/"):
                    return httpx.Response(
                        rig.refuse_tenants,
                        json={"errors": [{"message": "Forbidden", "reason": "forbidden"}]},
                    )
                return await inner.handle_async_request(request)

        return Filter()

    def client(self, **kwargs: Any) -> AuraClient:
        return AuraClient(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            tenant_id=DEFAULT_PROJECT_ID,
            base_url="http://emulator.test",
            transport=self.transport(),
            **kwargs,
        )

    async def requests(self) -> dict[str, dict[str, int]]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://emulator.test"
        ) as http:
            response = await http.get("/_emulator/counters")
        response.raise_for_status()
        found: dict[str, dict[str, int]] = response.json()["requests"]
        return found

    async def mutations(self) -> int:
        return sum(
            sum(statuses.values())
            for route, statuses in (await self.requests()).items()
            if not route.startswith("GET ") and "/oauth/" not in route
        )

    async def sent(self) -> int:
        return sum(
            sum(statuses.values())
            for route, statuses in (await self.requests()).items()
            if "/_emulator" not in route
        )


@pytest.fixture
def rig() -> Rig:
    return Rig()


# ------------------------------------------------------------------ names and ids (offline)

CONTROL_NAMES = {
    "newline": ("a\nb", "\\n", 2),
    "forged event line": ("a\n00:00:00 ok: deleted\nb", "\\n", 2),
    "bell": ("db\x07", "\\x07", 3),
    "escape": ("x\x1b[31mred", "\\x1b", 2),
    "carriage return": ("ok\rno", "\\r", 3),
    "tab": ("a\tb", "\\t", 2),
    "line separator": ("a\u2028b", "\\u2028", 2),
    "paragraph separator": ("a\u2029b", "\\u2029", 2),
    "bidi override": ("abc\u202edcba", "\\u202e", 4),
    "zero width space": ("a\u200bb", "\\u200b", 2),
    "delete": ("a\x7fb", "\\x7f", 2),
}


@pytest.mark.parametrize("case", list(CONTROL_NAMES))
def test_a_name_with_a_control_character_is_refused_naming_it(case: str) -> None:
    name, shown, position = CONTROL_NAMES[case]
    with pytest.raises(ValidationError) as caught:
        check_name(name)
    message = str(caught.value)
    assert caught.value.field == "name"
    assert "control character" in message
    assert f"found {shown} " in message
    assert f"at position {position} " in message
    assert control_characters(message) == [], "the message itself must print on one line"


@pytest.mark.parametrize("name", ["db", "ci-01", "é-ü-ß", "数据库", "a b", "x" * 30, "db 🚀"])
def test_ordinary_names_still_pass(name: str) -> None:
    assert check_name(name) == name


def test_escape_controls_makes_one_line_and_leaves_the_rest() -> None:
    assert escape_controls("plain é 数据") == "plain é 数据"
    assert escape_controls("a\nb\x07c\u2028d") == "a\\nb\\x07c\\u2028d"
    assert "\n" not in escape_controls("x\r\n\x1b[2J")


@pytest.mark.parametrize(
    "value",
    ["not-a-uuid", "6c0b0a3e7f3c4b7e9a550e3f1c2d4a5b", "6c0b0a3e-7f3c-4b7e-9a55-0e3f1c2d4a5", ""],
)
def test_a_project_id_must_be_a_uuid(value: str) -> None:
    with pytest.raises(ValidationError, match="UUID") as caught:
        check_tenant_id(value)
    assert caught.value.field == "tenant_id"


def test_the_emulators_project_ids_are_uuids() -> None:
    assert check_tenant_id(DEFAULT_PROJECT_ID) == DEFAULT_PROJECT_ID


def test_a_name_pattern_with_a_control_character_is_refused_at_once() -> None:
    spec = InstanceSpec(name="x", type="free-db")
    with pytest.raises(ValidationError, match=r"found \\n ") as caught:
        expand(spec, 3, "a\n00:00:00 ok: deleted\n{n}")
    assert caught.value.field == "pattern"


async def test_names_and_project_ids_are_refused_before_any_request(rig: Rig) -> None:
    async with rig.client() as aura:
        for name in ("a\nb", "bell\x07", "a\u2028b"):
            with pytest.raises(ValidationError, match="control character"):
                await aura.instances.create(name=name, type="free-db")
        with pytest.raises(ValidationError, match="UUID") as caught:
            await aura.instances.create(name="db", tenant_id="not-a-uuid", **PRO)
        assert caught.value.field == "tenant_id"
        with pytest.raises(ValidationError, match="UUID"):
            await aura.tenants.get("not-a-uuid")
        with pytest.raises(ValidationError, match="control character"):
            await aura.instances.update("0123abcd", name="a\nb")
    assert await rig.sent() == 0


# ------------------------------------------------------------------ the project's catalogue

REFUSED = {
    "memory not offered": (
        {"memory": "3GB"},
        "memory",
        "memory 3GB is not offered for professional-db on gcp europe-west1; offered: 1GB, 2GB, "
        "4GB, 8GB",
    ),
    "version not offered": ({"version": "99"}, "version", "version 99 is not offered"),
    "unknown region": ({"region": "mars-1"}, "region", "region mars-1 is not offered"),
    "region shaped like gcp's": ({"region": "mars-north1"}, "region", "not offered for"),
    "an aws region on gcp": ({"region": "us-east-1"}, "region", "on gcp; offered: "),
    "storage not offered": ({"storage": "3GB"}, "storage", "storage 3GB is not offered"),
    "type not offered": ({"type": "enterprise-ds", "memory": "2GB"}, "memory", "16GB"),
    "region with a newline": ({"region": "europe-west1\n"}, "region", "control character"),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_a_create_the_project_does_not_offer_is_refused_before_it_is_sent(
    rig: Rig, case: str
) -> None:
    change, field, words = REFUSED[case]
    async with rig.client() as aura:
        with pytest.raises(ValidationError) as caught:
            await aura.instances.create(name="db", **{**PRO, **change})
    assert caught.value.field == field
    assert words in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value)
    assert await rig.mutations() == 0
    assert (await rig.requests()).get(TENANTS_ROUTE, {}) in ({}, {"200": 1})


async def test_validate_create_returns_the_body_and_sends_no_create(rig: Rig) -> None:
    async with rig.client() as aura:
        body = await aura.instances.validate_create(name="db", **PRO)
        free = await aura.instances.validate_create(name="free", type="free-db")
    assert body["memory"] == "2GB"
    assert body["tenant_id"] == DEFAULT_PROJECT_ID
    assert free["cloud_provider"] == "gcp"
    assert await rig.mutations() == 0


async def test_the_catalogue_is_read_once_per_client_and_shared(rig: Rig) -> None:
    async with rig.client() as aura:
        async with anyio.create_task_group() as tasks:
            for n in range(5):
                tasks.start_soon(lambda n=n: aura.instances.create(name=f"db-{n}", **PRO))
        with pytest.raises(ValidationError):
            await aura.instances.create(name="too-big", **{**PRO, "memory": "3GB"})
        await aura.instances.validate_resize(memory="4GB", storage=None)
        assert aura.catalogue.cached(DEFAULT_PROJECT_ID)
        assert aura.instances.catalogue is aura.catalogue
    requests = await rig.requests()
    assert requests[TENANTS_ROUTE] == {"200": 1}
    assert requests["POST /v1/instances"] == {"202": 5}


async def test_a_resize_to_a_size_the_project_never_offers_is_refused(rig: Rig) -> None:
    async with rig.client() as aura:
        created = await aura.instances.create(name="db", **PRO)
        for memory, storage, field in (("7GB", None, "memory"), (None, "3GB", "storage")):
            with pytest.raises(ValidationError) as caught:
                await aura.instances.update(created.id, memory=memory, storage=storage)
            assert caught.value.field == field
            assert "offered: " in str(caught.value)
            with pytest.raises(ValidationError):
                await aura.instances.validate_resize(memory=memory, storage=storage)
    requests = await rig.requests()
    assert "PATCH /v1/instances/{instanceId}" not in requests


@pytest.mark.parametrize("status", [403, 500])
async def test_an_unreadable_catalogue_still_lets_a_valid_create_through(
    rig: Rig, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    rig.refuse_tenants = status
    caplog.set_level("INFO", logger="aura_async")
    async with rig.client(retry=RetryPolicy(max_retries=1, base_delay=0.001)) as aura:
        created = await aura.instances.create(name="db", **PRO)
        assert created.name == "db"
        # The offline rules still refuse what Aura never offers, and nothing is sent for it.
        for change in ({"memory": "3GB"}, {"version": "99"}, {"region": "mars-1"}):
            with pytest.raises(ValidationError, match="could not be read"):
                await aura.instances.create(name="bad", **{**PRO, **change})
        with pytest.raises(ValidationError, match="not a gcp region name"):
            await aura.instances.create(name="bad", **{**PRO, "region": "us-east-1"})
        with pytest.raises(ValidationError, match="7GB is not a size Aura offers"):
            await aura.instances.validate_resize(memory="7GB", storage=None)
    assert "could not be read" in caplog.text
    requests = await rig.requests()
    assert requests["POST /v1/instances"] == {"202": 1}
    # The failure is remembered: not read again for every create.
    assert TENANTS_ROUTE not in requests  # refused by the filter, never reached the emulator


async def test_a_catalogue_read_that_fails_is_not_retried_for_every_check() -> None:
    calls: list[str] = []

    async def fetch(tenant: str) -> Any:
        calls.append(tenant)
        raise TransportError("connection refused", method="GET", path="/tenants")

    catalogue = Catalogue(fetch, retry_after=60)
    assert await catalogue.configurations(DEFAULT_PROJECT_ID) is None
    assert await catalogue.configurations(DEFAULT_PROJECT_ID) is None
    assert calls == [DEFAULT_PROJECT_ID]
    catalogue.forget()
    assert await catalogue.configurations(DEFAULT_PROJECT_ID) is None
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("check", "field"),
    [
        (lambda: check_offline(cloud_provider="gcp", region="mars-1", memory="2GB", version="5"),
         "region"),
        (lambda: check_offline(cloud_provider="azure", region="eu-west-1", memory="2GB",
                               version="5"), "region"),
        (lambda: check_offline(cloud_provider="aws", region="us-east-1", memory="3GB",
                               version="5"), "memory"),
        (lambda: check_offline(cloud_provider="aws", region="us-east-1", memory="2GB",
                               version="6"), "version"),
        (lambda: check_sizes_offline(memory=None, storage="5GB"), "storage"),
    ],
)  # fmt: skip
def test_offline_rules(check: Callable[[], None], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check()
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("cloud", "region"),
    [
        ("gcp", "europe-west1"),
        ("gcp", "northamerica-northeast1"),
        ("aws", "us-gov-west-1"),
        ("aws", "ap-southeast-2"),
        ("azure", "westeurope"),
        ("azure", "eastus2"),
    ],
)
def test_offline_rules_pass_real_region_names(cloud: str, region: str) -> None:
    check_offline(cloud_provider=cloud, region=region, memory="8GB", version="5", storage="16GB")
