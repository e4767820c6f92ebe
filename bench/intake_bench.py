"""Benchmark of intake's HTTP ingress against bare INSERT transactions on the same database.

`python bench/intake_bench.py [--requests N] [--concurrency C]` brings up Kafka and PostgreSQL
with `scripts/infra.sh up` (idempotent; DEV_DIR, KAFKA_PORT, PG_PORT... are honoured), starts
a real intake process (`python -m services.intake serve`) on a free port with a bench agency
and key, and measures in the same run:
- accepted referrals per second over HTTP: N POSTs of distinct valid submissions with C in
  flight (httpx.AsyncClient); each is authenticated, validated, stored with its timeline row
  and outbox row in one transaction, and answered 201;
- how long the outbox relay takes, after the last answer, to have published all of them;
- the baseline: N single-row INSERT transactions of the same JSON into a scratch table in the
  intake schema, with the same concurrency (asyncpg pool of C), the floor of any durable
  accept path on this database;
- the ratio of the two;
- for scale, GET /healthz per second through the same client and server (no database): the
  ceiling of the HTTP client and framework on this machine, which share its cores with
  intake, PostgreSQL and Kafka.
Figures only: no assertions on timing. The intake process it started is stopped at the end;
the infrastructure is left running (`scripts/infra.sh down` stops it). The accepted referrals
(N + 200 warm-up) are real: they stay on `referrals.received.v1`, and a router or gateway later
run on the same infrastructure works through them first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "cases" / "public-routing-cases.jsonl"
AGENCY = "bench-agency"
SCRATCH = "bench_insert_scratch"


def ensure_infrastructure() -> dict[str, str]:
    """`scripts/infra.sh up`, then the stack's environment from `$DEV_DIR/stack.env`."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "infra.sh"), "up"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"scripts/infra.sh up failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    dev = Path(os.environ.get("DEV_DIR", ROOT / ".dev"))
    env: dict[str, str] = {}
    for line in (dev / "stack.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def intake_cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "services.intake", *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )


@contextmanager
def intake_process(env: dict[str, str], port: int) -> Iterator[str]:
    """A running intake, ready (PostgreSQL and Kafka); stopped with SIGTERM on exit."""
    url = f"http://127.0.0.1:{port}"
    with tempfile.NamedTemporaryFile("wb", prefix="intake-bench-", suffix=".log") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.intake", "serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    sys.exit(f"intake exited with {proc.returncode}; see {log.name}")
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    sys.exit(f"intake not ready in 90 s; see {log.name}")
                time.sleep(0.3)
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def submissions(n: int, run: str) -> list[bytes]:
    example: dict[str, Any] = json.loads(CASES.read_text().splitlines()[0])["submission"]
    return [
        json.dumps(example | {"submission_id": f"BENCH-{run}-{i:06d}"}).encode() for i in range(n)
    ]


async def concurrently(jobs: list[Callable[[], Awaitable[None]]], concurrency: int) -> float:
    """Run the jobs with at most `concurrency` in flight; the wall time in seconds."""
    queue: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while not queue.empty():
            await queue.get_nowait()()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def http_rate(
    url: str, token: str, bodies: list[bytes], concurrency: int
) -> tuple[float, Counter[int]]:
    statuses: Counter[int] = Counter()
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=30
    ) as client:

        def post(body: bytes) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                response = await client.post("/v1/referrals", content=body)
                statuses[response.status_code] += 1

            return job

        seconds = await concurrently([post(b) for b in bodies], concurrency)
    return seconds, statuses


async def healthz_rate(url: str, requests: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def job() -> None:
            (await client.get("/healthz")).raise_for_status()

        return requests / await concurrently([job] * requests, concurrency)


async def outbox_drain_seconds(dsn: str, limit: float = 120.0) -> float | None:
    """Seconds until no outbox row is unsent (None if not within `limit` seconds)."""
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < limit:
            if await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0:
                return time.perf_counter() - started
            await asyncio.sleep(0.05)
        return None
    finally:
        await conn.close()


async def insert_rate(dsn: str, bodies: list[bytes], concurrency: int) -> float:
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    try:
        await pool.execute(
            f"CREATE TABLE IF NOT EXISTS {SCRATCH} (id bigserial PRIMARY KEY, body jsonb NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now())"
        )

        def insert(body: bytes) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(
                        f"INSERT INTO {SCRATCH} (body) VALUES ($1::jsonb)", body.decode()
                    )

            return job

        return await concurrently([insert(b) for b in bodies], concurrency)
    finally:
        await pool.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        await pool.close()


async def measure(url: str, token: str, dsn: str, requests: int, concurrency: int) -> None:
    run = secrets.token_hex(4)
    await http_rate(url, token, submissions(min(200, requests), f"{run}-warm"), concurrency)
    await outbox_drain_seconds(dsn)
    bodies = submissions(requests, run)
    http_seconds, statuses = await http_rate(url, token, bodies, concurrency)
    drain = await outbox_drain_seconds(dsn)
    insert_seconds = await insert_rate(dsn, bodies, concurrency)
    healthz_per_s = await healthz_rate(url, requests, concurrency)

    accepted = statuses.get(201, 0)
    http_per_s = accepted / http_seconds
    insert_per_s = requests / insert_seconds
    print(f"requests {requests}, concurrency {concurrency}")
    print(f"HTTP statuses: {dict(sorted(statuses.items()))}")
    print(f"intake over HTTP:      {http_per_s:8.0f} accepted referrals/s  ({http_seconds:.2f} s)")
    print(
        "outbox drained:        "
        + (f"{drain:8.2f} s after the last answer" if drain is not None else "not within 120 s")
    )
    print(f"bare INSERT + COMMIT:  {insert_per_s:8.0f} transactions/s     ({insert_seconds:.2f} s)")
    print(f"ratio intake/INSERT:   {http_per_s / insert_per_s:8.2f}")
    print(f"GET /healthz (scale):  {healthz_per_s:8.0f} requests/s (HTTP alone, no database)")
    print(f"CPU cores: {os.cpu_count()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    stack = ensure_infrastructure()
    port = free_port()
    env = {**os.environ, **stack, "INTAKE_HTTP_PORT": str(port)}
    token = f"bench_{secrets.token_urlsafe(24)}"
    intake_cli(env, "agency-add", AGENCY, "Benchmark agency")
    intake_cli(env, "key-create", AGENCY, "--label", "bench", "--token", token)
    with intake_process(env, port) as url:
        asyncio.run(
            measure(url, token, stack["INTAKE_DATABASE_URL"], args.requests, args.concurrency)
        )


if __name__ == "__main__":
    main()
