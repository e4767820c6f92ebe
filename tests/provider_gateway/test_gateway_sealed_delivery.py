"""The gateway unseals only to build the assigned provider's webhook: a sealed assignment goes
out as the contract's clear Assignment, signed as before; an erased referral ends its delivery
as `erased` without a request, a dead letter or an alert, and leaves the breaker alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from standardwebhooks.webhooks import Webhook

from services.common.sealing import EnvKek, WrappedKey, new_data_key, seal_submission
from services.provider_gateway.adapters.unsealing import VaultOpener
from services.provider_gateway.domain import GiveUp, Outcome
from services.provider_gateway.domain.health import Breaker, BreakerPolicy
from services.provider_gateway.ports import Claimed
from shared import Assignment, ReferralSubmission
from tests.provider_gateway.delivery_fakes import (
    FakeDeliveryTx,
    FakeRecorder,
    claimed,
    run,
    sender,
)
from tests.provider_gateway.gateway_samples import SECRETS
from tests.provider_gateway.webhook_server import Received, answering

KEK = EnvKek.parse("v1:" + "B" * 43, "v1")


class MemoryVault:
    """The key vault's two queries, in memory (rows as `keyvault.data_keys` holds them)."""

    def __init__(self) -> None:
        self.rows: dict[UUID, dict[str, Any]] = {}

    def put(self, key: WrappedKey) -> None:
        self.rows[key.referral_id] = {"kek_version": key.kek_version, "wrapped_key": key.wrapped}

    def destroy(self, referral_id: UUID) -> None:
        self.rows[referral_id]["wrapped_key"] = None

    async def fetchrow(self, query: str, *args: Any) -> Any:
        return self.rows.get(args[0])

    async def execute(self, query: str, *args: Any) -> str:
        raise AssertionError("the gateway never writes the key vault")


def sealed_delivery(vault: MemoryVault) -> tuple[Claimed, Assignment]:
    """A claimed webhook delivery whose stored body is sealed, and the clear assignment."""
    delivery = claimed(uuid4())
    clear = Assignment.model_validate_json(delivery.body)
    key, wrapped = new_data_key(delivery.referral_id, KEK)
    vault.put(wrapped)
    assert isinstance(clear.referral, ReferralSubmission)
    sealed = clear.model_copy(update={"referral": seal_submission(clear.referral, key)})
    return Claimed(**{**delivery.__dict__, "body": sealed.model_dump_json().encode()}), clear


async def test_a_sealed_assignment_is_delivered_clear_and_signed() -> None:
    vault = MemoryVault()
    delivery, clear = sealed_delivery(vault)
    assert b"Sam Example" not in delivery.body
    seen: list[Received] = []
    now = datetime.now(UTC)
    async with sender(answering(202, seen), lambda: now, VaultOpener(vault, KEK)) as webhook:
        result = await webhook.send(delivery)
    assert result.outcome is Outcome.DELIVERED
    (request,) = seen
    Webhook(SECRETS["juno"]).verify(request.content, dict(request.headers))
    assert request.content == clear.model_dump_json().encode()


async def test_an_erased_referral_is_not_sent_and_ends_as_erased() -> None:
    vault = MemoryVault()
    delivery, _ = sealed_delivery(vault)
    vault.destroy(delivery.referral_id)
    seen: list[Received] = []
    async with sender(answering(202, seen), opener=VaultOpener(vault, KEK)) as webhook:
        result = await webhook.send(delivery)
    assert seen == []
    assert (result.outcome, result.error_code) == (Outcome.PERMANENT, "erased")

    recorder = FakeRecorder(FakeDeliveryTx(breaker=Breaker(failures=2)))
    step, tx = await run(result, delivery, recorder, breaker=BreakerPolicy(threshold=5))
    assert step == GiveUp("erased")
    assert tx.states() == ["delivery_attempted", "delivery_failed"]
    assert tx.emitted[-1][1].reason_code == "webhook:erased"
    assert tx.alerts() == []
    assert [t for t, _ in tx.emitted if t == "ops.deadletter.v1"] == []
    assert tx.breaker.failures == 2  # nothing was sent: the endpoint's record is unchanged


async def test_a_key_vault_outage_is_retried_without_counting_against_the_endpoint() -> None:
    class Down(MemoryVault):
        async def fetchrow(self, query: str, *args: Any) -> Any:
            raise OSError("connection refused")

    delivery, _ = sealed_delivery(MemoryVault())
    async with sender(answering(202), opener=VaultOpener(Down(), KEK)) as webhook:
        result = await webhook.send(delivery)
    assert (result.outcome, result.error_code) == (Outcome.RETRYABLE, "key_unavailable")
    recorder = FakeRecorder(FakeDeliveryTx(breaker=Breaker(failures=2)))
    _, tx = await run(result, delivery, recorder, breaker=BreakerPolicy(threshold=5))
    assert tx.breaker.failures == 2


async def test_a_key_that_does_not_unwrap_fails_the_delivery_without_stopping_the_worker() -> None:
    vault = MemoryVault()
    delivery, _ = sealed_delivery(vault)
    other_kek = EnvKek.parse("v1:" + "C" * 43, "v1")  # the same version name, another key
    seen: list[Received] = []
    async with sender(answering(202, seen), opener=VaultOpener(vault, other_kek)) as webhook:
        result = await webhook.send(delivery)
    assert seen == []
    assert (result.outcome, result.error_code) == (Outcome.PERMANENT, "unseal_failed")
