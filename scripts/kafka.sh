#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, broker+controller) without Docker.
#
#   scripts/kafka.sh fetch    jars from Maven Central into .dev/kafka/libs (cached)
#   scripts/kafka.sh start    fetch if needed, format storage once, start, wait until ready
#   scripts/kafka.sh stop     SIGTERM, wait up to 60 s, then SIGKILL (idempotent)
#   scripts/kafka.sh status   exit 0 when running and answering, 3 when stopped
#   scripts/kafka.sh reset    stop and delete the data dir (topics, offsets, cluster id)
#
# Listens on 127.0.0.1:$KAFKA_PORT (default 9092; TLS + SASL/SCRAM-SHA-512, ACLs deny by
# default), controller on 127.0.0.1:$KAFKA_CONTROLLER_PORT (default 9093). Log: .dev/logs/kafka.log.
# The CA and certificate are made by scripts/kafka_tls.sh into .dev/kafka/tls; the broker's,
# the controller's and admin's passwords come from .dev/secrets.env (scripts/secrets.sh), and
# broker and admin are bootstrapped as SCRAM users when the storage is formatted. The
# services' principals and ACLs are made afterwards by scripts/kafka_security.py.
# Env: KAFKA_HEAP_OPTS (default "-Xms256m -Xmx512m"), KAFKA_START_TIMEOUT (90),
#      KAFKA_AUTO_CREATE_TOPICS (false).
# Requires Java 17 and, for the first fetch, Maven (mvn) with access to Maven Central.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/kafka_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka_lib.sh"

KAFKA_INFRA="$ROOT/infra/kafka"
KAFKA_DIR="$DEV_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_MARKER="$KAFKA_LIBS/.fetch-complete"
KAFKA_LOG="$LOG_DIR/kafka.log"
KAFKA_PID="$RUN_DIR/kafka.pid"
# Written into the data dir once it was formatted with the SCRAM users: older, unsecured
# storage (no broker/admin credentials) is formatted again rather than started.
KAFKA_SECURED_MARKER="$KAFKA_DATA/.scram-bootstrapped"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-60}"
KAFKA_AUTO_CREATE_TOPICS="${KAFKA_AUTO_CREATE_TOPICS:-false}"
# shellcheck source=scripts/kafka_fetch.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka_fetch.sh"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
}

# kafka_pid: print the pid of the broker we started, if it is still running.
kafka_pid() { kafka_jvm_pid "$KAFKA_PID"; }

# kafka_answers: the broker answers on its secured listener (kafka_lib.sh: kafka_answers_on).
kafka_answers() { kafka_answers_on "$KAFKA_PORT"; }

render_properties() {
    [[ "$KAFKA_AUTO_CREATE_TOPICS" == true || "$KAFKA_AUTO_CREATE_TOPICS" == false ]] ||
        die "KAFKA_AUTO_CREATE_TOPICS must be true or false, got '$KAFKA_AUTO_CREATE_TOPICS'"
    [[ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ (both $KAFKA_PORT)"
    mkdir -p "$KAFKA_DIR" "$KAFKA_DATA"
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@DATA_DIR@|$KAFKA_DATA|g" \
        -e "s|@AUTO_CREATE_TOPICS@|$KAFKA_AUTO_CREATE_TOPICS|g" \
        -e "s|@TLS_DIR@|$KAFKA_TLS|g" \
        -e "s|@KEYSTORE_PASSWORD@|$KAFKA_KEYSTORE_PASSWORD|g" \
        -e "s|@BROKER_PASSWORD@|$KAFKA_BROKER_PASSWORD|g" \
        -e "s|@CONTROLLER_PASSWORD@|$KAFKA_CONTROLLER_PASSWORD|g" \
        "$KAFKA_INFRA/server.properties.template" >"$KAFKA_PROPS.tmp"
    chmod 600 "$KAFKA_PROPS.tmp"
    mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"
}

# write_admin_config: the Java client properties of the `admin` principal (TLS trusting the local
# CA, SCRAM-SHA-512), for the scripts' own Java tools (create_topics.sh). Mode 600.
write_admin_config() { write_admin_properties "$KAFKA_DIR/admin.properties"; }

format_storage() {
    if [[ -f "$KAFKA_DATA/meta.properties" && -f "$KAFKA_SECURED_MARKER" ]]; then
        return 0
    fi
    if [[ -f "$KAFKA_DATA/meta.properties" ]]; then
        log "storage in $KAFKA_DATA predates broker security (no SCRAM users); formatting it again (local data is lost)"
        rm -rf "$KAFKA_DATA"
        mkdir -p "$KAFKA_DATA"
    fi
    local cluster_id format_log="$LOG_DIR/kafka-format.log"
    log "formatting KRaft storage in $KAFKA_DATA"
    cluster_id="$(java -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$KAFKA_CP" \
        kafka.tools.StorageTool random-uuid 2>"$format_log")" ||
        die "could not generate a cluster id (see $format_log)"
    if ! java -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$KAFKA_CP" \
        kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$KAFKA_PROPS" \
        --add-scram "SCRAM-SHA-512=[name=broker,password=$KAFKA_BROKER_PASSWORD]" \
        --add-scram "SCRAM-SHA-512=[name=admin,password=$KAFKA_ADMIN_PASSWORD]" \
        >>"$format_log" 2>&1; then
        cat "$format_log" >&2
        die "formatting Kafka storage in $KAFKA_DATA failed (see $format_log)"
    fi
    touch "$KAFKA_SECURED_MARKER"
    log "formatted (cluster id $cluster_id) with SCRAM users broker and admin"
}

cmd_start() {
    local pid
    ensure_dev_dirs
    mkdir -p "$KAFKA_DIR"
    load_secrets
    write_admin_config
    if pid="$(kafka_pid)"; then
        if kafka_answers; then
            log "Kafka is already running (pid $pid) on 127.0.0.1:$KAFKA_PORT"
            return 0
        fi
        die "Kafka process $pid exists but does not answer on 127.0.0.1:$KAFKA_PORT; try: $0 stop && $0 start (log: $KAFKA_LOG)"
    fi
    rm -f "$KAFKA_PID"
    local port
    for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        if port_open 127.0.0.1 "$port"; then
            die "port 127.0.0.1:$port is already in use by another process; stop it or set KAFKA_PORT / KAFKA_CONTROLLER_PORT"
        fi
    done

    need_cmd java "install a Java 17 JDK/JRE"
    local java_major
    java_major="$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')"
    [[ "${java_major%%.*}" =~ ^[0-9]+$ && "${java_major%%.*}" -ge 17 ]] ||
        die "Kafka 4.1 needs Java 17 or newer; found java.specification.version=${java_major:-unknown}"

    cmd_fetch
    bash "$ROOT/scripts/kafka_tls.sh" "$KAFKA_TLS"
    render_properties
    format_storage

    [[ -f "$KAFKA_LOG" ]] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"
    log "starting Kafka on 127.0.0.1:$KAFKA_PORT (log: $KAFKA_LOG)"
    local start=$SECONDS
    # setsid + nohup: the broker survives the shell (and its process group) that started it.
    # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of JVM flags
    setsid nohup java $KAFKA_HEAP_OPTS \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
        -cp "$KAFKA_CP" kafka.Kafka "$KAFKA_PROPS" \
        </dev/null >"$KAFKA_LOG" 2>&1 8>&- &
    pid=$!
    echo "$pid" >"$KAFKA_PID"

    local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    while :; do
        if ! proc_alive "$pid"; then
            rm -f "$KAFKA_PID"
            echo "----- last 40 lines of $KAFKA_LOG -----" >&2
            tail -n 40 "$KAFKA_LOG" >&2 || true
            die "Kafka exited during startup (full log: $KAFKA_LOG)"
        fi
        if grep -q 'Kafka Server started' "$KAFKA_LOG" 2>/dev/null && kafka_answers; then
            break
        fi
        if ((SECONDS >= deadline)); then
            echo "----- last 40 lines of $KAFKA_LOG -----" >&2
            tail -n 40 "$KAFKA_LOG" >&2 || true
            die "Kafka (pid $pid) not ready on 127.0.0.1:$KAFKA_PORT after ${KAFKA_START_TIMEOUT}s; it is left running, stop it with: $0 stop (log: $KAFKA_LOG)"
        fi
        sleep 0.5
    done
    log "Kafka ready on 127.0.0.1:$KAFKA_PORT (pid $pid) in $((SECONDS - start))s"
}

cmd_stop() {
    local pid
    if ! pid="$(kafka_pid)"; then
        rm -f "$KAFKA_PID"
        if port_open 127.0.0.1 "$KAFKA_PORT"; then
            log "no Kafka started by this script is running, but 127.0.0.1:$KAFKA_PORT is in use by another process (left alone)"
        else
            log "Kafka is not running"
        fi
        return 0
    fi
    log "stopping Kafka (pid $pid) ..."
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
    while proc_alive "$pid"; do
        if ((SECONDS >= deadline)); then
            log "Kafka did not exit within ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 15))
            while proc_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
            break
        fi
        sleep 0.5
    done
    proc_alive "$pid" && die "Kafka (pid $pid) is still alive 15s after SIGKILL"
    rm -f "$KAFKA_PID"
    log "Kafka stopped"
}

cmd_status() {
    local pid
    if pid="$(kafka_pid)"; then
        if kafka_answers; then
            echo "kafka: running (pid $pid), answering on 127.0.0.1:$KAFKA_PORT; log $KAFKA_LOG"
            return 0
        fi
        echo "kafka: process $pid running but not answering on 127.0.0.1:$KAFKA_PORT (starting or stuck); log $KAFKA_LOG"
        return 1
    fi
    echo "kafka: stopped"
    return 3
}

cmd_reset() {
    cmd_stop
    log "deleting Kafka data in $KAFKA_DATA"
    rm -rf "$KAFKA_DATA"
}

case "${1:-}" in
fetch | start | stop | reset) take_lock kafka ;;
esac
case "${1:-}" in
fetch) cmd_fetch ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
reset) cmd_reset ;;
-h | --help | help) usage ;;
*)
    echo "usage: $0 {fetch|start|stop|status|reset}" >&2
    exit 2
    ;;
esac
