-- Endpoint health (issue 11, item 9): each provider endpoint's circuit breaker, shared by every
-- gateway instance on this database (see domain/health.py). breaker_probe_at is when the next
-- probe may be taken (open) or when the one taken times out (half_open).
ALTER TABLE endpoints
    ADD COLUMN IF NOT EXISTS breaker_state text NOT NULL DEFAULT 'closed'
        CHECK (breaker_state IN ('closed', 'open', 'half_open')),
    ADD COLUMN IF NOT EXISTS breaker_failures int NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS breaker_probe_at timestamptz,
    ADD COLUMN IF NOT EXISTS breaker_changed_at timestamptz;

-- A claimed delivery's lease: set at claim, cleared when its attempt is recorded, so that
-- bringing waiting deliveries forward never touches one whose request may be in flight.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS leased_until timestamptz;

-- The ledger before the send (item 10): an attempt's row is committed as 'in_flight' with its
-- claim, before the request goes out, and completed with its outcome after; one whose outcome
-- never came (the gateway or PostgreSQL went mid-send) becomes 'unknown' when it is reclaimed.
ALTER TABLE delivery_attempts
    ALTER COLUMN latency_ms DROP NOT NULL,
    ADD COLUMN IF NOT EXISTS finished_at timestamptz;
CREATE INDEX IF NOT EXISTS delivery_attempts_in_flight ON delivery_attempts (assignment_id, channel)
    WHERE outcome = 'in_flight';
