"""Triage's errors, each with its status."""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, NotFound


class TriageNotFound(NotFound):
    slug, title = "triage-not-found", "This ticket has not been triaged (yet)"


class NotTriagedYet(Exception):
    """An event about a ticket triage has not seen yet: retried until `ticket.received` lands."""


class HandlerNotFound(NotFound):
    slug, title = "handler-not-found", "No handler with this id on the roster"


class HandlerExists(Conflict):
    slug, title = "handler-exists", "A handler with this id is already on the roster"


class TokenLinked(Conflict):
    slug, title = "token-linked", "This token is already linked to another handler"


class NotOnRoster(Forbidden):
    slug, title = "not-on-roster", "Your token is not linked to a handler on the roster"


class OnlyForThemselves(Forbidden):
    slug, title = "only-for-themselves", "A handler may only take a ticket for themselves"


class TicketTaken(Conflict):
    slug, title = "ticket-taken", "Another handler holds this ticket: ask a coordinator"
