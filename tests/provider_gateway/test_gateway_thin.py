"""Thin deliveries (claim check), chosen per provider: what the webhook carries, and the setting.

Rules checked here: a provider on `thin` receives ids, the decision and the link to fetch the
details, signed like any delivery and never with a personal field; the same assignment always
gives the same body; `full` stays the default, for every provider not set to `thin`; a value
other than `full` or `thin` is refused naming the variable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook

from services.provider_gateway.config import (
    GatewaySettings,
    settings_error_message,
)
from services.provider_gateway.domain.thin import thin_body
from shared import Assignment, Provider, ThinAssignment
from tests.provider_gateway.delivery_fakes import claimed, sender
from tests.provider_gateway.gateway_samples import SECRETS
from tests.provider_gateway.webhook_server import Received, answering

Env = Callable[..., None]
PUBLIC = "https://gateway.nsas.example"


def _now() -> datetime:  # the signature's timestamp must be recent to verify
    return datetime.now(UTC)


async def test_a_thin_delivery_carries_ids_the_decision_and_a_link_signed_and_no_details() -> None:
    seen: list[Received] = []
    delivery = claimed()
    async with sender(answering(202, seen), _now, delivery="thin", public_url=PUBLIC) as webhook:
        await webhook.send(delivery)
    (request,) = seen
    body = Webhook(SECRETS["juno"]).verify(request.content, dict(request.headers))
    thin = ThinAssignment.model_validate(body)
    full = Assignment.model_validate_json(delivery.body)
    assert (thin.assignment_id, thin.referral_id, thin.decision) == (
        full.assignment_id,
        full.referral_id,
        full.decision,
    )
    assert thin.details_url == f"{PUBLIC}/v1/assignments/{full.referral_id}"
    assert "referral" not in body
    for personal in (full.referral.victim.name, full.referral.referrer.name):
        assert str(personal).encode() not in request.content
    assert request.headers["webhook-id"] == delivery.assignment_id


async def test_full_stays_the_default_delivery() -> None:
    seen: list[Received] = []
    delivery = claimed()
    async with sender(answering(202, seen), _now, public_url=PUBLIC) as webhook:
        await webhook.send(delivery)
    assert seen[0].content == delivery.body


def test_the_same_assignment_always_gives_the_same_thin_body() -> None:
    body = claimed().body
    assert thin_body(body, PUBLIC) == thin_body(body, PUBLIC + "/")


def test_thin_is_chosen_per_provider(gateway_env: Env) -> None:
    gateway_env(GATEWAY_JUNO_DELIVERY="thin", GATEWAY_PUBLIC_URL=PUBLIC)
    settings = GatewaySettings()
    assert settings.channels(Provider.JUNO).delivery == "thin"
    assert settings.channels(Provider.JUNO).public_url == PUBLIC
    assert {settings.channels(p).delivery for p in (Provider.NWA, Provider.EQUATION)} == {"full"}


def test_an_unknown_delivery_kind_is_refused_naming_the_variable(gateway_env: Env) -> None:
    gateway_env(GATEWAY_NWA_DELIVERY="half")
    with pytest.raises(ValidationError) as caught:
        GatewaySettings()
    assert "GATEWAY_NWA_DELIVERY" in settings_error_message(caught.value)
