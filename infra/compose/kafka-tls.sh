#!/usr/bin/env bash
# docker-compose's `kafka-certs` step (apache/kafka image: keytool, no openssl): a CA and the
# broker's certificate, made once into two volumes.
#   /tls  the broker's keystore broker.p12 (its key, its certificate, the CA) and the CA's own
#         keystore: mounted only into this step and the broker
#   /ca   ca.crt alone (PEM): mounted read-only into every client (KAFKA_SSL_CAFILE=/ca/ca.crt)
# The keystores are protected by KAFKA_KEYSTORE_PASSWORD. Existing files are kept.
set -euo pipefail
: "${KAFKA_KEYSTORE_PASSWORD:?set KAFKA_KEYSTORE_PASSWORD}"
cd /tls
if [[ -s broker.p12 && -s /ca/ca.crt ]]; then
    echo "kafka-tls: certificates already made"
    exit 0
fi
pw=(-storetype PKCS12 -storepass:env KAFKA_KEYSTORE_PASSWORD)
rm -f ca.p12 broker.p12 broker.crt
keytool -genkeypair -alias ca -dname "CN=referral-routing Kafka CA" -keyalg EC -groupname secp256r1 \
    -validity 3650 -ext bc:c=ca:true -ext ku:c=keyCertSign,cRLSign -keystore ca.p12 "${pw[@]}"
keytool -exportcert -rfc -alias ca -keystore ca.p12 "${pw[@]}" >/ca/ca.crt.tmp
keytool -genkeypair -alias kafka -dname "CN=kafka" -keyalg EC -groupname secp256r1 -validity 730 \
    -keystore broker.p12 "${pw[@]}"
keytool -certreq -alias kafka -keystore broker.p12 "${pw[@]}" |
    keytool -gencert -alias ca -keystore ca.p12 "${pw[@]}" -rfc -validity 730 \
        -ext "san=dns:kafka,dns:localhost,ip:127.0.0.1" -ext eku=serverAuth >broker.crt
keytool -importcert -noprompt -alias ca -file /ca/ca.crt.tmp -keystore broker.p12 "${pw[@]}"
keytool -importcert -alias kafka -file broker.crt -keystore broker.p12 "${pw[@]}"
chmod 600 ca.p12 broker.p12
chmod 644 /ca/ca.crt.tmp
mv /ca/ca.crt.tmp /ca/ca.crt
echo "kafka-tls: CA and broker certificate made"
