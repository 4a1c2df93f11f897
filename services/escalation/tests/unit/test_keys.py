"""Escalation's content key follows master-key rotation."""

from __future__ import annotations

import uuid

import pytest

from services.escalation.keys import ContentKey, open_content, seal_content
from shared.crypto import MasterKey, MasterKeyring


def test_content_sealed_before_a_rotation_opens_while_the_old_master_is_kept() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    escalation = uuid.uuid4()
    before = ContentKey(old)
    blob = seal_content(before.key, escalation, '{"urls": ["x"]}')

    during = ContentKey(MasterKeyring(new, [old]))

    assert during.master_id == new.key_id
    assert open_content(during.for_master(before.master_id), escalation, blob) == '{"urls": ["x"]}'


def test_content_under_a_destroyed_master_is_refused_by_key_id() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    after = ContentKey(MasterKeyring(new))

    with pytest.raises(KeyError):
        after.for_master(old.key_id)
