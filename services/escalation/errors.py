"""Escalation's errors, each with its status."""

from __future__ import annotations

from shared.errors import AppError, Conflict, NotFound


class EscalationNotFound(NotFound):
    slug, title = "escalation-not-found", "No such escalation"


class UnknownPlatform(AppError):
    status, slug, title = 422, "unknown-platform", "This platform is not in the registry"


class UnsupportedAction(AppError):
    status, slug, title = 422, "unsupported-action", "This platform does not take this action"


class MissingFields(AppError):
    status, slug, title = 422, "missing-fields", "Fields this platform needs are missing"


class NotTriaged(Conflict):
    slug, title = "ticket-not-triaged", "This ticket has not been triaged (yet)"


class ImpossibleTransition(Conflict):
    slug, title = "impossible-transition", "This escalation cannot make that move"


class ConsentMissing(Conflict):
    slug, title = "consent-missing", "The requester has not agreed to sharing with platforms"


class ApprovalMissing(Conflict):
    slug, title = "approval-missing", "A coordinator must approve this escalation first"


class AlreadySubmitted(Conflict):
    slug, title = "already-submitted", "Approval is for escalations not yet submitted"


class ContentUnreadable(AppError):
    status, slug, title = (
        410,
        "content-unreadable",
        "These content references were sealed under a master key that has been retired",
    )


# --- partners and referrals ------------------------------------------------------


class PartnerNotFound(NotFound):
    slug, title = "partner-not-found", "No such partner"


class PartnerExists(Conflict):
    slug, title = "partner-exists", "A partner with this id is already registered"


class PartnerUnavailable(AppError):
    status, slug, title = (
        422,
        "partner-unavailable",
        "This partner is not registered, not active, or has no token to call it with",
    )


class ReferralNotFound(NotFound):
    slug, title = "referral-not-found", "No such referral"


class PartnerConsentMissing(Conflict):
    slug, title = (
        "partner-consent-missing",
        "The requester has not agreed to sharing with partner helplines",
    )


class AlreadySent(Conflict):
    slug, title = "already-sent", "Approval is for referrals not yet sent"


class ReferralRefused(AppError):
    """An inbound referral or status update that is refused; nothing of it is stored."""

    status, slug, title = 400, "referral-refused", "Referral refused"


class PartnerNotRegistered(ReferralRefused):
    status, slug, title = (
        403,
        "partner-not-registered",
        "This token's partner is not a registered, active partner of this helpline",
    )


class MalformedReferral(ReferralRefused):
    status, slug, title = 400, "malformed-referral", "Not a compact JWS signed with Ed25519"


class SignatureInvalid(ReferralRefused):
    status, slug, title = (
        400,
        "signature-invalid",
        "The signature does not verify with the partner's registered key",
    )


class InvalidReferral(ReferralRefused):
    status, slug, title = 422, "invalid-referral", "The signed document is not a valid referral"


class PartnerMismatch(ReferralRefused):
    status, slug, title = (
        403,
        "partner-mismatch",
        "The document names another helpline than the token's partner",
    )


class ReferralStale(ReferralRefused):
    status, slug, title = (
        400,
        "referral-stale",
        "The document's generation time is outside the accepted window",
    )


class ReferralReplayed(ReferralRefused):
    status, slug, title = 409, "referral-replayed", "This referral has already been received"


class ReferralWithoutConsent(ReferralRefused):
    status, slug, title = (
        422,
        "referral-without-consent",
        "The referral does not record the person's consent to sharing with partners",
    )
