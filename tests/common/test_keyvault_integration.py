"""The key vault on the real PostgreSQL: intake stores and destroys keys, the gateway reads
them, the router cannot; a destroyed key opens nothing and touches no other referral; a KEK
rotation keeps old referrals readable."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.common.db import apply_migrations, create_pool
from services.common.sealing import (
    DataKeyDestroyed,
    DataKeyNotFound,
    EnvKek,
    destroy,
    seal,
    unseal,
)
from services.intake.app import MIGRATIONS
from shared import ReferralSubmission

pytestmark = pytest.mark.integration


def kek_value() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


@pytest.fixture
async def pools(stack_env: dict[str, str]) -> AsyncIterator[dict[str, asyncpg.Pool]]:
    made = {
        name: await create_pool(stack_env[f"{name.upper()}_DATABASE_URL"], max_size=2)
        for name in ("intake", "gateway", "router")
    }
    await apply_migrations(made["intake"], MIGRATIONS)
    try:
        yield made
    finally:
        for pool in made.values():
            await pool.close()


async def test_a_destroyed_key_opens_nothing_and_other_referrals_are_unaffected(
    pools: dict[str, asyncpg.Pool], example_submission: dict[str, Any]
) -> None:
    kek = EnvKek.parse(f"v1:{kek_value()}", "v1")
    submission = ReferralSubmission.model_validate(example_submission)
    erased, kept = uuid4(), uuid4()
    now = datetime.now(UTC)
    sealed_erased = await seal(pools["intake"], kek, erased, submission, now)
    sealed_kept = await seal(pools["intake"], kek, kept, submission, now)
    # The gateway reads keys (to build deliveries).
    assert await unseal(pools["gateway"], kek, erased, sealed_erased) == submission

    assert await destroy(pools["intake"], erased) is True
    assert await destroy(pools["intake"], erased) is False  # nothing more to destroy
    with pytest.raises(DataKeyDestroyed):
        await unseal(pools["gateway"], kek, erased, sealed_erased)
    assert await unseal(pools["gateway"], kek, kept, sealed_kept) == submission
    row = await pools["intake"].fetchrow(
        "SELECT wrapped_key, destroyed_at FROM keyvault.data_keys WHERE referral_id = $1", erased
    )
    assert row["wrapped_key"] is None
    assert row["destroyed_at"] is not None
    with pytest.raises(DataKeyNotFound):
        await unseal(pools["gateway"], kek, uuid4(), sealed_kept)


async def test_the_router_and_the_gateway_cannot_change_or_read_what_they_must_not(
    pools: dict[str, asyncpg.Pool],
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pools["router"].fetchval("SELECT count(*) FROM keyvault.data_keys")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await destroy(pools["gateway"], uuid4())


async def test_after_a_kek_rotation_old_referrals_open_and_new_ones_use_the_new_version(
    pools: dict[str, asyncpg.Pool], example_submission: dict[str, Any]
) -> None:
    v1 = kek_value()
    before = EnvKek.parse(f"v1:{v1}", "v1")
    after = EnvKek.parse(f"v1:{v1},v2:{kek_value()}", "v2")
    submission = ReferralSubmission.model_validate(example_submission)
    old, new = uuid4(), uuid4()
    sealed_old = await seal(pools["intake"], before, old, submission, datetime.now(UTC))
    sealed_new = await seal(pools["intake"], after, new, submission, datetime.now(UTC))
    versions = dict(
        await pools["intake"].fetch(
            "SELECT referral_id, kek_version FROM keyvault.data_keys WHERE referral_id = ANY($1)",
            [old, new],
        )
    )
    assert versions == {old: "v1", new: "v2"}
    assert sealed_old.victim.name.kek == "v1"
    assert sealed_new.victim.name.kek == "v2"
    assert await unseal(pools["gateway"], after, old, sealed_old) == submission
    assert await unseal(pools["gateway"], after, new, sealed_new) == submission
