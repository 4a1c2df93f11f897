"""Triage's errors, each with its status."""

from __future__ import annotations

from shared.errors import NotFound


class TriageNotFound(NotFound):
    slug, title = "triage-not-found", "This ticket has not been triaged (yet)"


class NotTriagedYet(Exception):
    """An event about a ticket triage has not seen yet: retried until `ticket.received` lands."""
