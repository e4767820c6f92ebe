"""Subscribing to identity topics by pattern (`referrals.submitted.<agency>.v1`, ...).

Rules kept here:
- a pattern subscriber is durable like every other (`durable_subscriber`): a named group, its
  offset committed once the handler has finished, a new group (or a newly matched topic) read
  from the earliest offset, so a message written right after `agency-add` made the topic is
  not missed;
- a topic created after start-up is picked up within `metadata_max_age_ms`: aiokafka matches
  the pattern against the topic list only when it refreshes the cluster metadata (5 minutes by
  default), so these subscribers refresh every few seconds; the rest of the broker keeps the
  default;
- the identity is read from the record's topic with `shared.topics` (never from a header or
  the body), and a topic the pattern matched but that names no identity is refused.
"""

from __future__ import annotations

from typing import Any

from faststream import AckPolicy
from faststream._internal.types import CustomCallable
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import DefaultSubscriber

# How often a pattern subscriber looks for new topics (ms).
PATTERN_METADATA_MAX_AGE_MS = 5_000


def durable_pattern_subscriber(
    broker: KafkaBroker,
    pattern: str,
    *,
    group_id: str,
    title: str,
    description: str | None = None,
    decoder: CustomCallable | None = None,
    metadata_max_age_ms: int = PATTERN_METADATA_MAX_AGE_MS,
) -> DefaultSubscriber:
    """A durable subscriber to every topic matching `pattern` (a Python regex, no braces)."""
    if "{" in pattern:
        # FastStream reads `{name}` as a path parameter and would rewrite the regex.
        raise ValueError("a subscription pattern must not contain braces")
    subscriber: Any = broker.subscriber(
        pattern=pattern,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        decoder=decoder,
        title=title,
        description=description,
    )
    # FastStream takes metadata_max_age_ms per broker only; the consumer it builds takes these
    # arguments last, so this subscriber's consumer alone refreshes more often.
    subscriber._connection_args["metadata_max_age_ms"] = metadata_max_age_ms
    result: DefaultSubscriber = subscriber
    return result


def record_topic(message: Any) -> str:
    """The topic a consumed record came from (FastStream's raw aiokafka ConsumerRecord)."""
    topic = getattr(getattr(message, "raw_message", None), "topic", None)
    return topic if isinstance(topic, str) else ""
