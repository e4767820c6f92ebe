"""No personal data reaches ops: not the ops topics, not a log line, not a metric.

Rules checked here, over one run of the real pipeline that takes the happy path, retries,
a permanent delivery failure, a decline and re-route, invalid submissions and poison messages
(see `scenario.py`), with a unique marker in every personal field:
- no marker is on `ops.events.v1`, `ops.alerts.v1` or `ops.deadletter.v1` (key, headers, value);
- no marker is in any line any service logged, and so in no span it traced (the pipeline
  exports every span to the service's log, `OTEL_TRACES_EXPORTER=console`);
- no marker is in any metric name, label or value on any service's `/metrics`;
- and the search is real: the markers do reach the provider, the failure paths did run, and
  the search finds a marker wherever one is.
"""

from __future__ import annotations

import json

import pytest

from tests.ops.markers import find, needles, postcode_needles
from tests.ops.scenario import Run

pytestmark = pytest.mark.integration


def _needles(run: Run) -> dict[str, str]:
    found = needles(run.all_markers())
    for referral in run.referrals.values():
        found |= postcode_needles(referral.postcode)
    return found


def test_no_personal_data_is_on_any_ops_topic(ops_run: Run) -> None:
    wanted = _needles(ops_run)
    hits = [
        hit
        for m in ops_run.ops_messages
        for hit in find(wanted, f"{m.topic}[{m.partition}]@{m.offset}", m.text())
    ]
    assert not hits, f"personal data on ops topics: {hits}"


def test_no_personal_data_is_in_any_service_log(ops_run: Run) -> None:
    wanted = _needles(ops_run)
    hits = []
    for service, text in ops_run.logs.items():
        if service == "receiver":  # the provider's own system, which is meant to see it all
            continue
        for number, line in enumerate(text.splitlines(), 1):
            hits += find(wanted, f"{service}.log:{number}", line)
    assert not hits, f"personal data in logs: {hits}"


def test_no_personal_data_is_in_any_metric(ops_run: Run) -> None:
    wanted = _needles(ops_run)
    hits = [
        hit
        for service, text in ops_run.metrics.items()
        for number, line in enumerate(text.splitlines(), 1)
        for hit in find(wanted, f"{service}/metrics:{number}", line)
    ]
    assert not hits, f"personal data in metrics: {hits}"


def test_the_markers_do_reach_the_provider_so_the_search_can_fail(ops_run: Run) -> None:
    for tag, referral in ops_run.referrals.items():
        if tag == "r3":  # refused by equation's webhook for good: delivered over Kafka only
            continue
        missing = [
            k for k, v in referral.markers.items() if v.lower() not in ops_run.record.lower()
        ]
        assert not missing, f"{tag}: markers never reached the receiver: {missing}"
    echoed = "\n".join(m.text() for m in ops_run.responses).lower()
    assert ops_run.extra_markers["decline reason"].lower() in echoed
    planted = ops_run.ops_messages[0].text() + ops_run.referrals["r1"].markers["victim.name"]
    assert find(_needles(ops_run), "planted", planted)


def test_the_failure_paths_did_run_and_were_searched(ops_run: Run) -> None:
    events = [json.loads(m.value) for m in ops_run.ops_messages if m.topic == "ops.events.v1"]
    states = {(e["state"], e.get("status_code")) for e in events}
    assert ("delivery_attempted", 503) in states, "nwa's 503s were not retried"
    assert ("delivery_attempted", 400) in states, "equation's refusal was not attempted"
    assert any(e["state"] == "rerouted" for e in events), "the decline did not re-route"
    assert any(e["state"] == "declined" for e in events)
    letters = [json.loads(m.value) for m in ops_run.ops_messages if m.topic == "ops.deadletter.v1"]
    sources = {(d["service"], d["source_topic"]) for d in letters}
    assert ("intake", "referrals.submitted.v1") in sources
    assert ("router", "referrals.received.v1") in sources
    assert ("provider_gateway", "referrals.received.v1") in sources
    assert any(m.topic == "ops.alerts.v1" for m in ops_run.ops_messages)
    assert all(ops_run.logs[s] for s in ("intake", "router", "gateway"))
    assert all("# TYPE" in text for text in ops_run.metrics.values())


def test_the_traces_were_in_the_logs_searched(ops_run: Run) -> None:
    for service in ("intake", "router", "gateway"):
        spans = [
            json.loads(line)
            for line in ops_run.logs[service].splitlines()
            if line.startswith('{"name"')
        ]
        assert spans, f"{service} exported no spans, so no trace was searched"
        assert all(span["context"]["trace_id"] for span in spans)
    assert '"name": "deliver webhook nwa"' in ops_run.logs["gateway"]
