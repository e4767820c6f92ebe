-- `simulate --from-db --since` reads the stored referrals by the time they were received.
CREATE INDEX decisions_by_received ON decisions (received_at);
