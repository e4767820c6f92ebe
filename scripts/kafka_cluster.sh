#!/usr/bin/env bash
# A local three-node Apache Kafka cluster (KRaft; every node broker and controller) without Docker,
# the production shape: replication factor 3, min.insync.replicas=2 (infra/kafka/cluster.properties.template).
#
#   scripts/kafka_cluster.sh start        fetch jars if needed, format once, start the 3 nodes, create topics (RF 3)
#   scripts/kafka_cluster.sh stop         SIGTERM every node, wait, then SIGKILL (idempotent)
#   scripts/kafka_cluster.sh status       exit 0 when all 3 nodes answer, 1 otherwise
#   scripts/kafka_cluster.sh bootstrap    print the bootstrap servers (host:port,host:port,host:port)
#   scripts/kafka_cluster.sh kill N       SIGKILL node N (1-3), as in a crash (for drills and tests)
#   scripts/kafka_cluster.sh start-node N start node N again after a kill or stop
#   scripts/kafka_cluster.sh reset        stop and delete the cluster's data
#
# Ports on 127.0.0.1: brokers KAFKA_CLUSTER_PORT, +1, +2 (default 19092-19094), controllers +3..+5.
# Data, logs and pids under $DEV_DIR/kafka-cluster/node<N>; separate from the single-node
# broker of scripts/kafka.sh, which can run at the same time. Heap per node: KAFKA_CLUSTER_HEAP_OPTS
# (default "-Xms128m -Xmx384m"). Point the services at it with
# KAFKA_BOOTSTRAP_SERVERS="$(scripts/kafka_cluster.sh bootstrap)".
# Secured like scripts/kafka.sh's broker: TLS (the same local CA, .dev/kafka/tls) + SASL/SCRAM,
# ACLs deny by default; broker and admin bootstrapped at format time, the services' and the
# tooling principal's credentials and ACLs made by scripts/kafka_security.py once it is up.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/kafka_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka_lib.sh"

KAFKA_CLUSTER_PORT="${KAFKA_CLUSTER_PORT:-19092}"
[[ "$KAFKA_CLUSTER_PORT" =~ ^[0-9]+$ ]] && ((KAFKA_CLUSTER_PORT > 0 && KAFKA_CLUSTER_PORT < 65530)) ||
    die "KAFKA_CLUSTER_PORT must be a TCP port number below 65530, got '$KAFKA_CLUSTER_PORT'"
CLUSTER_DIR="$DEV_DIR/kafka-cluster"
TEMPLATE="$ROOT/infra/kafka/cluster.properties.template"
HEAP_OPTS="${KAFKA_CLUSTER_HEAP_OPTS:--Xms128m -Xmx384m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
NODES=(1 2 3)

broker_port() { echo $((KAFKA_CLUSTER_PORT + $1 - 1)); }
controller_port() { echo $((KAFKA_CLUSTER_PORT + $1 + 2)); }
node_dir() { echo "$CLUSTER_DIR/node$1"; }
bootstrap() {
    local n out=()
    for n in "${NODES[@]}"; do out+=("127.0.0.1:$(broker_port "$n")"); done
    (IFS=,; echo "${out[*]}")
}

check_node() {
    [[ "${1:-}" =~ ^[123]$ ]] || die "node must be 1, 2 or 3, got '${1:-}'"
}

# node_pid N: the pid of node N if it is running (and is a Kafka JVM, not a reused pid).
node_pid() { kafka_jvm_pid "$(node_dir "$1")/pid"; }

# answers PORT: the node answers on its secured listener (kafka_lib.sh).
answers() { kafka_answers_on "$1"; }

render() {
    local n="$1" dir voters="" m
    dir="$(node_dir "$n")"
    mkdir -p "$dir/data"
    for m in "${NODES[@]}"; do voters+="${voters:+,}$m@127.0.0.1:$(controller_port "$m")"; done
    sed -e "s|@NODE_ID@|$n|g" -e "s|@BROKER_PORT@|$(broker_port "$n")|g" \
        -e "s|@CONTROLLER_PORT@|$(controller_port "$n")|g" -e "s|@VOTERS@|$voters|g" \
        -e "s|@DATA_DIR@|$dir/data|g" -e "s|@TLS_DIR@|$KAFKA_TLS|g" \
        -e "s|@KEYSTORE_PASSWORD@|$KAFKA_KEYSTORE_PASSWORD|g" \
        -e "s|@BROKER_PASSWORD@|$KAFKA_BROKER_PASSWORD|g" \
        -e "s|@CONTROLLER_PASSWORD@|$KAFKA_CONTROLLER_PASSWORD|g" "$TEMPLATE" >"$dir/server.properties.tmp"
    chmod 600 "$dir/server.properties.tmp"
    mv "$dir/server.properties.tmp" "$dir/server.properties"
}

# A KRaft cluster id: 16 random bytes, base64url without padding (as StorageTool random-uuid
# makes, and like it never starting with "-"), without starting a JVM for it.
new_cluster_id() {
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
        [[ "$id" != -* ]] && break
    done
    printf '%s\n' "$id"
}

format_all() {
    local n cluster_id pids=()
    mkdir -p "$CLUSTER_DIR"
    # A cluster formatted before it was secured has no SCRAM users: start it afresh.
    if [[ -s "$CLUSTER_DIR/cluster.id" && ! -f "$CLUSTER_DIR/.scram-bootstrapped" ]]; then
        log "cluster data in $CLUSTER_DIR predates broker security; formatting it again"
        rm -rf "$CLUSTER_DIR"/node* "$CLUSTER_DIR/cluster.id"
    fi
    [[ -s "$CLUSTER_DIR/cluster.id" ]] || new_cluster_id >"$CLUSTER_DIR/cluster.id"
    cluster_id="$(<"$CLUSTER_DIR/cluster.id")"
    for n in "${NODES[@]}"; do
        render "$n"
        [[ -f "$(node_dir "$n")/data/meta.properties" ]] && continue
        # The three formats run side by side: each is a JVM start (seconds on a busy machine).
        java -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$KAFKA_CP" kafka.tools.StorageTool format \
            -t "$cluster_id" -c "$(node_dir "$n")/server.properties" \
            --add-scram "SCRAM-SHA-512=[name=broker,password=$KAFKA_BROKER_PASSWORD]" \
            --add-scram "SCRAM-SHA-512=[name=admin,password=$KAFKA_ADMIN_PASSWORD]" \
            >"$(node_dir "$n")/format.log" 2>&1 &
        pids+=("$!")
    done
    for n in "${!pids[@]}"; do
        wait "${pids[$n]}" || die "formatting a node failed (see $CLUSTER_DIR/node*/format.log)"
    done
    touch "$CLUSTER_DIR/.scram-bootstrapped"
}

launch() {
    local n="$1" dir pid
    dir="$(node_dir "$n")"
    if node_pid "$n" >/dev/null; then return 0; fi
    for port in "$(broker_port "$n")" "$(controller_port "$n")"; do
        port_open 127.0.0.1 "$port" && die "port 127.0.0.1:$port is in use; set KAFKA_CLUSTER_PORT"
    done
    [[ -f "$dir/kafka.log" ]] && mv -f "$dir/kafka.log" "$dir/kafka.log.1"
    # shellcheck disable=SC2086  # HEAP_OPTS is a list of JVM flags
    setsid nohup java $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
        -cp "$KAFKA_CP" kafka.Kafka "$dir/server.properties" </dev/null >"$dir/kafka.log" 2>&1 8>&- &
    pid=$!
    echo "$pid" >"$dir/pid"
    log "node $n starting (pid $pid) on 127.0.0.1:$(broker_port "$n"), log $dir/kafka.log"
}

wait_ready() {
    local n deadline=$((SECONDS + START_TIMEOUT))
    for n in "$@"; do
        until grep -q 'Kafka Server started' "$(node_dir "$n")/kafka.log" 2>/dev/null && answers "$(broker_port "$n")"; do
            node_pid "$n" >/dev/null || { tail -n 30 "$(node_dir "$n")/kafka.log" >&2 || true; die "node $n exited during start-up"; }
            ((SECONDS < deadline)) || die "node $n not ready after ${START_TIMEOUT}s (log: $(node_dir "$n")/kafka.log)"
            sleep 0.5
        done
    done
}

cmd_start() {
    local t0=$SECONDS n
    need_cmd java "install a Java 17 JDK/JRE"
    bash "$ROOT/scripts/kafka.sh" fetch
    bash "$ROOT/scripts/kafka_tls.sh" "$KAFKA_TLS"
    format_all
    for n in "${NODES[@]}"; do launch "$n"; done
    wait_ready "${NODES[@]}"
    log "3 nodes ready ($(bootstrap)) in $((SECONDS - t0))s"
    write_admin_config
    KAFKA_BOOTSTRAP="$(bootstrap)" KAFKA_REPLICATION_FACTOR=3 \
        KAFKA_CLIENT_CONFIG="$CLUSTER_DIR/admin.properties" bash "$ROOT/scripts/create_topics.sh"
    KAFKA_BOOTSTRAP_SERVERS="$(bootstrap)" KAFKA_SSL_CAFILE="$KAFKA_TLS/ca.crt" \
        "$ROOT/.venv/bin/python" "$ROOT/scripts/kafka_security.py"
}

# write_admin_config: the admin principal's Java client properties for create_topics.sh (mode 600).
write_admin_config() { write_admin_properties "$CLUSTER_DIR/admin.properties"; }

cmd_stop() {
    local n pid pids=()
    for n in "${NODES[@]}"; do
        if pid="$(node_pid "$n")"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    done
    local deadline=$((SECONDS + 60))
    for pid in "${pids[@]}"; do
        while proc_alive "$pid"; do
            if ((SECONDS >= deadline)); then kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; continue; fi
            sleep 0.3
        done
    done
    for n in "${NODES[@]}"; do rm -f "$(node_dir "$n")/pid"; done
    log "cluster stopped"
}

cmd_status() {
    local n pid bad=0
    for n in "${NODES[@]}"; do
        if pid="$(node_pid "$n")" && answers "$(broker_port "$n")"; then
            echo "node $n: running (pid $pid) on 127.0.0.1:$(broker_port "$n")"
        else
            echo "node $n: not answering on 127.0.0.1:$(broker_port "$n")"; bad=1
        fi
    done
    return "$bad"
}

cmd_kill() {
    local pid
    check_node "${1:-}"
    pid="$(node_pid "$1")" || die "node $1 is not running"
    kill -KILL "$pid"
    while proc_alive "$pid"; do sleep 0.1; done
    rm -f "$(node_dir "$1")/pid"
    log "node $1 (pid $pid) killed with SIGKILL"
}

case "${1:-}" in
start | stop | reset | start-node | kill) take_lock kafka-cluster ;;
esac
case "${1:-}" in
start | start-node) load_secrets ;;
esac
case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
bootstrap) bootstrap ;;
kill) cmd_kill "${2:-}" ;;
start-node) check_node "${2:-}"; launch "$2"; wait_ready "$2" ;;
reset) cmd_stop; rm -rf "$CLUSTER_DIR"; log "deleted $CLUSTER_DIR" ;;
*) die "usage: $0 {start|stop|status|bootstrap|kill N|start-node N|reset}" ;;
esac
