#!/usr/bin/env bash
# Private PostgreSQL cluster for local development and tests (no Docker).
#
#   scripts/postgres.sh install    apt-get install postgresql if initdb/pg_ctl are missing
#   scripts/postgres.sh start      initdb once into .dev/pg/data, start, wait for pg_isready
#   scripts/postgres.sh stop       fast shutdown (idempotent)
#   scripts/postgres.sh status     exit 0 when running and accepting connections, 3 when stopped
#   scripts/postgres.sh bootstrap  database "referrals", one LOGIN role + owned schema per service
#   scripts/postgres.sh psql ARGS  psql as superuser "postgres" over the private unix socket
#
# Listens on 127.0.0.1:$PG_PORT only (default 55432); unix socket in .dev/pg/run;
# log in .dev/logs/postgres.log. Superuser "postgres" has no password: it can only
# log in over the unix socket (trust), whose directory only its owner can enter.
# TCP logins (from 127.0.0.1 only, to the referrals database only, by the service roles only;
# pg_hba.conf is managed by this script) use scram-sha-256 with the per-service passwords, read by `bootstrap`
# from PG_INTAKE_PASSWORD, PG_ROUTER_PASSWORD, PG_GATEWAY_PASSWORD, e.g.:
#   set -a; . .dev/secrets.env; set +a; scripts/postgres.sh bootstrap
# Run as root (the server then runs as the "postgres" OS user) or as any other user.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_SEARCH_ROOT="${PG_SEARCH_ROOT:-/usr/lib/postgresql}"
PG_START_TIMEOUT="${PG_START_TIMEOUT:-60}"
PG_OS_USER="${PG_OS_USER:-postgres}"
PG_DIR="${PG_DIR:-$DEV_DIR/pg}"
PG_LOG="${PG_LOG:-$LOG_DIR/postgres.log}"
# Run as root, the server runs as $PG_OS_USER, which must be able to reach the cluster folder.
# A clone inside a private folder (mode 700 somewhere above it) is out of its reach: then the
# cluster lives under /var/tmp instead, in a folder named after this clone's path, and
# .dev/pg-location says where.
if [[ $EUID -eq 0 && "$PG_DIR" == "$DEV_DIR/pg" ]] && id -u "$PG_OS_USER" >/dev/null 2>&1; then
    mkdir -p "$DEV_DIR"
    if ! runuser -u "$PG_OS_USER" -- test -x "$DEV_DIR" 2>/dev/null; then
        PG_DIR="/var/tmp/referral-routing-pg/$(printf '%s' "$DEV_DIR" | sha256sum | cut -c1-12)"
        PG_LOG="$PG_DIR/postgres.log"
        mkdir -p "$PG_DIR"
        chmod 755 /var/tmp/referral-routing-pg
        printf '%s\n' "$PG_DIR" >"$DEV_DIR/pg-location"
    fi
fi
PG_DATA="$PG_DIR/data"
PG_SOCKET_DIR="$PG_DIR/run"
PG_DATABASE=referrals
# role:schema:password variable
PG_SERVICES=(
    referrals_intake:intake:PG_INTAKE_PASSWORD
    referrals_router:router:PG_ROUTER_PASSWORD
    referrals_gateway:gateway:PG_GATEWAY_PASSWORD
)
# shellcheck source=scripts/postgres_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/postgres_lib.sh"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
}

cmd_install() {
    local bindir
    if bindir="$(find_pg_bindir)"; then
        log "PostgreSQL found: $bindir ($("$bindir/postgres" --version))"
        return 0
    fi
    [[ $EUID -eq 0 ]] || die "PostgreSQL is not installed and installing it needs root: sudo apt-get install -y postgresql"
    need_cmd apt-get "install PostgreSQL (initdb, pg_ctl) with your package manager"
    log "PostgreSQL not found under $PG_SEARCH_ROOT; installing with apt-get (log: $LOG_DIR/postgres-install.log)"
    ensure_dev_dirs
    if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; } \
        >"$LOG_DIR/postgres-install.log" 2>&1; then
        tail -n 20 "$LOG_DIR/postgres-install.log" >&2 || true
        die "apt-get install postgresql failed (full output: $LOG_DIR/postgres-install.log)"
    fi
    bindir="$(find_pg_bindir)" || die "apt-get installed postgresql but no initdb/pg_ctl under $PG_SEARCH_ROOT/*/bin"
    log "installed: $bindir ($("$bindir/postgres" --version))"
}

cmd_start() {
    # Install when missing.
    if ! find_pg_bindir >/dev/null; then
        cmd_install
    fi
    require_pg_bin
    if pg_running; then
        if pg_ready; then
            log "PostgreSQL is already running on 127.0.0.1:$PG_PORT (data $PG_DATA)"
            return 0
        fi
        log "PostgreSQL is running but not ready yet; waiting"
    else
        port_open 127.0.0.1 "$PG_PORT" &&
            die "port 127.0.0.1:$PG_PORT is already in use by another process; stop it or set PG_PORT"
        prepare_dirs
        init_cluster
        write_dev_conf
        write_hba
        log "starting PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
        # setsid: the server survives the shell (and its process group) that started it.
        if ! as_pg setsid "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t "$PG_START_TIMEOUT" \
            >/dev/null </dev/null 8>&-; then
            echo "----- last 40 lines of $PG_LOG -----" >&2
            tail -n 40 "$PG_LOG" >&2 || true
            die "PostgreSQL failed to start (log: $PG_LOG)"
        fi
    fi
    local deadline=$((SECONDS + PG_START_TIMEOUT))
    until pg_ready; do
        if ((SECONDS >= deadline)); then
            tail -n 40 "$PG_LOG" >&2 || true
            die "PostgreSQL not accepting connections on 127.0.0.1:$PG_PORT after ${PG_START_TIMEOUT}s (log: $PG_LOG)"
        fi
        sleep 0.5
    done
    log "PostgreSQL ready on 127.0.0.1:$PG_PORT (socket dir $PG_SOCKET_DIR)"
}

cmd_stop() {
    require_pg_bin
    if ! pg_running; then
        log "PostgreSQL is not running"
        return 0
    fi
    log "stopping PostgreSQL ..."
    if ! as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 >/dev/null; then
        log "fast shutdown timed out; trying immediate shutdown"
        as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 30 >/dev/null ||
            die "could not stop PostgreSQL (log: $PG_LOG)"
    fi
    log "PostgreSQL stopped"
}

cmd_status() {
    require_pg_bin
    if pg_running; then
        if pg_ready; then
            echo "postgres: running, accepting connections on 127.0.0.1:$PG_PORT; data $PG_DATA; log $PG_LOG"
            return 0
        fi
        echo "postgres: running but not accepting connections on 127.0.0.1:$PG_PORT; log $PG_LOG"
        return 1
    fi
    echo "postgres: stopped"
    return 3
}

cmd_psql() {
    require_pg_bin
    pg_running || die "PostgreSQL is not running; start it with: $0 start"
    exec "$PG_BIN/psql" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres "$@"
}

cmd_bootstrap() {
    require_pg_bin
    local entry role schema var missing=()
    for entry in "${PG_SERVICES[@]}"; do
        IFS=: read -r role schema var <<<"$entry"
        [[ -n "${!var:-}" ]] || missing+=("$var")
    done
    ((${#missing[@]} == 0)) ||
        die "missing environment variable(s): ${missing[*]} (generate them with scripts/secrets.sh, then: set -a; . $DEV_DIR/secrets.env; set +a)"
    if ! pg_running || ! pg_ready; then
        die "PostgreSQL is not running on 127.0.0.1:$PG_PORT; start it with: $0 start"
    fi

    # Passwords travel as psql variables filled from the environment (\getenv,
    # psql >= 15): never on a command line, never spliced into SQL by the shell;
    # :'var' makes psql quote them as SQL literals.
    local psql_major
    psql_major="$("$PG_BIN/psql" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')"
    ((psql_major >= 15)) || die "bootstrap needs psql 15 or newer (found $psql_major) for \\getenv"

    local sql_roles="" sql_schemas=""
    for entry in "${PG_SERVICES[@]}"; do
        IFS=: read -r role schema var <<<"$entry"
        sql_roles+="
\\getenv pw $var
SELECT format('CREATE ROLE %I LOGIN', '$role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') \\gexec
ALTER ROLE $role WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT
  PASSWORD :'pw';
\\unset pw
"
        sql_schemas+="
CREATE SCHEMA IF NOT EXISTS $schema AUTHORIZATION $role;
ALTER SCHEMA $schema OWNER TO $role;
REVOKE ALL ON SCHEMA $schema FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE $PG_DATABASE TO $role;
ALTER ROLE $role IN DATABASE $PG_DATABASE SET search_path = $schema;
"
    done

    log "bootstrapping database $PG_DATABASE and roles on 127.0.0.1:$PG_PORT"
    write_hba
    superuser_psql -d postgres -v ON_ERROR_STOP=1 -q <<SQL
SET client_min_messages = warning;
-- pg_hba.conf was just rewritten (write_hba): apply it to new connections.
SELECT pg_reload_conf() AS reloaded \\gset
$sql_roles
SELECT 'CREATE DATABASE $PG_DATABASE OWNER postgres ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DATABASE') \\gexec
-- Only the service roles (and superusers) may connect, and only to $PG_DATABASE.
REVOKE ALL ON DATABASE $PG_DATABASE FROM PUBLIC;
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
\\connect $PG_DATABASE
SET client_min_messages = warning;
-- Nobody but the database owner may create objects in "public".
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- Each service owns exactly one schema; no grants across schemas.
$sql_schemas
-- The key vault (issue 14): per-referral data keys, wrapped. Intake owns it (creates and
-- destroys keys; its migration 0004 makes the table), the gateway may only read it (to build a
-- provider's delivery); the router, ops and PUBLIC get nothing.
CREATE SCHEMA IF NOT EXISTS keyvault AUTHORIZATION referrals_intake;
ALTER SCHEMA keyvault OWNER TO referrals_intake;
REVOKE ALL ON SCHEMA keyvault FROM PUBLIC;
GRANT USAGE ON SCHEMA keyvault TO referrals_gateway;
GRANT SELECT ON ALL TABLES IN SCHEMA keyvault TO referrals_gateway;
ALTER DEFAULT PRIVILEGES FOR ROLE referrals_intake IN SCHEMA keyvault
    GRANT SELECT ON TABLES TO referrals_gateway;
SQL
    log "bootstrap done: database $PG_DATABASE; roles $(for e in "${PG_SERVICES[@]}"; do printf '%s(schema %s) ' "${e%%:*}" "$(cut -d: -f2 <<<"$e")"; done)"
}

case "${1:-}" in
install | start | stop | bootstrap) take_lock postgres ;;
esac
case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
bootstrap) cmd_bootstrap ;;
psql)
    shift
    cmd_psql "$@"
    ;;
-h | --help | help) usage ;;
*)
    echo "usage: $0 {install|start|stop|status|bootstrap|psql [ARGS...]}" >&2
    exit 2
    ;;
esac
