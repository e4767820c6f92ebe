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

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
}

# find_pg_bindir: newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl.
find_pg_bindir() {
    local dir found=""
    while IFS= read -r dir; do
        [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]] && found="$dir"
    done < <(find "$PG_SEARCH_ROOT" -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V)
    [[ -n "$found" ]] || return 1
    printf '%s\n' "$found"
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

PG_BIN=""
require_pg_bin() {
    [[ -n "$PG_BIN" ]] && return 0
    PG_BIN="$(find_pg_bindir)" || die "PostgreSQL binaries not found under $PG_SEARCH_ROOT/*/bin; run: $0 install"
}

# as_pg CMD...: run as the cluster owner. initdb and pg_ctl refuse to run as root.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

pg_running() {
    require_pg_bin
    [[ -f "$PG_DATA/PG_VERSION" ]] || return 1
    as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

pg_ready() {
    "$PG_BIN/pg_isready" -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -t 3 &&
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -t 3
}

# prepare_dirs: .dev/pg owned by the cluster owner; log file writable by it.
prepare_dirs() {
    ensure_dev_dirs
    mkdir -p "$PG_DIR" "$PG_DATA" "$PG_SOCKET_DIR"
    touch "$PG_LOG"
    if [[ $EUID -eq 0 ]]; then
        id -u "$PG_OS_USER" >/dev/null 2>&1 ||
            die "OS user '$PG_OS_USER' does not exist (the postgresql package creates it; or set PG_OS_USER)"
        chown "$PG_OS_USER:" "$PG_DIR" "$PG_DATA" "$PG_SOCKET_DIR" "$PG_LOG"
    fi
    chmod 700 "$PG_DIR" "$PG_DATA" "$PG_SOCKET_DIR"
    chmod 640 "$PG_LOG"
    as_pg test -w "$PG_DATA" -a -w "$PG_SOCKET_DIR" -a -w "$PG_LOG" ||
        die "OS user '$PG_OS_USER' cannot write $PG_DATA; every parent directory of $DEV_DIR must be traversable (chmod o+x)"
}

# Settings we manage; rewritten on every start so PG_PORT changes apply.
write_dev_conf() {
    local conf="$PG_DATA/dev.conf"
    as_pg tee "$conf.tmp" >/dev/null <<EOF
# Managed by scripts/postgres.sh; rewritten on every start. Edit the script instead.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
max_connections = 100
shared_buffers = '128MB'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
EOF
    as_pg mv -f "$conf.tmp" "$conf"
    if ! grep -q "^include_if_exists = 'dev.conf'" "$PG_DATA/postgresql.conf"; then
        printf "\n# Local settings managed by scripts/postgres.sh\ninclude_if_exists = 'dev.conf'\n" |
            as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
    fi
}

# write_hba: who may log in, and how; rewritten on every start and bootstrap (then reloaded).
# The superuser only over the unix socket (its directory is mode 0700: only the cluster's OS
# owner can reach it); the service roles only over TCP from 127.0.0.1, only to the referrals
# database, only with SCRAM-SHA-256. Nothing else: no trust or md5 over TCP, no ::1, no
# replication, no other role or database (the first line that matches decides, and when none
# does the login is refused).
write_hba() {
    local roles="" entry
    for entry in "${PG_SERVICES[@]}"; do roles+="${roles:+,}${entry%%:*}"; done
    as_pg tee "$PG_DATA/pg_hba.conf.tmp" >/dev/null <<EOF
# Managed by scripts/postgres.sh; rewritten on every start and bootstrap. Edit the script instead.
# TYPE  DATABASE      USER        ADDRESS         METHOD
local   all           postgres                    trust
host    $PG_DATABASE  $roles  127.0.0.1/32    scram-sha-256
EOF
    as_pg mv -f "$PG_DATA/pg_hba.conf.tmp" "$PG_DATA/pg_hba.conf"
}

init_cluster() {
    [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
    if [[ -n "$(ls -A "$PG_DATA" 2>/dev/null)" ]]; then
        die "$PG_DATA is not empty but holds no cluster (no PG_VERSION); move it away and re-run"
    fi
    log "initialising cluster in $PG_DATA"
    if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C >"$LOG_DIR/postgres-initdb.log" 2>&1; then
        tail -n 20 "$LOG_DIR/postgres-initdb.log" >&2 || true
        die "initdb failed (full output: $LOG_DIR/postgres-initdb.log)"
    fi
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

# superuser_psql ARGS...: psql as "postgres" over the private unix socket.
superuser_psql() {
    "$PG_BIN/psql" -X -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres "$@"
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
