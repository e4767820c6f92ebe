#!/usr/bin/env bash
# Set each topic's retention.ms from infra/kafka/topic-retention.tsv (idempotent: new and
# existing topics alike), then read it back to verify.
#
#   scripts/topic_retention.sh TOPIC...      (scripts/create_topics.sh calls it with every topic)
#
# Env: KAFKA_BOOTSTRAP (default 127.0.0.1:$KAFKA_PORT); KAFKA_CLIENT_PROPERTIES, if set, a
# client properties file (security settings) for the admin connection.
# One JVM for all topics: a tiny AdminClient program compiled once into .dev/kafka/tools.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/kafka_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka_lib.sh"

KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:$KAFKA_PORT}"
POLICY="$ROOT/infra/kafka/topic-retention.tsv"

(($# > 0)) || die "usage: scripts/topic_retention.sh TOPIC..."
need_cmd java
need_cmd javac

# retention_days TOPIC: the days of the first pattern in $POLICY that matches TOPIC.
retention_days() {
    local pattern days _
    while read -r pattern days _; do
        [[ -z "$pattern" || "$pattern" == \#* ]] && continue
        # shellcheck disable=SC2053 # the pattern is a glob on purpose
        if [[ "$1" == $pattern ]]; then
            echo "$days"
            return 0
        fi
    done <"$POLICY"
    die "no retention for topic $1 in $POLICY"
}

pairs=()
for topic in "$@"; do
    days="$(retention_days "$topic")"
    [[ "$days" =~ ^[1-9][0-9]*$ ]] || die "retention of $topic in $POLICY must be whole days, got '$days'"
    pairs+=("$topic=$((days * 86400000))")
done

mkdir -p "$TOOLS_DIR"
src_tmp="$(mktemp "$TOOLS_DIR/.TopicRetention.XXXXXX")"
cat >"$src_tmp" <<'JAVA'
import java.io.FileInputStream;
import java.util.*;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.config.ConfigResource;

/** Usage: TopicRetention BOOTSTRAP TOPIC=RETENTION_MS... (KAFKA_CLIENT_PROPERTIES: extra props) */
public class TopicRetention {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        String extra = System.getenv("KAFKA_CLIENT_PROPERTIES");
        if (extra != null && !extra.isEmpty()) {
            try (FileInputStream in = new FileInputStream(extra)) { props.load(in); }
        }
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "topic-retention");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        Map<ConfigResource, Collection<AlterConfigOp>> changes = new LinkedHashMap<>();
        Map<String, String> wanted = new TreeMap<>();
        for (String pair : Arrays.asList(args).subList(1, args.length)) {
            String[] kv = pair.split("=", 2);
            wanted.put(kv[0], kv[1]);
            changes.put(new ConfigResource(ConfigResource.Type.TOPIC, kv[0]), List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", kv[1]), AlterConfigOp.OpType.SET)));
        }
        int wrong = 0;
        try (Admin admin = Admin.create(props)) {
            admin.incrementalAlterConfigs(changes).all().get(30, TimeUnit.SECONDS);
            // On a cluster the broker that answers may not have applied the change yet (its
            // metadata lags the controller's by a moment): read back until every topic shows it.
            Map<ConfigResource, Config> got = Map.of();
            for (int attempt = 0; attempt < 20; attempt++) {
                got = admin.describeConfigs(changes.keySet()).all().get(30, TimeUnit.SECONDS);
                boolean all = got.entrySet().stream().allMatch(
                    e -> e.getValue().get("retention.ms").value().equals(wanted.get(e.getKey().name())));
                if (all) break;
                Thread.sleep(500);
            }
            for (Map.Entry<ConfigResource, Config> e : got.entrySet()) {
                String topic = e.getKey().name();
                String ms = e.getValue().get("retention.ms").value();
                boolean ok = ms.equals(wanted.get(topic));
                if (!ok) wrong++;
                System.out.printf("  %-9s %-32s retention.ms=%s (%d days)%n", ok ? "retention" : "WRONG",
                    topic, ms, Long.parseLong(ms) / 86400000L);
            }
        }
        System.exit(wrong == 0 ? 0 : 1);
    }
}
JAVA
compile_tool TopicRetention "$src_tmp"
run_tool TopicRetention "$KAFKA_BOOTSTRAP" "${pairs[@]}" ||
    die "setting topic retention on $KAFKA_BOOTSTRAP failed (broker log: $LOG_DIR/kafka.log)"
log "retention set on ${#pairs[@]} topics from $POLICY"
