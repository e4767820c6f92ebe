#!/usr/bin/env bash
# docker-compose's Kafka (apache/kafka image): the same security as scripts/kafka.sh locally.
# The client listener (kafka:9092) is SASL_SSL with SCRAM-SHA-512 (keystore from the
# `kafka-certs` step); the controller listener stays on the container's loopback with PLAIN
# (KRaft cannot check SCRAM there); StandardAuthorizer, deny by default; super users: the
# broker, the controller and `admin` (the set-up steps only). Storage is formatted once, with the
# broker's and admin's SCRAM credentials; the services' principals and ACLs are made by the
# `kafka-acls` step. Also writes /tmp/admin.properties for the health check.
set -euo pipefail
for var in KAFKA_KEYSTORE_PASSWORD KAFKA_BROKER_PASSWORD KAFKA_CONTROLLER_PASSWORD KAFKA_ADMIN_PASSWORD; do
    [[ -n "${!var:-}" ]] || { echo "kafka-start: set $var" >&2; exit 1; }
done
umask 077
cat >/tmp/server.properties <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:9093
listeners=CLIENT://:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=CLIENT://kafka:9092
inter.broker.listener.name=CLIENT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_SSL
log.dirs=/var/lib/kafka/data
ssl.keystore.type=PKCS12
ssl.keystore.location=/tls/broker.p12
ssl.keystore.password=$KAFKA_KEYSTORE_PASSWORD
ssl.truststore.type=PEM
ssl.truststore.location=/ca/ca.crt
ssl.client.auth=none
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$KAFKA_BROKER_PASSWORD";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$KAFKA_CONTROLLER_PASSWORD" user_controller="$KAFKA_CONTROLLER_PASSWORD";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:broker;User:controller;User:admin
auto.create.topics.enable=false
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
cat >/tmp/admin.properties <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";
ssl.truststore.type=PEM
ssl.truststore.location=/ca/ca.crt
PROPS
if [[ ! -f /var/lib/kafka/data/meta.properties ]]; then
    /opt/kafka/bin/kafka-storage.sh format --standalone -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
        -c /tmp/server.properties \
        --add-scram "SCRAM-SHA-512=[name=broker,password=$KAFKA_BROKER_PASSWORD]" \
        --add-scram "SCRAM-SHA-512=[name=admin,password=$KAFKA_ADMIN_PASSWORD]"
fi
exec /opt/kafka/bin/kafka-server-start.sh /tmp/server.properties
