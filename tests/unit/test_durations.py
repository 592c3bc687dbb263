"""Durations (:mod:`aura_async._durations`): the one grammar people write them in (``--timeout``,
``--older-than``, ``Selector(older_than=...)``), Go's, and durations for people."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from aura_async._durations import (
    format_go_duration,
    format_human_duration,
    parse_go_duration,
    parse_human_duration,
)
from aura_async._validation import check_duration
from aura_async._validation import check_timeout as validation_check_timeout
from aura_async.cli import cli
from aura_async.cli.commands import register
from aura_async.cli.commands._common import await_options, parse_duration
from aura_async.errors import ValidationError
from aura_async.fleet import Selector, parse_age
from aura_async.fleet.selectors import parse_age as selectors_parse_age
from aura_async.resources._base import check_timeout

MINUTE, HOUR, DAY, WEEK = 60, 3600, 86400, 604800

# --------------------------------------------------------------------------- people's grammar

READ = {
    # What --timeout read before (seconds, s/m/h/d, any case, spaces between terms).
    "600": 600,
    "0": 0,
    "0.5": 0.5,
    ".5": 0.5,
    "5.": 5,
    "90s": 90,
    "10m": 10 * MINUTE,
    "10M": 10 * MINUTE,
    "1h30m": HOUR + 30 * MINUTE,
    "1h30": HOUR + 30,
    "1m5": MINUTE + 5,
    "1d": DAY,
    "1h 30m": HOUR + 30 * MINUTE,
    "1 h": HOUR,
    " 45s ": 45,
    "1 .5": 1.5,
    # What --older-than read before (also weeks, long units, commas).
    "1w": WEEK,
    "2h": 2 * HOUR,
    "1d12h": DAY + 12 * HOUR,
    "5min": 5 * MINUTE,
    "2 mins": 2 * MINUTE,
    "2hrs": 2 * HOUR,
    "1hr": HOUR,
    "1day": DAY,
    "2days": 2 * DAY,
    "10secs": 10,
    "1sec": 1,
    "1 week": WEEK,
    "2 Weeks": 2 * WEEK,
    "1h, 30m": HOUR + 30 * MINUTE,
    "1h,,30m": HOUR + 30 * MINUTE,
    "1h,": HOUR,
    "1\th": HOUR,
    "1 2": 3,  # two terms: a space parts two numbers (--older-than read it so)
    "1, 2": 3,
    # Both, now.
    "1w2d": WEEK + 2 * DAY,
    "1.5h": 1.5 * HOUR,
    "1h\t30m": HOUR + 30 * MINUTE,
    # The long names the lists missed.
    "1 second": 1,
    "30 seconds": 30,
    "1 minute": MINUTE,
    "10 minutes": 10 * MINUTE,
    "1 hour": HOUR,
    "3 HOURS": 3 * HOUR,
}

REFUSED = [
    "",
    "   ",
    ",",
    "soon",
    "h",
    "-5",
    "+5",
    "-5m",
    "1h-",
    "1h-5m",
    "10x",
    "1y",
    "1ms",  # not a minute and an s: milliseconds are no unit here
    "1mo",
    "1hx",
    "1 hours ago",
    "1.5.5h",  # two numbers in a row must be parted
    "1..5",
    ",1h",
    "1e3",
    "nan",
    "inf",
    "1_000",
]


@pytest.mark.parametrize(("text", "seconds"), READ.items(), ids=list(READ))
def test_the_grammar_reads(text: str, seconds: float) -> None:
    assert parse_human_duration(text) == seconds


@pytest.mark.parametrize("text", REFUSED)
def test_the_grammar_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_human_duration(text)


_UNIT_WORDS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": MINUTE,
    "min": MINUTE,
    "mins": MINUTE,
    "minute": MINUTE,
    "minutes": MINUTE,
    "h": HOUR,
    "hr": HOUR,
    "hrs": HOUR,
    "hour": HOUR,
    "hours": HOUR,
    "d": DAY,
    "day": DAY,
    "days": DAY,
    "w": WEEK,
    "week": WEEK,
    "weeks": WEEK,
}
_numbers = st.one_of(
    st.integers(0, 10**6).map(str),
    st.decimals(0, 10**4, places=3, allow_nan=False, allow_infinity=False).map(str),
    st.from_regex(r"\A(?:[0-9]{1,4}\.|\.[0-9]{1,4})\Z"),
)
_units = st.sampled_from(sorted(_UNIT_WORDS)).flatmap(
    lambda word: st.sampled_from([word, word.upper(), word.capitalize()])
)


@st.composite
def _durations(draw: st.DrawFn) -> tuple[str, float]:
    """Text in the grammar, and the seconds it means."""
    text, seconds = "", 0.0
    for index in range(draw(st.integers(1, 4))):
        number = draw(_numbers)
        unit = draw(st.none() | _units)
        if index:
            # A unit before, or a number and a separator: a bare number must be parted.
            text += draw(
                st.sampled_from(["", " ", ", ", ","]) if text[-1].isalpha() else st.just(" ")
            )
        text += number + ("" if unit is None else draw(st.sampled_from(["", " "])) + unit)
        seconds += float(number) * (1 if unit is None else _UNIT_WORDS[unit.lower()])
    return text, seconds


@given(_durations())
def test_every_text_of_the_grammar_means_the_sum_of_its_terms(case: tuple[str, float]) -> None:
    text, seconds = case
    assert parse_human_duration(text) == pytest.approx(seconds, rel=1e-12)
    assert parse_duration(text) == parse_human_duration(text)


# --------------------------------------------------------------------------- its users


def test_parse_duration_and_parse_age_are_one_grammar() -> None:
    for text, seconds in READ.items():
        assert parse_duration(text) == seconds
        if seconds > 0:
            assert parse_age(text) == dt.timedelta(seconds=seconds)
    assert selectors_parse_age is parse_age  # still importable from both places


def test_a_timeout_takes_weeks_and_an_age_takes_what_a_timeout_took() -> None:
    assert parse_duration("1w") == WEEK
    assert parse_duration("2 weeks") == 2 * WEEK
    assert parse_age(".5") == dt.timedelta(seconds=0.5)
    assert parse_age("1H") == dt.timedelta(hours=1)


def test_parse_duration_refuses_in_the_words_of_the_command_line() -> None:
    with pytest.raises(click.BadParameter, match=r"'soon' is not a duration.*1w"):
        parse_duration("soon")


@pytest.mark.parametrize(
    "age", ["0", "0s", "0m0s", " 0h ", "1.5.5h", "5 hours ago", "", "yesterday"]
)
def test_parse_age_still_refuses_zero_and_garbage(age: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_age(age)
    assert caught.value.field == "older_than"
    assert "age" in str(caught.value)


def test_parse_age_refuses_a_span_no_timedelta_holds() -> None:
    with pytest.raises(ValidationError, match="not a usable span"):
        parse_age("99999999999999999999w")
    with pytest.raises(ValidationError, match="not a usable span"):
        parse_age(math.inf)


def test_a_selector_takes_every_duration_of_the_grammar() -> None:
    assert Selector(older_than="1 week").older_than == dt.timedelta(weeks=1)
    assert Selector(older_than="90s").older_than == dt.timedelta(seconds=90)


def test_the_timeout_option_gives_a_week_in_seconds() -> None:
    seen: list[float | None] = []

    @click.command()
    @await_options("done")
    def command(wait: bool, timeout: float | None) -> None:
        seen.append(timeout)

    result = CliRunner().invoke(command, ["--timeout", "1w"])
    assert result.exit_code == 0, result.output
    assert seen == [WEEK]


@pytest.fixture
def quiet_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory and no configuration of the machine's (the embedded emulator only)."""
    monkeypatch.chdir(tmp_path)
    for name in ("AURA_RATE_LIMIT", "AURA_CONFIG", "AURA_BASE_URL", "AURA_TIME_SCALE", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path


@pytest.mark.usefixtures("quiet_home")
def test_the_commands_timeout_takes_1w() -> None:
    register(cli)
    runner = CliRunner()
    args = ["--emulator", "-o", "json", "fleet", "pause", "--all", "--yes", "--timeout"]
    taken = runner.invoke(cli, [*args, "1w"], catch_exceptions=False)
    assert taken.exit_code == 0, taken.output
    refused = runner.invoke(cli, [*args, "1x"], catch_exceptions=False)
    assert refused.exit_code == 2
    assert "--timeout" in refused.stderr


# --------------------------------------------------------------------------- Go's

GO = {
    "20m0s": decimal.Decimal(1200),
    "8m": decimal.Decimal(480),
    "1h0m0s": decimal.Decimal(3600),
    "1h30m": decimal.Decimal(5400),
    "1.5s": decimal.Decimal("1.5"),
    ".5s": decimal.Decimal("0.5"),
    "1.s": decimal.Decimal(1),
    "500ms": decimal.Decimal("0.5"),
    "1us": decimal.Decimal("0.000001"),
    "1\u00b5s": decimal.Decimal("0.000001"),
    "1\u03bcs": decimal.Decimal("0.000001"),
    "1ns": decimal.Decimal("0.000000001"),
    "1m1ms": decimal.Decimal("60.001"),
    "-1m30s": decimal.Decimal(-90),
    "+5m": decimal.Decimal(300),
    "0": decimal.Decimal(0),
}


@pytest.mark.parametrize(("text", "seconds"), GO.items(), ids=list(GO))
def test_go_durations_read_exactly(text: str, seconds: decimal.Decimal) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "30",
        "1d",
        "1w",
        "1H",
        "1h 30m",
        " 1m",
        "1m ",
        "20 minutes",
        "1h30",
        "--1m",
        "\u0663m",
    ],
)
def test_go_durations_refuse_what_go_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="Go duration"):
        parse_go_duration(text)


@pytest.mark.parametrize("good", ["30m", "1h", "1h30m", "1.5s", "1ns", "90s"])
def test_check_duration_takes_positive_go_durations(good: str) -> None:
    assert check_duration(good, "ttl") == good


@pytest.mark.parametrize("bad", ["0", "0s", "0h0m", "-5m", "+5m", "30", "1d", "1h 30m", "1H", 30])
def test_check_duration_refuses_the_rest(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        check_duration(bad, "ttl")
    assert caught.value.field == "ttl"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.timedelta(hours=1, minutes=30), "1h30m"),
        (dt.timedelta(hours=2), "2h"),
        (dt.timedelta(minutes=20), "20m"),
        (dt.timedelta(seconds=45), "45s"),
        (dt.timedelta(hours=1, seconds=5), "1h5s"),
        (dt.timedelta(days=1), "24h"),
        (dt.timedelta(seconds=1.5), "1.5s"),
        (dt.timedelta(microseconds=1), "0.000001s"),
        (dt.timedelta(0), "0s"),
        (dt.timedelta(seconds=-90), "-1m30s"),
    ],
)
def test_go_durations_written(value: dt.timedelta, text: str) -> None:
    assert format_go_duration(value) == text


@given(st.timedeltas(min_value=dt.timedelta(days=-(10**5)), max_value=dt.timedelta(days=10**5)))
def test_a_written_go_duration_reads_back_exactly(value: dt.timedelta) -> None:
    micros = value // dt.timedelta(microseconds=1)
    assert parse_go_duration(format_go_duration(value)) == decimal.Decimal(micros) / 10**6


# --------------------------------------------------------------------------- for people


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "0.0s"),
        (0, "0.0s"),
        (3.24, "3.2s"),
        (9.94, "9.9s"),
        (10, "10s"),
        (45.4, "45s"),
        (59.6, "1m00s"),
        (125, "2m05s"),
        (3599, "59m59s"),
        (3780, "1h03m"),
        (90000, "25h00m"),
    ],
)
def test_durations_for_people(seconds: float, text: str) -> None:
    assert format_human_duration(seconds) == text


@given(st.floats(0, 10**7))
def test_durations_for_people_read_back_in_the_grammar(seconds: float) -> None:
    shown = parse_human_duration(format_human_duration(seconds))
    half_a_digit = 0.05 if seconds < 10 else 0.5 if seconds < 3600 else 60
    # (1e-9: 1.25 shown as "1.2" is off by 0.05 plus the float's own error in 1.25 - 1.2.)
    assert abs(shown - seconds) <= half_a_digit + 1e-9


# --------------------------------------------------------------------------- check_timeout


def test_check_timeout_is_a_validator_still_importable_from_resources() -> None:
    assert check_timeout is validation_check_timeout
    for good in (None, 0, 0.5, 600, math.inf):
        check_timeout(good)
    for bad in (-1, -0.5, math.nan, True, "60", [1]):
        with pytest.raises(ValidationError) as caught:
            check_timeout(bad)  # type: ignore[arg-type]
        assert caught.value.field == "timeout"
