"""`python -m services.provider_gateway serve | migrate | deliveries ... | endpoints ...`.

    serve                                  HTTP callback, Kafka subscribers, delivery loops
    migrate                                apply SQL migrations
    deliveries failed [--provider P] [--since ISO]
    deliveries replay --assignment ID | --provider P | --since ISO   (filters combine)
    endpoints list                         disabled or not, and each circuit breaker (closed,
                                           open, half_open) with its consecutive failures
    endpoints enable P                     after a 410 Gone disabled P's webhook endpoint
    provider-add P                         P's Kafka principal `provider-P`, its topics
                                           (assignments.P.v1, assignments.responses.P.v1) and
                                           ACLs; prints the credentials once
    provider-revoke P                      delete P's Kafka ACLs and credentials (topics stay)
Output is ids, codes and times only (and, once, a new principal's credentials). The provider
commands connect as the Kafka admin principal (ADMIN_KAFKA_SASL_USERNAME, ..._PASSWORD) and
need no other setting (`services.common.kafka_identities`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from services.common import kafka_admin, kafka_identities
from services.common.db import apply_migrations, create_pool
from services.common.kafka_security import KafkaSecurityError
from services.common.logging import configure_logging
from services.common.serving import serve
from services.common.settings import dsn
from services.provider_gateway.adapters import admin
from services.provider_gateway.config import GatewaySettings, settings_error_message
from shared import Provider

MIGRATIONS = Path(__file__).parent / "migrations"


def _settings() -> GatewaySettings:
    try:
        settings = GatewaySettings()  # filled from the environment
        settings.check()
    except ValidationError as exc:
        sys.exit(settings_error_message(exc))
    except ValueError as exc:
        sys.exit(f"configuration error: {exc}")
    return settings


def _since(value: str) -> datetime:
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def _admin(args: argparse.Namespace, settings: GatewaySettings) -> None:
    pool = await create_pool(dsn(settings.database_url))
    try:
        await apply_migrations(pool, MIGRATIONS)
        if args.command == "migrate":
            print("migrations applied")
        elif args.command == "deliveries" and args.action == "failed":
            rows = await admin.failed_deliveries(pool, provider=args.provider, since=args.since)
            for row in rows:
                print(" ".join(f"{k}={v}" for k, v in row.items()))
            print(f"{len(rows)} failed deliveries")
        elif args.command == "deliveries":
            count = await admin.replay(
                pool,
                now=datetime.now(UTC),
                assignment_id=args.assignment,
                provider=args.provider,
                since=args.since,
            )
            print(f"{count} deliveries queued again")
        elif args.action == "list":
            for row in await admin.endpoints(pool):
                print(" ".join(f"{k}={v}" for k, v in row.items()))
        else:
            enabled = await admin.enable_endpoint(pool, args.provider)
            print("enabled" if enabled else "already enabled")
    finally:
        await pool.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.provider_gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the gateway")
    sub.add_parser("migrate", help="apply SQL migrations")
    deliveries = sub.add_parser("deliveries", help="failed deliveries").add_subparsers(
        dest="action", required=True
    )
    providers = [p.value for p in Provider]
    failed = deliveries.add_parser("failed", help="list failed deliveries")
    replay = deliveries.add_parser("replay", help="queue failed deliveries again")
    for cmd in (failed, replay):
        cmd.add_argument("--provider", choices=providers)
        cmd.add_argument("--since", type=_since, help="failed at or after (ISO 8601)")
    failed.set_defaults(assignment=None)
    replay.add_argument("--assignment", help="an assignment id (asg_...)")
    endpoints = sub.add_parser("endpoints", help="provider webhook endpoints").add_subparsers(
        dest="action", required=True
    )
    endpoints.add_parser("list", help="list endpoints and whether they are disabled")
    enable = endpoints.add_parser("enable", help="re-enable a disabled endpoint")
    enable.add_argument("provider", choices=providers)
    for command, what in (
        ("provider-add", "make a provider's Kafka principal, topics and ACLs"),
        ("provider-revoke", "delete a provider's Kafka credentials and ACLs (topics stay)"),
    ):
        sub.add_parser(command, help=what).add_argument("provider", choices=providers)
    return parser


def _provider_principal(command: str, provider: str) -> None:
    """provider-add or provider-revoke: Kafka only, as the admin principal."""
    try:
        settings = kafka_identities.AdminSettings.from_env()
    except KafkaSecurityError as exc:
        sys.exit(f"configuration error: {exc}")
    identity = kafka_identities.provider_identity(provider)
    try:
        if command == "provider-add":
            credentials = kafka_identities.add(settings, identity)
            print(kafka_identities.credentials_text(credentials, identity.topics))
        else:
            kafka_identities.revoke(settings, identity)
            print(
                f"kafka principal {identity.principal} revoked (credentials and ACLs);"
                f" topics {', '.join(identity.topics)} kept"
            )
    except kafka_admin.KafkaAdminError as exc:
        sys.exit(f"kafka admin error: {exc}")


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    replay = args.command == "deliveries" and args.action == "replay"
    if replay and args.assignment is None and args.provider is None and args.since is None:
        parser.error("deliveries replay needs --assignment, --provider or --since")
    if args.command in ("provider-add", "provider-revoke"):
        _provider_principal(args.command, args.provider)
        return
    settings = _settings()
    # httpx logs every request at INFO; the ledger and ops events already say what matters.
    logging.getLogger("httpx").setLevel("WARNING")
    if args.command == "serve":
        from services.provider_gateway.app import create_app

        serve("provider_gateway", settings, lambda: create_app(settings))
    else:
        configure_logging("provider_gateway", level=settings.log_level)
        asyncio.run(_admin(args, settings))


if __name__ == "__main__":
    main()
