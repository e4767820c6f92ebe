# shellcheck shell=bash
# Helpers shared by the Kafka scripts (kafka.sh, kafka_cluster.sh, create_topics.sh,
# topic_retention.sh). Source it after lib.sh; do not execute it.
#
# Sets KAFKA_LIBS (the jars from `scripts/kafka.sh fetch`), KAFKA_CP, KAFKA_LOG4J, KAFKA_TLS
# (the local CA and broker certificates) and TOOLS_DIR (the small AdminClient programs, compiled
# once).

KAFKA_LIBS="$DEV_DIR/kafka/libs"
KAFKA_CP="$KAFKA_LIBS/*" # expanded by java, not by the shell
KAFKA_LOG4J="$ROOT/infra/kafka/log4j2.properties"
KAFKA_TLS="$DEV_DIR/kafka/tls"
TOOLS_DIR="$DEV_DIR/kafka/tools"

# kafka_jvm_pid PIDFILE: print the pid in PIDFILE if that process is alive and is a Kafka JVM
# (a stale pid file whose pid was reused by another process does not count).
kafka_jvm_pid() {
    local pid
    pid="$(pid_alive "$1")" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
    printf '%s\n' "$pid"
}

# kafka_answers_on PORT: send a Kafka ApiVersions v0 request over TLS (openssl s_client,
# verifying the broker's certificate against the local CA) and check for error_code 0 in the
# reply. Kafka answers ApiVersions before SASL authentication, so this proves the broker speaks
# the protocol on its secured listener, without starting a JVM or holding a credential.
kafka_answers_on() {
    local reply
    # size=15 | api_key=18 | api_version=0 | correlation_id=1 | client_id="probe"
    reply="$( (printf '\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x01\x00\x05probe'; sleep 1) |
        timeout 5 openssl s_client -quiet -no_ign_eof -verify_return_error -CAfile "$KAFKA_TLS/ca.crt" \
            -verify_ip 127.0.0.1 -connect "127.0.0.1:$1" 2>/dev/null |
        head -c 10 | od -An -tx1 | tr -d ' \n')" || true
    # 4 bytes size, correlation id 00000001, error code 0000
    [[ "${reply:8:12}" == "000000010000" ]]
}

# load_secrets: the broker's passwords (and every other local secret) into this shell.
load_secrets() {
    bash "$ROOT/scripts/secrets.sh" >/dev/null
    set -a
    # shellcheck disable=SC1091
    . "$DEV_DIR/secrets.env"
    set +a
}

# compile_tool NAME SOURCE: install SOURCE as $TOOLS_DIR/NAME.java and compile it, only when it
# changed (or the jars were fetched again) since the last compile; SOURCE is consumed.
compile_tool() {
    local name="$1" source="$2"
    if [[ ! -f "$TOOLS_DIR/$name.class" ]] || ! cmp -s "$source" "$TOOLS_DIR/$name.java" ||
        [[ "$KAFKA_LIBS/.fetch-complete" -nt "$TOOLS_DIR/$name.class" ]]; then
        mv "$source" "$TOOLS_DIR/$name.java"
        javac -nowarn -cp "$KAFKA_CP" -d "$TOOLS_DIR" "$TOOLS_DIR/$name.java" ||
            die "compiling $TOOLS_DIR/$name.java failed"
    else
        rm -f "$source"
    fi
}

# run_tool NAME ARGS...: run a compiled tool with the Kafka jars and the quiet log4j settings.
run_tool() {
    local name="$1"
    shift
    java -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$TOOLS_DIR:$KAFKA_CP" "$name" "$@"
}
