"""`python -m services.intake serve | migrate | agency-add | agency-revoke | key-create |
key-revoke | key-list | erase | retention`.

API keys: `key-create AGENCY` prints a new key once (only its SHA-256 digest is stored);
`key-revoke KEY_ID` revokes it. Agencies must exist first (`agency-add AGENCY "Name"`).

Agencies that integrate by events: `agency-add AGENCY "Name" --kafka` also makes the agency's
Kafka principal `agency-AGENCY`, its topic `referrals.submitted.AGENCY.v1` and its ACLs, and
prints the credentials once; `agency-revoke AGENCY` deletes that principal's ACLs and
credentials (the topic, the agency and its API keys stay). Both connect as the Kafka admin
principal (`ADMIN_KAFKA_SASL_USERNAME`, `ADMIN_KAFKA_SASL_PASSWORD`;
`services.common.kafka_identities`). Agencies on HTTP alone get no Kafka credentials.

Erasure: `erase REFERRAL_ID --reason "case ref" [--operator NAME]` erases one referral's personal
data (audited, announced on ops.events.v1); again: "already erased", nothing changes; an
unknown id exits 1. `retention [--dry-run]` erases closed referrals older than
INTAKE_RETENTION_DAYS (the dry run lists their ids and counts, erasing nothing). See
docs/privacy.md.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from pydantic import ValidationError

from services.common import kafka_admin, kafka_identities
from services.common.db import apply_migrations, create_pool
from services.common.kafka_security import KafkaSecurityError
from services.common.logging import configure_logging
from services.common.serving import serve
from services.common.settings import dsn, missing_settings_message
from services.intake.adapters.erasure_store import ErasureStore
from services.intake.adapters.store import key_digest
from services.intake.config import IntakeSettings
from services.intake.domain import SubmissionRefused
from services.intake.domain.erasure import ErasureChannel, ErasureOutcome, ErasureRequest
from services.intake.handlers import erase_referral, run_retention

MIGRATIONS = Path(__file__).parent / "migrations"


def _admin_settings() -> kafka_identities.AdminSettings:
    try:
        return kafka_identities.AdminSettings.from_env()
    except KafkaSecurityError as exc:
        sys.exit(f"configuration error: {exc}")


def _revoke_agency(agency_id: str) -> None:
    identity = kafka_identities.agency_identity(agency_id)
    kafka_identities.revoke(_admin_settings(), identity)
    print(
        f"kafka principal {identity.principal} revoked (credentials and ACLs);"
        f" topic {identity.topics[0]} kept"
    )


def _settings() -> IntakeSettings:
    try:
        return IntakeSettings()  # filled from the environment
    except ValidationError as exc:
        sys.exit(missing_settings_message(exc, "INTAKE_"))


async def _admin(args: argparse.Namespace, settings: IntakeSettings) -> None:
    pool = await create_pool(dsn(settings.database_url))
    try:
        await apply_migrations(pool, MIGRATIONS)
        if args.command == "agency-add":
            await pool.execute(
                "INSERT INTO agencies (agency_id, name) VALUES ($1, $2)"
                " ON CONFLICT (agency_id) DO UPDATE SET name = EXCLUDED.name",
                args.agency_id,
                args.name,
            )
            print(f"agency {args.agency_id} ready")
            if args.kafka:
                identity = kafka_identities.agency_identity(args.agency_id)
                credentials = kafka_identities.add(_admin_settings(), identity)
                print(kafka_identities.credentials_text(credentials, identity.topics))
        elif args.command == "key-create":
            token = args.token or f"nsas_{secrets.token_urlsafe(32)}"
            key_id = uuid4()
            await pool.execute(
                "INSERT INTO api_keys (key_id, agency_id, key_digest, label) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (key_digest) DO NOTHING",
                key_id,
                args.agency_id,
                key_digest(token),
                args.label,
            )
            print(f"key_id={key_id}")
            if not args.token:
                print(f"api_key={token}  (shown once; store it safely)")
        elif args.command == "key-revoke":
            done = await pool.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
                UUID(args.key_id),
            )
            print("revoked" if done.endswith(" 1") else "no active key with that id")
        elif args.command == "key-list":
            for row in await pool.fetch(
                "SELECT key_id, agency_id, label, created_at, revoked_at FROM api_keys ORDER BY created_at"
            ):
                print(dict(row))
        elif args.command == "migrate":
            print("migrations applied")
        elif args.command == "erase":
            await _erase(args, ErasureStore(pool))
        elif args.command == "retention":
            await _retention(args, settings, ErasureStore(pool))
    finally:
        await pool.close()


def _now() -> datetime:
    return datetime.now(UTC)


async def _erase(args: argparse.Namespace, store: ErasureStore) -> None:
    request = ErasureRequest(args.referral_id, args.operator, args.reason, ErasureChannel.CLI)
    try:
        done = await erase_referral(store, request, now=_now)
    except SubmissionRefused as exc:
        sys.exit(f"erase: {exc}")
    if done.outcome is ErasureOutcome.UNKNOWN:
        sys.exit(f"erase: no referral has the id {done.referral_id}")
    assert done.erased_at is not None
    when = done.erased_at.isoformat()
    if done.outcome is ErasureOutcome.ALREADY_ERASED:
        print(f"already erased: {done.referral_id} (at {when}); nothing changed")
    else:
        print(f"erased: {done.referral_id} at {when}")


async def _retention(
    args: argparse.Namespace, settings: IntakeSettings, store: ErasureStore
) -> None:
    run = await run_retention(store, days=settings.retention_days, now=_now, dry_run=args.dry_run)
    mode = "dry run: " if run.dry_run else ""
    print(
        f"{mode}retention {settings.retention_days} days (closed before {run.cutoff.isoformat()}):"
        f" due={len(run.due)} erased={len(run.erased)}"
    )
    for referral_id in run.due if run.dry_run else run.erased:
        print(referral_id)


def _referral_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError("referral_id must be a UUID") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.intake")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP API, Kafka subscribers and outbox relay")
    sub.add_parser("migrate", help="apply SQL migrations")
    add = sub.add_parser("agency-add", help="register an agency")
    add.add_argument("agency_id")
    add.add_argument("name")
    add.add_argument(
        "--kafka",
        action="store_true",
        help="also its Kafka principal, submissions topic and ACLs (prints the credentials once)",
    )
    revoke_agency = sub.add_parser(
        "agency-revoke", help="delete an agency's Kafka credentials and ACLs (its topic stays)"
    )
    revoke_agency.add_argument("agency_id")
    create = sub.add_parser("key-create", help="issue an API key for an agency")
    create.add_argument("agency_id")
    create.add_argument("--label", default="")
    create.add_argument("--token", help="use this token (for provisioning from a secret store)")
    revoke = sub.add_parser("key-revoke", help="revoke an API key")
    revoke.add_argument("key_id")
    sub.add_parser("key-list", help="list API keys (ids and agencies, never the keys)")
    erase = sub.add_parser("erase", help="erase one referral's personal data (audited)")
    erase.add_argument("referral_id", type=_referral_id)
    erase.add_argument("--reason", required=True, help="a case reference; no personal data")
    erase.add_argument("--operator", default=getpass.getuser(), help="who asks (default: $USER)")
    keep = sub.add_parser("retention", help="erase closed referrals past INTAKE_RETENTION_DAYS")
    keep.add_argument("--dry-run", action="store_true", help="list counts and ids only")
    args = parser.parse_args(argv)
    if getattr(args, "kafka", False) or args.command == "agency-revoke":
        try:
            kafka_identities.agency_identity(args.agency_id)
        except ValueError as exc:
            parser.error(f"agency_id: {exc}")
        _admin_settings()  # fail before anything is written when the admin principal is unset
    if args.command == "agency-revoke":  # Kafka only: no database, no service settings
        _run_kafka_admin(lambda: _revoke_agency(args.agency_id))
        return

    settings = _settings()
    if args.command == "serve":
        from services.intake.app import create_app

        serve("intake", settings, lambda: create_app(settings))
    else:
        configure_logging("intake", level=settings.log_level)
        _run_kafka_admin(lambda: asyncio.run(_admin(args, settings)))


def _run_kafka_admin(command: Callable[[], None]) -> None:
    """Run an admin command; a refused Kafka admin request exits naming what failed."""
    try:
        command()
    except kafka_admin.KafkaAdminError as exc:
        sys.exit(f"kafka admin error: {exc}")


if __name__ == "__main__":
    main()
