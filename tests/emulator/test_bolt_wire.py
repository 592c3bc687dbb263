"""The Bolt listener's pieces without a socket: PackStream (checked byte for byte against the
official driver's own codec), framing, the handshake, the trivial-query parser and the
per-connection state machine (failure semantics: IGNORED until RESET)."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from neo4j._codec.packstream import Structure as DriverStructure
from neo4j._codec.packstream._common import PackableBuffer, UnpackableBuffer
from neo4j._codec.packstream.v1 import Packer, Unpacker

from aura_async.emulator import EmulatorConfig, ManualClock, create_app
from aura_async.emulator.backend import CreatedInstance
from aura_async.emulator.bolt.messages import (
    Message,
    Signature,
    decode_message,
    encode_message,
    negotiate,
    version_bytes,
)
from aura_async.emulator.bolt.packstream import (
    INT64_MAX,
    INT64_MIN,
    PackStreamError,
    Structure,
    pack,
    unpack,
)
from aura_async.emulator.bolt.query import TrivialQuery, parse_query
from aura_async.emulator.bolt.session import BoltSession, State
from aura_async.emulator.bolt.stats import BoltStats, StatsBook
from tests.conftest import instance_body

# ------------------------------------------------------------------------ PackStream

scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=20)
        | st.dictionaries(st.text(), children, max_size=20)
        | st.builds(
            lambda tag, fields: Structure(tag, tuple(fields)),
            st.integers(0, 255),
            st.lists(children, max_size=15),
        )
    ),
    max_leaves=40,
)


def to_driver(value: Any) -> Any:
    """The same value in the driver's types (its Structure takes a bytes tag)."""
    if isinstance(value, Structure):
        return DriverStructure(bytes([value.tag]), *map(to_driver, value.fields))
    if isinstance(value, list):
        return [to_driver(v) for v in value]
    if isinstance(value, dict):
        return {k: to_driver(v) for k, v in value.items()}
    return value


def from_driver(value: Any) -> Any:
    if isinstance(value, DriverStructure):
        return Structure(value.tag[0], tuple(from_driver(v) for v in value.fields))
    if isinstance(value, list):
        return [from_driver(v) for v in value]
    if isinstance(value, dict):
        return {k: from_driver(v) for k, v in value.items()}
    return value


def driver_pack(value: Any) -> bytes:
    buffer = PackableBuffer()
    Packer(buffer).pack(to_driver(value))
    return bytes(buffer.data)


def driver_unpack(data: bytes) -> Any:
    return from_driver(Unpacker(UnpackableBuffer(data)).unpack())


@given(values)
def test_packstream_round_trips_and_matches_the_driver_byte_for_byte(value: Any) -> None:
    packed = pack(value)
    assert unpack(packed) == value
    assert packed == driver_pack(value)
    assert driver_unpack(packed) == value


@pytest.mark.parametrize(
    "value",
    [
        -16, -17, 127, 128, -128, -129, 32767, 32768, -32768, -32769,
        2**31 - 1, 2**31, -(2**31), -(2**31) - 1, INT64_MAX, INT64_MIN,
        "x" * 15, "x" * 16, "x" * 255, "x" * 256, "x" * 65535, "x" * 65536, "é",
        b"", b"x" * 255, b"x" * 256, b"x" * 65536,
        [0] * 15, [0] * 16, [0] * 256, [0] * 65536,
        {str(i): i for i in range(15)}, {str(i): i for i in range(16)},
        {str(i): i for i in range(256)}, {str(i): i for i in range(65536)},
        float("inf"), -0.0, 1.5,
    ],
    ids=lambda v: f"{type(v).__name__}-{len(v) if hasattr(v, '__len__') else v}",
)  # fmt: skip
def test_every_size_boundary_takes_the_drivers_encoding(value: Any) -> None:
    assert pack(value) == driver_pack(value)
    assert unpack(pack(value)) == value


def test_nan_and_tuples_pack_as_the_driver_packs_them() -> None:
    nan = unpack(pack(float("nan")))
    assert nan != nan
    assert pack((1, "a")) == pack([1, "a"]) == driver_pack([1, "a"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2**63, "does not fit in 64 bits"),
        (-(2**63) - 1, "does not fit in 64 bits"),
        ({1: "a"}, "map keys are strings"),
        (object(), "cannot carry a object"),
    ],
)
def test_values_packstream_cannot_carry_are_refused(value: Any, message: str) -> None:
    with pytest.raises(PackStreamError, match=message):
        pack(value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "ends in the middle"),
        (b"\xd0\x05abc", "ends in the middle"),
        (b"\xc7", "unknown PackStream marker 0xC7"),
        (b"\x82\xff\xfe", "not UTF-8"),
        (b"\xa1\x01\x01", "map keys are strings"),
        (b"\x01\x02", "1 bytes follow"),
    ],
)
def test_malformed_packstream_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(PackStreamError, match=message):
        unpack(data)


def test_a_structure_has_a_byte_tag_and_at_most_15_fields() -> None:
    with pytest.raises(PackStreamError):
        Structure(256)
    with pytest.raises(PackStreamError):
        Structure(1, (0,) * 16)


# ---------------------------------------------------------------------- framing


def test_messages_are_chunked_and_end_with_an_empty_chunk() -> None:
    small = encode_message(Message(Signature.SUCCESS, ({},)))
    assert small == b"\x00\x03\xb1\x70\xa0\x00\x00"
    big = Message(Signature.RECORD, (["x" * 70_000],))
    framed = encode_message(big)
    first = int.from_bytes(framed[:2], "big")
    assert first == 0xFFFF
    assert framed.endswith(b"\x00\x00")
    body, at = bytearray(), 0
    while (size := int.from_bytes(framed[at : at + 2], "big")) != 0:
        body += framed[at + 2 : at + 2 + size]
        at += 2 + size
    assert decode_message(bytes(body)) == big
    assert big.name == "RECORD"
    assert Message(0x99).name == "0x99"


DRIVER_HANDSHAKE = bytes.fromhex("000001ff 00080805 00020404 00000003")


@pytest.mark.parametrize(
    ("proposals", "chosen"),
    [
        (DRIVER_HANDSHAKE, (5, 4)),  # the manifest offer is passed over; 5.0-5.8 offered
        (bytes.fromhex("00000205 00000000 00000000 00000000"), (5, 2)),
        (bytes.fromhex("00000105 00000304 00000000 00000000"), (5, 1)),
        (bytes.fromhex("00000304 00000003 00000000 00000000"), None),  # 4.3 and 3.0 only
        (bytes.fromhex("00000005 00000000 00000000 00000000"), None),  # 5.0: auth in HELLO
        (bytes.fromhex("000001ff 00000000 00000000 00000000"), None),  # only a manifest
    ],
)
def test_the_handshake_picks_the_highest_version_offered_that_it_speaks(
    proposals: bytes, chosen: tuple[int, int] | None
) -> None:
    assert negotiate(proposals) == chosen


def test_the_handshake_answer_is_minor_then_major_or_zeros() -> None:
    assert version_bytes((5, 4)) == b"\x00\x00\x04\x05"
    assert version_bytes(None) == b"\x00\x00\x00\x00"


# ------------------------------------------------------------------------ queries


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RETURN 1", TrivialQuery("1", 1)),
        ("return 1;", TrivialQuery("1", 1)),
        ("  RETURN -42 AS answer ; ", TrivialQuery("answer", -42)),
        ("RETURN 2.5e3 as x", TrivialQuery("x", 2500.0)),
        ("RETURN .5", TrivialQuery(".5", 0.5)),
        ("RETURN 'it\\'s'", TrivialQuery("'it\\'s'", "it's")),
        ('RETURN "a\\nb" AS `odd name`', TrivialQuery("odd name", "a\nb")),
        ("RETURN TRUE", TrivialQuery("TRUE", True)),
        ("RETURN false AS f", TrivialQuery("f", False)),
        ("RETURN Null", TrivialQuery("Null", None)),
        ("RETURN '\\u00e9'", TrivialQuery("'\\u00e9'", "é")),
    ],
)
def test_trivial_queries_are_answered(text: str, expected: TrivialQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "MATCH (n) RETURN n",
        "RETURN 1, 2",
        "RETURN $x",
        "RETURN 1 + 1",
        "CREATE (n)",
        "RETURN 9223372036854775808",
        "RETURN '\\q'",
        "RETURN 1 AS",
        "",
    ],
)
def test_anything_else_is_not_a_trivial_query(text: str) -> None:
    assert parse_query(text) is None


# -------------------------------------------------------------- the state machine


class FakeGate:
    """Instances by id: password and whether they are connectable."""

    def __init__(self, **instances: tuple[str, bool]) -> None:
        self.instances = instances

    def verdict(self, instance_id: str) -> Literal["open", "closed", "unknown"]:
        if instance_id not in self.instances:
            return "unknown"
        return "open" if self.instances[instance_id][1] else "closed"

    def authenticate(
        self, instance_id: str, principal: object, credentials: object
    ) -> Literal["ok", "refused", "locked"]:
        right = principal == "neo4j" and self.instances[instance_id][0] == credentials
        return "ok" if right else "refused"

    def find_by_password(self, credentials: object) -> str | None:
        found = [i for i, (password, _) in self.instances.items() if password == credentials]
        return found[0] if len(found) == 1 else None


def hello(instance: str | None = "db1") -> Message:
    routing = {"address": "127.0.0.1:7687"} | ({"instance": instance} if instance else {})
    return Message(Signature.HELLO, ({"user_agent": "test", "routing": routing},))


def logon(password: str = "pw1", principal: str = "neo4j") -> Message:  # noqa: S107
    auth = {"scheme": "basic", "principal": principal, "credentials": password}
    return Message(Signature.LOGON, (auth,))


def run(query: str = "RETURN 1", extra: dict[str, Any] | None = None) -> Message:
    return Message(Signature.RUN, (query, {}, extra or {}))


def pull(n: int = -1, qid: int = -1) -> Message:
    return Message(Signature.PULL, ({"n": n, "qid": qid},))


def kinds(reply: Any) -> list[str]:
    return [Signature(m.signature).name for m in reply.messages]


def session(gate: FakeGate | None = None) -> tuple[BoltSession, StatsBook]:
    stats = StatsBook()
    gate = gate or FakeGate(db1=("pw1", True), db2=("pw2", False))
    return BoltSession(gate, stats, address="127.0.0.1:7687", connection_id="bolt-1"), stats


def ready(
    instance: str | None = "db1",
    password: str = "pw1",  # noqa: S107
) -> tuple[BoltSession, StatsBook]:
    bolt, stats = session()
    assert kinds(bolt.handle(hello(instance))) == ["SUCCESS"]
    assert kinds(bolt.handle(logon(password))) == ["SUCCESS"]
    assert bolt.state is State.READY
    return bolt, stats


def test_after_a_failure_everything_is_ignored_until_reset() -> None:
    bolt, stats = ready()
    failed = bolt.handle(run("MATCH (n) RETURN n"))
    assert kinds(failed) == ["FAILURE"]
    assert failed.messages[0].fields[0]["code"] == (
        "Neo.ClientError.Statement.RuntimeUnsupportedError"
    )
    assert bolt.state is State.FAILED
    for message in (pull(), run(), Message(Signature.BEGIN, ({},)), Message(Signature.COMMIT)):
        assert kinds(bolt.handle(message)) == ["IGNORED"]
    assert kinds(bolt.handle(Message(Signature.RESET))) == ["SUCCESS"]
    assert bolt.state is State.READY
    assert kinds(bolt.handle(run())) == ["SUCCESS"]
    answer = bolt.handle(pull())
    assert kinds(answer) == ["RECORD", "SUCCESS"]
    assert answer.messages[0].fields == ([1],)
    assert answer.messages[1].fields[0]["bookmark"].startswith("FB:")
    assert stats.stats("db1") == BoltStats(connections=1, logons=1, queries=1)


def test_a_message_out_of_place_fails_and_pull_without_a_result_is_one() -> None:
    bolt, _ = ready()
    failed = bolt.handle(pull())
    assert kinds(failed) == ["FAILURE"]
    assert failed.messages[0].fields[0]["code"] == "Neo.ClientError.Request.Invalid"
    assert (
        "cannot be handled by a session in the READY state"
        in (failed.messages[0].fields[0]["message"])
    )


def test_a_transaction_tracks_each_querys_qid_and_commits_with_a_bookmark() -> None:
    bolt, _ = ready()
    assert kinds(bolt.handle(Message(Signature.BEGIN, ({"db": "neo4j"},)))) == ["SUCCESS"]
    first = bolt.handle(run("RETURN 'a' AS a"))
    second = bolt.handle(run("RETURN 2"))
    assert (first.messages[0].fields[0]["qid"], second.messages[0].fields[0]["qid"]) == (0, 1)
    assert bolt.handle(pull(qid=0)).messages[0].fields == (["a"],)
    answer = bolt.handle(Message(Signature.DISCARD, ({"n": -1},)))  # -1: the latest, qid 1
    assert kinds(answer) == ["SUCCESS"]
    assert bolt.state is State.TX_READY
    committed = bolt.handle(Message(Signature.COMMIT))
    assert committed.messages[0].fields[0]["bookmark"].startswith("FB:aura-emulator:")
    assert bolt.state is State.READY


def test_route_answers_this_listener_for_every_role_and_unknown_databases_fail() -> None:
    bolt, _ = ready()
    answer = bolt.handle(Message(Signature.ROUTE, ({"instance": "db1"}, [], {})))
    table = answer.messages[0].fields[0]["rt"]
    assert table["ttl"] == 300
    assert table["db"] == "neo4j"
    assert {s["role"] for s in table["servers"]} == {"WRITE", "READ", "ROUTE"}
    assert all(s["addresses"] == ["127.0.0.1:7687"] for s in table["servers"])
    missing = bolt.handle(Message(Signature.ROUTE, ({}, [], {"db": "movies"})))
    assert missing.messages[0].fields[0]["code"] == "Neo.ClientError.Database.DatabaseNotFound"


def test_telemetry_and_logoff_succeed_and_goodbye_closes() -> None:
    bolt, _ = ready()
    assert kinds(bolt.handle(Message(Signature.TELEMETRY, (1,)))) == ["SUCCESS"]
    assert kinds(bolt.handle(Message(Signature.LOGOFF))) == ["SUCCESS"]
    assert bolt.state is State.AUTHENTICATION
    assert kinds(bolt.handle(logon())) == ["SUCCESS"]
    assert bolt.handle(Message(Signature.GOODBYE)).then == "close"


def test_a_wrong_password_fails_with_neo4js_code_and_closes() -> None:
    bolt, stats = session()
    bolt.handle(hello())
    refused = bolt.handle(logon("wrong"))
    assert refused.then == "close"
    assert refused.messages[0].fields[0] == {
        "code": "Neo.ClientError.Security.Unauthorized",
        "message": "The client is unauthorized due to authentication failure.",
    }
    assert stats.stats("db1").auth_failures == 1


def test_an_instance_not_connectable_is_reset_unanswered_at_hello_or_logon() -> None:
    bolt, stats = session()
    assert bolt.handle(hello("db2")).then == "abort"
    bolt, _ = session()
    assert bolt.handle(hello("nope")).then == "abort"
    bolt, _ = session()
    bolt.handle(hello(None))  # bolt://: the password names the instance
    assert bolt.handle(logon("pw2")).then == "abort"
    assert stats.stats("db2") == BoltStats(connections=1, refused=1)


def test_without_a_routing_context_the_password_names_the_instance() -> None:
    bolt, stats = ready(None, "pw1")
    assert bolt.instance_id == "db1"
    assert stats.stats("db1").logons == 1
    bolt, stats = session()
    bolt.handle(hello(None))
    assert kinds(bolt.handle(logon("nobody's"))) == ["FAILURE"]
    assert stats.stats() == BoltStats(auth_failures=1)


def test_anything_but_hello_first_closes_the_connection() -> None:
    bolt, _ = session()
    assert bolt.handle(run()).then == "close"


def test_a_session_resets_once_its_instance_stops_being_connectable() -> None:
    gate = FakeGate(db1=("pw1", True))
    bolt, _ = session(gate)
    bolt.handle(hello())
    bolt.handle(logon())
    gate.instances["db1"] = ("pw1", False)  # paused meanwhile
    assert bolt.handle(run()).then == "abort"


# ---------------------------------------------------------- passwords stay hidden


def test_passwords_never_appear_in_any_repr_of_records() -> None:
    app = create_app(EmulatorConfig(seed=1), clock=ManualClock())
    backend = app.state.emulator.backend
    created = backend.create_instance(instance_body())
    clone = backend.create_instance(instance_body(name="other"))
    password = created.password
    assert password
    assert created.instance.password == password
    assert clone.instance.password not in ("", password)  # every instance its own
    shown = [
        repr(created),
        str(created),
        repr(created.instance),
        repr(backend.instances),
        repr(CreatedInstance(created.instance, "neo4j", password)),
    ]
    assert not [text for text in shown if password in text]
