"""Reporting at scale: a 1,000,000-ticket history, query latency and the fold rate over NATS.

    python -m bench.reporting_scale [--tickets 1000000] [--nats-events 50000] [--requests 200]

1. History: `--tickets` tickets over three years with their events (received, triaged,
   assigned, status changes, replies, SLA breaches, reprioritisations, closings,
   escalations, referrals, a few erasures), generated from a seed, folded into a fresh
   reporting SQLite database through the consumers' own handlers, a few thousand tickets
   per transaction. (The events are the contract's classes, built without validation,
   like `model_construct`; a sample is round-tripped through the codec first.)
2. Latency: the summary and every breakdown (the issue's 50 ms p95 target), then the other
   reports, through the ASGI app (httpx.ASGITransport) with date ranges from a week to all
   of it; `/healthz` through the same transport is the baseline.
3. Fold rate with NATS: `--nats-events` events of new tickets published to a real
   nats-server, then drained by the reporting consumers (decode, inbox, fold, commit, ack)
   into the same database. Baseline: the same messages pulled and acked by as many raw
   JetStream pull consumers, with the same fetch pattern and no work.

Nothing here is asserted: it prints what it measured, and the targets beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import nats
import nats.errors
from nats.js import JetStreamContext
from opentelemetry.trace import NoOpTracer
from pydantic import BaseModel

from services.reporting.config import ReportingSettings
from services.reporting.consumers import HANDLERS, SPECS
from services.reporting.main import DEFINITION, create_app
from shared.app import service_tables
from shared.auth import Scope
from shared.contracts import (
    TLP,
    Author,
    Category,
    Channel,
    ConsentPurpose,
    Envelope,
    EscalationAction,
    EscalationOpened,
    EscalationOpenedData,
    EscalationResolved,
    EscalationResolvedData,
    EscalationState,
    Flag,
    Outcome,
    Payload,
    Priority,
    ReferralDirection,
    ReferralReceived,
    ReferralReceivedData,
    ReferralSent,
    ReferralSentData,
    ReferralState,
    ReferralUpdated,
    ReferralUpdatedData,
    RepriorityReason,
    RequesterErased,
    RequesterErasedData,
    RequesterRole,
    SlaBreached,
    SlaBreachedData,
    SlaLevel,
    TicketAssigned,
    TicketAssignedData,
    TicketClosed,
    TicketClosedData,
    TicketMessageAdded,
    TicketMessageAddedData,
    TicketReceived,
    TicketReceivedData,
    TicketReprioritised,
    TicketReprioritisedData,
    TicketStatus,
    TicketStatusChanged,
    TicketStatusChangedData,
    TicketTriaged,
    TicketTriagedData,
    decode,
    encode,
)
from shared.db import make_engine, make_sessionmaker, transaction
from shared.messaging.connection import ensure_streams
from shared.messaging.consumer import Consumer, ConsumerOptions
from shared.migrations import upgrade_to_head
from shared.testing.asgi import bearer, serve
from shared.testing.nats_server import start_nats_server

FIRST_DAY = date(2023, 1, 1)
DAYS = 3 * 365
LATENCY_TARGET_MS = 50.0
FOLD_TARGET = 2000.0
MIN = timedelta(minutes=1)

E = TypeVar("E", bound=Envelope)

# --- the history ---------------------------------------------------------------------------

COUNTRIES = ("LB", "SY", "EG", "JO", "IQ", "PS", "MA", "TN", "DZ", "SA", "YE", "LY", "SD", "BH")
LANGUAGES = ("ar", "ar", "ar", "en", "fr", "arz")
PLATFORMS = ("meta", "x", "tiktok", "google", "telegram")
PARTNERS = ("access-now", "smex", "front-line", "digital-defenders", "qurium", "7amleh")
HANDLERS_ROSTER = tuple(f"h-{n:02d}" for n in range(12))
TARGET_MINUTES = {"P1": 60, "P2": 120, "P3": 480, "P4": 1440}
OUTCOMES = (Outcome.resolved, Outcome.advice_given, Outcome.referred, Outcome.no_response)
ROLES = list(RequesterRole)
CATEGORIES = list(Category)
CHANNELS = list(Channel)


M = TypeVar("M", bound=BaseModel)
_DEFAULTS: dict[type[BaseModel], dict[str, Any]] = {}


def build(cls: type[M], **values: Any) -> M:
    """`cls.model_construct(**values)` at a third of its cost (a million tickets are seven
    million of these): no validation, plain defaults only. What it builds is checked by
    `check_sample` through the real codec."""
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = _DEFAULTS[cls] = {
            name: f.default
            for name, f in cls.model_fields.items()
            if not f.is_required() and f.default_factory is None
        }
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", {**defaults, **values})
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def _event(
    cls: type[E], data: Payload, at: datetime, ticket_id: uuid.UUID | None, eid: uuid.UUID
) -> E:
    """An event of `cls`, built without validation."""
    return build(cls, event_id=eid, occurred_at=at, ticket_id=ticket_id, data=data)


class History:
    """Deterministic tickets and their events: ticket `i` of `n` is received on day i*DAYS/n."""

    def __init__(self, tickets: int, seed: int, *, first_day: date = FIRST_DAY, days: int = DAYS):
        self.tickets, self.seed, self.first_day, self.days = tickets, seed, first_day, days

    def chunks(self, size: int) -> Iterator[list[Envelope]]:
        for start in range(0, self.tickets, size):
            rng = random.Random(self.seed * 1_000_003 + start)
            out: list[Envelope] = []
            for i in range(start, min(start + size, self.tickets)):
                out += self.ticket(i, rng)
            yield out

    def ticket(self, i: int, rng: random.Random) -> list[Envelope]:
        def uid() -> uuid.UUID:
            return uuid.UUID(int=rng.getrandbits(128), version=4)

        day = self.first_day + timedelta(days=i * self.days // self.tickets)
        at = datetime(day.year, day.month, day.day, tzinfo=UTC) + rng.randrange(86_400) * timedelta(
            seconds=1
        )
        t = uid()
        role = rng.choice(ROLES)
        channel = rng.choice(CHANNELS)
        country = rng.choice(COUNTRIES) if rng.random() < 0.9 else None
        events: list[Envelope] = [
            _event(
                TicketReceived,
                build(
                    TicketReceivedData,
                    reference=f"SND-{i:07d}",
                    requester_id=uid(),
                    channel=channel,
                    requester_role=role,
                    declared_language=None,
                    country=country,
                    received_at=at,
                    sealed_text="opaque",
                ),
                at,
                t,
                uid(),
            )
        ]
        if rng.random() > 0.97:
            return events  # not triaged (yet)
        priority = rng.choices(list(Priority), weights=(5, 20, 50, 25))[0]
        category = rng.choice(CATEGORIES)
        flags = tuple(f for f in Flag if rng.random() < 0.04)
        triaged_at = at + rng.randint(1, 30) * MIN
        events.append(
            _event(
                TicketTriaged,
                build(
                    TicketTriagedData,
                    category=category,
                    secondary_categories=(),
                    flags=flags,
                    priority=priority,
                    language=rng.choice(LANGUAGES),
                    confidence=0.8,
                    needs_review=False,
                    rule_ids=(),
                    requester_role=role,
                    channel=channel,
                    country=country,
                    received_at=at,
                    triaged_at=triaged_at,
                ),
                triaged_at,
                t,
                uid(),
            )
        )
        if rng.random() < 0.9:
            when = triaged_at + MIN
            events.append(
                _event(
                    TicketAssigned,
                    build(
                        TicketAssignedData,
                        handler_id=rng.choice(HANDLERS_ROSTER),
                        previous_handler_id=None,
                        automatic=True,
                        actor_id="triage",
                        assigned_at=when,
                    ),
                    when,
                    t,
                    uid(),
                )
            )
        target = TARGET_MINUTES[priority.value]
        answered = rng.random() < 0.92
        reply_after = int(rng.expovariate(1 / (target * 0.7))) + 2
        if answered:
            replied = at + reply_after * MIN
            events.append(
                _event(
                    TicketMessageAdded,
                    build(
                        TicketMessageAddedData,
                        message_id=uid(),
                        author=Author.handler,
                        channel=channel,
                        internal=False,
                        sealed_text=None,
                        added_at=replied,
                    ),
                    replied,
                    t,
                    uid(),
                )
            )
            events.append(self._status(t, TicketStatus.new, TicketStatus.open, replied, uid()))
        if not answered or reply_after > target:
            due = at + target * MIN
            events.append(
                _event(
                    SlaBreached,
                    build(
                        SlaBreachedData,
                        level=SlaLevel.breached,
                        percent=100,
                        priority=priority,
                        target_seconds=target * 60,
                        received_at=at,
                        due_at=due,
                        detected_at=due,
                    ),
                    due,
                    t,
                    uid(),
                )
            )
        if rng.random() < 0.04:
            when = triaged_at + 20 * MIN
            events.append(
                _event(
                    TicketReprioritised,
                    build(
                        TicketReprioritisedData,
                        reason=RepriorityReason.override,
                        from_priority=priority,
                        priority=Priority.P1,
                        from_category=category,
                        category=category,
                        flags=flags,
                        actor_id="handler",
                        sla_due_at=None,
                        changed_at=when,
                    ),
                    when,
                    t,
                    uid(),
                )
            )
        if rng.random() < 0.05:
            events += self._escalation(t, at, rng, uid)
        if rng.random() < 0.03:
            events += self._referral(t, at, rng, uid)
        if answered and rng.random() < 0.85:
            closed_at = at + (reply_after + rng.randint(30, 20_000)) * MIN
            events.append(self._status(t, TicketStatus.open, TicketStatus.closed, closed_at, uid()))
            events.append(
                _event(
                    TicketClosed,
                    build(
                        TicketClosedData,
                        outcome=rng.choice(OUTCOMES),
                        actor_id="handler",
                        closed_at=closed_at,
                    ),
                    closed_at,
                    t,
                    uid(),
                )
            )
        if rng.random() < 0.002:
            erased_at = at + timedelta(days=30)
            events.append(
                _event(
                    RequesterErased,
                    build(
                        RequesterErasedData,
                        requester_id=uid(),
                        ticket_ids=(t,),
                        erased_at=erased_at,
                    ),
                    erased_at,
                    None,
                    uid(),
                )
            )
        return events

    @staticmethod
    def _status(
        t: uuid.UUID, old: TicketStatus, new: TicketStatus, at: datetime, eid: uuid.UUID
    ) -> TicketStatusChanged:
        data = build(
            TicketStatusChangedData,
            from_status=old,
            to_status=new,
            actor_id="handler",
            changed_at=at,
        )
        return _event(TicketStatusChanged, data, at, t, eid)

    @staticmethod
    def _escalation(
        t: uuid.UUID, at: datetime, rng: random.Random, uid: Callable[[], uuid.UUID]
    ) -> list[Envelope]:
        e, platform = uid(), rng.choice(PLATFORMS)
        opened = at + rng.randint(30, 600) * MIN
        out: list[Envelope] = [
            _event(
                EscalationOpened,
                build(
                    EscalationOpenedData,
                    escalation_id=e,
                    platform=platform,
                    action=EscalationAction.take_down,
                    state=EscalationState.drafted,
                    requires_approval=False,
                    opened_at=opened,
                ),
                opened,
                t,
                uid(),
            )
        ]
        if rng.random() < 0.8:
            submitted = opened + 10 * MIN
            ack = rng.randint(600, 200_000)
            done = ack + rng.randint(600, 400_000)
            resolved = submitted + timedelta(seconds=done)
            out.append(
                _event(
                    EscalationResolved,
                    build(
                        EscalationResolvedData,
                        escalation_id=e,
                        platform=platform,
                        action=EscalationAction.take_down,
                        outcome=rng.choice((EscalationState.actioned, EscalationState.refused)),
                        submitted_at=submitted,
                        acknowledged_at=submitted + timedelta(seconds=ack),
                        resolved_at=resolved,
                        seconds_to_acknowledgement=ack,
                        seconds_to_outcome=done,
                    ),
                    resolved,
                    t,
                    uid(),
                )
            )
        return out

    @staticmethod
    def _referral(
        t: uuid.UUID, at: datetime, rng: random.Random, uid: Callable[[], uuid.UUID]
    ) -> list[Envelope]:
        r, partner = uid(), rng.choice(PARTNERS)
        when = at + rng.randint(60, 3000) * MIN
        outbound = rng.random() < 0.5
        first: Envelope
        if outbound:
            first = _event(
                ReferralSent,
                build(
                    ReferralSentData,
                    referral_id=r,
                    partner_id=partner,
                    category=Category.doxxing,
                    priority=Priority.P2,
                    tlp=TLP.amber,
                    attempts=1,
                    created_at=when - 5 * MIN,
                    sent_at=when,
                ),
                when,
                t,
                uid(),
            )
        else:
            first = _event(
                ReferralReceived,
                build(
                    ReferralReceivedData,
                    referral_id=r,
                    partner_id=partner,
                    category=Category.threats,
                    priority=Priority.P2,
                    physical_risk=False,
                    requester_role=RequesterRole.activist,
                    country=None,
                    languages=(),
                    consents={ConsentPurpose.share_with_partners: True},
                    tlp=TLP.amber,
                    sealed_details="opaque",
                    received_at=when,
                ),
                when,
                t,
                uid(),
            )
        state = rng.choices(
            (ReferralState.accepted, ReferralState.declined, ReferralState.closed),
            weights=(6, 2, 2),
        )[0]
        changed = when + rng.randint(10, 5000) * MIN
        direction = ReferralDirection.outbound if outbound else ReferralDirection.inbound
        update = _event(
            ReferralUpdated,
            build(
                ReferralUpdatedData,
                referral_id=r,
                partner_id=partner,
                direction=direction,
                from_state=ReferralState.sent,
                state=state,
                actor_id="partner",
                changed_at=changed,
            ),
            changed,
            None,
            uid(),
        )
        return [first, update]


# --- phase 1: load ---------------------------------------------------------------------------


async def load(
    db: Path, history: History, chunk: int, progress: Callable[[str], None]
) -> tuple[int, float]:
    """Fold the whole history; returns (events, seconds)."""
    engine = make_engine(f"sqlite+aiosqlite:///{db}", writer=True)
    assert DEFINITION.migrations is not None
    await upgrade_to_head(engine, DEFINITION.migrations)
    sessions = make_sessionmaker(engine)
    events, start, last_note = 0, time.perf_counter(), 0.0
    cpu_before = cpu_seconds()
    done = 0
    for batch in history.chunks(chunk):
        async with transaction(sessions) as session:
            for event in batch:
                await HANDLERS[event.type](session, event)
        events += len(batch)
        done = min(done + chunk, history.tickets)
        now = time.perf_counter() - start
        if now - last_note > 15 or done == history.tickets:
            last_note = now
            progress(
                f"  loaded {done:>9,} / {history.tickets:,} tickets, {events:,} events "
                f"({events / now:,.0f} events/s, {now:,.0f} s)"
            )
    elapsed = time.perf_counter() - start
    progress(f"  load used {cpu_seconds() - cpu_before:,.0f} CPU-seconds")
    await engine.dispose()
    return events, elapsed


def check_sample(history: History) -> int:
    """The constructed events are valid events: a sample goes through the real codec."""
    sample = next(History(min(history.tickets, 200), history.seed + 99).chunks(200))
    for event in sample:
        decode(encode(event), subject=event.type)
    return len(sample)


# --- phase 2: latency ------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    samples_ms: list[float]
    required: bool

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


BREAKDOWNS = (
    "category",
    "priority",
    "channel",
    "language",
    "requester_role",
    "country",
    "flag",
    "platform",
    "outcome",
    "sla_breached",
)
OTHER_REPORTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("/v1/reports/counters", {"granularity": "month"}),
    ("/v1/reports/series/category", {"granularity": "week"}),
    ("/v1/reports/series/priority", {"granularity": "month"}),
    ("/v1/reports/durations/first_response", {}),
    ("/v1/reports/durations/platform_response", {}),
    ("/v1/reports/rates/sla", {}),
    ("/v1/reports/rates/override", {}),
    ("/v1/reports/referrals", {}),
    ("/v1/reports/referrals/outcomes/sent", {}),
    ("/v1/reports/referrals/acceptance/received", {}),
)


def date_ranges(rng: random.Random, n: int, first: date, days: int) -> list[dict[str, str]]:
    """A mix of what analysts ask: all of it, a year, a quarter, a month, a week."""
    out: list[dict[str, str]] = []
    for i in range(n):
        length = (None, 365, 91, 30, 7)[i % 5]
        if length is None:
            out.append({})
            continue
        length = min(length, days)
        start = first + timedelta(days=rng.randrange(max(days - length, 1)))
        end = start + timedelta(days=length - 1)
        out.append({"from": start.isoformat(), "to": end.isoformat()})
    return out


async def latency(
    db: Path, workdir: Path, requests: int, history: History, progress: Callable[[str], None]
) -> tuple[Timing, list[Timing]]:
    settings = ReportingSettings(
        var_dir=workdir,
        database_url=f"sqlite+aiosqlite:///{db}",
        auth_database_url=f"sqlite+aiosqlite:///{workdir / 'auth.db'}",
        bus_enabled=False,
        # The benchmark's own token asks far more often than a person would.
        rate_limit_token_per_minute=0,
        log_level="WARNING",
    )
    app = create_app(settings)
    rng = random.Random(history.seed + 1)
    timings: list[Timing] = []
    async with serve(app) as client:
        headers = await bearer(app, Scope.analyst)

        async def measure(
            name: str, path: str, params: Sequence[dict[str, str]], required: bool
        ) -> None:
            for p in params[:3]:  # warm up: first queries load pages into the cache
                await client.get(path, params=p, headers=headers)
            samples = []
            for p in params:
                start = time.perf_counter()
                response = await client.get(path, params=p, headers=headers)
                samples.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{path} {p}: {response.status_code} {response.text[:200]}")
            timings.append(Timing(name, samples, required))

        base: list[dict[str, str]] = [{} for _ in range(requests)]
        await measure("GET /healthz (baseline)", "/healthz", base, False)
        baseline = timings.pop()
        await measure("summary", "/v1/metrics/summary", base, True)
        for dim in BREAKDOWNS:
            ranges = date_ranges(rng, requests, history.first_day, history.days)
            await measure(f"breakdown {dim}", f"/v1/reports/breakdowns/{dim}", ranges, True)
        progress("  summary and breakdowns measured")
        for path, extra in OTHER_REPORTS:
            ranges = date_ranges(rng, max(requests // 4, 5), history.first_day, history.days)
            params = [{**extra, **r} for r in ranges]
            await measure(path.removeprefix("/v1/reports/"), path, params, False)
        month = (history.first_day + timedelta(days=history.days // 2)).strftime("%Y-%m")
        monthly = [{"lang": "ar"} for _ in range(max(requests // 20, 3))]
        await measure(f"monthly/{month} (HTML)", f"/v1/reports/monthly/{month}", monthly, False)
    return baseline, timings


# --- phase 3: fold rate with NATS ------------------------------------------------------------


async def publish_all(js: JetStreamContext, events: Sequence[Envelope]) -> float:
    start = time.perf_counter()
    window = 500
    for i in range(0, len(events), window):
        await asyncio.gather(
            *(
                js.publish(e.type, encode(e), headers={"Nats-Msg-Id": str(e.event_id)})
                for e in events[i : i + window]
            )
        )
    return time.perf_counter() - start


async def raw_consume(js: JetStreamContext, total: int, batch: int) -> float:
    """Pull and ack everything with no work: what JetStream and nats-py cost alone."""
    done = 0
    finished = asyncio.Event()

    async def pull(n: int, subject: str) -> None:
        nonlocal done
        sub = await js.pull_subscribe(subject, durable=f"bench-raw-{n}")
        while not finished.is_set():
            try:
                msgs = await sub.fetch(1, timeout=0.5)
                pending = msgs[0].metadata.num_pending if msgs[0].metadata else 0
                if pending:
                    msgs += await sub.fetch(min(pending, batch - 1), timeout=0.05)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            for msg in msgs:
                await msg.ack()
            done += len(msgs)
            if done >= total:
                finished.set()

    start = time.perf_counter()
    tasks = [asyncio.create_task(pull(n, spec.subject)) for n, spec in enumerate(SPECS)]
    await asyncio.wait_for(finished.wait(), timeout=600)
    elapsed = time.perf_counter() - start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return elapsed


async def reporting_consume(js: JetStreamContext, db: Path, total: int, batch: int) -> float:
    """The reporting service's own consumers, draining into the loaded database."""
    engine = make_engine(f"sqlite+aiosqlite:///{db}", writer=True)
    _, inbox = service_tables(DEFINITION.metadata)
    sessions = make_sessionmaker(engine)
    consumers = [
        Consumer(
            spec,
            js=js,
            sessions=sessions,
            inbox=inbox,
            tracer=NoOpTracer(),
            options=ConsumerOptions(batch=batch),
        )
        for spec in SPECS
    ]
    start = time.perf_counter()
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    # Polled, not signalled: the consumers count what they applied and tell no one.
    for _ in range(90_000):  # at most 15 minutes
        if sum(c.applied for c in consumers) >= total:
            break
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    for c in consumers:
        c.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in consumers:
        await c.close()
    await engine.dispose()
    applied = sum(c.applied for c in consumers)
    if applied < total:
        raise RuntimeError(f"only {applied} of {total} events applied within the time limit")
    return elapsed


@dataclass
class Drain:
    """How long a drain took, and the CPU it used (this process and nats-server): on a
    shared machine the CPU figure says what the wall clock cannot."""

    seconds: float
    cpu_seconds: float


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time of this process, or of another from /proc (Linux); 0 where unreadable."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed(work: Awaitable[float], server_pid: int) -> Drain:
    before = cpu_seconds() + cpu_seconds(server_pid)
    seconds = await work
    return Drain(seconds, cpu_seconds() + cpu_seconds(server_pid) - before)


async def fold_with_nats(
    db: Path, workdir: Path, n_events: int, batch: int, seed: int, progress: Callable[[str], None]
) -> tuple[int, Drain, Drain]:
    """(events, the raw drain, the reporting consumers' drain)."""
    # New tickets on days the history already has, so they land among existing counters.
    tickets = max(n_events // 6, 1)
    events: list[Envelope] = []
    for chunk in History(tickets, seed).chunks(5000):
        events += chunk
    events = events[:n_events]
    server = start_nats_server(workdir / f"nats-{seed}")
    try:
        nc = await nats.connect(server.url, connect_timeout=5)
        js = nc.jetstream()
        await ensure_streams(js)
        published = await publish_all(js, events)
        progress(f"  published {len(events):,} events in {published:.1f} s")
        raw = await timed(raw_consume(js, len(events), batch), server.process.pid)
        progress(f"  raw JetStream consume: {raw.seconds:.1f} s")
        folded = await timed(reporting_consume(js, db, len(events), batch), server.process.pid)
        progress(f"  reporting consumers: {folded.seconds:.1f} s")
        await nc.close()
    finally:
        server.stop()
    return len(events), raw, folded


# --- driver --------------------------------------------------------------------------------


def print_table(out: Callable[[str], None], baseline: Timing, timings: list[Timing]) -> None:
    out("")
    out(f"{'endpoint':<42} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p50/base':>9}  target")
    out("-" * 86)
    rows = [baseline, *timings]
    for t in rows:
        ratio = t.p50 / baseline.p50 if baseline.p50 else 0.0
        target = ""
        if t.required:
            target = "ok (< 50 ms)" if t.p95 < LATENCY_TARGET_MS else "OVER 50 ms"
        figures = f"{len(t.samples_ms):>5} {t.p50:>8.2f} {t.p95:>8.2f} {ratio:>8.1f}x"
        out(f"{t.name:<42} {figures}  {target}")


async def run(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="sanad-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "reporting.db"
    history = History(args.tickets, args.seed)
    out(f"reporting scale bench: {args.tickets:,} tickets over {DAYS} days, seed {args.seed}")
    out(f"  work directory {workdir}")
    if db.exists() and args.reuse:
        out("  reusing the loaded database")
        events, load_s = 0, 0.0
    else:
        db.unlink(missing_ok=True)
        out(f"  {check_sample(history)} sample events round-tripped through the codec")
        events, load_s = await load(db, history, args.chunk, out)
        size = sum(p.stat().st_size for p in workdir.glob("reporting.db*")) / 1e6
        out(f"  history folded: {events:,} events in {load_s:,.0f} s, database {size:,.0f} MB")

    baseline, timings = await latency(db, workdir, args.requests, history, out)
    # New event ids on every run, so a reused database does not take them for redeliveries.
    nats_seed = args.seed + 7 if not args.reuse else int(time.time())
    n, raw, folded = await fold_with_nats(db, workdir, args.nats_events, args.batch, nats_seed, out)

    print_table(out, baseline, timings)
    required = [t for t in timings if t.required]
    worst = max(required, key=lambda t: t.p95)
    out("")
    if events:
        out(
            f"history load (fold in batches of {args.chunk:,} tickets, no NATS): "
            f"{events / load_s:,.0f} events/s"
        )
    out(f"fold with NATS, {n:,} events in batches of up to {args.batch}:")
    out(f"  {'':<48} {'events/s':>10} {'per CPU-second':>15}")
    for name, d in (
        ("raw JetStream pull + ack (baseline)", raw),
        ("reporting consumers (decode, inbox, fold, commit, ack)", folded),
    ):
        per_cpu = f"{n / d.cpu_seconds:>15,.0f}" if d.cpu_seconds else f"{'?':>15}"
        out(f"  {name:<48} {n / d.seconds:>10,.0f} {per_cpu}")
    verdict = "ok" if n / folded.seconds >= FOLD_TARGET else "MISSED"
    out(
        f"  the fold runs at {raw.seconds / folded.seconds:.0%} of the baseline's rate; "
        f"target >= {FOLD_TARGET:,.0f} events/s: {verdict}"
    )
    out("  (CPU: this process and nats-server; events per CPU-second do not depend on what")
    out("  else the machine runs, events/s do)")
    averages = " ".join(f"{x:.1f}" for x in os.getloadavg())
    out(f"load average at the end: {averages} on {os.cpu_count()} CPUs")
    out(
        f"slowest summary/breakdown p95: {worst.name} {worst.p95:.1f} ms; target < 50 ms: "
        f"{'ok' if worst.p95 < LATENCY_TARGET_MS else 'MISSED'}"
    )
    return 0


def _print(line: str) -> None:
    print(line, flush=True)  # progress shows as it happens, also when piped to a file


def main(argv: list[str] | None = None, out: Callable[[str], None] = _print) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reporting_scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--nats-events", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=200, help="per summary/breakdown")
    parser.add_argument("--chunk", type=int, default=4000, help="tickets per load transaction")
    parser.add_argument("--batch", type=int, default=64, help="consumer fetch batch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", help="keep the database here (default: a new temp dir)")
    parser.add_argument("--reuse", action="store_true", help="reuse --workdir's loaded database")
    args = parser.parse_args(argv)
    return asyncio.run(run(args, out))


if __name__ == "__main__":
    sys.exit(main())
