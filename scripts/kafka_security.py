"""Make every service's Kafka principal (a SCRAM user) and its ACLs on the local broker.

    .venv/bin/python scripts/kafka_security.py

Run by `scripts/infra.sh up` after the topics exist; idempotent (it sets each password again
and creates ACLs that already exist as no-ops). Connects as `admin` (a super user bootstrapped
when the storage was formatted) over TLS. Reads KAFKA_PORT and DEV_DIR like the shell scripts,
and the passwords from $DEV_DIR/secrets.env: KAFKA_ADMIN_PASSWORD and KAFKA_<PRINCIPAL>_PASSWORD
for each principal in services.common.kafka_acls.SERVICE_GRANTS. Prints names, never passwords.
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
from services.common.kafka_security import KafkaSecurity  # noqa: E402


def _secrets(dev: Path) -> dict[str, str]:
    path = dev / "secrets.env"
    if not path.exists():
        sys.exit(f"kafka_security: {path} is missing; run scripts/secrets.sh")
    pairs = (
        line.removeprefix("export ").split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return {k.strip(): v for k, v in pairs}


def main() -> int:
    dev = Path(os.environ.get("DEV_DIR", ROOT / ".dev"))
    bootstrap = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
    secrets = _secrets(dev)
    missing = [
        v
        for v in ("KAFKA_ADMIN_PASSWORD", *map(password_variable, SERVICE_GRANTS))
        if not secrets.get(v)
    ]
    if missing:
        sys.exit(f"kafka_security: set {', '.join(missing)} in {dev / 'secrets.env'}")
    admin_security = KafkaSecurity(
        sasl_username="admin",
        sasl_password=SecretStr(secrets["KAFKA_ADMIN_PASSWORD"]),
        ssl_cafile=dev / "kafka" / "tls" / "ca.crt",
    )
    admin_security.check()
    admin = kafka_admin.admin_client(bootstrap, admin_security)
    started = time.monotonic()
    for principal, grants in SERVICE_GRANTS.items():
        kafka_admin.create_scram_user(admin, principal, secrets[password_variable(principal)])
        kafka_admin.grant(admin, principal, grants)
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
