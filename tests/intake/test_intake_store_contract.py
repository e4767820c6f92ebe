"""One contract for intake's store ports (`ReferralStore`, `RejectionStore`, `TimelineStore`), run
against the fake (`tests/intake/fakes.py`) and the real PostgreSQL store, so the fake the handler
and wiring tests use cannot drift from the real one.

Rules shown here (adapters/store.py, kept by the fake too): one referral per (agency,
submission_id), the first; an Idempotency-Key names one submission, the first; a referral and
its outbox rows are written together or not at all; a rejection's rows are queued once per
rejection id; a timeline entry is added once per source event, and only for a known referral.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.common.outbox import OutboxMessage
from services.intake.adapters.store import IntakeStore
from services.intake.bootstrap import MIGRATIONS
from services.intake.ports import StatusChange
from tests.intake.fakes import FakeStore
from tests.support.infra import migrated_pool

AT = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)
Store = FakeStore | IntakeStore


# Marks the rows these tests queue in the real outbox: they are deleted after each test, so no
# relay ever publishes them (they are not events).
MARK = "x-store-contract"


def _message(key: str, topic: str = "referrals.received.v1") -> OutboxMessage:
    return OutboxMessage(topic, key, {"ce_id": f"{topic}:{key}", MARK: "1"}, b"{}")


async def _insert(
    store: Store, *, submission_id: str, key: str | None = None, agency: str = "police"
) -> tuple[UUID, bool]:
    rid = uuid4()
    done = await store.insert_with_outbox(
        referral_id=rid,
        agency_id=agency,
        idempotency_key=key,
        submission_id=submission_id,
        digest=b"digest",
        submission={"submission_id": submission_id},
        channel="http",
        received_at=AT,
        messages=[_message(str(rid)), _message(str(rid), "ops.events.v1")],
        data_key=None,
    )
    return rid, done


def _sid() -> str:
    return f"C-{uuid4().hex[:12]}"


class IntakeStoreContract:
    """The tests; each subclass gives `store` and reads what it queued under a message key."""

    async def queued(self, store: Store, key: str) -> list[str]:
        raise NotImplementedError

    async def test_a_stored_referral_is_found_with_its_rows_queued(self, store: Store) -> None:
        sid = _sid()
        rid, done = await _insert(store, submission_id=sid)
        assert done
        found = await store.find("police", sid)
        assert found is not None
        assert (found.referral_id, found.submission_id, found.body_digest) == (rid, sid, b"digest")
        assert await self.queued(store, str(rid)) == ["referrals.received.v1", "ops.events.v1"]

    async def test_a_second_referral_with_the_same_submission_id_writes_nothing(
        self, store: Store
    ) -> None:
        sid = _sid()
        first, _ = await _insert(store, submission_id=sid)
        second, done = await _insert(store, submission_id=sid)
        assert not done
        found = await store.find("police", sid)
        assert found is not None
        assert found.referral_id == first
        assert await self.queued(store, str(second)) == []

    async def test_the_same_submission_id_from_another_agency_is_another_referral(
        self, store: Store
    ) -> None:
        sid = _sid()
        await _insert(store, submission_id=sid, agency="police")
        _, done = await _insert(store, submission_id=sid, agency="social-care")
        assert done

    async def test_a_key_already_naming_a_submission_refuses_another_and_writes_nothing(
        self, store: Store
    ) -> None:
        key, first_sid, other_sid = f"K-{uuid4().hex}", _sid(), _sid()
        _, done = await _insert(store, submission_id=first_sid, key=key)
        assert done
        assert await store.key_owner("police", key) == first_sid
        other, done = await _insert(store, submission_id=other_sid, key=key)
        assert not done
        assert await store.find("police", other_sid) is None
        assert await self.queued(store, str(other)) == []

    async def test_a_key_binds_to_its_first_submission(self, store: Store) -> None:
        key, first, second = f"K-{uuid4().hex}", _sid(), _sid()
        assert await store.key_owner("police", key) is None
        assert await store.bind_key("police", key, first) == first
        assert await store.bind_key("police", key, second) == first
        assert await store.key_owner("police", key) == first

    async def test_a_rejection_is_queued_once_per_rejection_id(self, store: Store) -> None:
        rejection, key = uuid4(), f"rejected-{uuid4().hex}"
        messages = [_message(key, "referrals.rejected.v1")]
        assert await store.queue_rejection(rejection, AT, messages)
        assert not await store.queue_rejection(rejection, AT, messages)
        assert await self.queued(store, key) == ["referrals.rejected.v1"]

    async def test_a_status_is_recorded_once_per_source_event_for_a_known_referral(
        self, store: Store
    ) -> None:
        rid, _ = await _insert(store, submission_id=_sid())
        event = f"decided:{uuid4()}"

        def change(referral_id: UUID) -> StatusChange:
            return StatusChange(
                referral_id, "decided", AT, event, pathway="triage", priority="standard"
            )

        assert not await store.record_status(change(uuid4()))  # no such referral
        assert await store.record_status(change(rid))
        assert not await store.record_status(change(rid))  # the same event again


class TestFakeStore(IntakeStoreContract):
    @pytest.fixture
    def store(self) -> FakeStore:
        return FakeStore()

    async def queued(self, store: Store, key: str) -> list[str]:
        assert isinstance(store, FakeStore)
        return [m.topic for m in store.outbox if m.key == key]


@pytest.mark.integration
class TestPostgresStore(IntakeStoreContract):
    @pytest.fixture
    async def pool(self, stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
        async with migrated_pool(stack_env["INTAKE_DATABASE_URL"], MIGRATIONS) as pool:
            yield pool

    @pytest.fixture
    async def store(self, pool: asyncpg.Pool) -> AsyncIterator[IntakeStore]:
        yield IntakeStore(pool)
        await pool.execute("DELETE FROM outbox WHERE headers ? $1", MARK)

    async def queued(self, store: Store, key: str) -> list[str]:
        assert isinstance(store, IntakeStore)
        rows: list[Any] = await store._pool.fetch(
            "SELECT topic FROM outbox WHERE message_key = $1 ORDER BY outbox_id", key
        )
        return [r["topic"] for r in rows]
