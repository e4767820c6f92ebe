-- The router publishes through a transactional outbox, like intake and the gateway: a decision
-- and the rows of its events (the decision on referrals.decided.v1, its ops copy) are written in
-- one transaction, and the shared relay (services/common/outbox.py) publishes the rows.

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

-- Whether the decision's events are in the outbox. Every decision stored from now on has them
-- queued in its own transaction (true). A decision stored by the router before this migration
-- and never published (the process died between storing and publishing; its referral was not
-- committed on Kafka, so it will be redelivered) is false: its redelivery queues the events once.
ALTER TABLE decisions ADD COLUMN events_queued boolean NOT NULL DEFAULT true;
UPDATE decisions SET events_queued = false WHERE published_at IS NULL;

-- `published_at` keeps its meaning (when Kafka acknowledged the decision, as the operators'
-- `trace` shows it): the relay marking the decided row sent stamps its decision.
-- A key that is not a referral id (the router writes none) is passed over rather than cast: a
-- failed cast would fail the relay's whole batch, again and again.
CREATE FUNCTION decision_published() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.message_key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        UPDATE decisions SET published_at = NEW.sent_at
         WHERE referral_id = NEW.message_key::uuid AND published_at IS NULL;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_decided_sent
    AFTER UPDATE OF sent_at ON outbox
    FOR EACH ROW
    WHEN (OLD.sent_at IS NULL AND NEW.sent_at IS NOT NULL
          AND NEW.topic = 'referrals.decided.v1')
    EXECUTE FUNCTION decision_published();
