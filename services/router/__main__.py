"""`python -m services.router {decide,simulate,serve}`: the router's command line.

- `decide [--rules PATH] [--postcodes CSV] [--stats] < submissions.jsonl > decisions.jsonl`
- `simulate --rules NEW [--baseline OLD] [--postcodes CSV] < referrals.jsonl`
- `serve`: the Kafka service (imported only when asked for, so offline commands start fast).
`--rules` defaults to ROUTER_RULES_PATH, else the version `rules/current` names; `--postcodes`
to ROUTER_POSTCODES_CSV, else the packaged ONSPD: the same settings the service reads.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


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
    simulate = commands.add_parser("simulate", help="count what a rules version would change")
    simulate.add_argument("--rules", type=Path, required=True, help="the candidate rules file")
    simulate.add_argument(
        "--baseline",
        type=Path,
        default=_env_path("ROUTER_RULES_PATH"),
        help="the rules to compare against (default: the rules in force)",
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
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from services.router.app import main as serve

        serve()
        return 0
    from services.router.cli import decide_command, simulate_command

    stdin, stdout, stderr = sys.stdin.buffer, sys.stdout, sys.stderr
    if args.command == "decide":
        return decide_command(
            args.rules, args.postcodes, stats=args.stats, stdin=stdin, stdout=stdout, stderr=stderr
        )
    return simulate_command(
        args.rules,
        args.baseline,
        args.postcodes,
        progress=args.progress,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
