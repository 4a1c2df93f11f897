"""Shift hours on the handler's wall clock: time zones, daylight saving, overnight shifts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.triage.domain import WEEKDAYS, Candidate, Shift, backoff, choose_lead, on_shift
from shared.contracts import Category

EVERY_DAY = frozenset(range(7))
DAY = Shift(days=EVERY_DAY, start=time(8), end=time(16))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def shift(days: list[str], start: str, end: str) -> Shift:
    return Shift(
        days=frozenset(WEEKDAYS.index(d) for d in days),
        start=time.fromisoformat(start),
        end=time.fromisoformat(end),
    )


def test_no_shifts_is_always_on() -> None:
    assert on_shift([], ZoneInfo("Asia/Beirut"), utc("2026-03-29T03:00"))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-03-28T07:30", True),  # Saturday 08:30 CET (UTC+1)
        ("2026-03-28T06:30", False),  # 07:30 CET
        ("2026-03-28T14:30", True),  # 15:30 CET
        ("2026-03-28T15:00", False),  # 16:00 CET: the end is not in the shift
        # Sunday, summer time from 02:00: 08:00 local is 06:00 UTC now, not 07:00.
        ("2026-03-29T06:30", True),
        ("2026-03-29T05:59", False),
        ("2026-03-29T14:30", False),  # 16:30 CEST
        # Back to winter time on 25 October: 08:30 local is 07:30 UTC again.
        ("2026-10-25T07:30", True),
        ("2026-10-25T06:30", False),
    ],
)
def test_paris_hours_keep_their_local_time_across_daylight_saving(at: str, expected: bool) -> None:
    assert on_shift([DAY], ZoneInfo("Europe/Paris"), utc(at)) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-03-27T06:30", False),  # Friday 08:30 EET (UTC+2)
        ("2026-03-27T07:30", True),  # 09:30 EET
        ("2026-03-30T06:30", True),  # Monday 09:30 EEST (UTC+3) after the change
        ("2026-03-30T05:30", False),  # 08:30 EEST
        ("2026-03-30T13:59", True),  # 16:59 EEST
        ("2026-03-30T14:00", False),  # 17:00 EEST
    ],
)
def test_beirut_weekday_hours_across_daylight_saving(at: str, expected: bool) -> None:
    weekdays = shift(["mon", "tue", "wed", "thu", "fri"], "09:00", "17:00")
    assert on_shift([weekdays], ZoneInfo("Asia/Beirut"), utc(at)) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-07-03T20:30", False),  # Friday 21:30 in Tunis (UTC+1, no daylight saving)
        ("2026-07-03T21:00", True),  # Friday 22:00
        ("2026-07-04T04:59", True),  # Saturday 05:59: still Friday's night shift
        ("2026-07-04T05:00", False),  # Saturday 06:00
        ("2026-07-04T21:30", False),  # Saturday 22:30: no Saturday shift
        ("2026-07-05T03:00", False),  # Sunday 04:00: nothing ran over from Saturday
    ],
)
def test_an_overnight_shift_runs_into_the_next_day(at: str, expected: bool) -> None:
    night = shift(["fri"], "22:00", "06:00")
    assert on_shift([night], ZoneInfo("Africa/Tunis"), utc(at)) is expected


def test_a_sunday_night_shift_runs_into_monday() -> None:
    night = shift(["sun"], "23:00", "07:00")
    tunis = ZoneInfo("Africa/Tunis")
    assert on_shift([night], tunis, utc("2026-07-06T02:00"))  # Monday 03:00
    assert not on_shift([night], tunis, utc("2026-07-07T02:00"))  # Tuesday 03:00


def test_the_same_instant_is_on_shift_in_one_zone_and_not_another() -> None:
    at = utc("2026-01-15T06:30")  # 08:30 in Beirut, 07:30 in Tunis and Paris
    assert on_shift([DAY], ZoneInfo("Asia/Beirut"), at)
    assert not on_shift([DAY], ZoneInfo("Africa/Tunis"), at)
    assert not on_shift([DAY], ZoneInfo("Europe/Paris"), at)


def test_any_of_several_shifts_counts() -> None:
    split = [shift(["mon"], "08:00", "12:00"), shift(["mon"], "14:00", "18:00")]
    paris = ZoneInfo("Europe/Paris")
    assert on_shift(split, paris, utc("2026-01-12T08:00"))  # Monday 09:00
    assert not on_shift(split, paris, utc("2026-01-12T12:00"))  # 13:00
    assert on_shift(split, paris, utc("2026-01-12T16:00"))  # 17:00


def lead(handler_id: str, *, open_tickets: int = 0, available: bool = True) -> Candidate:
    return Candidate(
        handler_id=handler_id,
        languages=frozenset({"en"}),
        expertise=frozenset({Category.doxxing}),
        max_open=5,
        available=available,
        open_tickets=open_tickets,
        lead=True,
    )


def test_the_least_loaded_available_lead_is_paged() -> None:
    plain = Candidate("amal", frozenset({"en"}), frozenset(), 5, True, 0, lead=False)
    leads = [
        lead("zaid", open_tickets=1),
        lead("badr", open_tickets=3),
        lead("yara", available=False),
    ]
    assert choose_lead([plain, *leads]) == "zaid"
    assert choose_lead([lead("nour", open_tickets=1), lead("zaid", open_tickets=1)]) == "nour"


def test_no_lead_on_shift_pages_nobody() -> None:
    plain = Candidate("amal", frozenset({"en"}), frozenset(), 5, True, 0)
    assert choose_lead([plain, lead("yara", available=False)]) is None


def test_backoff_doubles_up_to_its_cap() -> None:
    waits = [backoff(n, base=5, cap=60) for n in range(1, 6)]
    assert waits == [timedelta(seconds=s) for s in (5, 10, 20, 40, 60)]
