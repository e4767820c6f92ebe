-- The provider gateway's schema: both halves of each referral (inboxes), assignments and
-- their delivery channels, the ledger of delivery attempts, provider endpoints, provider
-- responses, and the transactional outbox of ops events.

-- ReferralReceived events: the only place the gateway keeps personal details.
CREATE TABLE referrals_received (
    referral_id  uuid PRIMARY KEY,
    received     jsonb NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now()
);

-- Decisions inbox: one per referral, so a redelivered decision makes no second assignment.
CREATE TABLE decisions (
    referral_id  uuid PRIMARY KEY,
    decision     jsonb NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per (referral, round); the current assignment is the one not superseded.
CREATE TABLE assignments (
    assignment_id  text PRIMARY KEY,
    referral_id    uuid NOT NULL,
    round          int NOT NULL CHECK (round >= 1),
    provider       text NOT NULL CHECK (provider IN ('nwa', 'juno', 'equation')),
    reason         text NOT NULL,
    priority       text NOT NULL CHECK (priority IN ('urgent', 'standard')),
    pathway        text NOT NULL,
    state          text NOT NULL DEFAULT 'assigned'
                   CHECK (state IN ('assigned', 'accepted', 'contacted', 'declined')),
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL,
    sla_due_at     timestamptz NOT NULL,
    delivered_at   timestamptz,
    accepted_at    timestamptz,
    overdue_at     timestamptz,
    superseded_at  timestamptz,
    UNIQUE (referral_id, round)
);
CREATE INDEX assignments_awaiting_acceptance ON assignments (sla_due_at)
    WHERE state = 'assigned' AND overdue_at IS NULL AND superseded_at IS NULL;

-- Each assignment goes out on one or two channels, each retried on its own.
-- attempts counts every attempt (the ledger's numbering); retry_base is attempts at the last
-- replay, so the retry schedule restarts after a replay.
CREATE TABLE deliveries (
    assignment_id     text NOT NULL REFERENCES assignments (assignment_id),
    channel           text NOT NULL CHECK (channel IN ('webhook', 'kafka')),
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts          int NOT NULL DEFAULT 0,
    retry_base        int NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL,
    first_attempt_at  timestamptz,
    delivered_at      timestamptz,
    failed_at         timestamptz,
    last_status_code  int,
    last_error        text,
    PRIMARY KEY (assignment_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_failed ON deliveries (failed_at) WHERE state = 'failed';

CREATE TABLE delivery_attempts (
    assignment_id  text NOT NULL,
    channel        text NOT NULL,
    attempt        int NOT NULL,
    at             timestamptz NOT NULL,
    status_code    int,
    latency_ms     double precision NOT NULL,
    outcome        text NOT NULL,
    error_code     text,
    PRIMARY KEY (assignment_id, channel, attempt),
    FOREIGN KEY (assignment_id, channel) REFERENCES deliveries (assignment_id, channel)
);

-- A provider's webhook endpoint is disabled when it answers 410 Gone, until ops re-enable it.
CREATE TABLE endpoints (
    provider     text PRIMARY KEY CHECK (provider IN ('nwa', 'juno', 'equation')),
    disabled_at  timestamptz,
    reason_code  text
);
INSERT INTO endpoints (provider) VALUES ('nwa'), ('juno'), ('equation');

-- Provider answers, once per (assignment, status): a repeated answer is a duplicate.
CREATE TABLE responses (
    assignment_id  text NOT NULL REFERENCES assignments (assignment_id),
    status         text NOT NULL CHECK (status IN ('accepted', 'declined', 'contacted')),
    at             timestamptz NOT NULL,
    reason         text,
    channel        text NOT NULL CHECK (channel IN ('http', 'kafka')),
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (assignment_id, status)
);

-- Ops events, alerts, dead letters and echoed responses, published after commit by the relay.
CREATE TABLE outbox (
    outbox_id    bigserial PRIMARY KEY,
    topic        text NOT NULL,
    message_key  text,
    headers      jsonb NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz
);
CREATE INDEX outbox_unsent ON outbox (outbox_id) WHERE sent_at IS NULL;
