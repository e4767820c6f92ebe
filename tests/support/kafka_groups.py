"""Consumer groups in tests: start a test pipeline's groups where its topics end.

A test pipeline runs the services under their own fixed group ids. Whatever earlier tests left
unconsumed on the topics (a router test's 300 decisions, a bench run's thousands of referrals)
would otherwise be the new pipeline's first work, and delay its tests' own referrals by a
minute or more. Only idle groups can be moved (no pipeline runs when a new one starts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from services.common.kafka_consumer import stop_consumer
from tests.support.kafka import connection


async def skip_to_end(bootstrap: str, groups: Mapping[str, tuple[str, ...]]) -> dict[str, int]:
    """Commit each (idle) consumer group's offsets at the current end of its topics (a pattern
    is matched against the topics that exist); returns how many messages each group skipped
    (a group with members is left where it is, and missing from the result).

    A test pipeline starts where the topics end: what earlier tests left unconsumed (a router
    test's 300 decisions, say) is not this pipeline's work, and chewing through it first only
    delays the pipeline's own referrals.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection())
    await admin.start()
    try:
        existing = {
            t["topic"]: [p["partition"] for p in t["partitions"]]
            for t in await admin.describe_topics()
        }
    finally:
        await admin.close()
    skipped: dict[str, int] = {}
    for group, wanted in groups.items():
        names = sorted({t for w in wanted for t in existing if re.fullmatch(w, t) or t == w})
        if not names:
            continue
        member = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **connection()
        )
        await member.start()
        try:
            tps = [TopicPartition(t, p) for t in names for p in existing[t]]
            member.assign(tps)
            ends = await member.end_offsets(tps)
            committed = {tp: await member.committed(tp) for tp in tps}
            try:
                await member.commit({tp: OffsetAndMetadata(end, "") for tp, end in ends.items()})
            except KafkaError as exc:
                # A group that still has members (a killed process the broker has not yet timed
                # out) cannot be moved: its pipeline starts from where the group is, as before.
                print(f"kafka_groups: {group} left where it is ({type(exc).__name__})")
                continue
            skipped[group] = sum(end - (committed[tp] or 0) for tp, end in ends.items())
        finally:
            await stop_consumer(member)
    return skipped
