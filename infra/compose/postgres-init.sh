#!/usr/bin/env bash
# Runs once in the postgres container on first start (docker-entrypoint-initdb.d):
# one login role and one schema per service in database `referrals`, passwords from the env.
set -euo pipefail
for svc in intake router gateway; do
  var="PG_${svc^^}_PASSWORD"
  [[ -n "${!var:-}" ]] || { echo "postgres-init: $var is not set" >&2; exit 1; }
  psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d referrals -v role="referrals_$svc" -v pw="${!var}" -v schema="$svc" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'pw';
CREATE SCHEMA :"schema" AUTHORIZATION :"role";
ALTER ROLE :"role" SET search_path = :"schema";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA :"schema" FROM PUBLIC;
SQL
done
# The key vault (issue 14; as scripts/postgres.sh bootstrap): intake owns it, the gateway reads.
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d referrals <<'SQL'
CREATE SCHEMA keyvault AUTHORIZATION referrals_intake;
REVOKE ALL ON SCHEMA keyvault FROM PUBLIC;
GRANT USAGE ON SCHEMA keyvault TO referrals_gateway;
ALTER DEFAULT PRIVILEGES FOR ROLE referrals_intake IN SCHEMA keyvault
    GRANT SELECT ON TABLES TO referrals_gateway;
SQL
