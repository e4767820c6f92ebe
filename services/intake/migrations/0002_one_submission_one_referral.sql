-- One submission, one referral: (agency, submission_id) identifies a submission on every path,
-- and an Idempotency-Key is an optional extra name for one submission.
--
-- Before this migration the unique pair was (agency, idempotency key), where the key was the
-- header if sent and the submission_id otherwise, so one submission could be stored several
-- times under different keys. Nothing is deleted: such earlier duplicates stay (they were
-- delivered) and are marked `duplicate_of` the first referral of their submission, which is
-- the one every later request is answered with.

ALTER TABLE referrals ADD COLUMN duplicate_of uuid REFERENCES referrals (referral_id);

UPDATE referrals AS r
   SET duplicate_of = first.referral_id
  FROM (SELECT DISTINCT ON (agency_id, submission_id) agency_id, submission_id, referral_id
          FROM referrals
         ORDER BY agency_id, submission_id, received_at, referral_id) AS first
 WHERE r.agency_id = first.agency_id
   AND r.submission_id = first.submission_id
   AND r.referral_id <> first.referral_id;

CREATE UNIQUE INDEX referrals_one_per_submission
    ON referrals (agency_id, submission_id) WHERE duplicate_of IS NULL;

-- Idempotency keys: each names one submission of its agency.
CREATE TABLE idempotency_keys (
    agency_id        text NOT NULL,
    idempotency_key  text NOT NULL,
    submission_id    text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agency_id, idempotency_key)
);

-- Keys sent as headers before (a stored key that differs from the submission_id); the
-- earliest use of a key wins.
INSERT INTO idempotency_keys (agency_id, idempotency_key, submission_id, created_at)
SELECT DISTINCT ON (agency_id, idempotency_key) agency_id, idempotency_key, submission_id,
       received_at
  FROM referrals
 WHERE idempotency_key <> submission_id
 ORDER BY agency_id, idempotency_key, received_at
    ON CONFLICT DO NOTHING;

-- The referral's own column keeps the header it came with (or none); it is no longer unique,
-- so a key equal to another submission's submission_id no longer collides.
ALTER TABLE referrals DROP CONSTRAINT referrals_agency_id_idempotency_key_key;
ALTER TABLE referrals ALTER COLUMN idempotency_key DROP NOT NULL;
