"""A demo provider receiver: verifies Standard Webhooks deliveries with the official package."""
