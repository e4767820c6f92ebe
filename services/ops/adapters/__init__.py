"""The ops tool's I/O: Kafka (aiokafka, read-only) and the services' tables (asyncpg, read-only)."""
