"""The SQL that claims due deliveries (and endpoint probes), and the row a claim becomes.

Rules kept here (see adapters.delivery_store for the whole ledger): a claim locks its due
deliveries (`FOR UPDATE SKIP LOCKED`), leases them and commits an `in_flight` ledger row for
each before any request goes out; an earlier attempt still `in_flight` on a claimed delivery
never got an outcome and becomes `unknown`.
"""

from __future__ import annotations

import asyncpg

from services.provider_gateway.ports import Claimed
from shared import Assignment, Pathway, Priority, Provider

# Claims the deliveries `due` selects (locked), leases them, and commits an `in_flight` ledger
# row for each before any request goes out; an earlier attempt still `in_flight` on a claimed
# delivery is one whose outcome was never recorded (its lease ran out): it becomes `unknown`.
LEASE_AND_LEDGER = """
WITH due AS ({due}),
claimed AS (
    UPDATE deliveries d SET next_attempt_at = $1 + $2::interval,
           leased_until = $1 + $2::interval, attempts = d.attempts + 1,
           first_attempt_at = COALESCE(d.first_attempt_at, $1)
    FROM due, assignments a
    LEFT JOIN referrals_received r ON r.referral_id = a.referral_id
    WHERE d.assignment_id = due.assignment_id AND d.channel = due.channel
      AND a.assignment_id = d.assignment_id
    RETURNING d.assignment_id, d.channel, d.attempts, d.retry_base, d.first_attempt_at,
              a.referral_id, a.provider, a.priority, a.pathway, a.payload, a.traceparent,
              (r.received ->> 'received_at')::timestamptz AS received_at
),
lost AS (
    UPDATE delivery_attempts t SET outcome = 'unknown'
    FROM claimed c
    WHERE t.assignment_id = c.assignment_id AND t.channel = c.channel AND t.outcome = 'in_flight'
),
ledger AS (
    INSERT INTO delivery_attempts (assignment_id, channel, attempt, at, outcome)
    SELECT assignment_id, channel, attempts, $1, 'in_flight' FROM claimed
)
SELECT * FROM claimed
"""

# Due deliveries; a webhook only to an enabled endpoint whose breaker is closed, except a
# delivery past its give-up time, whose last attempt must still be made (and dead-lettered).
CLAIM = LEASE_AND_LEDGER.format(
    due="""
    SELECT d.assignment_id, d.channel FROM deliveries d
    JOIN assignments a USING (assignment_id)
    JOIN endpoints e ON e.provider = a.provider
    WHERE d.state = 'pending' AND d.next_attempt_at <= $1
      AND ((d.channel = 'kafka' AND $3)
           OR (d.channel = 'webhook' AND e.disabled_at IS NULL AND a.provider = ANY($4::text[])
               AND (e.breaker_state = 'closed' OR d.first_attempt_at <= $1 - $6::interval)))
    ORDER BY d.next_attempt_at LIMIT $5
    FOR UPDATE OF d SKIP LOCKED"""
)

# The probe of an open endpoint: its waiting webhook delivery that is due first, due or not.
CLAIM_PROBE = LEASE_AND_LEDGER.format(
    due="""
    SELECT d.assignment_id, d.channel FROM deliveries d
    JOIN assignments a USING (assignment_id)
    WHERE d.state = 'pending' AND d.channel = 'webhook' AND a.provider = $3
      AND (d.leased_until IS NULL OR d.leased_until <= $1)
    ORDER BY d.next_attempt_at LIMIT 1
    FOR UPDATE OF d SKIP LOCKED"""
)

QUEUE = """
SELECT channel, count(*) AS pending, count(*) FILTER (WHERE attempts > 0) AS retrying
FROM deliveries WHERE state = 'pending' GROUP BY channel
"""


def claimed_of(r: asyncpg.Record, *, probe: bool = False) -> Claimed:
    # `attempts` already counts this attempt (it was taken with the claim).
    return Claimed(
        assignment_id=r["assignment_id"],
        channel=r["channel"],
        referral_id=r["referral_id"],
        provider=Provider(r["provider"]),
        priority=Priority(r["priority"]),
        pathway=Pathway(r["pathway"]),
        attempt=r["attempts"],
        cycle_attempt=r["attempts"] - r["retry_base"],
        first_attempt_at=r["first_attempt_at"],
        body=Assignment.model_validate(r["payload"]).model_dump_json().encode(),
        received_at=r["received_at"],
        traceparent=r["traceparent"],
        probe=probe,
    )
