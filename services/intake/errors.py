"""Intake's errors, each with its status."""

from __future__ import annotations

from shared.errors import NotFound


class TicketNotFound(NotFound):
    slug, title = "ticket-not-found", "Ticket not found"


class RequesterNotFound(NotFound):
    slug, title = "requester-not-found", "Requester not found"
