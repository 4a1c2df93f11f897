"""First-response clocks per taxonomy.md: targets, pauses and the 50/100/150 % ladder. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.contracts import Priority, SlaLevel

TARGETS: dict[Priority, timedelta] = {
    Priority.P1: timedelta(hours=1),
    Priority.P2: timedelta(hours=2),
    Priority.P3: timedelta(hours=8),
    Priority.P4: timedelta(hours=24),
}
# Each level and the share of the target (in percent) that reaches it, lowest first.
LADDER: tuple[tuple[SlaLevel, int], ...] = (
    (SlaLevel.warning, 50),
    (SlaLevel.breached, 100),
    (SlaLevel.alert, 150),
)
_PERCENT = dict(LADDER)


class ClockState(StrEnum):
    running = "running"
    paused = "paused"  # waiting on the requester
    responded = "responded"  # a handler answered the requester: the clock stopped
    closed = "closed"


@dataclass(frozen=True)
class Clock:
    """What a stored clock holds; `received_at` and `priority` are None until triage."""

    state: ClockState
    priority: Priority | None
    received_at: datetime | None
    paused_seconds: float = 0.0
    paused_at: datetime | None = None
    stopped_at: datetime | None = None


def target_of(priority: Priority) -> timedelta:
    return TARGETS[priority]


def due_at(clock: Clock) -> datetime | None:
    """Received time + target + every finished pause."""
    return threshold_at(clock, SlaLevel.breached)


def threshold_at(clock: Clock, level: SlaLevel) -> datetime | None:
    """When the clock reaches `level`, given the pauses so far."""
    if clock.priority is None or clock.received_at is None:
        return None
    share = target_of(clock.priority) * _PERCENT[level] / 100
    return clock.received_at + timedelta(seconds=clock.paused_seconds) + share


def elapsed(clock: Clock, now: datetime) -> timedelta:
    """Time the requester has waited for a first answer, pauses excluded."""
    if clock.received_at is None:
        return timedelta(0)
    until = {
        ClockState.running: now,
        ClockState.paused: clock.paused_at,
        ClockState.responded: clock.stopped_at,
        ClockState.closed: clock.stopped_at,
    }[clock.state] or now
    return max(until - clock.received_at - timedelta(seconds=clock.paused_seconds), timedelta(0))


def percent_elapsed(clock: Clock, now: datetime) -> float:
    if clock.priority is None:
        return 0.0
    return 100 * elapsed(clock, now) / target_of(clock.priority)


def reached(clock: Clock, now: datetime) -> list[SlaLevel]:
    """Every level the clock has reached by `now`, lowest first."""
    share = percent_elapsed(clock, now)
    return [level for level, percent in LADDER if share >= percent]


def next_check_at(clock: Clock, emitted: set[SlaLevel]) -> datetime | None:
    """When the next level not yet announced falls due; None if no running clock needs one."""
    if clock.state is not ClockState.running:
        return None
    pending = [threshold_at(clock, level) for level, _ in LADDER if level not in emitted]
    times = [t for t in pending if t is not None]
    return min(times) if times else None


def to_announce(clock: Clock, emitted: set[SlaLevel], now: datetime) -> SlaLevel | None:
    """The one level to announce now: the highest newly reached (lower ones are implied)."""
    if clock.state is not ClockState.running:
        return None
    fresh = [level for level in reached(clock, now) if level not in emitted]
    return fresh[-1] if fresh else None


def percent_of(level: SlaLevel) -> int:
    return _PERCENT[level]


def pause(clock: Clock, at: datetime) -> Clock:
    if clock.state is not ClockState.running:
        return clock
    return replace(clock, state=ClockState.paused, paused_at=at)


def resume(clock: Clock, at: datetime) -> Clock:
    """Back to running; the pause moves every threshold later by its length."""
    if clock.state is not ClockState.paused or clock.paused_at is None:
        return clock
    pause_length = max((at - clock.paused_at).total_seconds(), 0.0)
    return replace(
        clock,
        state=ClockState.running,
        paused_at=None,
        paused_seconds=clock.paused_seconds + pause_length,
    )


def stop(clock: Clock, state: ClockState, at: datetime) -> Clock:
    """A handler's answer or the ticket's close stops the clock for good (the first one wins)."""
    if clock.state in (ClockState.responded, ClockState.closed):
        return clock
    if clock.state is ClockState.paused:
        clock = resume(clock, at)
    return replace(clock, state=state, stopped_at=at)
