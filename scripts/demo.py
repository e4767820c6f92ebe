"""Send the sample referrals in demo/referrals.jsonl through the running stack and show where
each one went: decision (pathway, provider, priority) and delivery status.

Run by `make demo` after `scripts/stack.sh up`; reads ports and the demo API key from
.dev/stack.env. Each run gives the samples fresh submission ids, so it can be repeated.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"delivered", "accepted", "declined", "rerouted", "delivery_failed"}


def _env() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (ROOT / ".dev" / "stack.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return dict(pairs)


def _wait_for_outcome(client: httpx.Client, referral_id: str, deadline: float) -> dict[str, Any]:
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = client.get(f"/v1/referrals/{referral_id}").json()
        states = {e["state"] for e in status.get("timeline", [])}
        decided = next((e for e in status.get("timeline", []) if e["state"] == "decided"), None)
        if decided and (decided["pathway"] == "out_of_area" or states & TERMINAL):
            return status
        time.sleep(0.3)
    return status


def main() -> int:
    env = _env()
    run = datetime.now(UTC).strftime("%H%M%S")
    samples = [
        json.loads(line) for line in (ROOT / "demo" / "referrals.jsonl").read_text().splitlines()
    ]
    headers = {"Authorization": f"Bearer {env['DEMO_AGENCY_API_KEY']}"}
    base = f"http://127.0.0.1:{env['INTAKE_HTTP_PORT']}"
    failures = 0
    print(f"\nSending {len(samples)} sample referrals to intake at {base}\n")
    print(f"{'sample':<38} {'pathway':<24} {'provider':<9} {'priority':<9} status")
    print("-" * 96)
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        sent = []
        for sample in samples:
            body = sample["submission"] | {
                "submission_id": f"{sample['submission']['submission_id']}-{run}",
                "submitted_at": datetime.now(UTC).isoformat(),
            }
            response = client.post("/v1/referrals", json=body)
            if response.status_code not in (200, 201):
                print(f"{sample['label']:<38} refused: {response.status_code} {response.text}")
                failures += 1
                continue
            sent.append((sample["label"], response.json()["referral_id"]))
        deadline = time.monotonic() + 90
        for label, referral_id in sent:
            status = _wait_for_outcome(client, referral_id, deadline)
            decided = next((e for e in status.get("timeline", []) if e["state"] == "decided"), None)
            if decided is None:
                print(f"{label:<38} not decided in time (referral {referral_id})")
                failures += 1
                continue
            print(
                f"{label:<38} {decided['pathway']:<24} {decided['provider'] or '-':<9} "
                f"{decided['priority']:<9} {status['status']}"
            )
    print(f"\nStatus of any referral: GET {base}/v1/referrals/<referral_id> (Bearer demo key)")
    print(f"Web referral form for people (self, public, professional): {base}/refer")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
