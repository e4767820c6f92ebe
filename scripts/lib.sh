# shellcheck shell=bash
# Common helpers for the infrastructure scripts. Source it; do not execute it.
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sets ROOT (repo root), DEV_DIR (git-ignored runtime state: jars, data, logs,
# pids, secrets) and the ports, each overridable from the environment.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DEV_DIR="${DEV_DIR:-$ROOT/.dev}"
LOG_DIR="$DEV_DIR/logs"
RUN_DIR="$DEV_DIR/run"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
PG_PORT="${PG_PORT:-55432}"

# The services' ports: one set of names, the ones the services themselves read
# (INTAKE_HTTP_PORT, ...), so exporting them works the same for scripts/stack.sh and for a
# service started by hand. INTAKE_PORT, ROUTER_PORT and GATEWAY_PORT, which stack_env.sh
# used to read, are kept as aliases; setting both names to different values is an error.
_port_alias() { # NAME ALIAS DEFAULT
    local name="$1" alias="$2" default="$3"
    if [[ -n "${!name:-}" && -n "${!alias:-}" && "${!name}" != "${!alias}" ]]; then
        printf '%s [lib.sh] ERROR: %s=%s and its old alias %s=%s disagree; set only %s\n' \
            "$(date +%H:%M:%S)" "$name" "${!name}" "$alias" "${!alias}" "$name" >&2
        exit 1
    fi
    printf -v "$name" '%s' "${!name:-${!alias:-$default}}"
}
_port_alias INTAKE_HTTP_PORT INTAKE_PORT 8001
_port_alias ROUTER_HTTP_PORT ROUTER_PORT 8002
_port_alias GATEWAY_HTTP_PORT GATEWAY_PORT 8003
RECEIVER_PORT="${RECEIVER_PORT:-8090}"

export ROOT DEV_DIR LOG_DIR RUN_DIR KAFKA_PORT KAFKA_CONTROLLER_PORT PG_PORT
export INTAKE_HTTP_PORT ROUTER_HTTP_PORT GATEWAY_HTTP_PORT RECEIVER_PORT

_script_name="$(basename "${0:-lib.sh}")"

log() {
    printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "$_script_name" "$*" >&2
}

die() {
    printf '%s [%s] ERROR: %s\n' "$(date +%H:%M:%S)" "$_script_name" "$*" >&2
    exit 1
}

# port_open HOST PORT -> 0 when something accepts TCP connections there.
port_open() {
    local host="$1" port="$2"
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# wait_for_port HOST PORT TIMEOUT_SECONDS WHAT
# Polls until HOST:PORT accepts TCP connections; dies after TIMEOUT_SECONDS.
wait_for_port() {
    local host="$1" port="$2" timeout="$3" what="${4:-$1:$2}"
    local deadline=$((SECONDS + timeout))
    while ! port_open "$host" "$port"; do
        if ((SECONDS >= deadline)); then
            die "$what did not open $host:$port within ${timeout}s"
        fi
        sleep 0.5
    done
}

for _var in KAFKA_PORT KAFKA_CONTROLLER_PORT PG_PORT INTAKE_HTTP_PORT ROUTER_HTTP_PORT GATEWAY_HTTP_PORT RECEIVER_PORT; do
    if ! [[ "${!_var}" =~ ^[0-9]+$ ]] || ((${!_var} < 1 || ${!_var} > 65535)); then
        die "$_var must be a TCP port number (1-65535), got '${!_var}'"
    fi
done
unset _var

# ensure_dev_dirs: create .dev and its common subfolders.
ensure_dev_dirs() {
    mkdir -p "$DEV_DIR" "$LOG_DIR" "$RUN_DIR"
}

# proc_alive PID -> 0 while PID exists and is not a zombie.
proc_alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# pid_alive PIDFILE -> 0 when PIDFILE names a live process (prints the pid).
pid_alive() {
    local pidfile="$1" pid
    [[ -s "$pidfile" ]] || return 1
    pid="$(<"$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    proc_alive "$pid" || return 1
    printf '%s\n' "$pid"
}

# take_lock NAME: serialise concurrent runs (e.g. two `start`s) on .dev/run/NAME.lock.
# Holds file descriptor 8 until the script exits; close it (8>&-) for daemons.
take_lock() {
    ensure_dev_dirs
    exec 8>"$RUN_DIR/$1.lock"
    flock -w 120 8 || die "another $1 operation has held $RUN_DIR/$1.lock for 120s"
}

# need_cmd CMD [HINT]: die unless CMD is on PATH.
need_cmd() {
    command -v "$1" >/dev/null 2>&1 || die "required command '$1' not found${2:+ ($2)}"
}
