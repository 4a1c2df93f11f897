"""Connecting to NATS and declaring the contract's streams."""

from __future__ import annotations

import logging
from collections.abc import Collection

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from shared.contracts import STREAMS, StreamSpec
from shared.settings import BaseServiceSettings

log = logging.getLogger(__name__)


async def connect(settings: BaseServiceSettings, *, name: str) -> Client:
    """Connect to NATS, retrying for a while at start and reconnecting forever after."""
    password = settings.nats_password.get_secret_value() if settings.nats_password else None
    servers = [url.strip() for url in settings.nats_url.split(",") if url.strip()]
    return await nats.connect(
        servers,
        name=name,
        user=settings.nats_user,
        password=password,
        connect_timeout=2,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
        drain_timeout=5,
        # Replies (PubAcks, API answers, fetched messages) come back on the service's own
        # inbox subjects, so NATS can let each user subscribe to its own replies alone.
        inbox_prefix=inbox_prefix(settings.service_name),
    )


def inbox_prefix(service: str) -> str:
    """The reply-subject prefix of a service's connections (granted in accounts.conf)."""
    return f"_INBOX_{service}"


def stream_config(spec: StreamSpec, *, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age.total_seconds(),
        max_bytes=spec.max_bytes,
        max_msgs=spec.max_msgs,
        max_msg_size=spec.max_msg_size,
        duplicate_window=spec.duplicate_window.total_seconds(),
        num_replicas=replicas,
    )


async def ensure_streams(
    js: JetStreamContext,
    specs: tuple[StreamSpec, ...] = STREAMS,
    *,
    replicas: int = 1,
    owned: Collection[str] | None = None,
) -> None:
    """Create each missing stream; bring those in `owned` (None: all) up to the contract.

    A service owns its producer stream only: it may create the streams it consumes
    (so start order does not matter, and creating never alters an existing stream),
    but changing another's limits is for that producer, or the `ops` user.
    """
    for spec in specs:
        config = stream_config(spec, replicas=replicas)
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Exists with another configuration: the contract wins, where this is ours.
            if owned is None or spec.name in owned:
                await js.update_stream(config)
            else:
                log.warning("stream.differs_from_contract", extra={"stream": spec.name})
                continue
        log.debug("stream.ensured", extra={"stream": spec.name})
