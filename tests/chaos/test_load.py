"""The matrix's agency client: what counts as accepted, what is retried, what is refused."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx

from tests.chaos.load import deliverable_submissions, send


async def test_a_retry_reuses_the_key_on_the_next_intake_and_a_replay_is_accepted() -> None:
    seen: Counter[str] = Counter()
    keys: list[tuple[str, str]] = []

    def intake(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sid = body["submission_id"]
        keys.append((sid, request.headers["Idempotency-Key"]))
        seen[sid] += 1
        if request.url.host == "down":
            raise httpx.ConnectError("refused", request=request)
        if sid.endswith("00000") and seen[sid] < 3:
            return httpx.Response(503)
        if sid.endswith("00001"):
            return httpx.Response(422, json={"detail": []})
        status = 200 if sid.endswith("00002") else 201
        return httpx.Response(status, json={"referral_id": f"r-{sid}"})

    submissions = [{"submission_id": f"S-{i:05d}"} for i in range(4)]
    sent = await send(
        ["http://down", "http://up"],
        "key",
        submissions,
        spread=0,
        transport=httpx.MockTransport(intake),
    )
    assert set(sent.accepted) == {"r-S-00000", "r-S-00002", "r-S-00003"}
    assert sent.refused == {"422": 1}
    assert sent.retries >= 2
    assert all(sid == key for sid, key in keys), "a retry must reuse the submission's key"


def test_only_cases_a_provider_receives_are_sent_each_with_its_own_submission_id(
    tmp_path: Path,
) -> None:
    cases = tmp_path / "cases.jsonl"
    lines = [
        {"submission": {"submission_id": "A"}, "expect": {"provider": "nwa"}},
        {"submission": {"submission_id": "B"}, "expect": {"provider": None}},
    ]
    cases.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    chosen = deliverable_submissions(3, cases)
    assert len({s["submission_id"] for s in chosen}) == 3
    assert all(set(s) == {"submission_id"} for s in chosen)
