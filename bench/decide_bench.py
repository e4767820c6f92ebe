"""Benchmark of the router's decide path: start-up, decisions per second, and a same-run baseline.

`python bench/decide_bench.py [--referrals N] [--seed S]` generates N varied referrals (seeded;
real postcodes drawn from the ONSPD: City and county sides of split districts, county postcodes
outside NG, NG postcodes outside the county, elsewhere in the UK, plus unknown postcodes and
authority codes alone) and prints:
- start-up: postcode index and rules load, in-process, and the wall time of one `decide`
  subprocess on one line (interpreter start included);
- throughput of the CLI's own path (`decide_lines`: parse, decide, serialise, write to /dev/null),
  first with the memo of engine results empty (as a fresh `decide` run) and then warm (as a
  running service), and of `decide` alone on parsed referrals, single core;
- the real command on all N lines as a subprocess (`decide --stats`, its own count of lines per
  second after start-up), on one core (`--jobs 1`) and on all (the default), which is what the
  target (20,000 decisions/s after start-up, over 100,000 referrals) is about;
- the baseline measured in the same run on the same lines: ReferralSubmission.model_validate_json
  plus model_dump_json, the parse-and-serialise cost no router can avoid; and the ratio;
- the engine alone (no memo), to show why results are memoised.
Figures only: no assertions on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import Row, at_least  # noqa: E402
from services.router.adapters.postcode_data import load_postcode_index  # noqa: E402
from services.router.domain import (  # noqa: E402  (after the path set-up)
    PostcodeIndex,
    decide,
    derive_facts,
    received_on,
)
from services.router.engine import CachedRules, load_rules  # noqa: E402
from services.router.offline.jsonl import decide_lines  # noqa: E402
from shared import Behaviour, ReferralSubmission  # noqa: E402

# (weight, districts): where referrals come from, roughly as a Nottinghamshire service would see.
MIX = [
    (40, ["NG1", "NG3", "NG5", "NG6", "NG7", "NG8", "NG11"]),  # City, and the county side of splits
    (30, ["NG2", "NG4", "NG9", "NG12", "NG15", "NG17", "NG18", "NG19", "NG21", "NG22", "NG24"]),
    (5, ["S80", "S81", "DN22", "LE12", "DE74", "DE7"]),  # county postcodes outside NG, some not
    (8, ["NG10", "NG16", "NG20", "NG23", "NG31", "NG34", "DE1", "LE1", "S1", "LN1", "SW1A", "M1"]),
]
RELATIONSHIPS = ["stranger"] * 20 + ["acquaintance"] * 15 + ["ex_partner"] * 20 + [
    "current_partner", "family_member", "family_member", "colleague", "colleague", "neighbour",
    "neighbour", "online_contact", "online_contact", "online_contact", "other", "unknown", "unknown",
]  # fmt: skip
GENDERS = ["female"] * 14 + ["male"] * 5 + ["non_binary", "not_stated"]


CORES = os.cpu_count() or 1


def referral(rng: random.Random, i: int, places: list[tuple[int, list[str]]]) -> dict[str, Any]:
    submitted = date(2026, 1, 1) + timedelta(days=rng.randrange(330))
    victim: dict[str, Any] = {
        "name": "Bench Victim",
        "gender": rng.choice(GENDERS),
        "safe_contact": {"method": "phone", "phone": "07700900123"},
    }
    roll = rng.random()
    if roll < 0.03:
        victim["postcode"] = f"NG{rng.randint(1, 25)} {rng.randint(1, 9)}ZZ"  # not in ONSPD
    elif roll < 0.06:
        victim["local_authority_code"] = rng.choice(["E06000018", "E07000172", "E06000015"])
    elif roll >= 0.08:  # 2% give neither
        victim["postcode"] = rng.choice(
            rng.choices([p for _, p in places], [w for w, _ in places])[0]
        )
    years = rng.randint(11, 15) if rng.random() < 0.07 else rng.randint(16, 85)
    if rng.random() < 0.9:
        victim["date_of_birth"] = (
            submitted - timedelta(days=365 * years + rng.randrange(365))
        ).isoformat()
    else:
        victim["age"] = years
    behaviours = rng.sample([b.value for b in Behaviour], rng.randint(1, 4))
    return {
        "submission_id": f"BENCH-{i:06d}",
        "submitted_at": f"{submitted.isoformat()}T{rng.randint(0, 23):02d}:15:00+00:00",
        "referrer": {
            "kind": "professional",
            "organisation": "Nottinghamshire Police",
            "email": "referrals@police.example",
        },
        "victim": victim,
        "consent": {"given": True},
        "perpetrator": {"relationship": rng.choice(RELATIONSHIPS)},
        "conduct": {
            "incident_count": rng.choice([0, 1, 2, 2, 3, 3, 4, 5, 6, 8, 12, 20]),
            "behaviours": behaviours,
        },
        "risk": {
            "level": rng.choice([None, "standard", "medium", "medium", "high"]),
            "sdash_yes_count": rng.choice([None, *range(12)]),
        },
    }


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f}/s  ({seconds * 1e6 / count:6.1f} µs each)"


def cli_path(lines: list[bytes], rules: CachedRules, postcodes: PostcodeIndex) -> tuple[float, int]:
    """Seconds to answer every line as `decide` does (written to /dev/null), and the answers."""
    outputs = 0
    with Path(os.devnull).open("w", encoding="utf-8") as devnull:
        start = time.perf_counter()
        for text in decide_lines(lines, rules, postcodes):
            devnull.write(text + "\n")
            outputs += 1
        return time.perf_counter() - start, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261120)
    args = parser.parse_args()
    measure(args.referrals, args.seed)


def run(referrals: int = 100_000, seed: int = 20261120) -> list[Row]:
    """The figures for `python -m bench`'s table (the details are printed as they come)."""
    figures = measure(referrals, seed)
    return [
        Row("4 decide", f"`decide` command, decisions/s after start-up, --jobs {CORES} (all cores)",
            figures["command_all"], "/s", "parse + serialise a submission, one core",
            figures["baseline"], ">= 20,000/s", at_least(figures["command_all"], 20_000),
            f"{referrals:,} referrals"),
        Row("4 decide", "`decide` command, decisions/s after start-up, --jobs 1", figures["command"],
            "/s", "parse + serialise a submission", figures["baseline"]),
        Row("4 decide", "CLI path in process, memo warm", figures["warm"], "/s",
            "parse + serialise a submission", figures["baseline"]),
    ]  # fmt: skip


def measure(referrals: int, seed: int) -> dict[str, float | None]:
    """Print the detailed figures; return the decisions/s of the command, the warm CLI path and
    the parse-and-serialise baseline."""
    args = argparse.Namespace(referrals=referrals, seed=seed)
    start = time.perf_counter()
    postcodes: PostcodeIndex = load_postcode_index()
    loaded_postcodes = time.perf_counter()
    rules = load_rules()
    loaded_rules = time.perf_counter()
    print(
        f"start-up in process: postcodes {loaded_postcodes - start:.3f} s "
        f"({len(postcodes):,} postcodes), rules {loaded_rules - loaded_postcodes:.3f} s ({rules.version})"
    )

    rng = random.Random(args.seed)
    places = [(w, [p for d in districts for p in postcodes.in_district(d)]) for w, districts in MIX]
    lines = [json.dumps(referral(rng, i, places)).encode() for i in range(args.referrals)]

    command = [sys.executable, "-m", "services.router", "decide"]
    for _ in range(2):  # the second run is timed: the first warms the OS file cache
        start = time.perf_counter()
        one = subprocess.run(
            command, input=lines[0] + b"\n", cwd=ROOT, capture_output=True, check=True
        )
    print(
        f"start-up of `decide` as a subprocess (one line, interpreter included): "
        f"{time.perf_counter() - start:.3f} s  [{len(one.stdout)} bytes out]"
    )

    start = time.perf_counter()
    for line in lines:
        ReferralSubmission.model_validate_json(line).model_dump_json()
    baseline = time.perf_counter() - start

    rules = load_rules()  # a fresh memo, as in a fresh `decide` run
    cli_cold, outputs = cli_path(lines, rules, postcodes)
    misses = rules.evaluations
    cli_warm, _ = cli_path(lines, rules, postcodes)
    stats, stats_all = (
        subprocess.run(
            [*command, "--stats", "--jobs", str(jobs)],
            input=b"\n".join(lines) + b"\n",
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=True,
        ).stderr.decode()
        for jobs in (1, CORES)
    )

    parsed = [ReferralSubmission.model_validate_json(line) for line in lines]
    start = time.perf_counter()
    pathways: dict[str, int] = {}
    for item in parsed:
        pathway = decide(item, rules, received_on(item), postcodes).pathway.value
        pathways[pathway] = pathways.get(pathway, 0) + 1
    decide_only = time.perf_counter() - start

    sample = [derive_facts(p, received_on(p), postcodes).context() for p in parsed[:2000]]
    start = time.perf_counter()
    for context in sample:
        rules.evaluate(context)
    engine = time.perf_counter() - start

    n = len(lines)
    print(
        f"referrals: {n:,} (seed {args.seed}); outputs {outputs:,}; "
        f"engine evaluations (memo misses, all in the first pass): {misses:,}"
    )
    print("pathways: " + ", ".join(f"{k} {v:,}" for k, v in sorted(pathways.items())))
    print(f"baseline  parse + serialise a submission  : {rate(n, baseline)}")
    print(f"decide    command, subprocess --stats     : {stats.strip()}")
    print(f"decide    command, --jobs {CORES} (all cores)   : {stats_all.strip()}")
    print(f"decide    CLI path, memo cold (1st pass)  : {rate(n, cli_cold)}")
    print(f"decide    CLI path, memo warm (2nd pass)  : {rate(n, cli_warm)}")
    print(f"decide    alone, on parsed referrals      : {rate(n, decide_only)}")
    print(f"engine    alone, no memo (2,000 inputs)   : {rate(len(sample), engine)}")
    print(
        f"ratio     CLI path / baseline, cold, warm : {baseline / cli_cold:.2f}, {baseline / cli_warm:.2f}"
    )
    return {
        "command": _per_second(stats),
        "command_all": _per_second(stats_all),
        "warm": n / cli_warm,
        "baseline": n / baseline,
    }


def _per_second(stats: str) -> float | None:
    """The lines-per-second figure `decide --stats` prints (None if it printed none)."""
    found = re.search(r"\(([0-9,]+)/s\)", stats)
    return float(found.group(1).replace(",", "")) if found else None


if __name__ == "__main__":
    main()
