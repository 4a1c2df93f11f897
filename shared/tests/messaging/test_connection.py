"""ensure_streams declares the contract's streams with their explicit limits."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from shared.contracts import STREAMS, StreamSpec
from shared.messaging.connection import ensure_streams


async def assert_matches_contract(js: JetStreamContext, spec: StreamSpec) -> None:
    config = (await js.stream_info(spec.name)).config
    assert config.subjects == list(spec.subjects)
    assert config.max_age == spec.max_age.total_seconds()
    assert config.max_bytes == spec.max_bytes
    assert config.max_msgs == spec.max_msgs
    assert config.max_msg_size == spec.max_msg_size
    assert config.duplicate_window == spec.duplicate_window.total_seconds()


async def test_creates_every_contract_stream_with_its_limits(bare_js: JetStreamContext) -> None:
    await ensure_streams(bare_js)

    names = {info.config.name for info in await bare_js.streams_info()}
    assert {spec.name for spec in STREAMS} <= names
    for spec in STREAMS:
        await assert_matches_contract(bare_js, spec)


async def test_dead_letters_are_kept_longer_than_events(bare_js: JetStreamContext) -> None:
    await ensure_streams(bare_js)

    dlq = await bare_js.stream_info("SANAD_DLQ")
    intake = await bare_js.stream_info("SANAD_INTAKE")
    assert dlq.config.max_age is not None
    assert intake.config.max_age is not None
    assert dlq.config.max_age > intake.config.max_age


async def test_running_twice_changes_nothing(bare_js: JetStreamContext) -> None:
    await ensure_streams(bare_js)
    before = {spec.name: (await bare_js.stream_info(spec.name)).created for spec in STREAMS}
    assert all(before.values())

    await ensure_streams(bare_js)

    for spec in STREAMS:
        info = await bare_js.stream_info(spec.name)
        assert info.created == before[spec.name], "the stream was recreated"
        await assert_matches_contract(bare_js, spec)


async def test_a_stream_with_other_limits_is_brought_up_to_the_contract(
    bare_js: JetStreamContext,
) -> None:
    spec = STREAMS[0]
    await bare_js.add_stream(
        StreamConfig(
            name=spec.name,
            subjects=list(spec.subjects),
            max_age=3600.0,
            max_bytes=1 << 20,
            max_msgs=10,
            duplicate_window=1.0,
        )
    )
    await bare_js.publish(f"{spec.subjects[0].removesuffix('>')}kept.here", b"{}")

    await ensure_streams(bare_js)

    await assert_matches_contract(bare_js, spec)
    assert (await bare_js.stream_info(spec.name)).state.messages == 1, "updated, not recreated"


async def test_a_service_leaves_a_stream_it_does_not_own_as_it_found_it(
    bare_js: JetStreamContext,
) -> None:
    spec = STREAMS[0]
    await bare_js.add_stream(
        StreamConfig(name=spec.name, subjects=list(spec.subjects), max_msgs=10)
    )

    await ensure_streams(bare_js, owned={"SANAD_SOMEONE_ELSE"})

    assert (await bare_js.stream_info(spec.name)).config.max_msgs == 10
    for other in STREAMS[1:]:
        await assert_matches_contract(bare_js, other)
