-- Erasure, thin deliveries and the provider fetch audit (issue 14). Numbered 0010 so that it
-- never collides with the sealing migrations of the same round.

-- Referrals intake has erased (from `erased` on ops.events.v1): the gateway's own copies are
-- nulled, its waiting deliveries end in `erased`, and a provider's fetch answers 410.
CREATE TABLE erased_referrals (
    referral_id      uuid PRIMARY KEY,
    erased_at        timestamptz NOT NULL,
    source_event_id  uuid NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE referrals_received ALTER COLUMN received DROP NOT NULL;
ALTER TABLE assignments ALTER COLUMN payload DROP NOT NULL;

ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled', 'erased'));

-- Every provider fetch of an assignment's details (GET /v1/assignments/{referral_id}): who,
-- when, which referral and the answer given; no personal data. Append-only.
CREATE TABLE assignment_fetches (
    fetch_id     bigserial PRIMARY KEY,
    referral_id  uuid NOT NULL,
    provider     text NOT NULL CHECK (provider IN ('nwa', 'juno', 'equation')),
    at           timestamptz NOT NULL,
    status       int NOT NULL
);
CREATE INDEX assignment_fetches_by_referral ON assignment_fetches (referral_id, at);

CREATE FUNCTION gateway_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER assignment_fetches_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON assignment_fetches
    FOR EACH STATEMENT EXECUTE FUNCTION gateway_audit_append_only();
