"""Reporting's pure rules: disclosure control, what a ticket counts towards, periods, durations.

Disclosure control lives here and nowhere else: every figure that leaves the service is a
table of counts passed through `protect` (or its `protect_line` / `protect_grid` shapes).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Generic, Literal, Protocol, TypeVar

# --- disclosure control ----------------------------------------------------------------

MIN_THRESHOLD = 5
# A cell withheld so that a small one cannot be worked out from a total. It claims nothing of
# its value (but that it is not 0): usually large, it may be small where "<t" would give away
# too much (four categories at "<5" whose total reads "<5" are 1 each).
WITHHELD = "x"
_UNBOUNDED = 10**15

K = TypeVar("K", bound=Hashable)
Cell = int | str


def small_mark(threshold: int) -> str:
    """How a count from 1 to threshold - 1 is published."""
    return f"<{threshold}"


@dataclass(frozen=True)
class Line(Generic[K]):
    """A published equation: the cell `total` is the sum of the cells `members`."""

    total: K
    members: tuple[K, ...]


def protect(
    values: Mapping[K, int],
    lines: Sequence[Line[K]],
    threshold: int,
    *,
    exposed: Exposure[K] | None = None,
    public: frozenset[K] = frozenset(),
) -> dict[K, Cell]:
    """Every cell fit to publish.

    Counts from 1 to threshold - 1 read "<threshold" (primary suppression). Then, while a
    reader who knows the rule could pin down a suppressed cell exactly from the totals and
    the visible cells, the smallest visible non-zero cell of an offending line is withheld
    too (complementary suppression, shown as "x"); where nothing is left to withhold, the
    pinned-down cell itself reads "x" instead of "<t". Zeros are published: they identify no one.
    `exposed` finds a pinned-down cell; the default (interval propagation) is exact when no
    two lines share more than one cell and the lines form no cycle, as in a breakdown.
    Cells in `public` are published elsewhere as they are: never withheld, only made "<t".
    """
    find = exposed or _exposed_by_intervals
    primary = {k for k, v in values.items() if 0 < v < threshold}
    hidden: set[K] = set(primary)
    safe: set[K] = set()
    while True:
        _pair_lines(values, lines, hidden, public)
        bounds = _reader_bounds(values, primary, hidden, threshold)
        found = find(values, lines, bounds, hidden, safe)
        if found is None:
            break
        if not _hide_one_more(values, lines, hidden, public, found):
            # Nothing left to withhold: the small cells of its lines say only "x" instead.
            demote = {
                c
                for ln in lines
                if found == ln.total or found in ln.members
                for c in (ln.total, *ln.members)
            } & primary
            if not demote:
                break  # not reachable with consistent totals; stop rather than loop
            primary -= demote
    mark = small_mark(threshold)
    return {k: mark if k in primary else WITHHELD if k in hidden else v for k, v in values.items()}


# What a reader knows of each cell: the least and the most it can be.
Bounds = dict[K, tuple[int, int]]
# (values, lines, bounds, hidden, safe) -> a hidden cell the reader can pin down, or None.
# Hiding more only widens what a reader can imagine, so a cell found safe stays safe.
Exposure = Callable[[Mapping[K, int], Sequence[Line[K]], Bounds[K], set[K], set[K]], K | None]


def _reader_bounds(
    values: Mapping[K, int], primary: set[K], hidden: set[K], threshold: int
) -> Bounds[K]:
    """A visible cell is its value, "<t" is 1..t-1, "x" is at least 1."""
    return {
        k: (1, threshold - 1) if k in primary else (1, _UNBOUNDED) if k in hidden else (v, v)
        for k, v in values.items()
    }


def _pair_lines(
    values: Mapping[K, int], lines: Sequence[Line[K]], hidden: set[K], public: frozenset[K]
) -> None:
    """The cheap pass: no line may hide exactly one cell, the total subtracts it out."""
    changed = True
    while changed:
        changed = False
        for line in lines:
            cells = (line.total, *line.members)
            if sum(c in hidden for c in cells) == 1 and _hide_in(values, line, hidden, public):
                changed = True


def _hide_in(values: Mapping[K, int], line: Line[K], hidden: set[K], public: frozenset[K]) -> bool:
    """Withhold the smallest visible non-zero member of `line`, else its total."""
    candidates = [m for m in line.members if m not in hidden | public and values[m] > 0]
    if candidates:
        hidden.add(min(candidates, key=lambda m: (values[m], str(m))))
        return True
    if line.total not in hidden | public and values[line.total] > 0:
        hidden.add(line.total)
        return True
    return False


def _hide_one_more(
    values: Mapping[K, int],
    lines: Sequence[Line[K]],
    hidden: set[K],
    public: frozenset[K],
    exposed: K,
) -> bool:
    """Withhold a cell in a line of `exposed`; if those lines have none left, look one
    line further out, through the hidden cells they share, and so on."""
    reached, frontier = {exposed}, [exposed]
    while frontier:
        touching = [ln for ln in lines if any(k == ln.total or k in ln.members for k in frontier)]
        if any(_hide_in(values, line, hidden, public) for line in touching):
            return True
        cells = {c for ln in touching for c in (ln.total, *ln.members) if c in hidden}
        frontier = list(cells - reached)
        reached |= cells
    return False


def _exposed_by_intervals(
    values: Mapping[K, int],
    lines: Sequence[Line[K]],
    bounds: Bounds[K],
    hidden: set[K],
    safe: set[K],
) -> K | None:
    """Narrow each cell's bounds from each line's equation until nothing moves."""
    lo = {k: b[0] for k, b in bounds.items()}
    hi = {k: b[1] for k, b in bounds.items()}
    relevant = [ln for ln in lines if ln.total in hidden or any(m in hidden for m in ln.members)]
    for _ in range(100):
        if not any(_narrow(line, lo, hi) for line in relevant):
            break
    return next((k for k in hidden if lo[k] == hi[k]), None)


def _narrow(line: Line[K], lo: dict[K, int], hi: dict[K, int]) -> bool:
    """Tighten the bounds of the cells of one line from its equation; True if any moved."""
    changed = False
    sum_lo = sum(lo[m] for m in line.members)
    sum_hi = sum(hi[m] for m in line.members)
    t = line.total
    new_lo, new_hi = max(lo[t], sum_lo), min(hi[t], sum_hi)
    if (new_lo, new_hi) != (lo[t], hi[t]):
        lo[t], hi[t], changed = new_lo, new_hi, True
    for m in line.members:
        rest_lo, rest_hi = sum_lo - lo[m], sum_hi - hi[m]
        new_lo = max(lo[m], lo[t] - rest_hi)
        new_hi = min(hi[m], hi[t] - rest_lo)
        if (new_lo, new_hi) != (lo[m], hi[m]):
            lo[m], hi[m], changed = new_lo, new_hi, True
    return changed


def protect_line(
    cells: Mapping[str, int], total: int, threshold: int
) -> tuple[dict[str, Cell], Cell]:
    """A breakdown and its total, protected together; the cells come back sorted by key."""
    values: dict[tuple[str, str], int] = {("cell", k): v for k, v in cells.items()}
    values[("total", "")] = total
    line = Line(("total", ""), tuple(("cell", k) for k in sorted(cells)))
    published = protect(values, [line], threshold)
    return {k: published[("cell", k)] for k in sorted(cells)}, published[("total", "")]


@dataclass(frozen=True)
class ProtectedGrid:
    """A rows x columns table with its margins, as published."""

    cells: dict[str, dict[str, Cell]]
    row_totals: dict[str, Cell]
    column_totals: dict[str, Cell]
    total: Cell


def protect_grid(
    grid: Mapping[str, Mapping[str, int]],
    rows: Sequence[str],
    columns: Sequence[str],
    threshold: int,
) -> ProtectedGrid:
    """A table with row totals, column totals and a grand total, protected as one."""
    values: dict[tuple[str, str], int] = {}
    for r in rows:
        for c in columns:
            values[(r, c)] = grid.get(r, {}).get(c, 0)
        values[(r, "")] = sum(values[(r, c)] for c in columns)
    for c in columns:
        values[("", c)] = sum(values[(r, c)] for r in rows)
    values[("", "")] = sum(values[(r, "")] for r in rows)
    lines = [Line((r, ""), tuple((r, c) for c in columns)) for r in rows]
    lines += [Line(("", c), tuple((r, c) for r in rows)) for c in columns]
    lines.append(Line(("", ""), tuple((r, "") for r in rows)))
    lines.append(Line(("", ""), tuple(("", c) for c in columns)))
    out = protect(values, lines, threshold, exposed=_exposed_in_grid)
    return ProtectedGrid(
        cells={r: {c: out[(r, c)] for c in columns} for r in rows},
        row_totals={r: out[(r, "")] for r in rows},
        column_totals={c: out[("", c)] for c in columns},
        total=out[("", "")],
    )


GridKey = tuple[str, str]


def _exposed_in_grid(
    values: Mapping[GridKey, int],
    lines: Sequence[Line[GridKey]],
    bounds: Bounds[GridKey],
    hidden: set[GridKey],
    safe: set[GridKey],
) -> GridKey | None:
    """Exact for a table with its margins: a hidden cell can take another value if and only
    if moving it by one can be balanced around a cycle of hidden cells (alternately up and
    down along rows and columns, margins counting with the opposite sign) within bounds.
    """
    for cell in sorted(hidden - safe):
        if _on_a_cycle(values, bounds, hidden, cell, +1) or _on_a_cycle(
            values, bounds, hidden, cell, -1
        ):
            safe.add(cell)
        else:
            return cell
    return None


def _on_a_cycle(
    values: Mapping[GridKey, int],
    bounds: Bounds[GridKey],
    hidden: set[GridKey],
    start: GridKey,
    sign: int,
) -> bool:
    def movable(key: GridKey, step: int) -> bool:
        # A margin enters its row's and column's equations with the opposite sign.
        orient = -1 if (key[0] == "") != (key[1] == "") else 1
        lo, hi = bounds[key]
        return lo <= values[key] + step * orient <= hi

    if not movable(start, sign):
        return False
    by_row: dict[str, list[GridKey]] = {}
    by_col: dict[str, list[GridKey]] = {}
    for key in hidden:
        if key != start:
            by_row.setdefault(key[0], []).append(key)
            by_col.setdefault(key[1], []).append(key)
    target_row, first_col = start
    seen_cols, seen_rows = {first_col}, set()
    frontier = [first_col]
    while frontier:
        nxt: list[str] = []
        for col in frontier:
            for key in by_col.get(col, ()):
                row = key[0]
                if row in seen_rows or not movable(key, -sign):
                    continue
                if row == target_row:
                    return True
                seen_rows.add(row)
                for onward in by_row.get(row, ()):
                    if onward[1] not in seen_cols and movable(onward, sign):
                        seen_cols.add(onward[1])
                        nxt.append(onward[1])
        frontier = nxt
    return False


# --- what a ticket counts towards ------------------------------------------------------

# A counter cell: (day the ticket was received, dimension, value).
CounterKey = tuple[date, str, str]
UNKNOWN = "unknown"
ALL = "all"

# The public counters, and the requester roles each counts (tickets, not people: the
# read model keeps no requester id, so one person writing twice counts twice).
PUBLIC_GROUPS: Mapping[str, frozenset[str]] = {
    "journalists_assisted": frozenset({"journalist"}),
    "activists_assisted": frozenset({"activist", "hrd"}),
}
PUBLIC_COUNTERS = (
    "tickets_received",
    "tickets_escalated",
    "journalists_assisted",
    "activists_assisted",
)
# Per-ticket breakdowns: dimension -> does its total equal tickets received or triaged.
RECEIVED_DIMENSIONS = ("channel", "requester_role", "country")
TRIAGED_DIMENSIONS = ("category", "priority", "language")
# Breakdowns whose finest published time unit is a week.
WEEKLY_DIMENSIONS = frozenset({"country"})

# First-response targets (taxonomy.md), in minutes.
SLA_TARGET_MINUTES: Mapping[str, int] = {"P1": 60, "P2": 120, "P3": 480, "P4": 1440}
# Upper bounds (minutes) of the duration histograms kept per day; the last is open.
DURATION_BUCKETS = (15, 30, 60, 120, 240, 480, 1440, 2880, 10080, 43200)
OPEN_BUCKET = "inf"


class TicketLike(Protocol):
    """What a ticket fact exposes to the counting rules."""

    @property
    def received_at(self) -> datetime | None: ...
    @property
    def channel(self) -> str | None: ...
    @property
    def requester_role(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...
    @property
    def triaged_at(self) -> datetime | None: ...
    @property
    def category(self) -> str | None: ...
    @property
    def priority(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def flags(self) -> str: ...
    @property
    def escalated_at(self) -> datetime | None: ...
    @property
    def first_response_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def overridden(self) -> bool: ...
    @property
    def outcome(self) -> str | None: ...
    @property
    def sla_breached(self) -> bool: ...


@dataclass
class FactState:
    """A ticket's fact as plain data (the columns of `ticket_facts`), merged in memory."""

    ticket_id: Any
    channel: str | None = None
    requester_role: str | None = None
    country: str | None = None
    received_at: datetime | None = None
    received_seen: bool = False
    category: str | None = None
    priority: str | None = None
    language: str | None = None
    flags: str = ""
    needs_review: bool | None = None
    triaged_at: datetime | None = None
    triage_event_id: str | None = None
    escalated_at: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    overridden: bool = False
    # The event that set category, priority and flags: a triage or a reprioritisation.
    classified_at: datetime | None = None
    classification_event_id: str | None = None
    outcome: str | None = None
    closed_event_id: str | None = None
    sla_breached: bool = False
    erased: bool = False
    # Where the ticket stands at intake (ticket.status_changed, ticket.closed); None is "new".
    status: str | None = None
    status_at: datetime | None = None
    status_event_id: str | None = None
    # Whether a handler holds it (ticket.assigned); which handler is triage's business.
    assigned: bool | None = None
    assigned_at: datetime | None = None
    assignment_event_id: str | None = None


@dataclass
class EscalationState:
    """An escalation's fact as plain data (the columns of `escalation_facts`)."""

    escalation_id: Any
    ticket_id: Any
    platform: str = ""
    opened_at: datetime | None = None
    submitted_at: datetime | None = None
    responded_at: datetime | None = None
    outcome: str | None = None
    # The resolution that set outcome and times: the latest resolved_at wins, then the id.
    resolved_at: datetime | None = None
    resolution_event_id: str | None = None


# What an erasure leaves as it was: the counters already published stay put (moving them
# would tell a reader who compares two releases that someone of that day, role and country
# asked to be forgotten), while the fact row forgets the fields.
ERASED_DIMENSIONS = frozenset({"requester_role", "country"})


def frozen_on_erasure(key: CounterKey) -> bool:
    """A counter cell an erased ticket keeps contributing to, untouched."""
    _, dimension, value = key
    return dimension in ERASED_DIMENSIONS or (dimension == "public" and value in PUBLIC_GROUPS)


def ticket_counts(t: TicketLike) -> frozenset[CounterKey]:
    """The counter cells one ticket adds 1 to, all on the day it was received.

    Counters are kept as the difference between this set before and after an event, so
    applying an event twice, or events in any order, leaves the same counters.
    """
    if t.received_at is None:
        return frozenset()
    day = t.received_at.date()
    keys: set[CounterKey] = {
        (day, "public", "tickets_received"),
        (day, "channel", t.channel or UNKNOWN),
        (day, "requester_role", t.requester_role or UNKNOWN),
        (day, "country", t.country or UNKNOWN),
    }
    keys.update(
        (day, "public", g) for g, roles in PUBLIC_GROUPS.items() if t.requester_role in roles
    )
    if t.triaged_at is not None and t.priority is not None:
        keys.add((day, "public", "tickets_triaged"))
        keys.add((day, "category", t.category or UNKNOWN))
        keys.add((day, "priority", t.priority))
        keys.add((day, "language", t.language or UNKNOWN))
        keys.update((day, "flag", f) for f in t.flags.split(",") if f)
        if t.overridden:
            keys.add((day, "override", t.category or UNKNOWN))
        if t.sla_breached:
            keys.add((day, "sla_breached", t.priority))
        keys.update(_timing_counts(t, day, t.priority))
    if t.escalated_at is not None:
        keys.add((day, "public", "tickets_escalated"))
    if t.outcome is not None:
        keys.add((day, "outcome", t.outcome))
    return frozenset(keys)


def _timing_counts(t: TicketLike, day: date, priority: str) -> Iterable[CounterKey]:
    if t.received_at is None:
        return
    if t.first_response_at is not None:
        minutes = (t.first_response_at - t.received_at) / timedelta(minutes=1)
        yield (day, f"first_response:{priority}", duration_bucket(minutes))
        met = minutes <= SLA_TARGET_MINUTES.get(priority, 0)
        yield (day, f"sla:{priority}", "met" if met else "missed")
    if t.resolved_at is not None:
        minutes = (t.resolved_at - t.received_at) / timedelta(minutes=1)
        yield (day, f"resolution:{priority}", duration_bucket(minutes))


class EscalationLike(Protocol):
    @property
    def platform(self) -> str: ...
    @property
    def opened_at(self) -> datetime | None: ...
    @property
    def submitted_at(self) -> datetime | None: ...
    @property
    def responded_at(self) -> datetime | None: ...
    @property
    def outcome(self) -> str | None: ...


def escalation_counts(e: EscalationLike) -> frozenset[CounterKey]:
    """An escalation counts on the day it was opened: its platform, outcome, response time.

    The platform's response time runs from submission (the platform cannot answer a draft)
    to its first answer: the acknowledgement, else the outcome.
    """
    if e.opened_at is None:
        return frozenset()
    day = e.opened_at.date()
    keys: set[CounterKey] = {(day, "platform", e.platform)}
    keys.add((day, f"escalation_outcome:{e.platform}", e.outcome or "pending"))
    if e.responded_at is not None:
        minutes = (e.responded_at - (e.submitted_at or e.opened_at)) / timedelta(minutes=1)
        keys.add((day, f"platform_response:{e.platform}", duration_bucket(minutes)))
    return frozenset(keys)


@dataclass
class ReferralState:
    """A referral's fact as plain data (the columns of `referral_facts`)."""

    referral_id: Any
    ticket_id: Any = None
    partner_id: str = ""
    # "sent" (to a partner) or "received" (from one): how its counters are named.
    direction: str = ""
    # When the partner acknowledged receipt (sent) or when it reached us (received).
    at: datetime | None = None
    # The latest referral.updated wins: its state, time and event id.
    state: str | None = None
    state_at: datetime | None = None
    state_event_id: str | None = None
    # The earliest update: the day of a referral withdrawn before it ever left.
    first_changed_at: datetime | None = None
    # The first time it was accepted, kept when it is closed afterwards.
    accepted_at: datetime | None = None


# What a referral's latest state publishes as its outcome: not yet concluded is "open".
REFERRAL_OUTCOMES = ("open", "accepted", "declined", "closed", "withdrawn")
REFERRAL_DIRECTIONS = ("sent", "received")
# Partner ids are counter values; a longer one could not be stored in every database.
MAX_PARTNER_ID = 64


def referral_outcome(state: str | None) -> str:
    return state if state in REFERRAL_OUTCOMES else "open"


def referral_counts(r: ReferralState) -> frozenset[CounterKey]:
    """A referral counts under its partner: as sent or received on the day it was, its
    outcome and time to acceptance on that same day (or, never sent, on its first update)."""
    start = r.at or r.first_changed_at
    if start is None or r.direction not in REFERRAL_DIRECTIONS:
        return frozenset()
    day, partner, direction = start.date(), r.partner_id, r.direction
    keys: set[CounterKey] = {
        (day, f"referral_outcome:{direction}:{referral_outcome(r.state)}", partner)
    }
    if r.at is not None:
        keys.add((day, f"referral_{direction}", partner))
        if r.accepted_at is not None:
            minutes = max((r.accepted_at - r.at) / timedelta(minutes=1), 0.0)
            keys.add((day, f"referral_acceptance:{direction}:{duration_bucket(minutes)}", partner))
    return frozenset(keys)


# --- current state (ops gauges) ----------------------------------------------------------

# A gauge cell: (name, label value). Tickets now, not per day: what /metrics shows.
GaugeKey = tuple[str, str]
DONE_STATES = frozenset({"resolved", "closed"})
UNTRIAGED = "untriaged"


def ticket_gauges(t: FactState) -> frozenset[GaugeKey]:
    """What one ticket adds 1 to now: its state and, while open, the queues it waits in."""
    if t.received_at is None:
        return frozenset()
    state = t.status or "new"
    keys: set[GaugeKey] = {("tickets", state)}
    if state not in DONE_STATES:
        priority = t.priority or UNTRIAGED
        if t.first_response_at is None:
            keys.add(("unanswered", priority))
        if not t.assigned:
            keys.add(("unassigned", priority))
    return frozenset(keys)


def duration_bucket(minutes: float) -> str:
    """The histogram bucket of a duration: the smallest upper bound that holds it."""
    for bound in DURATION_BUCKETS:
        if minutes <= bound:
            return str(bound)
    return OPEN_BUCKET


def percentile(histogram: Mapping[str, int], q: float) -> int | None:
    """The bucket bound (minutes) under which a share `q` of the durations fall; None if open."""
    total = sum(histogram.values())
    if total == 0:
        return None
    seen = 0
    for bound in DURATION_BUCKETS:
        seen += histogram.get(str(bound), 0)
        if seen >= q * total:
            return bound
    return None


# --- periods ---------------------------------------------------------------------------

Granularity = Literal["day", "week", "month"]


def period_start(day: date, granularity: Granularity) -> date:
    """The first day of the period holding `day` (weeks start on Monday)."""
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def period_label(start: date, granularity: Granularity) -> str:
    if granularity == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if granularity == "month":
        return f"{start.year}-{start.month:02d}"
    return start.isoformat()


def periods(first: date, last: date, granularity: Granularity) -> list[date]:
    """The start of every period from the one holding `first` to the one holding `last`."""
    out: list[date] = []
    current = period_start(first, granularity)
    while current <= last:
        out.append(current)
        if granularity == "month":
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            current += timedelta(days=7 if granularity == "week" else 1)
    return out


def whole_weeks(first: date, last: date) -> tuple[date, date]:
    """The range widened to whole weeks, Monday to Sunday."""
    return whole_periods(first, last, "week")


def whole_periods(first: date, last: date, granularity: Granularity) -> tuple[date, date]:
    """The range widened to whole periods, so no published period is a part of one."""
    following = periods(last, last, granularity)[0]
    if granularity == "month":
        end = (following.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    else:
        end = following + timedelta(days=6 if granularity == "week" else 0)
    return period_start(first, granularity), end
