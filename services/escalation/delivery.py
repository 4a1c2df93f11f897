"""The delivery job: signs referrals and status updates, POSTs them to partners until acknowledged.

Each delivery is prepared in one transaction (consent, approval and erasure are
checked again at that moment: revoked consent withdraws what is not yet sent),
sent over HTTP outside any transaction, and its outcome recorded in another.
A 2xx is an acknowledgement; so is a 409 `referral-replayed` for a referral (the
partner has it: an earlier acknowledgement was lost). Other 4xx answers are
final; network errors and 5xx are retried with exponential backoff, up to
`delivery_max_attempts` attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.escalation import domain, iodef, referrals, repository
from services.escalation.config import EscalationSettings
from services.escalation.errors import ContentUnreadable, ImpossibleTransition
from services.escalation.keys import ContentKey, open_token
from services.escalation.models import Referral, ReferralDelivery
from services.escalation.signing import SigningKey
from shared.app import Runtime
from shared.contracts import TLP, Category, ConsentPurpose, Priority, ReferralState, RequesterRole
from shared.db import transaction

log = logging.getLogger(__name__)

_SLUG = re.compile(r"[a-z0-9-]{1,64}")
_RETRIED_4XX = frozenset({408, 425, 429})
_WAKE = "sanad.escalation.wake-delivery"
SYSTEM = "escalation"


@dataclass(frozen=True)
class Outgoing:
    url: str
    bearer: str
    jws: str


@dataclass(frozen=True)
class Tools:
    """What preparing a delivery needs, from the runtime."""

    settings: EscalationSettings
    content_key: ContentKey
    signing_key: SigningKey
    rsit: iodef.Rsit
    validator: iodef.SchemaValidator

    @classmethod
    def of(cls, runtime: Runtime) -> Tools:
        settings = runtime.settings
        assert isinstance(settings, EscalationSettings)
        extras = runtime.extras
        return cls(
            settings=settings,
            content_key=extras["content_key"],
            signing_key=extras["signing_key"],
            rsit=extras["rsit"],
            validator=extras["iodef_validator"],
        )


async def deliver_due(runtime: Runtime, *, now: datetime | None = None, limit: int = 20) -> int:
    """One pass over the deliveries due; returns how many were acknowledged."""
    now = now or datetime.now(UTC)
    async with transaction(runtime.sessions) as session:
        ids = [d.id for d in await repository.deliveries_due(session, now, limit=limit)]
    acknowledged = 0
    for delivery_id in ids:
        assert delivery_id is not None
        acknowledged += await deliver_one(runtime, delivery_id, now=now)
    return acknowledged


async def deliver_one(runtime: Runtime, delivery_id: int, *, now: datetime) -> bool:
    """Prepare, send and record one delivery; True if the partner acknowledged it."""
    tools = Tools.of(runtime)
    async with transaction(runtime.writer_sessions) as session:
        outgoing = await _prepare(session, runtime, tools, delivery_id, now)
    if outgoing is None:
        return False
    client: httpx.AsyncClient = runtime.extras["partner_http"]
    status: int | None = None
    problem: str | None = None
    try:
        response = await client.post(
            outgoing.url,
            json={"jws": outgoing.jws},
            headers={"Authorization": f"Bearer {outgoing.bearer}"},
        )
        status, problem = response.status_code, _problem_slug(response)
    except httpx.HTTPError as exc:
        problem = type(exc).__name__
    async with transaction(runtime.writer_sessions) as session:
        return await _record(session, runtime, tools, delivery_id, status, problem, now)


async def _prepare(
    session: AsyncSession, runtime: Runtime, tools: Tools, delivery_id: int, now: datetime
) -> Outgoing | None:
    delivery = await repository.get_delivery(session, delivery_id)
    if delivery is None or delivery.status != "due":
        return None
    referral = await repository.get_referral(session, delivery.referral_id)
    if referral is None:
        _finish(delivery, "failed", "no-referral", now)
        return None
    if delivery.kind == "referral":
        payload = await _referral_payload(session, runtime, tools, delivery, referral, now)
        if payload is None:
            return None
        jws, path = tools.signing_key.sign(payload, typ=iodef.JWS_TYPE), ""
    else:
        jws = tools.signing_key.sign(
            _status_payload(tools, delivery, referral, now), typ=iodef.STATUS_JWS_TYPE
        )
        path = f"/{referral.id}/status"
    partner = await repository.get_partner(session, referral.partner_id)
    bearer = open_token(tools.content_key, partner) if partner and partner.active else None
    if partner is None or bearer is None:
        _retry_or_fail(delivery, tools.settings, "partner-unavailable", now)
        return None
    return Outgoing(url=partner.endpoint.rstrip("/") + path, bearer=bearer, jws=jws)


async def _referral_payload(
    session: AsyncSession,
    runtime: Runtime,
    tools: Tools,
    delivery: ReferralDelivery,
    referral: Referral,
    now: datetime,
) -> dict[str, object] | None:
    if referral.state != ReferralState.pending.value:
        _finish(delivery, "done" if referral.state != "withdrawn" else "failed", "not-pending", now)
        return None
    consent = await referrals.consent_of_ticket(session, referral.ticket_id)
    if consent is None or not consent.share_with_partners:
        await _withdraw(session, runtime, delivery, referral, "consent-withdrawn", now)
        return None
    case = await repository.get_case(session, referral.ticket_id)
    if case is not None and domain.needs_approval(case.priority, case.flags):
        referral.requires_approval = True  # re-triaged to P1 after it was made
    if referral.requires_approval and referral.approved_at is None:
        _finish(delivery, "held", "awaiting-approval", now)
        return None
    try:
        details = await referrals.details_of(session, referral, tools.content_key)
    except ContentUnreadable:
        details = None
    if details is None:
        await _withdraw(session, runtime, delivery, referral, "erased", now)
        return None
    escalations = await repository.escalations_of_ticket(session, referral.ticket_id)
    contact = (
        (details.contact_channel, details.contact)
        if referral.share_contact and details.contact_channel and details.contact
        else None
    )
    document = iodef.build_document(
        iodef.OutboundReferral(
            referral_id=referral.id,
            helpline_id=tools.settings.helpline_id,
            helpline_name=tools.settings.helpline_name,
            created_at=referral.created_at,
            tlp=TLP(referral.tlp),
            category=Category(referral.category),
            priority=Priority(referral.priority),
            physical_risk=referral.physical_risk,
            requester_role=RequesterRole(referral.requester_role),
            country=referral.country,
            languages=list(referral.languages),
            consents={ConsentPurpose(k): v for k, v in referrals.consents_of(consent).items()},
            summary=details.summary,
            ask=details.ask or "",
            actions_taken=details.actions_taken,
            escalations=[
                iodef.EscalationLine(e.platform, e.action, e.state, e.submitted_at or e.opened_at)
                for e in escalations
            ],
            contact=contact,
        ),
        rsit=tools.rsit,
        generated_at=now,
    )
    error = next(iter(tools.validator.iter_errors(document)), None)
    if error is not None:
        log.error("referral.document_invalid", extra={"referral_id": str(referral.id)})
        _finish(delivery, "failed", "invalid-document", now)
        return None
    return document


def _status_payload(
    tools: Tools, delivery: ReferralDelivery, referral: Referral, now: datetime
) -> dict[str, object]:
    changed = delivery.report_changed_at or now
    return {
        "referral_id": str(referral.id),
        "helpline": tools.settings.helpline_id,
        "state": delivery.report_state,
        "changed_at": changed.isoformat(),
        "generated_at": now.isoformat(),
    }


async def _withdraw(
    session: AsyncSession,
    runtime: Runtime,
    delivery: ReferralDelivery,
    referral: Referral,
    reason: str,
    now: datetime,
) -> None:
    _finish(delivery, "failed", reason, now)
    with contextlib.suppress(ImpossibleTransition):
        await referrals.transition(
            session=session,
            outbox=runtime.outbox,
            row=referral,
            target=ReferralState.withdrawn,
            actor_id=SYSTEM,
            now=now,
        )
    log.info("referral.withdrawn", extra={"referral_id": str(referral.id), "reason": reason})


async def _record(
    session: AsyncSession,
    runtime: Runtime,
    tools: Tools,
    delivery_id: int,
    status: int | None,
    problem: str | None,
    now: datetime,
) -> bool:
    delivery = await repository.get_delivery(session, delivery_id)
    if delivery is None or delivery.status != "due":
        return False
    delivery.attempts += 1
    delivery.last_http_status, delivery.last_error = status, problem
    ok = status is not None and 200 <= status < 300
    known = status == 409 and problem == "referral-replayed" and delivery.kind == "referral"
    ids = {"referral_id": str(delivery.referral_id), "kind": delivery.kind}
    if ok or known:
        _finish(delivery, "done", None if ok else problem, now)
        referral = await repository.get_referral(session, delivery.referral_id)
        if delivery.kind == "referral" and referral and referral.state == "pending":
            await referrals.mark_sent(
                session=session,
                outbox=runtime.outbox,
                row=referral,
                attempts=delivery.attempts,
                now=now,
            )
        log.info("referral.delivered", extra={**ids, "attempts": delivery.attempts})
        return True
    final = status is not None and 400 <= status < 500 and status not in _RETRIED_4XX
    if final:
        _finish(delivery, "failed", problem, now)
        log.warning(
            "referral.delivery_refused", extra={**ids, "status": status, "problem": problem}
        )
    else:
        _retry_or_fail(delivery, tools.settings, problem, now, counted=False)
    return False


def _retry_or_fail(
    delivery: ReferralDelivery,
    settings: EscalationSettings,
    problem: str | None,
    now: datetime,
    *,
    counted: bool = True,
) -> None:
    if counted:
        delivery.attempts += 1
        delivery.last_error = problem
    if delivery.attempts >= settings.delivery_max_attempts:
        _finish(delivery, "failed", problem or "gave-up", now)
        log.warning(
            "referral.delivery_gave_up",
            extra={"referral_id": str(delivery.referral_id), "attempts": delivery.attempts},
        )
        return
    delivery.next_attempt_at = now + domain.backoff(
        delivery.attempts,
        base=settings.delivery_backoff_seconds,
        cap=settings.delivery_backoff_cap_seconds,
    )


def _finish(delivery: ReferralDelivery, status: str, error: str | None, now: datetime) -> None:
    delivery.status, delivery.last_error, delivery.finished_at = status, error, now


def _problem_slug(response: httpx.Response) -> str | None:
    """The problem type's last segment, if it is a plain slug (nothing else of the body is kept)."""
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        kind = response.json().get("type", "")
    except (ValueError, AttributeError):
        return None
    slug = str(kind).rsplit("/", 1)[-1]
    return slug if _SLUG.fullmatch(slug) else None


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(referrals.DELIVERY_SCHEDULED, False):
        wake = session.info.get(_WAKE)
        if wake is not None:
            wake()


async def _next_pass_in(runtime: Runtime, interval: float, idle: float) -> float:
    """Seconds until the earliest delivery is due: at least `interval`, at most `idle`."""
    async with transaction(runtime.sessions) as session:
        due = await repository.next_delivery_at(session)
    if due is None:
        return idle
    return min(idle, max(interval, (due - datetime.now(UTC)).total_seconds()))


async def _loop(runtime: Runtime, wake: asyncio.Event, interval: float, idle: float) -> None:
    while True:
        delay = interval
        try:
            await deliver_due(runtime)
            delay = await _next_pass_in(runtime, interval, idle)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stored deliveries are tried again next pass
            log.warning("referral.delivery_pass_failed", extra={"error_type": type(exc).__name__})
        # Sleeps until the next delivery is due, or a commit schedules a new one.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=delay)
        wake.clear()


def start_delivery_job(runtime: Runtime, interval: float, idle: float) -> None:
    """Deliver what is due, woken by new deliveries; at least `interval` s apart (0: off)."""
    if interval <= 0:
        return
    wake = asyncio.Event()
    # Sessions copy their sessionmaker's info: a commit that schedules a delivery finds `wake`.
    for sessions in {runtime.sessions, runtime.writer_sessions}:
        info = dict(sessions.kw.get("info") or {})
        info[_WAKE] = wake.set
        sessions.configure(info=info)
    task = asyncio.get_running_loop().create_task(
        _loop(runtime, wake, interval, idle), name="deliveries"
    )

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    runtime.on_stop.append(stop)
