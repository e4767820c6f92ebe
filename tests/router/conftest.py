"""Fixtures for the router's tests: the shipped rules, the real postcode index, a fake directory,
a builder of valid submissions that names only what a test is about, and the router as a real
process for the integration modules."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from services.router.adapters.postcode_data import load_postcode_index
from services.router.adapters.rules_files import RULES_DIR
from services.router.domain import PostcodeIndex, decide
from services.router.engine import CachedRules, load_rules
from shared import Behaviour, Decision, ReferralReceived, ReferralSubmission
from tests.support.processes import ServiceProcess, service

REPO = Path(__file__).resolve().parents[2]
CASES = REPO.parent / "shared" / "cases" / "public-routing-cases.jsonl"

MakeSubmission = Callable[..., ReferralSubmission]
MakeBody = Callable[..., dict[str, Any]]


class FakeDirectory:
    """A postcode directory of a handful of postcodes, for domain tests."""

    def __init__(self, postcodes: dict[str, str | None]):
        self._postcodes = postcodes
        self._codes = {code for code in postcodes.values() if code}

    def la_code(self, postcode: str) -> str | None:
        return self._postcodes.get(postcode)

    def knows_la_code(self, code: str) -> bool:
        return code in self._codes


@pytest.fixture(scope="session")
def rules() -> CachedRules:
    return load_rules()


@pytest.fixture(scope="session")
def county_juno() -> CachedRules:
    return load_rules(RULES_DIR / "2026-11-county-juno.json")


@pytest.fixture(scope="session")
def onspd() -> PostcodeIndex:
    """The real index of every UK postcode (built and cached on first use)."""
    return load_postcode_index()


@pytest.fixture
def directory_of() -> Callable[[dict[str, str | None]], FakeDirectory]:
    return FakeDirectory


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory(
        {
            "NG7 2AH": "E06000018",  # Nottingham City
            "NG18 4RF": "E07000174",  # Mansfield
            "NG31 9TA": "E07000141",  # South Kesteven, Lincolnshire
            "DE1 1AA": "E06000015",  # Derby
            "NG4 9AB": None,  # in the directory, no authority (non-geographic)
        }
    )


@pytest.fixture(scope="session")
def public_routing_cases() -> list[dict[str, Any]]:
    if not CASES.exists():
        pytest.fail(f"public routing cases are missing: {CASES}")
    return [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]


def _body(**changes: Any) -> dict[str, Any]:
    """A valid submission (female, 36, City, stranger, three incidents, medium risk), changed."""
    body: dict[str, Any] = {
        "submission_id": "T-1",
        "submitted_at": "2026-11-20T10:15:00+00:00",
        "referrer": {
            "kind": "professional",
            "organisation": "Nottinghamshire Police",
            "email": "a.example@police.example",
        },
        "victim": {
            "name": "Sam Example",
            "date_of_birth": "1990-05-01",
            "age": None,
            "gender": "female",
            "postcode": "NG7 2AH",
            "local_authority_code": None,
            "safe_contact": {"method": "phone", "phone": "07700900123"},
        },
        "consent": {"given": True},
        "perpetrator": {"relationship": "stranger"},
        "conduct": {"incident_count": 3, "behaviours": ["following", "unwanted_contact"]},
        "risk": {"level": "medium", "sdash_yes_count": 4},
    }
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = body
        for part in parents:
            target = target[part]
        target[leaf] = value
    return body


@pytest.fixture
def make_body() -> MakeBody:
    """`make_body(victim__postcode="NG18 4RF")`: a valid submission's JSON body, changed."""
    return _body


@pytest.fixture
def make_submission() -> MakeSubmission:
    """`make_submission(victim__postcode="NG18 4RF", conduct__incident_count=1)`."""

    def make(**changes: Any) -> ReferralSubmission:
        return ReferralSubmission.model_validate(_body(**changes))

    return make


@pytest.fixture
def route(
    make_submission: MakeSubmission, rules: CachedRules, directory: FakeDirectory
) -> Callable[..., Decision]:
    """`route(victim__gender="male")`: the decision for the default submission, changed,
    received on 20 November 2026, with the fake directory."""

    def run(**changes: Any) -> Decision:
        return decide(make_submission(**changes), rules, date(2026, 11, 20), directory)

    return run


def _engine_input(**facts: Any) -> dict[str, Any]:
    """An engine input (`Facts.context()`): female, 30, City, stranger, three incidents, changed."""
    base: dict[str, Any] = {
        "area": "nottingham_city",
        "age": 30,
        "relationship": "stranger",
        "relationship_class": "non_domestic",
        "gender": "female",
        "incident_count": 3,
        "risk_level": "medium",
        "sdash_yes_count": None,
        "behaviours": {b.value: False for b in Behaviour},
    }
    base.update(facts)
    return base


@pytest.fixture
def engine_input() -> Callable[..., dict[str, Any]]:
    return _engine_input


MakeReceived = Callable[..., ReferralReceived]
RECEIVED_AT = datetime(2026, 11, 20, 10, 16, tzinfo=UTC)


@pytest.fixture
def make_received() -> MakeReceived:
    """`make_received(victim__gender="male")`: a ReferralReceived (fresh id, received 20 Nov 2026)
    of the default submission, changed."""

    def make(**changes: Any) -> ReferralReceived:
        return ReferralReceived(
            referral_id=uuid4(),
            received_at=RECEIVED_AT,
            referrer_agency="notts-police",
            submission=ReferralSubmission.model_validate(_body(**changes)),
        )

    return make


@pytest.fixture(scope="module")
def router(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """The router as a real process (`python -m services.router serve`), one per module that
    asks; its consumer group is the router's own, so no other router may run meanwhile."""
    with service("router", stack_env, tmp_path_factory.mktemp("router")) as process:
        yield process
