"""Kafka principals and their rights: SCRAM credentials, ACLs and topics, through the Admin API.

Used by `scripts/kafka_security.py` (the services' principals, at set-up) and by the commands
that add and revoke an agency or a provider (their principals and topics, at run time).

Why confluent-kafka here when the services use aiokafka: aiokafka's admin client has neither
AlterUserScramCredentials nor the ACL requests that Kafka 4 still serves (it removed the old
CreateAcls versions aiokafka speaks); confluent-kafka (librdkafka, the Kafka project's own C
client, wheels with TLS and SCRAM built in) implements the whole Admin API. Calls are
synchronous: these are one-off operator actions, not the services' hot path.

Rules kept here:
- every change is idempotent: upserting a credential or creating an ACL that exists changes
  nothing, so set-up can run again at every start; `sync` also removes what is no longer
  granted;
- a principal is `User:<name>`; every grant is ALLOW from any host (`*`): the broker binds to
  loopback locally, and in production the network policy limits hosts, not ACLs;
- a failure raises `KafkaAdminError` naming the operation and the principal or resource, never
  a password.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from services.common.kafka_acls import Grant
from services.common.kafka_security import KafkaSecurity

TIMEOUT_SECONDS = 30.0
# Kafka's minimum is 4096; 8192 is what its own tools use for SCRAM-SHA-512.
SCRAM_ITERATIONS = 8192

_RESOURCES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "cluster": ResourceType.BROKER,
}
_PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}


class KafkaAdminError(RuntimeError):
    """An admin operation failed; the message names what, and for whom."""


def admin_client(bootstrap_servers: str, security: KafkaSecurity) -> AdminClient:
    """An Admin API client (connects lazily, on its first request)."""
    return AdminClient({"bootstrap.servers": bootstrap_servers, **security.librdkafka()})


def _wait(futures: dict[Any, Any], what: str) -> None:
    for key, future in futures.items():
        try:
            future.result(timeout=TIMEOUT_SECONDS)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            name = error.name() if isinstance(error, KafkaError) else type(exc).__name__
            raise KafkaAdminError(f"{what} failed for {key}: {name}") from None


def create_scram_user(
    admin: AdminClient, name: str, password: str, *, sha256: bool = False
) -> None:
    """Create `name` with `password`, or set its password if it exists (SCRAM-SHA-512)."""
    mechanism = ScramMechanism.SCRAM_SHA_256 if sha256 else ScramMechanism.SCRAM_SHA_512
    info = ScramCredentialInfo(mechanism, SCRAM_ITERATIONS)
    upsert = UserScramCredentialUpsertion(name, info, password.encode())
    _wait(admin.alter_user_scram_credentials([upsert]), "setting the SCRAM credential")


def disable_scram_user(admin: AdminClient, name: str, *, sha256: bool = False) -> None:
    """Shut `name` out: its SCRAM credential is replaced by one of a random password nobody holds.

    Not a deletion: on Kafka 4.1.1, once a SCRAM credential has been deleted, a restarted broker
    (which replays the metadata log) refused every SCRAM login, of every principal, admin
    included (reproduced here on the project's own broker: add a user, delete it, restart). So
    a revoked principal keeps a credential record, unusable, and the metadata log never holds a
    removal. `tests/security/test_kafka_restart_after_revoke_integration.py` keeps it so.
    """
    create_scram_user(admin, name, secrets.token_urlsafe(48), sha256=sha256)


def bindings(principal: str, grant: Grant) -> list[AclBinding]:
    """The ACL bindings (one per operation) that give `principal` this grant."""
    return [
        AclBinding(
            _RESOURCES[grant.resource],
            "kafka-cluster" if grant.resource == "cluster" else grant.name,
            _PATTERNS[grant.pattern],
            f"User:{principal}",
            "*",
            getattr(AclOperation, operation),
            AclPermissionType.ALLOW,
        )
        for operation in grant.operations
    ]


def grant(admin: AdminClient, principal: str, grants: Iterable[Grant]) -> None:
    """Give `principal` each grant (ALLOW; existing bindings are left as they are)."""
    acls = [binding for g in grants for binding in bindings(principal, g)]
    if acls:
        _wait(admin.create_acls(acls), f"granting User:{principal}")


def _all_of(principal: str) -> AclBindingFilter:
    """A filter matching every ACL binding of `principal` (any resource, host, operation)."""
    # None is the filter's "any" for a name and a host; the stubs type them as str only.
    return AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        f"User:{principal}",
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def sync(admin: AdminClient, principal: str, grants: Iterable[Grant]) -> None:
    """Make `principal`'s ACLs exactly `grants`: create what is missing, delete what is no
    longer granted (a grant removed from the table is removed from the broker too)."""
    wanted = {binding for g in grants for binding in bindings(principal, g)}
    stale = [b for b in acls_of(admin, principal) if b not in wanted]
    if stale:
        filters = [
            AclBindingFilter(
                b.restype,
                b.name,
                b.resource_pattern_type,
                b.principal,
                b.host,
                b.operation,
                b.permission_type,
            )
            for b in stale
        ]
        _wait(admin.delete_acls(filters), f"removing stale ACLs of User:{principal}")
    if wanted:
        _wait(admin.create_acls(sorted(wanted)), f"granting User:{principal}")


def revoke(admin: AdminClient, principal: str) -> None:
    """Delete every ACL that names `principal`."""
    _wait(admin.delete_acls([_all_of(principal)]), f"revoking User:{principal}")


def acls_of(admin: AdminClient, principal: str) -> list[AclBinding]:
    """Every ACL binding that names `principal`."""
    try:
        found: list[AclBinding] = admin.describe_acls(_all_of(principal)).result(
            timeout=TIMEOUT_SECONDS
        )
    except KafkaException:
        raise KafkaAdminError(f"describing the ACLs of User:{principal} failed") from None
    return found


def create_topics(
    admin: AdminClient, names: Iterable[str], *, partitions: int = 3, replication: int = 1
) -> None:
    """Create each topic that does not exist yet (an existing topic is left as it is)."""
    existing = set(admin.list_topics(timeout=TIMEOUT_SECONDS).topics)
    missing = [NewTopic(n, partitions, replication) for n in names if n not in existing]
    if missing:
        _wait(admin.create_topics(missing, operation_timeout=TIMEOUT_SECONDS), "creating the topic")


def delete_topics(admin: AdminClient, names: Iterable[str]) -> None:
    """Delete each topic that exists."""
    existing = set(admin.list_topics(timeout=TIMEOUT_SECONDS).topics)
    present = [n for n in names if n in existing]
    if present:
        _wait(admin.delete_topics(present, operation_timeout=TIMEOUT_SECONDS), "deleting the topic")
