#!/usr/bin/env bash
# Bring up (or down) everything the services stand on: secrets, PostgreSQL (installed from
# Debian's packages if missing), the database and roles, Kafka (jars fetched from Maven
# Central on first use; TLS, SASL/SCRAM and ACLs on), the topics, and every service's Kafka
# principal and ACLs. Idempotent; each step waits for readiness.
#
#   scripts/infra.sh up | down | status
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

up() {
  local t0=$SECONDS
  bash "$ROOT/scripts/secrets.sh" >/dev/null
  bash "$ROOT/scripts/stack_env.sh"
  set -a
  # shellcheck disable=SC1091
  . "$DEV_DIR/secrets.env"
  set +a
  bash "$ROOT/scripts/postgres.sh" install
  bash "$ROOT/scripts/postgres.sh" start
  bash "$ROOT/scripts/postgres.sh" bootstrap
  bash "$ROOT/scripts/kafka.sh" start
  bash "$ROOT/scripts/create_topics.sh"
  # The services' principals and ACLs (needs the venv: confluent-kafka's Admin API).
  [[ -x "$ROOT/.venv/bin/python" ]] || die "no virtualenv at $ROOT/.venv; run: bash scripts/venv.sh"
  "$ROOT/.venv/bin/python" "$ROOT/scripts/kafka_security.py"
  log "infrastructure ready in $((SECONDS - t0)) s"
}

case "${1:-}" in
  up) up ;;
  down) bash "$ROOT/scripts/kafka.sh" stop; bash "$ROOT/scripts/postgres.sh" stop ;;
  status) bash "$ROOT/scripts/postgres.sh" status || true; bash "$ROOT/scripts/kafka.sh" status || true ;;
  *) die "usage: scripts/infra.sh up|down|status" ;;
esac
