"""The two ways an assignment reaches a provider: a signed webhook, and its Kafka topic.

Rules kept here:
- a sender never raises for a failed delivery: every failure becomes an `AttemptResult` with
  a code from a closed set (`http_<status>`, `timeout`, `connect_error`, `transport_error`,
  `kafka_error`, `no_endpoint`), which the retry policy then judges;
- every webhook attempt is signed afresh (new timestamp) under the same `webhook-id`, the
  assignment id; the body is the Assignment JSON, the same bytes that were signed; for a
  provider on thin deliveries it is the ThinAssignment (domain.thin: ids, the decision and the
  link to fetch the details), never the referral;
- a webhook carries the attempt's `traceparent` (W3C Trace Context): ids only, outside the
  signed content;
- the HTTP session, with its explicit timeouts, TLS, pool and bounds, is made once by the
  caller (the app's lifespan, with adapters.webhook_client.webhook_session);
- on Kafka the assignment is a CloudEvent whose id is the assignment id, keyed by referral id;
  it stays sealed there (issue 14). A webhook body is the clear Assignment, unsealed by the
  `Opener` just before signing; a referral whose data key was destroyed gives the permanent
  outcome `erased` without any request, and a body that cannot be opened for another reason
  one of the other `NOT_SENT` codes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime

import aiohttp
from faststream.kafka import KafkaBroker

from services.common.db import UNAVAILABLE
from services.common.kafka import publish_event
from services.common.sealing import (
    DataKeyDestroyed,
    DataKeyNotFound,
    KekVersionUnknown,
    SealingError,
)
from services.common.telemetry import current_trace_headers
from services.provider_gateway.adapters.signing import webhook_headers
from services.provider_gateway.adapters.webhook_client import WebhookFailure, post
from services.provider_gateway.config import ProviderChannels
from services.provider_gateway.domain import Outcome, classify, parse_retry_after
from services.provider_gateway.domain.thin import thin_body
from services.provider_gateway.ports import ERASED, AttemptResult, Claimed, Opener
from shared import Assignment, Provider, Service
from shared.cloudevents import TYPE_ASSIGNED
from shared.topics import assignments_topic


def _elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _failed(start: float, code: str) -> AttemptResult:
    """A transport failure: no response at all, so always worth another try."""
    return AttemptResult(Outcome.RETRYABLE, None, _elapsed_ms(start), code)


class WebhookSender:
    """POSTs signed assignments to each provider's webhook URL."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        providers: Mapping[Provider, ProviderChannels],
        *,
        clock: Callable[[], datetime],
        opener: Opener,
    ) -> None:
        self._session = session
        self._providers = providers
        self._clock = clock
        self._opener = opener

    async def _clear_body(self, delivery: Claimed) -> bytes | AttemptResult:
        """The webhook body (the clear Assignment), or the result of an attempt that cannot
        be made."""
        sealed = Assignment.model_validate_json(delivery.body)
        try:
            clear = await self._opener(delivery.referral_id, sealed)
        except DataKeyDestroyed:
            return AttemptResult(Outcome.PERMANENT, None, 0.0, ERASED)
        except DataKeyNotFound:
            return AttemptResult(Outcome.PERMANENT, None, 0.0, "no_data_key")
        except (KekVersionUnknown, *UNAVAILABLE):  # configuration or database: fixable, retried
            return AttemptResult(Outcome.RETRYABLE, None, 0.0, "key_unavailable")
        except SealingError:
            return AttemptResult(Outcome.PERMANENT, None, 0.0, "unseal_failed")
        return clear.model_dump_json().encode() if clear is not sealed else delivery.body

    async def send(self, delivery: Claimed) -> AttemptResult:
        channels = self._providers[delivery.provider]
        if not channels.webhook_url:  # the URL was removed after the assignment was made
            return AttemptResult(Outcome.RETRYABLE, None, 0.0, "no_endpoint")
        if channels.delivery == "thin":  # ids, the decision and a link: nothing to unseal
            body: bytes | AttemptResult = thin_body(delivery.body, channels.public_url)
        else:
            body = await self._clear_body(delivery)
        if isinstance(body, AttemptResult):
            return body
        stamp = int(self._clock().timestamp())
        headers = webhook_headers(
            channels.webhook_secret.get_secret_value(), delivery.assignment_id, stamp, body
        )
        # The W3C trace context, so a provider that traces can join the referral's trace.
        headers.update(current_trace_headers())
        start = time.perf_counter()
        try:
            answer = await post(self._session, channels.webhook_url, body, headers)
        except WebhookFailure as failure:
            return _failed(start, failure.code)
        latency = _elapsed_ms(start)
        code = answer.status
        outcome = classify(code)
        return AttemptResult(
            outcome,
            code,
            latency,
            None if outcome is Outcome.DELIVERED else f"http_{code}",
            parse_retry_after(answer.retry_after, self._clock()),
        )


class KafkaSender:
    """Publishes assignments to `assignments.<provider>.v1` and waits for the broker's ack."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def send(self, delivery: Claimed) -> AttemptResult:
        start = time.perf_counter()
        try:
            await publish_event(
                self._broker,
                Assignment.model_validate_json(delivery.body),
                topic=assignments_topic(delivery.provider.value),
                key=str(delivery.referral_id),
                ce_type=TYPE_ASSIGNED,
                service=Service.PROVIDER_GATEWAY,
                event_id=delivery.assignment_id,
            )
        except Exception:  # noqa: BLE001 - any publish failure is a retryable attempt, recorded
            return _failed(start, "kafka_error")
        return AttemptResult(Outcome.DELIVERED, None, _elapsed_ms(start))
