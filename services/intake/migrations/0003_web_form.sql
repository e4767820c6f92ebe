-- The web referral form (services/intake/web): its agencies, its channel, and the drafts it
-- keeps between pages.

-- Form referrals carry their own agency ids, so ops and the router can tell them apart.
INSERT INTO agencies (agency_id, name) VALUES
    ('web-self', 'Web form: self-referral'),
    ('web-public', 'Web form: member of the public'),
    ('web-professional', 'Web form: professional without a connected system')
ON CONFLICT (agency_id) DO NOTHING;

ALTER TABLE referrals DROP CONSTRAINT IF EXISTS referrals_channel_check;
ALTER TABLE referrals ADD CONSTRAINT referrals_channel_check
    CHECK (channel IN ('http', 'kafka', 'web'));

-- A draft is keyed by the SHA-256 of the session id (a leaked table gives no usable cookie)
-- and is AES-GCM ciphertext bound to that key; it is deleted on exit and on submission, and
-- is unusable after expires_at (expired rows are purged as new sessions start).
CREATE TABLE web_drafts (
    session_digest  bytea PRIMARY KEY,
    payload         bytea NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX web_drafts_expiry ON web_drafts (expires_at);
