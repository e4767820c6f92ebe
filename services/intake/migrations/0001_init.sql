-- Intake's schema: agencies and their API keys, referrals, the transactional outbox,
-- the status timeline and the inbox of consumed events.

CREATE TABLE agencies (
    agency_id   text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- API keys are stored as SHA-256 digests of high-entropy random tokens: a leaked table
-- gives no usable key, and lookup by digest needs no per-row hashing.
CREATE TABLE api_keys (
    key_id      uuid PRIMARY KEY,
    agency_id   text NOT NULL REFERENCES agencies (agency_id),
    key_digest  bytea NOT NULL UNIQUE,
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE referrals (
    referral_id      uuid PRIMARY KEY,
    agency_id        text NOT NULL,
    idempotency_key  text NOT NULL,
    submission_id    text NOT NULL,
    body_digest      bytea NOT NULL,
    submission       jsonb NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('http', 'kafka')),
    received_at      timestamptz NOT NULL,
    UNIQUE (agency_id, idempotency_key)
);

CREATE TABLE outbox (
    outbox_id    bigserial PRIMARY KEY,
    topic        text NOT NULL,
    message_key  text,
    headers      jsonb NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    attempts     int NOT NULL DEFAULT 0
);
CREATE INDEX outbox_unsent ON outbox (outbox_id) WHERE sent_at IS NULL;

-- The status timeline an agency reads: ids, states, codes and times only.
CREATE TABLE referral_timeline (
    referral_id      uuid NOT NULL REFERENCES referrals (referral_id),
    state            text NOT NULL,
    at               timestamptz NOT NULL,
    provider         text,
    pathway          text,
    priority         text,
    source_event_id  text NOT NULL UNIQUE
);
CREATE INDEX referral_timeline_by_referral ON referral_timeline (referral_id, at);
