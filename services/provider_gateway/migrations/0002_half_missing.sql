-- When ops were told that one half of a referral (its details or its decision) has waited too
-- long for the other: set once, so the alert is raised once.
ALTER TABLE referrals_received ADD COLUMN missing_alerted_at timestamptz;
ALTER TABLE decisions ADD COLUMN missing_alerted_at timestamptz;
CREATE INDEX referrals_received_stored ON referrals_received (stored_at)
    WHERE missing_alerted_at IS NULL;
CREATE INDEX decisions_stored ON decisions (stored_at) WHERE missing_alerted_at IS NULL;
