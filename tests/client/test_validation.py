"""Invalid input to every public method is refused locally: ValidationError, nothing sent.

Each refusal is checked three ways: the error is :class:`aura_async.ValidationError`, its
``field`` names the argument at fault and its message says what is wrong; and the emulator's
counters (read over HTTP before and after) prove that no request left the client, not even a
token request. A refusal that came from the server instead would be an APIError and would
show up in the counters, so a check that moved to the server fails here too.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aura_async import AuraClient, Credentials, InstanceSpec, MemoryStore, ValidationError
from aura_async.emulator import EmulatorServer
from tests.client.conftest import Witness, emulator_config, make_client

pytestmark = pytest.mark.timeout(60)

ID = "0123abcd"  # a well-formed instance id (never sent: the calls below are all refused)
# Credentials to verify (never used: every verify below is refused before connecting).
LOGIN = Credentials(
    instance_id=ID,
    name="db",
    username="neo4j",
    password="not-a-real-password",
    connection_url="neo4j://127.0.0.1:1",
)
PRO: dict[str, Any] = {
    "name": "db",
    "type": "professional-db",
    "region": "europe-west1",
    "memory": "2GB",
    "cloud_provider": "gcp",
}
KEY: dict[str, Any] = {
    "name": "key",
    "key_id": "arn:aws:kms:eu-west-1:123456789012:key/0000",
    "region": "europe-west1",
    "cloud_provider": "gcp",
    "instance_type": "enterprise-db",
}
SESSION: dict[str, Any] = {
    "name": "session",
    "memory": "4GB",
    "cloud_provider": "gcp",
    "region": "europe-west1",
}
ATTACHED: dict[str, Any] = {"name": "session", "memory": "4GB", "instance_id": "0123abcd"}
GRAPH: dict[str, Any] = {"node_count": 10, "relationship_count": 20}

NAME = "must be 1 to 30 characters|must not start or end with white space|must be a string"
INSTANCE_ID = "must be an instance id of 8 hex characters"
BAD_ID = "is not a valid id"
TEXT = "must be a non-empty string"
SIZE = "must be a size in whole gigabytes such as 8GB"
CHOICE = "must be one of"
COUNT = "must be a non-negative integer"
FLAG = "must be True or False"
DATE = "must be a date such as 2025-01-31"
TTL = "ttl must be a positive duration such as 30m"
TIMEOUT = "timeout must be seconds, 0 or more"
SENT_AFTER = r"sent_after must be a moment of anyio\.current_time\(\)"
ATTEMPTS = "attempts must be a whole number, 1 or more"
CONTROL = "control character"


@attrs.frozen
class Case:
    """One call that must be refused: ``aura.<operation>(*args, **kwargs)``."""

    operation: str  # "instances.create"
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    field: str | None
    match: str
    bare: bool = False  # through a client with no default project

    def invoke(self, aura: AuraClient) -> Awaitable[object]:
        group, method = self.operation.split(".")
        bound: Any = getattr(getattr(aura, group), method)
        result: Awaitable[object] = bound(*self.args, **self.kwargs)
        return result


def case(
    operation: str,
    *args: Any,
    field: str | None,
    match: str,
    id: str,
    bare: bool = False,
    **kwargs: Any,
) -> Any:
    """One refusal: ``operation(*args, **kwargs)`` must name ``field`` and say ``match``."""
    return pytest.param(Case(operation, args, kwargs, field, match, bare), id=f"{operation}-{id}")


def each(
    operation: str,
    slot: str | int,
    values: list[Any],
    *,
    match: str,
    field: str | None = None,
    args: tuple[Any, ...] = (),
    base: dict[str, Any] | None = None,
    tag: str = "",
) -> list[Any]:
    """One refusal per value, put in argument ``slot`` (a keyword, or a position in args)."""
    params = []
    for value in values:
        call_args, kwargs = list(args), dict(base or {})
        if isinstance(slot, int):
            call_args.insert(slot, value)
        else:
            kwargs[slot] = value
        named = field if field is not None else str(slot)
        label = f"{tag}-{named}={value!r}" if tag else f"{named}={value!r}"
        params.append(
            case(
                operation,
                *call_args,
                field=named,
                match=match,
                id=label,
                **kwargs,
            )
        )
    return params


BAD_NAMES = ["", "x" * 31, " db", "db ", "\tdb", 42, None]
BAD_INSTANCE_IDS = ["", "0123ABCD", "0123abc", "0123abcde", "0123abcg", None, 12345678]
BAD_PATH_IDS = ["", "a/b", "../x", "a b", None, 42]
BAD_SIZES = ["8 GB", "8gb", "0GB", "08GB", "8.5GB", "8", 8]
BAD_COUNTS = [-1, True, "10", 1.5]
BAD_TIMEOUTS = [-1, -0.5, float("nan"), "5", True]
FREE: dict[str, Any] = {"name": "f", "type": "free-db"}

CASES = [
    # ------------------------------------------------------------------ tenants
    # (No project named nor configured: the account's only one, or a listing of them, in
    # test_default_project.py; a client alone may list the projects to find it.)
    *each("tenants.get", 0, ["", "a/b", 42], field="tenant_id", match=BAD_ID),
    *each("tenants.metrics_integration", 0, ["../x", ""], field="tenant_id", match=BAD_ID),
    # ---------------------------------------------------------------- instances
    *each("instances.list", "tenant_id", ["bad id", "", 7], match=BAD_ID),
    *each(
        "instances.list",
        "sent_after",
        ["soon", float("nan"), float("inf"), float("-inf"), True, [1.0]],
        match=SENT_AFTER,
    ),
    *each("instances.get", 0, BAD_INSTANCE_IDS, field="instance_id", match=INSTANCE_ID),
    *each("instances.create", "name", BAD_NAMES, base=PRO, match=NAME),
    *each(
        "instances.create",
        "type",
        ["free", "FREE-DB", "enterprise", 3, None],
        base=PRO,
        match=CHOICE,
    ),
    *each("instances.create", "cloud_provider", ["ibm", "GCP", 1], base=PRO, match=CHOICE),
    # The paid tiers need a region, memory and cloud; only AuraDB Free has defaults.
    *(
        case(
            "instances.create",
            field=missing,
            match=f"{missing} is required for {kind} instances",
            id=f"{kind}-without-{missing}",
            **{k: v for k, v in PRO.items() if k != missing} | {"type": kind},
        )
        for kind in ["professional-db", "business-critical"]
        for missing in ["region", "memory", "cloud_provider"]
    ),
    *each("instances.create", "memory", BAD_SIZES, base=PRO, match=SIZE),
    *each("instances.create", "storage", ["0GB", "16 GB", "16gb"], base=PRO, match=SIZE),
    *each("instances.create", "region", ["", "  ", 1], base=PRO, match=TEXT),
    *each("instances.create", "version", ["", 5], base=PRO, match=TEXT),
    # AuraDB Free has one configuration: GCP, 1GB, no storage size, no key.
    *each(
        "instances.create",
        "cloud_provider",
        ["aws", "azure"],
        base=FREE,
        tag="free",
        match="AuraDB Free runs on GCP only",
    ),
    *each("instances.create", "cloud_provider", ["ibm"], base=FREE, tag="free", match=CHOICE),
    *each(
        "instances.create",
        "memory",
        ["2GB", "8 GB", ""],
        base=FREE,
        tag="free",
        match="AuraDB Free has 1GB of memory only",
    ),
    *each(
        "instances.create",
        "storage",
        ["2GB"],
        base=FREE,
        tag="free",
        match="AuraDB Free takes no storage size",
    ),
    *each(
        "instances.create",
        "customer_managed_key_id",
        ["k"],
        base=FREE,
        tag="free",
        match="AuraDB Free cannot use a customer managed key",
    ),
    *each("instances.create", "region", [""], base=FREE, tag="free", match=TEXT),
    # Clones and keys.
    case(
        "instances.create",
        source_snapshot_id="snap",
        field="source_snapshot_id",
        match="source_snapshot_id needs source_instance_id",
        id="snapshot-without-source",
        **PRO,
    ),
    *each("instances.create", "source_instance_id", ["XYZ", ""], base=PRO, match=INSTANCE_ID),
    *each(
        "instances.create",
        "source_snapshot_id",
        ["a/b", ""],
        base=PRO | {"source_instance_id": ID},
        match=BAD_ID,
    ),
    *each("instances.create", "customer_managed_key_id", ["", "a b"], base=PRO, match=BAD_ID),
    *each("instances.create", "vector_optimized", ["yes", 1], base=PRO, match=FLAG),
    *each("instances.create", "graph_analytics_plugin", [1, "false"], base=PRO, match=FLAG),
    *each("instances.create", "tenant_id", ["", "bad id"], base=PRO, match=BAD_ID),
    # Updates.
    *each(
        "instances.update",
        0,
        ["ABCDEF12", ""],
        base={"name": "x"},
        field="instance_id",
        match=INSTANCE_ID,
    ),
    *each(
        "instances.update", "name", [n for n in BAD_NAMES if n is not None], args=(ID,), match=NAME
    ),
    *each("instances.update", "memory", BAD_SIZES, args=(ID,), match=SIZE),
    *each("instances.update", "storage", ["0GB", "eight"], args=(ID,), match=SIZE),
    *each("instances.update", "secondaries_count", [-1, True, 1.5, "2"], args=(ID,), match=COUNT),
    *each("instances.update", "cdc_enrichment_mode", ["partial", "off"], args=(ID,), match=CHOICE),
    *each("instances.update", "vector_optimized", ["true", 0], args=(ID,), match=FLAG),
    *each("instances.update", "graph_analytics_plugin", [0, "no"], args=(ID,), match=FLAG),
    # Nothing to change names no single argument.
    case(
        "instances.update",
        ID,
        field=None,
        match="update needs at least one thing to change",
        id="nothing",
    ),
    *each("instances.delete", 0, BAD_INSTANCE_IDS, field="instance_id", match=INSTANCE_ID),
    *each(
        "instances.delete", "timeout", BAD_TIMEOUTS, args=(ID,), base={"wait": True}, match=TIMEOUT
    ),
    # Deleting and proving the instance absent: the same checks, before the first DELETE.
    *each("instances.ensure_deleted", 0, BAD_INSTANCE_IDS, field="instance_id", match=INSTANCE_ID),
    *each("instances.ensure_deleted", "timeout", BAD_TIMEOUTS, args=(ID,), match=TIMEOUT),
    *each(
        "instances.ensure_deleted",
        "timeout",
        BAD_TIMEOUTS[:2],
        args=(ID,),
        base={"wait": False},
        tag="no-wait",
        match=TIMEOUT,
    ),
    # Verifying: the credentials are checked before the instance is read for its address
    # (and before the driver is loaded).
    *each("instances.verify", "timeout", BAD_TIMEOUTS, args=(LOGIN,), match=TIMEOUT),
    case(
        "instances.verify",
        attrs.evolve(LOGIN, instance_id="", connection_url=None),
        field="connection_url",
        match="no connection URL",
        id="no-url-nor-id",
    ),
    case(
        "instances.verify",
        attrs.evolve(LOGIN, password=""),
        field="password",
        match="no user name or password",
        id="no-password",
    ),
    case(
        "instances.verify",
        attrs.evolve(LOGIN, username="", connection_url=None),
        field="password",
        match="no user name or password",
        id="no-user",
    ),
    # The create and resize checks on their own: what is malformed is refused before even
    # the project's offer is read (the refusals of what the project does not offer, which
    # cost that one read, are in test_catalogue.py).
    *each("instances.validate_create", "name", BAD_NAMES, base=PRO, match=NAME),
    *each("instances.validate_create", "name", ["a\nb", "db\x07"], base=PRO, match=CONTROL),
    *each("instances.validate_create", "type", ["free", "FREE-DB", None], base=PRO, match=CHOICE),
    *each("instances.validate_create", "cloud_provider", ["ibm", 1], base=PRO, match=CHOICE),
    *each("instances.validate_create", "memory", BAD_SIZES, base=PRO, match=SIZE),
    *each("instances.validate_create", "storage", ["0GB", "16 GB"], base=PRO, match=SIZE),
    *each("instances.validate_create", "region", ["", "  ", 1], base=PRO, match=TEXT),
    *each("instances.validate_create", "version", ["", 5], base=PRO, match=TEXT),
    *each("instances.validate_create", "tenant_id", ["", "bad id"], base=PRO, match=BAD_ID),
    *each(
        "instances.validate_create",
        "memory",
        ["2GB"],
        base=FREE,
        tag="free",
        match="AuraDB Free has 1GB of memory only",
    ),
    *each("instances.validate_resize", "memory", BAD_SIZES, base={"storage": None}, match=SIZE),
    *each(
        "instances.validate_resize",
        "storage",
        ["0GB", "eight"],
        base={"memory": None},
        match=SIZE,
    ),
    *each(
        "instances.validate_resize",
        "tenant_id",
        ["", "a b"],
        base={"memory": "8GB", "storage": None},
        match=BAD_ID,
    ),
    # No project to read the offer of: Aura's known sizes decide, and nothing is sent.
    case(
        "instances.validate_resize",
        memory="7GB",
        storage=None,
        field="memory",
        match="is not a size Aura offers",
        bare=True,
        id="no-project-memory=7GB",
    ),
    case(
        "instances.validate_resize",
        memory=None,
        storage="3GB",
        field="storage",
        match="is not a size Aura offers",
        bare=True,
        id="no-project-storage=3GB",
    ),
    *each("instances.pause", 0, BAD_INSTANCE_IDS, field="instance_id", match=INSTANCE_ID),
    *each("instances.resume", 0, BAD_INSTANCE_IDS, field="instance_id", match=INSTANCE_ID),
    *each(
        "instances.overwrite",
        0,
        ["nope", ""],
        base={"source_instance_id": ID},
        field="instance_id",
        match=INSTANCE_ID,
    ),
    *each(
        "instances.overwrite",
        "source_instance_id",
        ["", "0123ABCD", None],
        args=(ID,),
        match=INSTANCE_ID,
    ),
    *each(
        "instances.overwrite",
        "source_snapshot_id",
        ["", "a b"],
        args=(ID,),
        base={"source_instance_id": ID},
        match=BAD_ID,
    ),
    *each("instances.upgrade", 0, ["0123abc", None], field="instance_id", match=INSTANCE_ID),
    # Upgrade takes memory and storage together, or neither; the missing one is named.
    case(
        "instances.upgrade",
        ID,
        memory="8GB",
        field="storage",
        match="give memory and storage together, or neither",
        id="memory-only",
    ),
    case(
        "instances.upgrade",
        ID,
        storage="16GB",
        field="memory",
        match="give memory and storage together, or neither",
        id="storage-only",
    ),
    *each(
        "instances.upgrade",
        "memory",
        ["8 GB", "8gb", "0GB"],
        args=(ID,),
        base={"storage": "16GB"},
        match=SIZE,
    ),
    *each(
        "instances.upgrade",
        "storage",
        ["0GB", "16 GB"],
        args=(ID,),
        base={"memory": "8GB"},
        match=SIZE,
    ),
    *each("instances.sizing", "node_count", [*BAD_COUNTS, None], base=GRAPH, match=COUNT),
    *each("instances.sizing", "relationship_count", [-5, False], base=GRAPH, match=COUNT),
    *each("instances.sizing", "instance_type", ["huge", ""], base=GRAPH, match=CHOICE),
    *each(
        "instances.sizing",
        "algorithm_categories",
        ["centrality", None, {"a": 1}],
        base=GRAPH,
        match="must be a list of strings",
    ),
    *each(
        "instances.sizing",
        "algorithm_categories",
        [[""], [1]],
        base=GRAPH,
        match="must hold non-empty strings only",
    ),
    # ---------------------------------------------------------------- snapshots
    *each("snapshots.list", 0, ["bad", None], field="instance_id", match=INSTANCE_ID),
    *each(
        "snapshots.list",
        "date",
        ["2025-13-01", "2025-02-30", "2025-1-1", "20250101", "", "yesterday", 20250101],
        args=(ID,),
        match=DATE,
    ),
    case(
        "snapshots.list",
        ID,
        date=dt.datetime(2025, 1, 31, tzinfo=dt.UTC),
        field="date",
        match="must be a date, not a datetime",
        id="datetime",
    ),
    *each("snapshots.get", 0, ["", "x"], args=("snap",), field="instance_id", match=INSTANCE_ID),
    *each("snapshots.get", 1, BAD_PATH_IDS, args=(ID,), field="snapshot_id", match=BAD_ID),
    *each("snapshots.create", 0, ["0123ABCD", ""], field="instance_id", match=INSTANCE_ID),
    *each(
        "snapshots.restore", 0, ["x", ""], args=("snap",), field="instance_id", match=INSTANCE_ID
    ),
    *each("snapshots.restore", 1, ["../snap", ""], args=(ID,), field="snapshot_id", match=BAD_ID),
    # ---------------------------------------------------- customer managed keys
    *each("customer_managed_keys.list", "tenant_id", ["a b", ""], match=BAD_ID),
    *each("customer_managed_keys.get", 0, BAD_PATH_IDS, field="key_id", match=BAD_ID),
    *each("customer_managed_keys.create", "name", BAD_NAMES, base=KEY, match=NAME),
    *each("customer_managed_keys.create", "key_id", ["", " ", None], base=KEY, match=TEXT),
    *each("customer_managed_keys.create", "region", ["", None], base=KEY, match=TEXT),
    *each("customer_managed_keys.create", "cloud_provider", ["ibm", None], base=KEY, match=CHOICE),
    *each("customer_managed_keys.create", "instance_type", ["bogus", None], base=KEY, match=CHOICE),
    *each(
        "customer_managed_keys.create",
        "instance_type",
        ["professional-db", "free-db", "business-critical"],
        base=KEY,
        match="customer managed keys are for enterprise-db",
    ),
    *each("customer_managed_keys.create", "tenant_id", ["", "a/b"], base=KEY, match=BAD_ID),
    *each("customer_managed_keys.delete", 0, BAD_PATH_IDS, field="key_id", match=BAD_ID),
    # ---------------------------------------------------------- graph analytics
    *each("graph_analytics.list", "instance_id", ["ABC", ""], match=INSTANCE_ID),
    *each("graph_analytics.list", "tenant_id", ["a b", ""], match=BAD_ID),
    *each("graph_analytics.list", "organization_id", ["", "a/b"], match=BAD_ID),
    *each("graph_analytics.get", 0, BAD_PATH_IDS, field="session_id", match=BAD_ID),
    # Session names have no length limit in the spec; they must not be empty.
    *each("graph_analytics.create", "name", ["", "  ", 5, None], base=SESSION, match=TEXT),
    *each("graph_analytics.create", "memory", [*BAD_SIZES, None], base=SESSION, match=SIZE),
    *each(
        "graph_analytics.create",
        "ttl",
        ["forever", "", "-5m", "0s", "30", "1d", "1h 30m", "1H"],
        base=SESSION,
        match=TTL,
    ),
    *each(
        "graph_analytics.create",
        "ttl",
        [5, 1.5, True],
        base=SESSION,
        match="ttl must be a datetime.timedelta or a duration",
    ),
    *each(
        "graph_analytics.create",
        "ttl",
        [dt.timedelta(0), dt.timedelta(seconds=-60), dt.timedelta(seconds=1.5)],
        base=SESSION,
        match="ttl must be a positive whole number of seconds",
    ),
    *each("graph_analytics.create", "cloud_provider", ["ibm", "GCP"], base=SESSION, match=CHOICE),
    *each("graph_analytics.create", "region", ["", 3], base=SESSION, match=TEXT),
    # A standalone session needs a cloud and region (and a project); an attached one has its
    # instance's.
    case(
        "graph_analytics.create",
        name="s",
        memory="4GB",
        region="europe-west1",
        field="cloud_provider",
        match="a standalone session needs cloud_provider and region",
        id="standalone-without-cloud",
    ),
    case(
        "graph_analytics.create",
        name="s",
        memory="4GB",
        cloud_provider="gcp",
        field="region",
        match="a standalone session needs cloud_provider and region",
        id="standalone-without-region",
    ),
    *each("graph_analytics.create", "tenant_id", ["", "a b"], base=SESSION, match=BAD_ID),
    *each(
        "graph_analytics.create",
        "instance_id",
        ["xyz", ""],
        base={"name": "s", "memory": "4GB"},
        match=INSTANCE_ID,
    ),
    *each(
        "graph_analytics.create",
        "tenant_id",
        ["", "a b"],
        base=ATTACHED,
        tag="attached",
        match=BAD_ID,
    ),
    *each(
        "graph_analytics.create",
        "database_uuid",
        ["", 7],
        base=ATTACHED,
        tag="attached",
        match=TEXT,
    ),
    *each("graph_analytics.delete", 0, BAD_PATH_IDS, field="session_id", match=BAD_ID),
    *each("graph_analytics.sizing", "node_count", [*BAD_COUNTS, None], base=GRAPH, match=COUNT),
    *each(
        "graph_analytics.sizing", "relationship_count", [*BAD_COUNTS, None], base=GRAPH, match=COUNT
    ),
    *each("graph_analytics.sizing", "node_property_count", BAD_COUNTS, base=GRAPH, match=COUNT),
    *each("graph_analytics.sizing", "node_label_count", BAD_COUNTS, base=GRAPH, match=COUNT),
    *each(
        "graph_analytics.sizing", "relationship_property_count", BAD_COUNTS, base=GRAPH, match=COUNT
    ),
    *each(
        "graph_analytics.sizing",
        "algorithm_categories",
        ["x", None],
        base=GRAPH,
        match="must be a list of strings",
    ),
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module scope, so that the server and clients below are shared by the whole module."""
    return "asyncio"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator_config()) as running:
        yield running


@attrs.define
class Refusals:
    """Runs a call that must be refused and checks how."""

    witness: Witness
    aura: AuraClient  # the project is its default tenant
    bare: AuraClient  # no default tenant

    async def check(self, case: Case) -> ValidationError:
        before = await self.witness.counters()
        call = case.invoke(self.bare if case.bare else self.aura)
        with pytest.raises(ValidationError) as refused:
            await call
        after = await self.witness.counters()
        error = refused.value
        assert error.field == case.field, f"field {error.field!r}, expected {case.field!r}"
        assert re.search(case.match, str(error)), f"unclear message: {error}"
        assert after["requests_total"] == before["requests_total"], after["requests"]
        assert after["tokens_issued"] == before["tokens_issued"]
        return error


@pytest.fixture(scope="module")
async def refusals(server: EmulatorServer) -> AsyncIterator[Refusals]:
    witness = Witness(server)
    async with make_client(server) as aura, make_client(server, tenant=False) as bare:
        yield Refusals(witness, aura, bare)
    await witness.aclose()


# ----------------------------------------------------------------------------- cases


@pytest.mark.parametrize("case", CASES)
async def test_invalid_input_is_refused_before_sending(refusals: Refusals, case: Case) -> None:
    await refusals.check(case)


FLEET_CASES = [
    *each(
        "fleet.create",
        "attempts",
        [0, -1, True, False, 1.5, "3", None],
        args=(InstanceSpec(name="fleet-db", type="free-db"),),
        base={"store": MemoryStore(), "adopt": False},
        match=ATTEMPTS,
    ),
]


@pytest.mark.parametrize("case", FLEET_CASES)
async def test_fleet_create_refuses_bad_attempts_before_sending(
    refusals: Refusals, case: Case
) -> None:
    await refusals.check(case)


def _public_operations() -> set[str]:
    client = AuraClient("id", "secret")  # never used: only its resources are inspected
    found = set()
    for group in ("tenants", "instances", "snapshots", "customer_managed_keys", "graph_analytics"):
        resource = getattr(client, group)
        for name, _ in inspect.getmembers(resource, inspect.iscoroutinefunction):
            if not name.startswith("_"):
                found.add(f"{group}.{name}")
    return found


def test_every_public_method_with_arguments_has_refusals() -> None:
    covered = {param.values[0].operation for param in CASES}
    # The 26 API operations, the create and resize checks (validate_create, validate_resize),
    # ensure_deleted and verify; the waits (instances.wait, ...) send only GETs of them.
    operations = {op for op in _public_operations() if not op.endswith(".wait")}
    assert len(operations) == 30
    assert {
        "instances.validate_create",
        "instances.validate_resize",
        "instances.ensure_deleted",
        "instances.verify",
    } <= operations
    # tenants.list takes no arguments: there is nothing to refuse.
    assert covered == operations - {"tenants.list"}


async def test_the_witness_sees_what_is_sent(server: EmulatorServer, refusals: Refusals) -> None:
    """The control: the same clients and counters DO see a request when one is sent."""
    before = await refusals.witness.requests()
    async with make_client(server) as aura:
        projects = await aura.tenants.list()
    assert projects[0].id == server.project_id
    sent = await refusals.witness.requests() - before
    assert sent == {"POST /oauth/token 200": 1, "GET /v1/tenants 200": 1}


async def test_edge_values_that_are_valid_are_sent(server: EmulatorServer) -> None:
    """The limits are the API's, not stricter: each of these reaches the server."""
    witness = Witness(server)
    try:
        async with make_client(server) as aura:
            name = "n" * 30
            # The client's first create reads the project's offer first (once).
            async with witness.sends(
                "POST /oauth/token 200",
                "GET /v1/tenants/{tenantId} 200",
                "POST /v1/instances 202",
            ):
                created = await aura.instances.create(**(PRO | {"name": name, "storage": "4GB"}))
            assert created.name == name
            # A rename waits for the create, as every change does.
            await aura.instances.wait(created.id, "create")
            async with witness.sends("PATCH /v1/instances/{instanceId} 200"):
                renamed = await aura.instances.update(created.id, name="inner spaces  ok")
            assert renamed.name == "inner spaces  ok"
            async with witness.sends("POST /v1/graph-analytics/sessions 202"):
                session = await aura.graph_analytics.create(
                    **(SESSION | {"ttl": dt.timedelta(hours=1, minutes=30, seconds=5)})
                )
            async with witness.sends("GET /v1/graph-analytics/sessions/{sessionId} 200"):
                fetched = await aura.graph_analytics.get(session.id)
            assert fetched.ttl == dt.timedelta(hours=1, minutes=30, seconds=5)
            async with witness.sends("GET /v1/instances/{instanceId}/snapshots 200"):
                assert await aura.snapshots.list(created.id, date="2024-02-29") == []
            async with witness.sends("POST /v1/instances/sizing 200"):
                await aura.instances.sizing(node_count=0, relationship_count=0)
    finally:
        await witness.aclose()


# -------------------------------------------------------------------------- fuzzing

_WHITE = st.sampled_from([" ", "\t", "\n", "\u00a0", "\u2003"])
_NOT_STRINGS = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.binary(max_size=8),
    st.lists(st.text(), max_size=2),
)

bad_names = st.one_of(
    st.just(""),
    st.text(min_size=31, max_size=80),
    st.builds(lambda white, rest: white + rest, _WHITE, st.text(max_size=29)),
    st.builds(lambda white, rest: rest + white, _WHITE, st.text(max_size=29)),
    st.none(),
    _NOT_STRINGS,
)

_INSTANCE_ID = re.compile(r"[0-9a-f]{8}")
bad_instance_ids = st.one_of(
    st.text(max_size=12).filter(lambda s: not _INSTANCE_ID.fullmatch(s)),
    st.from_regex(r"[0-9a-fA-F]{8}", fullmatch=True).filter(lambda s: s != s.lower()),
    st.from_regex(r"[0-9a-f]{1,7}|[0-9a-f]{9,12}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{8}[\s/?#]", fullmatch=True),
    st.none(),
    _NOT_STRINGS,
)

_SIZE = re.compile(r"[1-9][0-9]{0,4}GB")
_GB = st.integers(1, 99999)
bad_sizes = st.one_of(
    st.text(max_size=10).filter(lambda s: not _SIZE.fullmatch(s)),
    st.builds("{} GB".format, _GB),
    st.builds("{}gb".format, _GB),
    st.builds("{}Gb".format, _GB),
    st.builds("{}G".format, _GB),
    st.builds("{}TB".format, _GB),
    st.builds(str, _GB),
    st.builds("0{}GB".format, _GB),
    st.builds("{}.5GB".format, _GB),
    st.builds("-{}GB".format, _GB),
    st.builds(" {}GB".format, _GB),
    st.builds("{}GB\n".format, _GB),
    st.builds("{}GB".format, st.integers(100000, 10**12)),
    st.just("0GB"),
    _NOT_STRINGS,
)

# Where each fuzzed value goes: (operation, args, kwargs) with "?" for the value.
NAME_SLOTS = [
    ("instances.create", (), {"name": "?", "type": "free-db"}),
    ("instances.update", (ID,), {"name": "?"}),
    ("customer_managed_keys.create", (), KEY | {"name": "?"}),
]
INSTANCE_ID_SLOTS = [
    ("instances.get", ("?",), {}, "instance_id"),
    ("instances.update", ("?",), {"name": "x"}, "instance_id"),
    ("instances.delete", ("?",), {}, "instance_id"),
    ("instances.pause", ("?",), {}, "instance_id"),
    ("instances.resume", ("?",), {}, "instance_id"),
    ("instances.overwrite", ("?",), {"source_instance_id": ID}, "instance_id"),
    ("instances.overwrite", (ID,), {"source_instance_id": "?"}, "source_instance_id"),
    ("instances.upgrade", ("?",), {}, "instance_id"),
    ("instances.create", (), PRO | {"source_instance_id": "?"}, "source_instance_id"),
    ("snapshots.list", ("?",), {}, "instance_id"),
    ("snapshots.get", ("?", "snap"), {}, "instance_id"),
    ("snapshots.create", ("?",), {}, "instance_id"),
    ("snapshots.restore", ("?", "snap"), {}, "instance_id"),
    ("graph_analytics.list", (), {"instance_id": "?"}, "instance_id"),
    (
        "graph_analytics.create",
        (),
        {"name": "s", "memory": "4GB", "instance_id": "?"},
        "instance_id",
    ),
]
SIZE_SLOTS = [
    ("instances.create", (), PRO | {"memory": "?"}, "memory"),
    ("instances.create", (), PRO | {"storage": "?"}, "storage"),
    ("instances.update", (ID,), {"memory": "?"}, "memory"),
    ("instances.update", (ID,), {"storage": "?"}, "storage"),
    ("instances.upgrade", (ID,), {"memory": "?", "storage": "8GB"}, "memory"),
    ("instances.upgrade", (ID,), {"memory": "8GB", "storage": "?"}, "storage"),
    ("graph_analytics.create", (), SESSION | {"memory": "?"}, "memory"),
]


def _fill(value: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    def put(item: Any) -> Any:
        return value if item == "?" else item

    return tuple(map(put, args)), {key: put(item) for key, item in kwargs.items()}


@settings(max_examples=60, deadline=None)
@given(name=bad_names, slot=st.sampled_from(NAME_SLOTS))
async def test_fuzzed_names_are_refused(
    refusals: Refusals, name: object, slot: tuple[str, tuple[Any, ...], dict[str, Any]]
) -> None:
    operation, args, kwargs = slot
    # None means "keep the name" to update (which then has nothing to change).
    assume(name is not None or operation != "instances.update")
    filled_args, filled_kwargs = _fill(name, args, kwargs)
    await refusals.check(Case(operation, filled_args, filled_kwargs, "name", NAME))


@settings(max_examples=60, deadline=None)
@given(instance_id=bad_instance_ids, slot=st.sampled_from(INSTANCE_ID_SLOTS))
async def test_fuzzed_instance_ids_are_refused(
    refusals: Refusals,
    instance_id: object,
    slot: tuple[str, tuple[Any, ...], dict[str, Any], str],
) -> None:
    operation, args, kwargs, field = slot
    assume(instance_id is not None or "?" in args)  # as a keyword, None means "not given"
    filled_args, filled_kwargs = _fill(instance_id, args, kwargs)
    await refusals.check(Case(operation, filled_args, filled_kwargs, field, INSTANCE_ID))


@settings(max_examples=60, deadline=None)
@given(size=bad_sizes, slot=st.sampled_from(SIZE_SLOTS))
async def test_fuzzed_sizes_are_refused(
    refusals: Refusals, size: object, slot: tuple[str, tuple[Any, ...], dict[str, Any], str]
) -> None:
    operation, args, kwargs, field = slot
    filled_args, filled_kwargs = _fill(size, args, kwargs)
    await refusals.check(Case(operation, filled_args, filled_kwargs, field, SIZE))
