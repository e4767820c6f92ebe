-- Erasure and retention (issue 14): a referral's personal data can be erased while its ids,
-- states and timings stay for ops and the audit. Numbered 0010 so that it never collides with
-- the sealing migrations of the same round.

-- An erased referral keeps its row (ids, agency, channel, times, timeline) without its
-- submission or its body digest (a digest of the content could confirm a guessed content).
ALTER TABLE referrals ALTER COLUMN submission DROP NOT NULL;
ALTER TABLE referrals ADD COLUMN IF NOT EXISTS erased_at timestamptz;
ALTER TABLE referrals ADD CONSTRAINT referrals_erased_has_no_submission
    CHECK (erased_at IS NULL OR submission IS NULL);

-- The erasure audit: who erased which referral, when and why. No personal data: the reason is
-- the operator's case reference or `retention`. Append-only: rows are never changed or removed.
CREATE TABLE erasure_audit (
    audit_id     bigserial PRIMARY KEY,
    referral_id  uuid NOT NULL REFERENCES referrals (referral_id),
    operator     text NOT NULL,
    reason       text NOT NULL,
    channel      text NOT NULL CHECK (channel IN ('cli', 'http', 'retention')),
    erased_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX erasure_audit_once ON erasure_audit (referral_id);

CREATE FUNCTION erasure_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'erasure_audit is append-only';
END;
$$;
CREATE TRIGGER erasure_audit_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON erasure_audit
    FOR EACH STATEMENT EXECUTE FUNCTION erasure_audit_append_only();

-- Retention looks for referrals by their last timeline entry.
CREATE INDEX IF NOT EXISTS referrals_not_erased ON referrals (received_at) WHERE erased_at IS NULL;
