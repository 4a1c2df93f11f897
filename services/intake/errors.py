"""Intake's errors, each with its status."""

from __future__ import annotations

from shared.errors import AppError, Conflict, NotFound


class TicketNotFound(NotFound):
    slug, title = "ticket-not-found", "Ticket not found"


class RequesterNotFound(NotFound):
    slug, title = "requester-not-found", "Requester not found"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "This change is not allowed now"


class InvalidCursor(AppError):
    status, slug, title = 400, "invalid-cursor", "Invalid cursor"


class AttachmentNotFound(NotFound):
    slug, title = "attachment-not-found", "No such file is held for this ticket"
