#!/usr/bin/env bash
# Create every Kafka topic in shared.topics.ALL_TOPICS (idempotent: existing
# topics are left as they are), then describe them all to verify.
#
#   scripts/create_topics.sh
#
# Env: KAFKA_PARTITIONS (default 3), KAFKA_BOOTSTRAP (default 127.0.0.1:$KAFKA_PORT),
#      PYTHON (default python3; only used to read the topic list, no packages needed),
#      KAFKA_CLIENT_CONFIG (Java client properties: security; default, for the project's own
#      secured broker, .dev/kafka/admin.properties written by scripts/kafka.sh, which
#      connects as the `admin` principal over TLS + SCRAM; "none" for a plain-text broker such
#      as the three-node cluster's).
# Needs the jars from `scripts/kafka.sh fetch` and a running broker (`scripts/kafka.sh start`).
#
# Speed: one JVM for all topics. A tiny AdminClient program (below) is compiled
# once with javac into .dev/kafka/tools and reused; without javac it falls back
# to one org.apache.kafka.tools.TopicCommand JVM per topic (~1.5 s each).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/kafka_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka_lib.sh"

KAFKA_PARTITIONS="${KAFKA_PARTITIONS:-3}"
if [[ -z "${KAFKA_BOOTSTRAP:-}" ]]; then
    KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
    KAFKA_CLIENT_CONFIG="${KAFKA_CLIENT_CONFIG:-$DEV_DIR/kafka/admin.properties}"
fi
KAFKA_CLIENT_CONFIG="${KAFKA_CLIENT_CONFIG:-none}"
if [[ "$KAFKA_CLIENT_CONFIG" != none && ! -r "$KAFKA_CLIENT_CONFIG" ]]; then
    die "KAFKA_CLIENT_CONFIG=$KAFKA_CLIENT_CONFIG is not a readable file (scripts/kafka.sh start writes it)"
fi
export KAFKA_CLIENT_CONFIG
PYTHON="${PYTHON:-python3}"
# KAFKA_REPLICATION_FACTOR: 3 on the three-node cluster (scripts/kafka_cluster.sh), 1 on the single broker.
REPLICATION_FACTOR="${KAFKA_REPLICATION_FACTOR:-1}"

[[ "$KAFKA_PARTITIONS" =~ ^[1-9][0-9]*$ ]] || die "KAFKA_PARTITIONS must be a positive integer, got '$KAFKA_PARTITIONS'"
compgen -G "$KAFKA_LIBS/kafka-clients-*.jar" >/dev/null ||
    die "Kafka jars not found in $KAFKA_LIBS; run: scripts/kafka.sh fetch"
need_cmd java
need_cmd "$PYTHON" "set PYTHON to a Python 3 interpreter"

# Import shared.topics normally (works in the project venv). shared/__init__.py
# pulls in pydantic models, so with a bare python3 fall back to loading
# shared/topics.py on its own (it needs only the standard library).
read_topics_py='
import importlib.util, sys
root = sys.argv[1]
sys.path.insert(0, root)
try:
    from shared.topics import ALL_TOPICS
except Exception:
    spec = importlib.util.spec_from_file_location("_topics", root + "/shared/topics.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ALL_TOPICS = mod.ALL_TOPICS
print("\n".join(ALL_TOPICS))
'
mapfile -t TOPICS < <(cd "$ROOT" && "$PYTHON" -c "$read_topics_py" "$ROOT") || true
((${#TOPICS[@]} > 0)) || die "could not read shared.topics.ALL_TOPICS from $ROOT/shared/topics.py with $PYTHON"

host="${KAFKA_BOOTSTRAP%%,*}"
port="${host##*:}"
host="${host%:*}"
port_open "$host" "$port" || die "Kafka is not reachable at $host:$port; start it with: scripts/kafka.sh start (log: $LOG_DIR/kafka.log)"

write_java_source() {
    cat >"$1" <<'JAVA'
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/** Usage: CreateTopics BOOTSTRAP PARTITIONS REPLICATION_FACTOR TOPIC... */
public class CreateTopics {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        int partitions = Integer.parseInt(args[1]);
        short rf = Short.parseShort(args[2]);
        List<String> topics = Arrays.asList(args).subList(3, args.length);
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "create-topics");
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        // Security (TLS, SASL) of the secured broker: the admin principal's client properties.
        String config = System.getenv("KAFKA_CLIENT_CONFIG");
        if (config != null && !config.equals("none")) {
            try (java.io.FileReader reader = new java.io.FileReader(config)) { props.load(reader); }
        }
        int failures = 0;
        try (Admin admin = Admin.create(props)) {
            Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<NewTopic> missing = new ArrayList<>();
            for (String t : topics) {
                if (!existing.contains(t)) missing.add(new NewTopic(t, partitions, rf));
            }
            Map<String, String> outcome = new TreeMap<>();
            for (Map.Entry<String, org.apache.kafka.common.KafkaFuture<Void>> e :
                    admin.createTopics(missing).values().entrySet()) {
                try {
                    e.getValue().get(30, TimeUnit.SECONDS);
                    outcome.put(e.getKey(), "created");
                } catch (ExecutionException ex) {
                    if (ex.getCause() instanceof TopicExistsException) {
                        outcome.put(e.getKey(), "exists");
                    } else {
                        System.err.println("FAILED to create " + e.getKey() + ": " + ex.getCause());
                        failures++;
                    }
                }
            }
            // Verify: every topic must be describable (retry while metadata propagates).
            Map<String, TopicDescription> described = null;
            long deadline = System.currentTimeMillis() + 20000;
            while (described == null) {
                try {
                    described = admin.describeTopics(topics).allTopicNames().get(30, TimeUnit.SECONDS);
                } catch (ExecutionException ex) {
                    if (!(ex.getCause() instanceof UnknownTopicOrPartitionException)
                            || System.currentTimeMillis() > deadline) throw ex;
                    Thread.sleep(200);
                }
            }
            for (String t : topics) {
                TopicDescription d = described.get(t);
                int n = d.partitions().size();
                String state = outcome.getOrDefault(t, "exists");
                String note = n < partitions ? "  (WARNING: fewer than the requested " + partitions + ")" : "";
                System.out.printf("  %-8s %-32s partitions=%d replication=%d%s%n",
                        state, t, n, d.partitions().get(0).replicas().size(), note);
            }
            // Warm up the group coordinator: the first FindCoordinator request makes the
            // broker create __consumer_offsets, so the services' first group join does not
            // have to wait for it (clients log GroupCoordinatorNotAvailable meanwhile).
            try {
                admin.describeConsumerGroups(List.of("create-topics-warmup")).all().get(60, TimeUnit.SECONDS);
            } catch (ExecutionException ex) {
                // Kafka 4 answers GROUP_ID_NOT_FOUND for an unknown group: the coordinator is up.
                if (!(ex.getCause() instanceof org.apache.kafka.common.errors.GroupIdNotFoundException)) throw ex;
            }
        }
        System.exit(failures == 0 ? 0 : 1);
    }
}
JAVA
}

start=$SECONDS
log "ensuring ${#TOPICS[@]} topics on $KAFKA_BOOTSTRAP (partitions=$KAFKA_PARTITIONS, replication=$REPLICATION_FACTOR)"
if command -v javac >/dev/null 2>&1; then
    mkdir -p "$TOOLS_DIR"
    src_tmp="$(mktemp "$TOOLS_DIR/.CreateTopics.XXXXXX")"
    write_java_source "$src_tmp"
    # Recompile only when the embedded source changed (or the jars were re-fetched).
    compile_tool CreateTopics "$src_tmp"
    run_tool CreateTopics \
        "$KAFKA_BOOTSTRAP" "$KAFKA_PARTITIONS" "$REPLICATION_FACTOR" "${TOPICS[@]}" ||
        die "creating or verifying topics on $KAFKA_BOOTSTRAP failed (broker log: $LOG_DIR/kafka.log)"
else
    log "javac not found; falling back to one TopicCommand JVM per topic (slower)"
    command_config=()
    [[ "$KAFKA_CLIENT_CONFIG" == none ]] || command_config=(--command-config "$KAFKA_CLIENT_CONFIG")
    for topic in "${TOPICS[@]}"; do
        java -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$KAFKA_CP" org.apache.kafka.tools.TopicCommand \
            "${command_config[@]}" --bootstrap-server "$KAFKA_BOOTSTRAP" --create --if-not-exists --topic "$topic" \
            --partitions "$KAFKA_PARTITIONS" --replication-factor "$REPLICATION_FACTOR" 2>&1 |
            grep -v 'could collide' || true
    done
    listed="$(java -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$KAFKA_CP" org.apache.kafka.tools.TopicCommand \
        "${command_config[@]}" --bootstrap-server "$KAFKA_BOOTSTRAP" --list)" || die "listing topics on $KAFKA_BOOTSTRAP failed"
    for topic in "${TOPICS[@]}"; do
        grep -qxF "$topic" <<<"$listed" || die "topic $topic missing after creation (broker log: $LOG_DIR/kafka.log)"
        echo "  present  $topic"
    done
fi
log "all ${#TOPICS[@]} topics present ($((SECONDS - start))s)"
# Each topic's retention (personal-data topics short, ops.* longer): infra/kafka/topic-retention.tsv.
if command -v javac >/dev/null 2>&1; then
    # The same admin connection (TLS + SCRAM as `admin`) as the topics themselves.
    retention_props=""
    [[ "$KAFKA_CLIENT_CONFIG" == none ]] || retention_props="$KAFKA_CLIENT_CONFIG"
    KAFKA_BOOTSTRAP="$KAFKA_BOOTSTRAP" KAFKA_CLIENT_PROPERTIES="$retention_props" \
        bash "$ROOT/scripts/topic_retention.sh" "${TOPICS[@]}"
else
    log "javac not found; topic retention left at the broker default (run scripts/topic_retention.sh)"
fi
