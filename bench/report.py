"""The one table `make bench` prints: each figure beside its same-run baseline, and a JSON copy.

Rules kept here:
- a `Row` is one figure with the baseline measured in the same run, and the target as a ratio
  (figure / baseline >= ratio) or as an absolute bound; pass or fail is printed, never asserted;
- the environment (cores, load average, Python, Kafka and PostgreSQL versions, date) is printed
  above the table and stored with it, since every figure depends on it;
- the JSON copy goes to `$DEV_DIR/bench/latest.json` (and a dated copy beside it).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import DEV, OUT


@dataclass
class Row:
    stage: str
    figure: str
    value: float | None
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""
    passed: bool | None = None  # None: no target, or not measurable
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline_value:
            return None
        return self.value / self.baseline_value


def at_least(value: float | None, bound: float | None) -> bool | None:
    return None if value is None or bound is None else value >= bound


def _pg_version() -> str:
    with_pg = subprocess.run(
        ["bash", "-c", "ls /usr/lib/postgresql | sort -V | tail -1"],
        capture_output=True,
        text=True,
        check=False,
    )
    return with_pg.stdout.strip() or "?"


def _kafka_version() -> str:
    jars = sorted((DEV / "kafka" / "libs").glob("kafka-clients-*.jar"))
    return jars[-1].stem.removeprefix("kafka-clients-") if jars else "?"


def environment() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "kafka": _kafka_version(),
        "postgresql": _pg_version(),
        "kernel": platform.release(),
    }


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    return f"{text} {unit}".strip()


def render(env: dict[str, Any], rows: list[Row]) -> str:
    head = (
        f"{env['date']}  {env['host']}  {env['cores']} cores  load {env['load_average']}  "
        f"Python {env['python']}  Kafka {env['kafka']}  PostgreSQL {env['postgresql']}"
    )
    table = [
        "| stage | figure | measured | baseline (same run) | ratio | target | |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        base = f"{r.baseline}: {_num(r.baseline_value, r.unit)}" if r.baseline else ""
        verdict = {True: "pass", False: "FAIL", None: ""}[r.passed]
        figure = f"{r.figure} ({r.note})" if r.note else r.figure
        table.append(
            f"| {r.stage} | {figure} | {_num(r.value, r.unit)} | {base} | {ratio} "
            f"| {r.target} | {verdict} |"
        )
    return head + "\n\n" + "\n".join(table)


def save(env: dict[str, Any], rows: list[Row]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    data = {"environment": env, "rows": [asdict(r) | {"ratio": r.ratio} for r in rows]}
    text = json.dumps(data, indent=2)
    stamp = env["date"].replace(":", "").replace("-", "")
    (OUT / f"bench-{stamp}.json").write_text(text)
    latest = OUT / "latest.json"
    latest.write_text(text)
    return latest
