"""Fuzzing intake's HTTP API with generated bad bodies (hypothesis), against the real app and
the real PostgreSQL.

Rules checked, for every generated request:
- intake never answers 5xx, whatever the body, its bytes or its headers;
- every 4xx is an error body whose `errors` list is non-empty and where each error names a
  field (a non-empty `field`), and it is never 401 (the key is valid, so the refusal must be
  about the request itself);
- nothing the fuzzer puts in a personal field comes back in an error body.

Bodies are made by mutating the contract's example (fields dropped, wrong types, out-of-range
numbers, bad enums, huge strings, NUL and control characters, nested garbage, unknown fields),
by generating arbitrary JSON, and by generating bytes (invalid UTF-8, truncated JSON, deep
nesting, oversized numbers, lone surrogates). Each inner property counts its requests, so the
test fails rather than passing on fewer examples than it claims (4,400 in all).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake.app import create_app
from services.intake.config import IntakeSettings
from tests.support.infra import ROOT, service_env

pytestmark = [
    pytest.mark.integration,
    # The app's Kafka and PostgreSQL clients use `random` in the background while hypothesis
    # runs; that is not the strategies' doing.
    pytest.mark.filterwarnings(
        "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
    ),
]

AGENCY = "fuzz-agency"
MARKER = "ZZFUZZMARKERZZ"  # put in personal fields; must never be echoed
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
REFUSALS = {400, 409, 413, 415, 422}


@pytest.fixture(scope="module")
def token(stack_env: dict[str, str]) -> str:
    env = service_env(stack_env)
    value = f"fz_{secrets.token_urlsafe(24)}"
    for args in (["agency-add", AGENCY, "Fuzzing"], ["key-create", AGENCY, "--token", value]):
        subprocess.run(
            [sys.executable, "-m", "services.intake", *args],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=60,
        )
    return value


@pytest.fixture(scope="module")
def client(stack_env: dict[str, str]) -> Iterator[TestClient]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in stack_env.items():
            mp.setenv(key, value)
        with TestClient(create_app(IntakeSettings())) as test_client:
            yield test_client


@pytest.fixture(scope="module")
def example(public_cases: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(public_cases[0]["submission"]))
    body["victim"]["name"] = f"Sam {MARKER}"
    body["referrer"]["name"] = f"PC {MARKER}"
    return body


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


# --- values -------------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from("\x00\n\t"),
    max_size=40,
)
_HUGE_TEXT = st.builds(
    lambda ch, n: ch * n,
    st.sampled_from(["a", "\x00", "é", "😀", " ", "9"]),
    st.integers(0, 70_000),
)
_BAD_ENUMS = st.sampled_from(
    ["", " ", "FEMALE", "Female", "unknown", "stalker", "HIGH", "urgent", "phone ", "null", "0"]
)
_BAD_DATES = st.sampled_from(
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
_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-1, 0, 12, 121, 100_001, 2**31, 2**63, -(2**63) - 1, 0.5, 1e308]),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, _TEXT, _HUGE_TEXT, _BAD_ENUMS, _BAD_DATES)
# Plausible text with awkward characters: these keep a body valid, so they reach the database.
_AWKWARD_TEXT = st.builds(
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
_GARBAGE = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


def _mutate(body: Any, path: tuple[Any, ...], op: str, value: Any) -> Any:
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


# --- the properties -----------------------------------------------------------------------


def test_mutated_submissions_never_cause_a_5xx_and_every_refusal_names_a_field(
    client: TestClient, token: str, example: dict[str, Any]
) -> None:
    probe = Probe(client, token)
    paths = _paths(example)
    mutation = st.one_of(
        st.tuples(
            st.sampled_from(paths), st.sampled_from(["drop", "replace", "wrap", "extra"]), _GARBAGE
        ),
        st.tuples(st.sampled_from(paths), st.just("retext"), _AWKWARD_TEXT),
    )

    @settings(FUZZ, max_examples=2500)
    @given(mutations=st.lists(mutation, min_size=1, max_size=4), ascii_only=st.booleans())
    def check(mutations: list[tuple[tuple[Any, ...], str, Any]], ascii_only: bool) -> None:
        body: Any = json.loads(json.dumps(example))
        body["submission_id"] = f"FZ-{uuid4().hex[:16]}"  # valid results really get stored
        for path, op, value in mutations:
            body = _mutate(body, path, op, value)
        probe.post(json.dumps(body, ensure_ascii=ascii_only).encode())

    check()
    assert probe.total >= 2500
    assert probe.refused >= probe.total * 0.6, probe.statuses


def test_arbitrary_json_never_causes_a_5xx_and_every_refusal_names_a_field(
    client: TestClient, token: str
) -> None:
    probe = Probe(client, token)

    @settings(FUZZ, max_examples=600)
    @given(body=_GARBAGE)
    def check(body: Any) -> None:
        probe.post(json.dumps(body).encode())

    check()
    assert probe.total >= 600
    assert probe.refused == probe.total, probe.statuses


def _splice(data: bytes, at: int, insert: bytes) -> bytes:
    at = at % (len(data) + 1)
    return data[:at] + insert + data[at:]


def test_malformed_bytes_never_cause_a_5xx_and_every_refusal_names_a_field(
    client: TestClient, token: str, example: dict[str, Any]
) -> None:
    probe = Probe(client, token)
    valid = json.dumps(example | {"submission_id": "FZ-BYTES"}).encode()
    raw = st.one_of(
        st.binary(max_size=3000),
        st.builds(
            _splice, st.just(valid), st.integers(0, len(valid)), st.binary(min_size=1, max_size=8)
        ),
        st.builds(lambda n: valid[:n], st.integers(0, len(valid) - 1)),
        st.builds(
            lambda n, o, c: o.encode() * n + c.encode() * n,
            st.integers(1, 40_000),
            st.sampled_from(["[", '{"a":']),
            st.sampled_from(["]", "}"]),
        ),
        st.builds(
            lambda n: b'{"conduct": {"incident_count": ' + b"9" * n + b"}}", st.integers(1, 20_000)
        ),
        st.builds(
            lambda esc: valid.replace(b'"Sam ', b'"' + esc.encode() + b"Sam "),
            st.sampled_from(["\\ud800", "\\udfff", "\\u0000", "\\ud83d", "\\x00", "\\uZZZZ"]),
        ),
        st.sampled_from(
            [b"", b"null", b"[]", b"{}", b'""', b"NaN", b"-Infinity", b"\xef\xbb\xbf{}"]
        ),
    )

    @settings(FUZZ, max_examples=1000)
    @given(content=raw)
    def check(content: bytes) -> None:
        probe.post(content)

    check()
    assert probe.total >= 1000
    # A splice of whitespace can leave the example valid: most, not all, are refused.
    assert probe.refused >= probe.total * 0.9, probe.statuses


def test_odd_headers_never_cause_a_5xx_and_every_refusal_names_a_field(
    client: TestClient, token: str, example: dict[str, Any]
) -> None:
    probe = Probe(client, token)
    header_text = st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
        max_size=300,
    )

    @settings(FUZZ, max_examples=300)
    @given(
        content_type=st.sampled_from(
            [
                "application/json",
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "application/json; charset=latin-1",
                "",
            ]
        ),
        idempotency_key=st.none() | header_text,
        valid_body=st.booleans(),
    )
    def check(content_type: str, idempotency_key: str | None, valid_body: bool) -> None:
        body = example | {"submission_id": f"FZ-{uuid4().hex[:16]}"}
        content = json.dumps(body).encode() if valid_body else b"submission_id=x&victim=y"
        headers: dict[str, str | bytes] = {"content-type": content_type}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key.encode("latin-1")
        probe.post(content, headers)

    check()
    assert probe.total >= 300


def test_the_unmutated_example_is_accepted_so_the_fuzzing_reaches_the_database(
    client: TestClient, token: str, example: dict[str, Any]
) -> None:
    probe = Probe(client, token)
    body = example | {"submission_id": f"FZ-{uuid4().hex[:16]}"}
    assert probe.post(json.dumps(body).encode()).status_code == 201
