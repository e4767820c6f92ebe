"""`python -m services.router {decide,simulate,serve}`: the router's command line.

- `decide [--rules PATH] [--postcodes CSV] [--stats] [--jobs N] < submissions.jsonl > decisions.jsonl`
- `simulate --rules NEW [--baseline OLD] [--postcodes CSV] < referrals.jsonl`
- `simulate --rules NEW [--baseline OLD] --from-db [--since ISO]`: the referrals stored with past
  decisions (ROUTER_DATABASE_URL), received at or after `--since` (an ISO instant with offset)
- `serve`: the Kafka service (imported only when asked for, so offline commands start fast).
`--rules` defaults to ROUTER_RULES_PATH, else the version `rules/current` names; `--postcodes`
to ROUTER_POSTCODES_CSV, else the packaged ONSPD: the same settings the service reads.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date and time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (say +00:00 or Z)")
    return value


def _jobs(text: str) -> int:
    """A `--jobs` count: a whole number from 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of processes from 1")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.router", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    decide = commands.add_parser("decide", help="decide JSON-lines referrals from stdin")
    decide.add_argument(
        "--rules", type=Path, default=_env_path("ROUTER_RULES_PATH"), help="the rules file to use"
    )
    decide.add_argument("--stats", action="store_true", help="print timings and counts to stderr")
    decide.add_argument(
        "--jobs",
        type=_jobs,
        default=os.cpu_count() or 1,
        help="processes to share the lines among (default: the machine's cores; 1: this one)",
    )
    simulate = commands.add_parser("simulate", help="count what a rules version would change")
    simulate.add_argument("--rules", type=Path, required=True, help="the candidate rules file")
    simulate.add_argument(
        "--baseline",
        type=Path,
        default=_env_path("ROUTER_RULES_PATH"),
        help="the rules to compare against (default: the rules in force)",
    )
    simulate.add_argument(
        "--from-db",
        action="store_true",
        help="replay the referrals stored with past decisions (ROUTER_DATABASE_URL), not stdin",
    )
    simulate.add_argument(
        "--since",
        type=_instant,
        help="with --from-db: only referrals received at or after this instant (ISO, with offset)",
    )
    simulate.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=sys.stderr.isatty(),
        help="progress bar on stderr",
    )
    for command in (decide, simulate):
        command.add_argument(
            "--postcodes",
            type=Path,
            default=_env_path("ROUTER_POSTCODES_CSV"),
            help="an ONSPD CSV (or zip) to use instead of the packaged one",
        )
    commands.add_parser("serve", help="run the Kafka service")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "simulate" and args.since is not None and not args.from_db:
        parser.error("--since needs --from-db")
    if args.command == "serve":
        from services.router.app import main as serve

        serve()
        return 0
    from services.router.offline.commands import decide_command, simulate_command

    stdin, stdout, stderr = sys.stdin.buffer, sys.stdout, sys.stderr
    if args.command == "decide":
        return decide_command(
            args.rules,
            args.postcodes,
            stats=args.stats,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            jobs=args.jobs,
        )
    if args.from_db:
        return _simulate_from_db(args)
    return simulate_command(
        args.rules,
        args.baseline,
        args.postcodes,
        progress=args.progress,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
    )


def _simulate_from_db(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from services.common.settings import dsn, missing_settings_message
    from services.router.config import RouterDatabaseSettings
    from services.router.offline.commands import simulate_from_db_command

    try:
        # Only the database: replaying stored referrals needs no Kafka principal.
        settings = RouterDatabaseSettings()  # from the environment: ROUTER_DATABASE_URL
    except ValidationError as exc:
        print(f"router: {missing_settings_message(exc, 'ROUTER_')}", file=sys.stderr)
        return 2
    return simulate_from_db_command(
        args.rules,
        args.baseline,
        args.postcodes,
        database_url=dsn(settings.database_url),
        since=args.since,
        progress=args.progress,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
