"""End to end through the real broker and database: a referral POSTed to intake is stored,
published, decided by the router and delivered by the gateway as a signed webhook to the
demo provider receiver, which verifies it with the official `standardwebhooks` package."""

from __future__ import annotations

import contextlib
import secrets
import time
from typing import Any
from uuid import uuid4

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared import topics
from tests.support.cloudevents_check import Marks, assert_valid_cloudevents, mark
from tests.support.pipeline import Pipeline, SharedPipeline, delivered
from tests.support.wait import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def topic_marks(stack_env: dict[str, str]) -> Marks:
    """Where every contract topic ended before this module's pipeline started."""
    return await mark(stack_env["KAFKA_BOOTSTRAP_SERVERS"])


@pytest.fixture(scope="module")
def pipeline(shared_pipeline: SharedPipeline, topic_marks: Marks) -> Pipeline:
    """The shared pipeline (tests/e2e/conftest.py), with the topics marked before this module."""
    return shared_pipeline.get()


def _submit(
    pipeline: Pipeline, submission: dict[str, Any], headers: dict[str, str] | None = None
) -> str:
    body = submission | {"submission_id": f"{submission['submission_id']}-{uuid4().hex[:8]}"}
    response = httpx.post(
        f"{pipeline.intake.url}/v1/referrals",
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {pipeline.api_key}"} | (headers or {}),
    )
    assert response.status_code == 201, response.text
    referral_id: str = response.json()["referral_id"]
    return referral_id


def _timeline(
    pipeline: Pipeline, referral_id: str, state: str, timeout: float = 60
) -> dict[str, Any]:
    status: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        nonlocal status
        status = httpx.get(
            f"{pipeline.intake.url}/v1/referrals/{referral_id}",
            timeout=5,
            headers={"Authorization": f"Bearer {pipeline.api_key}"},
        ).json()
        return status if any(e["state"] == state for e in status.get("timeline", [])) else None

    return eventually(
        reached, f"referral {referral_id} to reach {state!r}", timeout=timeout, last=lambda: status
    )


def test_every_public_case_is_delivered_to_the_expected_provider_with_its_pathway(
    pipeline: Pipeline, public_cases: list[dict[str, Any]]
) -> None:
    sent = {_submit(pipeline, case["submission"]): case["expect"] for case in public_cases}
    to_deliver = {rid for rid, expect in sent.items() if expect["provider"] is not None}
    deliveries = delivered(pipeline, to_deliver)
    assert set(deliveries) == to_deliver, f"not delivered: {to_deliver - set(deliveries)}"
    for referral_id in to_deliver:
        expect, delivery = sent[referral_id], deliveries[referral_id]
        decision = delivery["assignment"]["decision"]
        assert delivery["provider"] == expect["provider"], referral_id
        assert decision["pathway"] == expect["pathway"]
        assert decision["priority"] == expect["priority"]
        assert sorted(decision["notify"]) == sorted(expect["notify"])
        assert decision["locality"]["area"] == expect["area"]
        assert delivery["count"] == 1, "delivered more than once"
        assert delivery["assignment"]["referral"]["victim"]["safe_contact"]


def test_an_out_of_area_referral_is_decided_and_delivered_to_nobody(
    pipeline: Pipeline, public_cases: list[dict[str, Any]]
) -> None:
    case = next(c for c in public_cases if c["expect"]["pathway"] == "out_of_area")
    referral_id = _submit(pipeline, case["submission"])
    status = _timeline(pipeline, referral_id, "decided")
    decided = next(e for e in status["timeline"] if e["state"] == "decided")
    assert (decided["pathway"], decided["provider"]) == ("out_of_area", None)
    time.sleep(2)
    got = httpx.get(f"{pipeline.receiver.url}/received", timeout=5).json()
    assert referral_id not in {d["referral_id"] for d in got["deliveries"]}


def test_the_agency_sees_the_referral_delivered_on_its_status_timeline(
    pipeline: Pipeline, public_cases: list[dict[str, Any]]
) -> None:
    referral_id = _submit(pipeline, public_cases[0]["submission"])
    status = _timeline(pipeline, referral_id, "delivered")
    states = [e["state"] for e in status["timeline"]]
    assert states.index("received") < states.index("decided") < states.index("delivered")


def _in_or_linked(span: dict[str, Any], trace_id: str) -> bool:
    """In the trace, or linked to it: a relay batch's publish span sits in its first row's trace
    and links to every row's (services/common/outbox_kafka.py)."""
    traces = [span["context"]["trace_id"], *(link["context"]["trace_id"] for link in span["links"])]
    return f"0x{trace_id}" in traces


def _spans_of_trace(
    pipeline: Pipeline, trace_id: str, wanted: dict[str, list[str]], timeout: float = 30
) -> dict[str, list[str]]:
    """Span names of `trace_id` (or linked to it) by service, once each service has exported
    the wanted ones.

    Spans are exported in batches (every few seconds), hence the wait.
    """
    processes = {"intake": pipeline.intake, "router": pipeline.router, "gateway": pipeline.gateway}
    names: dict[str, list[str]] = {}

    def all_exported() -> bool:
        names.update(
            {
                service: [
                    span["name"]
                    for span in pipeline.spans(process)
                    if _in_or_linked(span, trace_id)
                ]
                for service, process in processes.items()
            }
        )
        return all(
            any(part in name for name in names[service])
            for service, parts in wanted.items()
            for part in parts
        )

    with contextlib.suppress(AssertionError):  # the caller's assertion names what is missing
        eventually(all_exported, "the trace's spans", timeout=timeout, interval=0.5)
    return names


def test_one_trace_runs_from_the_agency_request_to_the_provider_webhook(
    pipeline: Pipeline, public_cases: list[dict[str, Any]]
) -> None:
    case = next(c for c in public_cases if c["expect"]["provider"] is not None)
    trace_id = secrets.token_hex(16)
    referral_id = _submit(
        pipeline,
        case["submission"],
        headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
    )
    delivery = delivered(pipeline, {referral_id})[referral_id]
    # The webhook carries the trace the agency's request started: through intake's outbox
    # row, Kafka, the router, Kafka again, and the gateway's stored assignment.
    assert delivery["traceparent"] is not None
    assert delivery["traceparent"].split("-")[1] == trace_id
    wanted = {
        "intake": ["POST /v1/referrals", "referrals.received.v1 publish"],
        "router": ["referrals.received.v1 process", "referrals.decided.v1 publish"],
        "gateway": [
            "referrals.decided.v1 process",
            f"deliver webhook {case['expect']['provider']}",
        ],
    }
    names = _spans_of_trace(pipeline, trace_id, wanted)
    for service, parts in wanted.items():
        for part in parts:
            assert any(part in name for name in names[service]), (service, part, names)


def _metric(text: str, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def test_each_service_reports_its_consumer_lag_and_outbox_backlog(pipeline: Pipeline) -> None:
    wanted = {
        pipeline.intake: [
            ("kafka_consumer_lag", {"group": "intake-submissions"}),
            ("kafka_consumer_lag", {"group": "intake-timeline-ops"}),
            ("outbox_backlog", {"service": "intake"}),
        ],
        pipeline.router: [("kafka_consumer_lag", {"group": "router"})],
        pipeline.gateway: [
            ("kafka_consumer_lag", {"group": "provider-gateway-decisions"}),
            ("outbox_backlog", {"service": "provider_gateway"}),
        ],
    }
    missing: list[tuple[str, str, dict[str, str]]] = []

    def all_reported() -> bool:
        missing.clear()
        for process, metrics in wanted.items():
            text = httpx.get(f"{process.url}/metrics", timeout=5).text
            for name, labels in metrics:
                value = _metric(text, name, labels)
                if value is None or value < 0:
                    missing.append((process.name, name, labels))
        return not missing

    eventually(
        all_reported,
        "every lag and backlog metric",
        timeout=30,
        interval=0.5,
        last=lambda: f"not reported: {missing}",
    )


async def test_every_message_the_pipeline_wrote_is_a_cloudevent_of_its_topic_and_schema(
    pipeline: Pipeline,
    public_cases: list[dict[str, Any]],
    stack_env: dict[str, str],
    topic_marks: Marks,
) -> None:
    """Read with the official CloudEvents SDK and the contract's JSON Schemas: every message
    the services wrote since this module started, this test's own referral's among them."""
    case = next(c for c in public_cases if c["expect"]["provider"] is not None)
    referral_id = _submit(pipeline, case["submission"])
    _timeline(pipeline, referral_id, "delivered")
    await assert_valid_cloudevents(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topic_marks,
        expect=(
            topics.REFERRALS_RECEIVED,
            topics.REFERRALS_DECIDED,
            topics.assignments_topic(case["expect"]["provider"]),
            topics.OPS_EVENTS,
        ),
    )
