"""The gateway's own signing, checked by the official `standardwebhooks` package."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.provider_gateway.adapters.signing import (
    InvalidSecret,
    secret_key,
    signature,
    webhook_headers,
)
from tests.provider_gateway.gateway_samples import SECRETS

SECRET = SECRETS["juno"]
BODY = b'{"assignment_id":"asg_x_1","provider":"juno"}'


def signed(
    body: bytes = BODY, webhook_id: str = "asg_x_1", stamp: int | None = None
) -> dict[str, str]:
    return webhook_headers(SECRET, webhook_id, stamp or int(time.time()), body)


def test_the_official_package_accepts_what_the_gateway_signs() -> None:
    assert Webhook(SECRET).verify(BODY, signed()) == {
        "assignment_id": "asg_x_1",
        "provider": "juno",
    }


def test_headers_are_the_standard_ones() -> None:
    headers = signed(stamp=1_700_000_000)
    assert headers["webhook-id"] == "asg_x_1"
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"


def test_signature_matches_the_official_packages_own() -> None:
    from datetime import UTC, datetime

    stamp = 1_700_000_000
    official = Webhook(SECRET).sign("asg_x_1", datetime.fromtimestamp(stamp, UTC), BODY.decode())
    assert signature(SECRET, "asg_x_1", stamp, BODY) == official


def test_a_tampered_body_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace(b"juno", b"nwa!"), signed())


def test_a_tampered_timestamp_is_rejected() -> None:
    headers = signed()
    headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) - 1)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, headers)


def test_a_tampered_id_is_rejected() -> None:
    headers = signed()
    headers["webhook-id"] = "asg_x_2"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, headers)


def test_another_providers_secret_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRETS["nwa"]).verify(BODY, signed())


def test_an_old_signature_is_rejected_so_each_attempt_is_signed_afresh() -> None:
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(BODY, signed(stamp=int(time.time()) - 600))


def test_the_key_is_the_base64_after_the_prefix() -> None:
    assert secret_key("whsec_" + base64.b64encode(b"abc").decode()) == b"abc"
    assert secret_key("whsec_YWJj") == b"abc"


@pytest.mark.parametrize("bad", ["abc", "whsec_", "whsec_!!!!", "sk_YWJj"])
def test_malformed_secrets_are_refused(bad: str) -> None:
    with pytest.raises(InvalidSecret):
        secret_key(bad)
