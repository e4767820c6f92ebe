"""The gateway's adapters: asyncpg stores, the outbox, delivery channels, background loops."""
