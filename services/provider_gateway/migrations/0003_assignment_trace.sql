-- The trace context (W3C traceparent) an assignment was made in, so that its deliveries,
-- which wait here for their turn, continue the referral's trace from intake to the provider.
ALTER TABLE assignments ADD COLUMN IF NOT EXISTS traceparent text;
