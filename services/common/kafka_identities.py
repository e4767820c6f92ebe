"""Agency and provider principals on Kafka: their rights as data, and adding and revoking them.

The topic is the identity (`shared.topics`): only an agency's principal may write its
submissions topic, only a provider's may write its responses topic, so intake and the gateway
take the agency or provider from the topic a message came on.

    principal               may                                                   cannot
    agency-<agency>         WRITE, DESCRIBE referrals.submitted.<agency>.v1      read anything
    provider-<provider>     READ assignments.<provider>.v1 and group              any other
                            provider-<provider>; WRITE, DESCRIBE                  provider's topic
                            assignments.responses.<provider>.v1

Decided, and why:
- an agency gets no READ on `referrals.rejected.v1`: every rejection carries an agency's
  submission id and the fields at fault, so that topic would show each agency the others'
  traffic. Giving an agency its own rejections back needs a per-agency rejections topic, a
  contract addition not made here;
- no agency or provider may CREATE topics or touch groups other than its own; the topics are
  made here, by the admin principal, when the principal is added;
- adding again is a reset: a new password, and exactly these ACLs (`kafka_admin.sync`: any
  other naming the principal is deleted);
- revoking deletes every ACL naming the principal first (an open connection is refused at its
  next request), then its SCRAM credential (no new connection authenticates). The topics stay,
  with everything written to them: nothing is lost;
- a password is 32 random bytes (`secrets.token_urlsafe`), returned once for the command to
  print, never logged or stored by us (the broker keeps only its salted SCRAM hash).
The Admin API calls are `services.common.kafka_admin`'s (confluent-kafka; why, there).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Final

from confluent_kafka.admin import AdminClient

from services.common import kafka_admin
from services.common.kafka_acls import Grant, group, reads
from services.common.kafka_security import KafkaSecurity, KafkaSecurityError
from shared.topics import assignments_topic, responses_topic, submissions_topic

AGENCY_PRINCIPAL_PREFIX: Final = "agency-"
PROVIDER_PRINCIPAL_PREFIX: Final = "provider-"
# The admin principal's variables: ADMIN_KAFKA_SASL_USERNAME, ADMIN_KAFKA_SASL_PASSWORD (the
# CA file and protocol may be the plain KAFKA_* ones).
ADMIN_PREFIX: Final = "ADMIN_"


@dataclass(frozen=True)
class Identity:
    """A principal, the topics it needs, and what it may do."""

    principal: str
    topics: tuple[str, ...]
    grants: tuple[Grant, ...]


@dataclass(frozen=True)
class Credentials:
    """A principal's SCRAM credentials, to be printed once and never logged."""

    username: str
    password: str

    def __repr__(self) -> str:  # so that no traceback or log line ever shows the password
        return f"Credentials(username={self.username!r}, password='**********')"


def _writes(topic: str) -> Grant:
    return Grant("topic", topic, ("WRITE", "DESCRIBE"))


def agency_identity(agency: str) -> Identity:
    """Agency `agency`: writes its own submissions topic, nothing else."""
    topic = submissions_topic(agency)  # raises ValueError unless the id is a slug
    return Identity(f"{AGENCY_PRINCIPAL_PREFIX}{agency}", (topic,), (_writes(topic),))


def provider_identity(provider: str) -> Identity:
    """Provider `provider`: reads its assignments, in its own group; writes its responses."""
    assignments, responses = assignments_topic(provider), responses_topic(provider)
    principal = f"{PROVIDER_PRINCIPAL_PREFIX}{provider}"
    return Identity(
        principal,
        (assignments, responses),
        (reads(assignments), group(principal), _writes(responses)),
    )


@dataclass(frozen=True)
class AdminSettings:
    """Where the broker is and how the admin principal connects (from the environment)."""

    bootstrap_servers: str
    security: KafkaSecurity
    partitions: int = 3
    replication: int = 1

    @classmethod
    def from_env(cls) -> AdminSettings:
        """Raise KafkaSecurityError naming the variable when the admin principal is not set."""
        security = KafkaSecurity.from_env(ADMIN_PREFIX)
        if security.sasl and not os.environ.get(f"{ADMIN_PREFIX}KAFKA_SASL_USERNAME"):
            # Never fall back to the plain KAFKA_SASL_* (the tests' or a service's principal).
            raise KafkaSecurityError(
                f"set {ADMIN_PREFIX}KAFKA_SASL_USERNAME and {ADMIN_PREFIX}KAFKA_SASL_PASSWORD:"
                " the Kafka admin principal, which may create credentials, topics and ACLs"
            )
        try:
            partitions = int(os.environ.get("KAFKA_PARTITIONS", "3"))
            replication = int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1"))
        except ValueError:
            raise KafkaSecurityError(
                "KAFKA_PARTITIONS and KAFKA_REPLICATION_FACTOR must be integers"
            ) from None
        return cls(
            os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            security,
            partitions,
            replication,
        )

    def client(self) -> AdminClient:
        return kafka_admin.admin_client(self.bootstrap_servers, self.security)


def add(settings: AdminSettings, identity: Identity) -> Credentials:
    """Create the identity's topics, a fresh SCRAM credential and exactly its ACLs."""
    admin = settings.client()
    kafka_admin.create_topics(
        admin, identity.topics, partitions=settings.partitions, replication=settings.replication
    )
    password = secrets.token_urlsafe(32)
    kafka_admin.create_scram_user(admin, identity.principal, password)
    kafka_admin.sync(admin, identity.principal, identity.grants)
    return Credentials(identity.principal, password)


def revoke(settings: AdminSettings, identity: Identity) -> None:
    """Delete the identity's ACLs, then make its credential unusable; its topics stay.

    The credential is overwritten with a random password, not deleted (see
    `kafka_admin.disable_scram_user`); revoking twice is harmless.
    """
    admin = settings.client()
    kafka_admin.revoke(admin, identity.principal)
    kafka_admin.disable_scram_user(admin, identity.principal)


def credentials_text(credentials: Credentials, topics: tuple[str, ...]) -> str:
    """What the add commands print, once: the client settings for the new principal."""
    return "\n".join(
        [
            f"kafka principal {credentials.username} ready; topics: {', '.join(topics)}",
            "KAFKA_SECURITY_PROTOCOL=SASL_SSL",
            "KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
            f"KAFKA_SASL_USERNAME={credentials.username}",
            f"KAFKA_SASL_PASSWORD={credentials.password}",
            "(the password is shown once; store it safely)",
        ]
    )
