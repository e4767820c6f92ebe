"""The command line, run as a subprocess exactly as the contract states it."""

from __future__ import annotations

import gc
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.router.adapters.rules_files import RULES_DIR
from services.router.offline.commands import _batch_gc
from tests.support.cli import run_cli_bytes

REPO = Path(__file__).resolve().parents[2]
MakeBody = Callable[..., dict[str, Any]]
COUNTY_JUNO = RULES_DIR / "2026-11-county-juno.json"


def run(
    args: list[str], stdin: bytes, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return run_cli_bytes("services.router", *args, env=env, stdin=stdin)


def lines(*items: dict[str, Any] | str) -> bytes:
    return "".join((json.dumps(i) if isinstance(i, dict) else i) + "\n" for i in items).encode()


def test_decide_answers_every_line_in_order_and_goes_on_after_a_bad_line(
    make_body: MakeBody,
) -> None:
    received = {
        "referral_id": "2b0c6b8e-2f8a-4c3e-9a55-1f1c3f1e2d4a",
        "received_at": "2026-11-21T09:00:00+00:00",
        "referrer_agency": "notts-police",
        "submission": make_body(submission_id="R-1"),
    }
    stdin = lines(
        make_body(submission_id="A-1"),
        "{not json",
        make_body(submission_id="B-2", victim__postcode="NG31 9TA"),
        make_body(submission_id="C-3", consent__given=False, referrer__kind="self"),
        "",
        received,
        make_body(submission_id="D-4", victim__postcode="NG18 4RF"),
    )
    result = run(["decide"], stdin)
    assert result.returncode == 0, result.stderr.decode()
    out = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [o.get("submission_id") for o in out] == ["A-1", None, "B-2", "C-3", None, "R-1", "D-4"]
    assert [o.get("pathway") for o in out] == [
        "stalking_advocacy",
        None,
        "out_of_area",
        None,
        None,
        "stalking_advocacy",
        "stalking_advocacy",
    ]
    assert out[1]["error"].startswith("(line): is not JSON")
    assert out[3]["error"].startswith("consent.given: must be true")
    assert out[4]["error"] == "(line): is blank"
    assert out[5]["referral_id"] == received["referral_id"]
    assert out[6]["provider"] == "nwa"


def test_an_error_line_never_echoes_the_input(make_body: MakeBody) -> None:
    body = make_body(
        victim__postcode="NOT A POSTCODE", submission_id="X 1", victim__name="Jo Secret"
    )
    out = json.loads(run(["decide"], lines(body)).stdout)
    assert out["submission_id"] is None  # "X 1" is not a well-formed id, so it is not echoed
    assert out["error"].endswith("; victim.postcode: is not a UK postcode (for example NG7 2AH)")
    assert "NOT A POSTCODE" not in out["error"]
    assert "X 1" not in out["error"]


def test_decide_uses_the_rules_file_given(make_body: MakeBody) -> None:
    stdin = lines(make_body(victim__postcode="NG18 4RF"))
    out = json.loads(
        run(["decide", "--rules", str(RULES_DIR / "2026-11-county-juno.json")], stdin).stdout
    )
    assert (out["rules_version"], out["provider"]) == ("2026-11-county-juno", "juno")


def test_decide_decides_the_public_cases_as_expected(
    public_routing_cases: list[dict[str, Any]],
) -> None:
    result = run(["decide", "--stats"], lines(*(c["submission"] for c in public_routing_cases)))
    out = [json.loads(line) for line in result.stdout.decode().splitlines()]
    for case, got in zip(public_routing_cases, out, strict=True):
        keys = ("notify", "pathway", "priority", "provider")
        assert {**{k: got[k] for k in keys}, "area": got["locality"]["area"]} == case["expect"]
    assert b"start-up" in result.stderr


def test_decide_refuses_to_start_on_a_broken_rules_file(tmp_path: Path) -> None:
    broken = tmp_path / "2026-11-default.json"
    broken.write_text("{}")
    result = run(["decide", "--rules", str(broken)], b"")
    assert result.returncode == 2
    assert b"router: error: a rules file is a JDM graph" in result.stderr


def test_simulate_prints_what_moving_county_allocation_to_juno_would_change(
    make_body: MakeBody,
) -> None:
    stdin = lines(
        make_body(submission_id="1", victim__postcode="NG18 4RF"),
        make_body(submission_id="2", victim__postcode="S80 1AA"),
        make_body(submission_id="3", victim__postcode="NG7 2AH"),
        make_body(submission_id="4", victim__postcode="NG18 4RF", victim__gender="male"),
        make_body(submission_id="5", victim__postcode="NG18 4RF", conduct__incident_count=1),
        "garbage",
    )
    result = run(
        ["simulate", "--rules", str(RULES_DIR / "2026-11-county-juno.json"), "--no-progress"], stdin
    )
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode()
    assert "rules 2026-11-county-juno against baseline 2026-11-default" in text
    assert "referrals: 5  changed: 2  undecided: 0  unreadable lines: 1" in text
    assert "pathway: no changes" in text
    assert "priority: no changes" in text
    assert "provider: 2 changed" in text
    assert [line.split() for line in text.splitlines() if line.startswith("  nwa")] == [
        ["nwa", "juno", "2"]
    ]


def test_simulate_from_db_without_a_database_url_refuses_naming_the_variable() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    result = run(["simulate", "--rules", str(COUNTY_JUNO), "--from-db"], b"", env)
    assert result.returncode == 2
    assert b"ROUTER_DATABASE_URL" in result.stderr


def test_simulate_since_without_from_db_is_refused() -> None:
    result = run(["simulate", "--rules", str(COUNTY_JUNO), "--since", "2026-11-01T00:00Z"], b"")
    assert result.returncode == 2
    assert b"--since needs --from-db" in result.stderr


def test_simulate_since_must_carry_a_utc_offset() -> None:
    result = run(
        ["simulate", "--rules", str(COUNTY_JUNO), "--from-db", "--since", "2026-11-01T00:00"], b""
    )
    assert result.returncode == 2
    assert b"has no UTC offset" in result.stderr


def test_simulate_from_an_unreachable_database_says_so_without_the_dsn() -> None:
    dsn = "postgresql://router:s3cret-password@127.0.0.1:1/referrals"
    args = ["simulate", "--rules", str(COUNTY_JUNO), "--from-db", "--no-progress"]
    result = run(args, b"", {**os.environ, "ROUTER_DATABASE_URL": dsn})
    assert result.returncode == 2
    assert b"router: error: cannot read the stored referrals" in result.stderr
    assert b"s3cret-password" not in result.stderr


def test_decide_puts_the_garbage_collector_back_as_it_found_it() -> None:
    thresholds = gc.get_threshold()
    with _batch_gc():
        assert gc.get_threshold()[0] == 10_000
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0
