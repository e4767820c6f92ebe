#!/usr/bin/env bash
# The local certificate authority and the Kafka broker's TLS certificate, made with openssl.
#
#   scripts/kafka_tls.sh [DIR]     create what is missing in DIR (default $DEV_DIR/kafka/tls)
#
# Makes (mode 600 for keys, git-ignored under .dev/):
#   ca.key, ca.crt          a local CA (EC P-256, 10 years); clients trust ca.crt
#                           (KAFKA_SSL_CAFILE)
#   broker.key, broker.crt  the broker's certificate, signed by the CA, for 127.0.0.1,
#                           localhost and kafka (the compose service name); 2 years
#   broker.p12              key + certificate + CA as the broker's PKCS12 keystore, protected
#                           by KAFKA_KEYSTORE_PASSWORD (from .dev/secrets.env)
# Idempotent: existing files are kept; a broker certificate that no longer verifies against
# ca.crt, or expires within 30 days, is made again.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TLS_DIR="${1:-$DEV_DIR/kafka/tls}"
need_cmd openssl "apt-get install -y openssl"
[[ -n "${KAFKA_KEYSTORE_PASSWORD:-}" ]] ||
    die "KAFKA_KEYSTORE_PASSWORD is not set (scripts/secrets.sh makes it in $DEV_DIR/secrets.env)"

mkdir -p "$TLS_DIR"
chmod 700 "$TLS_DIR"
umask 077
cd "$TLS_DIR"

if [[ ! -s ca.key || ! -s ca.crt ]]; then
    log "making a local CA in $TLS_DIR"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
        -days 3650 -subj "/CN=referral-routing local Kafka CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout ca.key -out ca.crt 2>/dev/null || die "openssl could not make the CA in $TLS_DIR"
    rm -f broker.crt broker.p12
fi
chmod 644 ca.crt

broker_ok() {
    [[ -s broker.key && -s broker.crt && -s broker.p12 ]] &&
        openssl verify -CAfile ca.crt broker.crt >/dev/null 2>&1 &&
        openssl x509 -in broker.crt -noout -checkend $((30 * 86400)) >/dev/null 2>&1 &&
        openssl pkcs12 -in broker.p12 -noout -passin env:KAFKA_KEYSTORE_PASSWORD >/dev/null 2>&1
}

if ! broker_ok; then
    log "making the broker's certificate in $TLS_DIR"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
        -subj "/CN=kafka" -keyout broker.key -out broker.csr 2>/dev/null ||
        die "openssl could not make the broker's key in $TLS_DIR"
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kafka" \
        "extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >broker.ext
    openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
        -days 730 -extfile broker.ext -out broker.crt 2>/dev/null ||
        die "openssl could not sign the broker's certificate in $TLS_DIR"
    openssl pkcs12 -export -name kafka -in broker.crt -inkey broker.key -certfile ca.crt \
        -passout env:KAFKA_KEYSTORE_PASSWORD -out broker.p12 ||
        die "openssl could not write the broker's keystore $TLS_DIR/broker.p12"
    rm -f broker.csr broker.ext
fi
log "TLS ready: clients trust $TLS_DIR/ca.crt"
