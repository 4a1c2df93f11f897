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
