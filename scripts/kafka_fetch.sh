# shellcheck shell=bash
# Fetching the Kafka jars (`scripts/kafka.sh fetch`): Maven copies the pom's runtime dependencies
# into $KAFKA_LIBS once; a marker holding the pom's hash makes later fetches a no-op until the pom
# changes. Sourced by scripts/kafka.sh after lib.sh and kafka_lib.sh (needs KAFKA_INFRA, KAFKA_LIBS,
# KAFKA_MARKER, LOG_DIR).

DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# Jars that must be present after a fetch (a sanity check on the copy).
REQUIRED_JARS=(kafka_2.13-4.1.1.jar kafka-clients-4.1.1.jar kafka-tools-4.1.1.jar
    kafka-server-4.1.1.jar log4j-core-2.24.3.jar log4j-slf4j-impl-2.24.3.jar scala-library-2.13.16.jar)

# The marker holds a hash of the pom: editing the pom invalidates the cache.
pom_fingerprint() {
    sha256sum "$KAFKA_INFRA/pom.xml" | cut -d' ' -f1
}

libs_complete() {
    [[ -f "$KAFKA_MARKER" ]] && [[ "$(<"$KAFKA_MARKER")" == "$(pom_fingerprint)" ]] || return 1
    local jar
    for jar in "${REQUIRED_JARS[@]}"; do
        [[ -s "$KAFKA_LIBS/$jar" ]] || return 1
    done
}

cmd_fetch() {
    if libs_complete; then
        log "Kafka jars already fetched ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $KAFKA_LIBS); skipping"
        return 0
    fi
    need_cmd java "install a Java 17 JDK/JRE"
    need_cmd mvn "install Maven: apt-get install -y maven"
    ensure_dev_dirs
    log "fetching Kafka jars from Maven Central into $KAFKA_LIBS ..."
    rm -rf "$KAFKA_LIBS"
    mkdir -p "$KAFKA_LIBS"
    local start=$SECONDS mvn_log="$LOG_DIR/kafka-fetch.log"
    if ! mvn -B -q -Dstyle.color=never -f "$KAFKA_INFRA/pom.xml" \
        "$DEPENDENCY_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >"$mvn_log" 2>&1; then
        tail -n 40 "$mvn_log" >&2 || true
        die "Maven could not fetch the Kafka jars (pom: $KAFKA_INFRA/pom.xml; full output: $mvn_log)"
    fi
    local jar
    for jar in "${REQUIRED_JARS[@]}"; do
        [[ -s "$KAFKA_LIBS/$jar" ]] || die "fetch finished but $jar is missing from $KAFKA_LIBS (see $mvn_log)"
    done
    pom_fingerprint >"$KAFKA_MARKER"
    log "fetched $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $((SECONDS - start))s"
}
