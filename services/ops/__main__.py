"""`python -m services.ops tail | trace | stats | lag | asyncapi`: the ops command line.

    tail TOPIC [--from-beginning] [--limit N] [--no-follow]
                                    an ops topic, one line per message (follows by default)
    trace REFERRAL_ID               the referral's timeline across intake, router and gateway
    stats [--since ISO] [--until ISO]
                                    counts by pathway, provider, priority and state
    lag                             committed offset vs end offset per group and partition
    asyncapi [--check] [--output PATH]
                                    write (or check) docs/asyncapi.json
Reads KAFKA_BOOTSTRAP_SERVERS and INTAKE_/ROUTER_/GATEWAY_DATABASE_URL. Output is ids, states,
codes, counts and times only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from services.ops.domain.lines import OPS_TOPICS

if TYPE_CHECKING:  # the settings are imported only by the commands that read them
    from services.ops.config import OpsSettings

DEFAULT_DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def _when(value: str) -> datetime:
    """An ISO 8601 time; one without a zone is taken as UTC."""
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.ops",
        description="Ops views of referral routing (no personal data).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    tail = sub.add_parser("tail", help="an ops topic, one line per message")
    tail.add_argument("topic", choices=OPS_TOPICS)
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest message")
    tail.add_argument("--limit", type=int, help="stop after N messages")
    tail.add_argument(
        "--no-follow", dest="follow", action="store_false", help="stop at the current end"
    )
    trace = sub.add_parser("trace", help="one referral's timeline across the services")
    trace.add_argument("referral_id", type=UUID)
    stats = sub.add_parser("stats", help="counts by pathway, provider, priority and state")
    stats.add_argument("--since", type=_when, help="from this time (ISO 8601, UTC if no zone)")
    stats.add_argument("--until", type=_when, help="before this time (ISO 8601)")
    sub.add_parser("lag", help="consumer lag of the services' groups")
    doc = sub.add_parser("asyncapi", help="write the AsyncAPI document of every topic")
    doc.add_argument("--check", action="store_true", help="fail if the document is not current")
    doc.add_argument("--output", type=Path, default=DEFAULT_DOC)
    return parser


def _settings() -> OpsSettings:
    """The settings from the environment; exits naming each variable that is missing or wrong."""
    from pydantic import ValidationError

    from services.common.settings import missing_settings_message
    from services.ops.config import OpsSettings

    try:
        return OpsSettings()
    except ValidationError as exc:
        sys.exit(missing_settings_message(exc, ""))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from services.ops import cli

    out, err = sys.stdout, sys.stderr
    if args.command == "asyncapi":
        return cli.asyncapi(args.output, check=args.check, out=out, err=err)
    settings = _settings()
    try:
        if args.command == "tail":
            return asyncio.run(
                cli.tail(
                    settings,
                    args.topic,
                    from_beginning=args.from_beginning,
                    limit=args.limit,
                    follow=args.follow,
                    out=out,
                )
            )
        if args.command == "trace":
            return asyncio.run(cli.trace(settings, args.referral_id, out=out, err=err))
        if args.command == "stats":
            return asyncio.run(
                cli.stats(settings, since=args.since, until=args.until, out=out, err=err)
            )
        return asyncio.run(cli.lag(settings, out=out))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
