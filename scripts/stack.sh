#!/usr/bin/env bash
# Run the three services and the demo provider receiver on this machine.
#
#   scripts/stack.sh up       start whatever is not running (infra must be up: scripts/infra.sh up)
#   scripts/stack.sh down     stop them (SIGTERM, then SIGKILL after 20 s)
#   scripts/stack.sh status   one line per process
#
# Each process logs to .dev/logs/<name>.log and records its pid in .dev/run/<name>.pid.
# Ports and folders come from the environment (README, "Running a second stack"):
# DEV_DIR, KAFKA_PORT, KAFKA_CONTROLLER_PORT, PG_PORT, INTAKE_HTTP_PORT, ROUTER_HTTP_PORT,
# GATEWAY_HTTP_PORT, RECEIVER_PORT.
# `up` waits until every service answers /readyz (PostgreSQL and Kafka reachable).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_dev_dirs
# Derived afresh each time from the variables in force (lib.sh), so that exporting
# INTAKE_HTTP_PORT=... before `up` takes effect even when an older stack.env exists.
bash "$ROOT/scripts/stack_env.sh"
set -a
# shellcheck disable=SC1091
. "$DEV_DIR/stack.env"
set +a
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || die "no virtualenv: run scripts/venv.sh (or make setup)"

# name -> "port|module and arguments"
declare -A PROCS=(
  [demo_receiver]="$RECEIVER_PORT|services.demo_receiver --port $RECEIVER_PORT --record $DEV_DIR/demo/received.jsonl"
  [intake]="$INTAKE_HTTP_PORT|services.intake serve"
  [router]="$ROUTER_HTTP_PORT|services.router serve"
  [provider_gateway]="$GATEWAY_HTTP_PORT|services.provider_gateway serve"
)
ORDER=(demo_receiver intake router provider_gateway)

provision() {
  # The demo agency and its API key (the key itself comes from .dev/secrets.env).
  (cd "$ROOT" && "$PY" -m services.intake agency-add demo-agency "Demo referring agency" >/dev/null &&
    "$PY" -m services.intake key-create demo-agency --label demo --token="$DEMO_AGENCY_API_KEY" >/dev/null) ||
    die "could not provision the demo agency (see the error above)"
}

wait_ready() { # name port path timeout
  local name="$1" port="$2" path="$3" deadline=$((SECONDS + $4))
  until curl -fsS "http://127.0.0.1:$port$path" >/dev/null 2>&1; do
    pid_alive "$RUN_DIR/$name.pid" >/dev/null || { tail -n 40 "$LOG_DIR/$name.log" >&2; die "$name exited; log: $LOG_DIR/$name.log"; }
    ((SECONDS < deadline)) || { tail -n 40 "$LOG_DIR/$name.log" >&2; die "$name not ready on :$port$path within $4 s; log: $LOG_DIR/$name.log"; }
    sleep 0.5
  done
}

up() {
  cd "$ROOT"
  mkdir -p "$DEV_DIR/demo"
  provision
  for name in "${ORDER[@]}"; do
    IFS='|' read -r port cmd <<<"${PROCS[$name]}"
    if pid=$(pid_alive "$RUN_DIR/$name.pid"); then
      log "$name already running (pid $pid)"
      continue
    fi
    port_open 127.0.0.1 "$port" && die "port $port is taken by another process; $name cannot start"
    # Background the service itself (not a subshell), so the pid file names the service and no
    # process is left holding the caller's stdout open.
    # shellcheck disable=SC2086  # cmd is a word list on purpose
    nohup "$PY" -m $cmd >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/$name.pid"
    log "$name started (pid $(<"$RUN_DIR/$name.pid")), log $LOG_DIR/$name.log"
  done
  wait_ready demo_receiver "$RECEIVER_PORT" /healthz 30
  for name in intake router provider_gateway; do
    IFS='|' read -r port _ <<<"${PROCS[$name]}"
    wait_ready "$name" "$port" /readyz 90
    log "$name ready on http://127.0.0.1:$port"
  done
}

down() {
  local name pid
  for name in provider_gateway router intake demo_receiver; do
    if pid=$(pid_alive "$RUN_DIR/$name.pid"); then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && { log "$name did not stop in 20 s; killing"; kill -KILL "$pid" 2>/dev/null || true; }
      log "$name stopped"
    fi
    rm -f "$RUN_DIR/$name.pid"
  done
}

status() {
  local name pid port
  for name in "${ORDER[@]}"; do
    IFS='|' read -r port _ <<<"${PROCS[$name]}"
    if pid=$(pid_alive "$RUN_DIR/$name.pid"); then echo "$name: running (pid $pid) on :$port"
    else echo "$name: stopped (port $port)"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: scripts/stack.sh up|down|status" ;;
esac
