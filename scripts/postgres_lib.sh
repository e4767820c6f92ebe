# shellcheck shell=bash
# The private PostgreSQL cluster's helpers: finding the server binaries, running as the cluster
# owner, readiness, the managed postgresql.conf and pg_hba.conf, initdb, and superuser psql.
# Sourced by scripts/postgres.sh after lib.sh and its variables (PG_DIR, PG_DATA, PG_PORT, ...).

# find_pg_bindir: newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl.
find_pg_bindir() {
    local dir found=""
    while IFS= read -r dir; do
        [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]] && found="$dir"
    done < <(find "$PG_SEARCH_ROOT" -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V)
    [[ -n "$found" ]] || return 1
    printf '%s\n' "$found"
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

# superuser_psql ARGS...: psql as "postgres" over the private unix socket.
superuser_psql() {
    "$PG_BIN/psql" -X -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres "$@"
}
