"""Referral rules without I/O: moves, who may make them, backoff, the replay window, RSIT."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.escalation import domain, iodef
from shared.contracts import Category, ReferralDirection, ReferralState

S = ReferralState
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.pending, S.sent),
        (S.pending, S.withdrawn),
        (S.sent, S.accepted),
        (S.sent, S.declined),
        (S.accepted, S.closed),
        (S.declined, S.closed),
    ],
)
def test_the_moves_a_referral_makes(current: ReferralState, target: ReferralState) -> None:
    domain.check_referral_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.pending, S.accepted),
        (S.sent, S.closed),
        (S.closed, S.accepted),
        (S.withdrawn, S.sent),
        (S.accepted, S.declined),
    ],
)
def test_the_moves_it_does_not(current: ReferralState, target: ReferralState) -> None:
    with pytest.raises(domain.TransitionRefused):
        domain.check_referral_transition(current, target)


def test_a_handler_withdraws_what_it_sent_and_decides_what_it_received() -> None:
    out, into = ReferralDirection.outbound, ReferralDirection.inbound

    assert domain.handler_may_move(out, S.withdrawn)
    assert not domain.handler_may_move(out, S.accepted)
    assert {s for s in S if domain.handler_may_move(into, s)} == {S.accepted, S.declined, S.closed}


def test_backoff_doubles_up_to_its_cap() -> None:
    waits = [domain.backoff(n, base=30, cap=3600).total_seconds() for n in range(1, 10)]

    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert domain.backoff(10_000, base=30, cap=3600) == timedelta(hours=1)


def test_the_replay_window() -> None:
    window = {"max_age": timedelta(minutes=5), "skew": timedelta(minutes=1)}

    assert domain.within_window(NOW - timedelta(minutes=4), NOW, **window)
    assert domain.within_window(NOW + timedelta(seconds=59), NOW, **window)
    assert not domain.within_window(NOW - timedelta(minutes=6), NOW, **window)
    assert not domain.within_window(NOW + timedelta(minutes=2), NOW, **window)


def test_every_category_has_an_rsit_class() -> None:
    rsit = iodef.load_rsit()

    assert set(rsit.classes) == set(Category)
    assert rsit.classes[Category.phishing].machine_tag == 'rsit:fraud="phishing"'
