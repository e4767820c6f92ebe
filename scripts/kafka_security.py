"""Make every service's Kafka principal (a SCRAM user) and its ACLs on the local broker.

    .venv/bin/python scripts/kafka_security.py

Run by `scripts/infra.sh up` after the topics exist, and by docker-compose's `kafka-acls` step;
idempotent (it sets each password again and creates ACLs that already exist as no-ops). Connects
as `admin` (a super user bootstrapped when the storage was formatted) over TLS. Reads
KAFKA_PORT and DEV_DIR like the shell scripts, and the passwords KAFKA_ADMIN_PASSWORD and
KAFKA_<PRINCIPAL>_PASSWORD (each principal of services.common.kafka_acls.SERVICE_GRANTS) from
the environment, else from $DEV_DIR/secrets.env. KAFKA_BOOTSTRAP_SERVERS and KAFKA_SSL_CAFILE,
when set, override the local broker's address and CA (compose sets them). Prints names, never
passwords.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common import kafka_admin  # noqa: E402 - after the path is set
from services.common.kafka_acls import SERVICE_GRANTS, password_variable  # noqa: E402
from services.common.kafka_security import KafkaSecurity, KafkaSecurityError  # noqa: E402


def _secrets(dev: Path) -> dict[str, str]:
    """The environment's values over those of $DEV_DIR/secrets.env (if there is one)."""
    path = dev / "secrets.env"
    pairs = (
        (line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines())
        if path.exists()
        else ()
    )
    from_file = {p[0].strip(): p[1] for p in pairs if len(p) == 2 and not p[0].startswith("#")}
    return from_file | {k: v for k, v in os.environ.items() if k.startswith("KAFKA_") and v}


def main() -> int:
    dev = Path(os.environ.get("DEV_DIR", ROOT / ".dev"))
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or (
        f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
    )
    cafile = Path(os.environ.get("KAFKA_SSL_CAFILE") or dev / "kafka" / "tls" / "ca.crt")
    secrets = _secrets(dev)
    missing = [
        v
        for v in ("KAFKA_ADMIN_PASSWORD", *map(password_variable, SERVICE_GRANTS))
        if not secrets.get(v)
    ]
    if missing:
        sys.exit(f"kafka_security: set {', '.join(missing)} (environment or {dev / 'secrets.env'})")
    admin_security = KafkaSecurity(
        sasl_username="admin",
        sasl_password=SecretStr(secrets["KAFKA_ADMIN_PASSWORD"]),
        ssl_cafile=cafile,
    )
    try:
        admin_security.check(lambda field: f"KAFKA_{field.upper()}")
    except KafkaSecurityError as exc:
        sys.exit(f"kafka_security: {exc}")
    admin = kafka_admin.admin_client(bootstrap, admin_security)
    started = time.monotonic()
    for principal, grants in SERVICE_GRANTS.items():
        kafka_admin.create_scram_user(admin, principal, secrets[password_variable(principal)])
        kafka_admin.sync(admin, principal, grants)
    took = time.monotonic() - started
    print(
        f"kafka_security: principals {', '.join(SERVICE_GRANTS)} and their ACLs "
        f"on {bootstrap} ({took:.1f}s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except kafka_admin.KafkaAdminError as exc:
        sys.exit(f"kafka_security: {exc}")
