"""Why a secured Kafka broker refuses a client, in words that name the setting to fix.

aiokafka reports every failed bootstrap as one `KafkaConnectionError` ("Unable to bootstrap"),
whether the broker is down, refused the password, or presented a certificate the client does
not trust. A service that cannot connect asks `diagnose` once per attempt, which opens a single
connection the same way and reads the real cause.

Rules kept here:
- the answer names the environment variables to check and the principal's name, never the
  password;
- a broker that is merely unreachable is not a diagnosis (None): the service keeps retrying
  quietly, as it always has while Kafka is down.
"""

from __future__ import annotations

import inspect
import ssl
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import SaslAuthenticationFailed

_CONN_PARAMS = frozenset(inspect.signature(create_conn).parameters) - {"host", "port"}


async def diagnose(connection: dict[str, Any]) -> str | None:
    """Connect once to the first bootstrap server with the client's own settings (aiokafka's
    keyword arguments: bootstrap_servers, security_protocol, ssl_context, sasl_*)."""
    servers = connection.get("bootstrap_servers") or []
    first = servers[0] if isinstance(servers, list) and servers else str(servers or "")
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        return None
    params = {k: v for k, v in connection.items() if k in _CONN_PARAMS}
    params["request_timeout_ms"] = 5000
    try:
        conn = await create_conn(host, int(port), **params)
    except SaslAuthenticationFailed:
        user = connection.get("sasl_plain_username")
        return (
            f"Kafka refused the credentials of principal {user!r}: check KAFKA_SASL_USERNAME and "
            "KAFKA_SASL_PASSWORD (or the service's own <SERVICE>_KAFKA_SASL_*)"
        )
    except ssl.SSLCertVerificationError:
        return (
            "Kafka's TLS certificate is not trusted: check KAFKA_SSL_CAFILE (the CA that signed "
            "the broker's certificate; unset means the system's CAs)"
        )
    except Exception:  # noqa: BLE001 - unreachable or anything else: no diagnosis, keep retrying
        return None
    conn.close()
    return None
