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
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake.app import create_app
from services.intake.config import IntakeSettings
from tests.intake.fuzz_values import (
    AWKWARD_TEXT,
    GARBAGE,
    MARKER,
    Probe,
    mutate,
    paths_of,
    splice,
)
from tests.support.cli import cli_output
from tests.support.infra import service_env

pytestmark = [
    pytest.mark.integration,
    # The app's Kafka and PostgreSQL clients use `random` in the background while hypothesis
    # runs; that is not the strategies' doing.
    pytest.mark.filterwarnings(
        "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
    ),
]

AGENCY = "fuzz-agency"
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


@pytest.fixture(scope="module")
def token(stack_env: dict[str, str]) -> str:
    env = service_env(stack_env)
    value = f"fz_{secrets.token_urlsafe(24)}"
    for args in (["agency-add", AGENCY, "Fuzzing"], ["key-create", AGENCY, "--token", value]):
        cli_output("services.intake", *args, env=env, timeout=60)
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


# --- the properties -----------------------------------------------------------------------


def test_mutated_submissions_never_cause_a_5xx_and_every_refusal_names_a_field(
    client: TestClient, token: str, example: dict[str, Any]
) -> None:
    probe = Probe(client, token)
    paths = paths_of(example)
    mutation = st.one_of(
        st.tuples(
            st.sampled_from(paths), st.sampled_from(["drop", "replace", "wrap", "extra"]), GARBAGE
        ),
        st.tuples(st.sampled_from(paths), st.just("retext"), AWKWARD_TEXT),
    )

    @settings(FUZZ, max_examples=2500)
    @given(mutations=st.lists(mutation, min_size=1, max_size=4), ascii_only=st.booleans())
    def check(mutations: list[tuple[tuple[Any, ...], str, Any]], ascii_only: bool) -> None:
        body: Any = json.loads(json.dumps(example))
        body["submission_id"] = f"FZ-{uuid4().hex[:16]}"  # valid results really get stored
        for path, op, value in mutations:
            body = mutate(body, path, op, value)
        probe.post(json.dumps(body, ensure_ascii=ascii_only).encode())

    check()
    assert probe.total >= 2500
    assert probe.refused >= probe.total * 0.6, probe.statuses


def test_arbitrary_json_never_causes_a_5xx_and_every_refusal_names_a_field(
    client: TestClient, token: str
) -> None:
    probe = Probe(client, token)

    @settings(FUZZ, max_examples=600)
    @given(body=GARBAGE)
    def check(body: Any) -> None:
        probe.post(json.dumps(body).encode())

    check()
    assert probe.total >= 600
    assert probe.refused == probe.total, probe.statuses


def test_malformed_bytes_never_cause_a_5xx_and_every_refusal_names_a_field(
    client: TestClient, token: str, example: dict[str, Any]
) -> None:
    probe = Probe(client, token)
    valid = json.dumps(example | {"submission_id": "FZ-BYTES"}).encode()
    raw = st.one_of(
        st.binary(max_size=3000),
        st.builds(
            splice, st.just(valid), st.integers(0, len(valid)), st.binary(min_size=1, max_size=8)
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
