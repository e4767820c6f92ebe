"""Every message the services wrote during the ops run, on every contract topic, is a valid
CloudEvent of its topic's type whose data validates against the contract's JSON Schema,
judged by the official CloudEvents SDK and `jsonschema` (tests/support/cloudevents_check.py).

The run takes the happy path, a decline and re-route, retries, a permanent failure, invalid
submissions over HTTP and Kafka and poison messages, so every topic of ours carries messages.
"""

from __future__ import annotations

import pytest

from shared import topics
from tests.ops.scenario import Run

pytestmark = pytest.mark.integration

WRITTEN = (
    topics.REFERRALS_RECEIVED,
    topics.REFERRALS_REJECTED,
    topics.REFERRALS_DECIDED,
    topics.ASSIGNMENTS_RESPONSES,
    topics.OPS_EVENTS,
    topics.OPS_ALERTS,
    topics.OPS_DEADLETTER,
)


def test_every_message_of_ours_is_a_cloudevent_of_its_topic_and_schema(ops_run: Run) -> None:
    report = ops_run.cloudevents
    assert not report.problems, "messages break the contract:\n" + "\n".join(report.problems)


def test_every_topic_the_run_wrote_was_checked(ops_run: Run) -> None:
    report = ops_run.cloudevents
    missing = [name for name in WRITTEN if not report.ours.get(name)]
    assert not missing, f"no message of ours on {missing}; read {report.ours}"
    # The poison the scenario put on referrals.received.v1 is foreign: counted, not judged.
    assert report.foreign.get(topics.REFERRALS_RECEIVED, 0) >= 2
