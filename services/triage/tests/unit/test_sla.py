"""SLA maths: targets per priority, pauses, the 50/100/150 % ladder, each level once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.triage import sla
from services.triage.sla import Clock, ClockState
from shared.contracts import Priority, SlaLevel

T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)


def running(priority: Priority = Priority.P2) -> Clock:
    return Clock(state=ClockState.running, priority=priority, received_at=T0)


@pytest.mark.parametrize(
    ("priority", "hours"), [(Priority.P1, 1), (Priority.P2, 2), (Priority.P3, 8), (Priority.P4, 24)]
)
def test_the_due_time_is_the_taxonomy_target_after_receipt(priority: Priority, hours: int) -> None:
    assert sla.due_at(running(priority)) == T0 + timedelta(hours=hours)


def test_an_untriaged_clock_has_no_due_time() -> None:
    clock = Clock(state=ClockState.running, priority=None, received_at=None)

    assert sla.due_at(clock) is None
    assert sla.next_check_at(clock, set()) is None


@pytest.mark.parametrize(
    ("minutes", "levels"),
    [
        (59, []),
        (60, [SlaLevel.warning]),
        (119, [SlaLevel.warning]),
        (120, [SlaLevel.warning, SlaLevel.breached]),
        (180, [SlaLevel.warning, SlaLevel.breached, SlaLevel.alert]),
    ],
)
def test_levels_are_reached_at_half_whole_and_one_and_a_half_targets(
    minutes: int, levels: list[SlaLevel]
) -> None:
    assert sla.reached(running(), T0 + timedelta(minutes=minutes)) == levels


def test_only_the_highest_fresh_level_is_announced_and_lower_ones_are_implied() -> None:
    later = T0 + timedelta(hours=5)

    assert sla.to_announce(running(), set(), later) is SlaLevel.alert
    assert sla.to_announce(running(), {SlaLevel.warning}, T0 + timedelta(hours=2)) is (
        SlaLevel.breached
    )
    assert sla.to_announce(running(), set(sla.reached(running(), later)), later) is None


def test_the_next_check_is_the_first_level_not_yet_announced() -> None:
    assert sla.next_check_at(running(), set()) == T0 + timedelta(hours=1)
    assert sla.next_check_at(running(), {SlaLevel.warning}) == T0 + timedelta(hours=2)
    assert sla.next_check_at(running(), set(SlaLevel)) is None


def test_a_pause_freezes_the_clock_and_resuming_shifts_every_threshold() -> None:
    paused = sla.pause(running(), T0 + timedelta(minutes=30))

    assert sla.elapsed(paused, T0 + timedelta(hours=10)) == timedelta(minutes=30)
    assert sla.next_check_at(paused, set()) is None
    resumed = sla.resume(paused, T0 + timedelta(minutes=75))
    assert resumed.state is ClockState.running
    assert sla.due_at(resumed) == T0 + timedelta(hours=2, minutes=45)
    assert sla.elapsed(resumed, T0 + timedelta(minutes=90)) == timedelta(minutes=45)


def test_pauses_add_up() -> None:
    clock = running()
    for start in (10, 100):
        clock = sla.pause(clock, T0 + timedelta(minutes=start))
        clock = sla.resume(clock, T0 + timedelta(minutes=start + 20))

    assert clock.paused_seconds == 40 * 60


def test_the_first_stop_wins_and_no_level_follows_it() -> None:
    answered = sla.stop(running(), ClockState.responded, T0 + timedelta(minutes=90))
    again = sla.stop(answered, ClockState.closed, T0 + timedelta(hours=9))

    assert again == answered
    assert sla.elapsed(answered, T0 + timedelta(days=2)) == timedelta(minutes=90)
    assert sla.to_announce(answered, set(), T0 + timedelta(days=2)) is None


def test_stopping_a_paused_clock_ends_the_pause_first() -> None:
    paused = sla.pause(running(), T0 + timedelta(minutes=30))

    closed = sla.stop(paused, ClockState.closed, T0 + timedelta(minutes=50))

    assert closed.paused_seconds == 20 * 60
    assert sla.elapsed(closed, T0 + timedelta(days=1)) == timedelta(minutes=30)


def test_resuming_a_clock_that_is_not_paused_changes_nothing() -> None:
    assert sla.resume(running(), T0 + timedelta(hours=1)) == running()
