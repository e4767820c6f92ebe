"""Kafka topic retention: the policy covers every topic, and the broker holds it.

Rules checked here: every contract topic (and the per-agency and per-provider topics) has a
retention in infra/kafka/topic-retention.tsv; topics that carry personal data keep it at most
7 days, `ops.*` at least a year; docker-compose sets the same figures; on the real broker,
`scripts/create_topics.sh` (run by the infrastructure fixture) has set them.
"""

from __future__ import annotations

import asyncio
import re
from fnmatch import fnmatchcase

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.topics import ALL_TOPICS
from tests.support.infra import ROOT
from tests.support.kafka import connection

POLICY = ROOT / "infra" / "kafka" / "topic-retention.tsv"
PERSONAL = (
    "referrals.submitted.v1",
    "referrals.submitted.notts-police.v1",
    "referrals.received.v1",
    "assignments.nwa.v1",
    "assignments.juno.v1",
    "assignments.equation.v1",
    "assignments.responses.v1",
    "assignments.responses.juno.v1",
)
DAY_MS = 86_400_000


def retention_days(topic: str) -> int:
    for line in POLICY.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, days, *_ = line.split()
            if fnmatchcase(topic, pattern):
                return int(days)
    raise AssertionError(f"no retention for {topic}")


def test_personal_data_topics_are_kept_a_week_at_most_and_ops_a_year() -> None:
    for topic in PERSONAL:
        assert retention_days(topic) <= 7, topic
    for topic in ("ops.events.v1", "ops.alerts.v1", "ops.deadletter.v1"):
        assert retention_days(topic) >= 365, topic
    assert {t: retention_days(t) for t in ALL_TOPICS}  # every topic is covered


def test_docker_compose_sets_the_same_retention() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    cases = dict(re.findall(r"^\s+([a-z.*]+)\) days=(\d+) ;;", compose, re.MULTILINE))
    for topic in ALL_TOPICS:
        days = next(int(d) for p, d in cases.items() if fnmatchcase(topic, p))
        assert days == retention_days(topic), topic


@pytest.mark.integration
def test_the_broker_holds_each_topics_retention(stack_env: dict[str, str]) -> None:
    async def described() -> dict[str, int]:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"], **connection()
        )
        await admin.start()
        try:
            resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in ALL_TOPICS]
            responses = await admin.describe_configs(resources)
        finally:
            await admin.close()
        found: dict[str, int] = {}
        for response in responses:
            for resource in response.resources:
                _code, _message, _type, name, entries = resource
                for entry in entries:
                    if entry[0] == "retention.ms":
                        found[name] = int(entry[1])
        return found

    got = asyncio.run(described())
    assert got == {t: retention_days(t) * DAY_MS for t in ALL_TOPICS}
