"""What intake's HTTP fuzzing sends: generated values (hypothesis strategies), the mutations
of the contract's example (`paths_of`, `mutate`, `splice`), and the `Probe` that posts each
request and checks the rules of test_http_fuzz_integration.py."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from fastapi.testclient import TestClient
from hypothesis import strategies as st

MARKER = "ZZFUZZMARKERZZ"  # put in personal fields; must never be echoed
REFUSALS = {400, 409, 413, 415, 422}


class Probe:
    """Posts one request and checks the rules above; counts statuses."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.token = token
        self.statuses: Counter[int] = Counter()

    def post(self, content: bytes, headers: dict[str, str | bytes] | None = None) -> httpx.Response:
        sent: dict[str, str | bytes] = {
            "Authorization": f"Bearer {self.token}",
            "content-type": "application/json",
        }
        response: httpx.Response = self.client.post(
            "/v1/referrals", content=content, headers=sent | (headers or {})
        )
        self.statuses[response.status_code] += 1
        assert response.status_code < 500, response.text[:500]
        if response.status_code >= 400:
            assert response.status_code in REFUSALS, (response.status_code, response.text[:500])
            errors = response.json()["errors"]
            assert errors, response.text[:500]
            for error in errors:
                assert isinstance(error["field"], str)
                assert error["field"].strip(), response.text[:500]
            assert MARKER not in response.text
        return response

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def refused(self) -> int:
        return sum(n for status, n in self.statuses.items() if status in REFUSALS)


TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from("\x00\n\t"),
    max_size=40,
)
HUGE_TEXT = st.builds(
    lambda ch, n: ch * n,
    st.sampled_from(["a", "\x00", "é", "😀", " ", "9"]),
    st.integers(0, 70_000),
)
BAD_ENUMS = st.sampled_from(
    ["", " ", "FEMALE", "Female", "unknown", "stalker", "HIGH", "urgent", "phone ", "null", "0"]
)
BAD_DATES = st.sampled_from(
    [
        "2026-13-01",
        "0000-00-00",
        "2026-02-30",
        "2026-11-20T10:15:00",  # naive
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "0001-01-01",
        "9999-12-31",
        "yesterday",
        "2026-11-20T25:00:00+00:00",
        "1e10",
    ]
)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-1, 0, 12, 121, 100_001, 2**31, 2**63, -(2**63) - 1, 0.5, 1e308]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT, HUGE_TEXT, BAD_ENUMS, BAD_DATES)
# Plausible text with awkward characters: these keep a body valid, so they reach the database.
AWKWARD_TEXT = st.builds(
    lambda before, odd, after: f"{before}{odd}{after}",
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
    st.sampled_from(
        [
            "\x00",
            "\u2028",
            "\ufeff",
            "\x1b[31m",
            "'; DROP TABLE referrals; --",
            "\\",
            '"',
            "%s",
            "\r\n",
        ]
    ),
    st.text(alphabet="abc XYZ019", max_size=20),
)
GARBAGE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths_of(item, (*prefix, i))
    return found


def mutate(body: Any, path: tuple[Any, ...], op: str, value: Any) -> Any:
    """Apply one mutation at `path`; a path a previous mutation removed is left alone."""
    parent = body
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return body
    last = path[-1]
    present = (isinstance(parent, dict) and last in parent) or (
        isinstance(parent, list) and isinstance(last, int) and last < len(parent)
    )
    if present:
        if op == "drop":
            del parent[last]
        elif op == "replace" or (op == "retext" and isinstance(parent[last], str)):
            parent[last] = value
        elif op == "wrap":
            parent[last] = [parent[last]] if value else {"value": parent[last]}
        elif op == "extra" and isinstance(parent, dict):
            parent[f"unexpected_{last}"] = value
    return body


def splice(data: bytes, at: int, insert: bytes) -> bytes:
    at = at % (len(data) + 1)
    return data[:at] + insert + data[at:]
