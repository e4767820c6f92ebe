-- The key vault (issue 14; schema, ownership and the gateway's read grant: scripts/postgres.sh
-- bootstrap): one data key per referral, wrapped by a key-encryption key version. Destroying a
-- key (erasure) sets wrapped_key NULL and destroyed_at; the row stays as its record.
CREATE TABLE IF NOT EXISTS keyvault.data_keys (
    referral_id   uuid PRIMARY KEY,
    kek_version   text NOT NULL,
    wrapped_key   bytea NULL,
    created_at    timestamptz NOT NULL,
    destroyed_at  timestamptz NULL,
    CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);
