-- Rejections of Kafka submissions (issue 12): each is answered through the outbox under an id
-- derived from the message it answers, and recorded here in the same transaction, so a
-- redelivered message inserts nothing and is not answered twice. Ids and times only: the
-- fields at fault travel in the event, never stored here. Numbered 0012 so that it never
-- collides with another migration of the same round.
CREATE TABLE rejections (
    rejection_id  uuid PRIMARY KEY,
    rejected_at   timestamptz NOT NULL
);
