"""The ops command line against the real pipeline: trace, tail, stats and lag.

Rules checked here:
- `trace` shows a delivered referral received, then decided, then delivered, from every
  service's tables and the ops topics;
- what the ops commands print carries no personal data either.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.ops.markers import find, needles, postcode_needles
from tests.ops.scenario import Run
from tests.support.cli import run_cli
from tests.support.infra import service_env

pytestmark = pytest.mark.integration


def ops(stack_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli("services.ops", *args, env=service_env(stack_env))
    assert result.returncode == 0, result.stderr
    return result


def _first_line(output: str, source: str, what: str) -> int:
    for number, line in enumerate(output.splitlines()):
        cells = line.split()
        if len(cells) >= 3 and cells[1] == source and cells[2] == what:
            return number
    raise AssertionError(f"no {source} {what} step in:\n{output}")


def test_trace_shows_a_delivered_referral_received_then_decided_then_delivered(
    ops_run: Run, stack_env: dict[str, str]
) -> None:
    out = ops(stack_env, "trace", ops_run.referral_ids["r2"]).stdout
    received = _first_line(out, "intake", "received")
    decided = _first_line(out, "router", "decided")
    delivered = _first_line(out, "gateway", "delivered")
    assert received < decided < delivered
    assert _first_line(out, "ops.events", "delivered") > decided
    assert "attempt:retryable" in out
    assert "status=503" in out
    assert "rules_version=" in out


def test_trace_of_a_declined_referral_shows_the_reroute_without_the_reason(
    ops_run: Run, stack_env: dict[str, str]
) -> None:
    out = ops(stack_env, "trace", ops_run.referral_ids["r1"]).stdout
    assert _first_line(out, "gateway", "response:declined") < _first_line(
        out, "ops.events", "rerouted"
    )
    assert ops_run.extra_markers["decline reason"].lower() not in out.lower()


def test_no_ops_command_prints_personal_data(ops_run: Run, stack_env: dict[str, str]) -> None:
    wanted = needles(ops_run.all_markers())
    for referral in ops_run.referrals.values():
        wanted |= postcode_needles(referral.postcode)
    outputs = {
        f"trace {tag}": ops(stack_env, "trace", rid).stdout
        for tag, rid in ops_run.referral_ids.items()
    }
    for topic in ("ops.events.v1", "ops.alerts.v1", "ops.deadletter.v1"):
        outputs[f"tail {topic}"] = ops(
            stack_env, "tail", topic, "--from-beginning", "--no-follow"
        ).stdout
    outputs["stats"] = ops(stack_env, "stats").stdout
    outputs["lag"] = ops(stack_env, "lag").stdout
    hits = [hit for name, text in outputs.items() for hit in find(wanted, name, text)]
    assert not hits, f"the ops tool printed personal data: {hits}"
    assert "dead_letter" in outputs["tail ops.deadletter.v1"]
    assert "stalking_advocacy" in outputs["stats"]
    assert "router" in outputs["lag"]
