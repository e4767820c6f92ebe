"""The router's batch path with FastStream's TestKafkaBroker and the fake store (no real broker).

Rules shown here (subscribers.py, handlers.handle_batch, services/common/kafka_batch.py): a batch
of records is decided in ONE transaction of the store; a record of the batch that is not a valid
ReferralReceived (not JSON, the wrong shape, an undecodable header) is dead-lettered alone with
its reason, and the other records of its batch are decided; a referral the batch carries twice
is decided once; a batch delivered again (a crash after the commit, before the offset commit)
makes no new decision and queues no new event; a failing store raises for redelivery and
dead-letters nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.message import KafkaMessage as FastStreamMessage
from faststream.kafka.parser import AioKafkaBatchParser

from services.common.edge import PoisonMessage
from services.common.kafka_batch import batch_parser, read_record
from services.router.bootstrap import build_broker
from services.router.engine import CachedRules, Router
from services.router.handlers import Context, handle_batch
from shared import ReferralReceived
from shared.cloudevents import TYPE_RECEIVED
from shared.topics import OPS_DEADLETTER, REFERRALS_RECEIVED
from tests.router.conftest import FakeDirectory, MakeReceived
from tests.router.fakes import FakeBatchTx, FakeDecisionStore, StoreDown
from tests.support.kafka import cloudevent

NOW = datetime(2026, 11, 20, 10, 17, tzinfo=UTC)


@dataclass
class CountingStore(FakeDecisionStore):
    """The fake store, counting the transactions opened (single referral and batch)."""

    transactions: int = 0
    batches: list[FakeBatchTx] = field(default_factory=list)

    def batch(self) -> Any:
        self.transactions += 1
        return super().batch()

    def referral(self, referral_id: Any) -> Any:
        self.transactions += 1
        return super().referral(referral_id)


@dataclass
class Wired:
    broker: KafkaBroker
    store: CountingStore
    dead: list[dict[str, Any]] = field(default_factory=list)

    async def send_batch(self, *values: bytes) -> None:
        await self.broker.publish_batch(
            *values, topic=REFERRALS_RECEIVED, headers=cloudevent(TYPE_RECEIVED)
        )


@pytest.fixture
async def wired(rules: CachedRules, directory: FakeDirectory) -> AsyncIterator[Wired]:
    store = CountingStore()
    broker = build_broker(
        "127.0.0.1:1",
        store=lambda: store,
        ctx=Context(decide=Router(rules, directory), now=lambda: NOW),
    )
    wired = Wired(broker, store)

    @broker.subscriber(OPS_DEADLETTER, group_id="batch-test-dead")
    async def on_dead(body: dict[str, Any], msg: KafkaMessage) -> None:
        wired.dead.append(body)

    async with TestKafkaBroker(broker) as test_broker:
        wired.broker = test_broker
        yield wired


def _bytes(referral: ReferralReceived) -> bytes:
    return referral.model_dump_json().encode()


def _decided_ids(store: FakeDecisionStore) -> list[str]:
    return [m.headers["ce_id"] for m in store.outbox]


async def test_one_bad_record_of_a_batch_is_dead_lettered_alone_and_the_others_decided_once(
    wired: Wired, make_received: MakeReceived
) -> None:
    good = [make_received() for _ in range(3)]
    shape = json.loads(good[0].model_dump_json())
    del shape["received_at"]
    await wired.send_batch(_bytes(good[0]), json.dumps(shape).encode(), *map(_bytes, good[1:]))

    (letter,) = wired.dead
    assert (letter["reason_code"], letter["source_topic"]) == (
        "validation_failed",
        REFERRALS_RECEIVED,
    )
    assert letter["error_fields"] == ["referral.received_at"]
    assert set(wired.store.decisions) == {r.referral_id for r in good}
    assert wired.store.transactions == 1, "the batch is one transaction"
    assert sorted(_decided_ids(wired.store)) == sorted(
        f"{p}decided:{r.referral_id}" for r in good for p in ("", "ops:")
    )


async def test_a_record_that_is_not_json_is_dead_lettered_as_unparseable_among_good_ones(
    wired: Wired, make_received: MakeReceived
) -> None:
    good = make_received()
    await wired.send_batch(b"\xff not json", _bytes(good))
    assert [d["reason_code"] for d in wired.dead] == ["unparseable_json"]
    assert set(wired.store.decisions) == {good.referral_id}


async def test_a_batch_of_bad_records_only_is_dead_lettered_and_opens_no_transaction(
    wired: Wired,
) -> None:
    await wired.send_batch(b"{", b"[1, 2]")
    assert sorted(d["reason_code"] for d in wired.dead) == ["unparseable_json", "validation_failed"]
    assert (wired.store.transactions, wired.store.outbox) == (0, [])


async def test_a_redelivered_batch_makes_no_second_decision_and_no_new_event(
    wired: Wired, make_received: MakeReceived
) -> None:
    batch = [_bytes(make_received()) for _ in range(3)]
    await wired.send_batch(*batch)
    first = {rid: s.decision for rid, s in wired.store.decisions.items()}
    events = wired.store.take_outbox()
    await wired.send_batch(*batch)  # the same records again, as after a crash before the commit
    assert {rid: s.decision for rid, s in wired.store.decisions.items()} == first
    assert wired.store.outbox == [], "a recalled decision queues nothing"
    assert len(events) == 6
    assert wired.dead == []


async def test_a_store_failure_raises_the_batch_for_redelivery_and_dead_letters_nothing(
    wired: Wired, make_received: MakeReceived
) -> None:
    wired.store.down = True
    with pytest.raises(StoreDown):
        await wired.send_batch(_bytes(make_received()), b"{")
    assert (wired.dead, wired.store.outbox) == ([], [])


async def test_handle_batch_decides_a_referral_carried_twice_once(
    rules: CachedRules, directory: FakeDirectory, make_received: MakeReceived
) -> None:
    store = FakeDecisionStore()
    referral, other = make_received(), make_received()
    ctx = Context(decide=Router(rules, directory), now=lambda: NOW)
    async with store.batch() as tx:
        decided = await handle_batch(tx, [referral, other, referral], ctx)
    assert [(d.decision.referral_id, d.new) for d in decided] == [
        (referral.referral_id, True),
        (other.referral_id, True),
    ]
    assert len(store.outbox) == 4


async def test_handle_batch_queues_the_events_of_an_old_unpublished_decision_once(
    rules: CachedRules, directory: FakeDirectory, make_received: MakeReceived
) -> None:
    """A decision stored before the outbox (events not queued) has them queued by its batch."""
    store = FakeDecisionStore()
    referral = make_received()
    ctx = Context(decide=Router(rules, directory), now=lambda: NOW)
    async with store.referral(referral.referral_id) as tx:
        await tx.save(referral, ctx.decide(referral).model_copy(update={"decided_at": NOW}))
    old = store.decisions[referral.referral_id]
    store.decisions[referral.referral_id] = type(old)(old.decision, events_queued=False)
    for _ in range(2):
        async with store.batch() as batch:
            (decided,) = await handle_batch(batch, [referral], ctx)
        assert not decided.new
    assert _decided_ids(store) == [
        f"decided:{referral.referral_id}",
        f"ops:decided:{referral.referral_id}",
    ]


def _record(
    value: bytes, headers: list[tuple[str, bytes]], offset: int = 0
) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic=REFERRALS_RECEIVED,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value),
        headers=headers,
    )


async def test_a_record_with_an_undecodable_header_is_poison_alone_and_its_batch_still_parses(
    make_received: MakeReceived,
) -> None:
    good = make_received()
    ce = [(k, v.encode()) for k, v in cloudevent(TYPE_RECEIVED).items()]
    bad = _record(_bytes(good), [*ce, ("x-note", b"\xff\xfe")], offset=1)
    records = (_record(_bytes(good), ce), bad)

    faststream_parser = AioKafkaBatchParser(FastStreamMessage, None)  # decodes every header
    message = await batch_parser(records, faststream_parser.parse_batch)
    assert message.raw_message == records, "the handler gets the records untouched"
    assert message.headers == {}
    referral, headers = await read_record(records[0], ReferralReceived, parameter="referral")
    assert (referral, headers["ce_type"]) == (good, TYPE_RECEIVED)
    with pytest.raises(PoisonMessage) as refused:
        await read_record(bad, ReferralReceived, parameter="referral")
    assert (refused.value.reason_code, refused.value.fields) == (
        "header_not_utf8",
        ["headers.unknown_field"],
    )
