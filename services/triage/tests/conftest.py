"""Triage fixtures: settings -> app -> running client -> runtime, tokens, keys, lexicon."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from services.triage.config import TriageSettings
from services.triage.lexicon import Lexicon
from services.triage.main import create_app
from services.triage.service import triage_ticket
from shared.app import Runtime
from shared.crypto import RecipientKeyPair
from shared.db import transaction
from shared.testing.events import ticket_received
from shared.testing.fixtures import sqlite_settings

Triaged = Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture
def settings(tmp_path: Path) -> TriageSettings:
    return sqlite_settings(
        TriageSettings,
        tmp_path,
        # Tests run the SLA check themselves, on an injected clock.
        sla_check_seconds=0,
    )


@pytest.fixture
def app(settings: TriageSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def content_keys(runtime: Runtime) -> RecipientKeyPair:
    """The key pair triage opens sealed ticket text with."""
    keys: RecipientKeyPair = runtime.extras["content_keys"]
    return keys


@pytest.fixture
def lexicon(runtime: Runtime) -> Lexicon:
    lexicon: Lexicon = runtime.extras["lexicon"]
    return lexicon


@pytest.fixture
def triaged(runtime: Runtime, lexicon: Lexicon, content_keys: RecipientKeyPair) -> Triaged:
    """Triage a ticket with this text (and ticket_received fields); returns its id."""

    async def _triaged(text: str = "Someone hacked my email account", **fields: Any) -> uuid.UUID:
        event = ticket_received(text=text, sealed_for=content_keys.public_key, **fields)
        async with transaction(runtime.writer_sessions) as session:
            await triage_ticket(
                session=session,
                event=event,
                lexicon=lexicon,
                keys=content_keys,
                masters=runtime.extras["masters"],
                outbox=runtime.outbox,
            )
        assert event.ticket_id is not None
        return event.ticket_id

    return _triaged
