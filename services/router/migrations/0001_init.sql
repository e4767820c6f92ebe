-- Router's schema: one decision per referral, with the referral it was made from (for
-- replaying new rules over past referrals), its rules version and trace, and whether it has
-- been published to referrals.decided.v1.

CREATE TABLE decisions (
    referral_id    uuid PRIMARY KEY,
    submission_id  text NOT NULL,
    received_at    timestamptz NOT NULL,
    referral       jsonb NOT NULL,
    rules_version  text NOT NULL,
    pathway        text NOT NULL,
    provider       text,
    priority       text NOT NULL,
    decision       jsonb NOT NULL,
    decided_at     timestamptz NOT NULL,
    published_at   timestamptz
);
CREATE INDEX decisions_by_time ON decisions (decided_at);
