"""A Decision's JSON written from its parts (`Routing`), without building the Decision each time.

Building a Decision (validation included) and dumping it took over a third of `decide`'s time per
referral after parsing, though most of it is shared with other referrals: the outcome, the
locality and most trace steps recur, and the engine's `CachedRules` hands out one object for equal
ones.

Rules kept here:
- the text is exactly `routing.decision().model_dump_json()`, and every piece of it is written by
  pydantic: the fields shared with other referrals (the outcome's, the locality) are cut from a
  Decision's own JSON (dumped with only those fields included), each trace step is that step's
  own JSON (its model's serialiser, called without `model_dump_json`'s wrapper), and the
  referral's own fields (its ids and `decided_at`) are written by a serialiser of the same types,
  in one call per referral. Only the joining is done here, and compact JSON joins one way: fields
  in the model's order, a comma between them, no spaces;
- a shared piece is written the first time its object is seen and then reused, kept under the
  object's identity together with the object itself (so that identity cannot pass to another
  object while it is kept); the memos are bounded;
- `exact` is checked once, on a probe written both ways: if the model's fields are not the ones
  joined here, or pydantic writes the probe differently (a serialiser or a setting added to the
  contract), every Decision is built and dumped instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Final
from uuid import UUID

from pydantic import TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from services.router.domain import Outcome, Routing
from shared import Area, Decision, Locality, NotifyParty, Pathway, Priority, Provider, TraceStep

_FIELDS: Final = (
    "referral_id",
    "submission_id",
    "decided_at",
    "rules_version",
    "pathway",
    "provider",
    "priority",
    "notify",
    "locality",
    "trace",
    "signpost",
)
_SHARED: Final = frozenset({"rules_version", "pathway", "provider", "priority", "notify"})
_LIMIT: Final = 50_000


class _Own(TypedDict):
    """A referral's own fields, as Decision declares them."""

    referral_id: UUID | None
    submission_id: str
    decided_at: datetime


_OWN: Final = TypeAdapter(_Own).serializer
_STEP: Final = TraceStep.__pydantic_serializer__.to_json  # model_dump_json, less its wrapper


def _piece(decision: Decision, include: Any) -> str:
    """`"name":value` for the fields `include` names, as in the Decision's own JSON."""
    return decision.model_dump_json(include=include)[1:-1]


class DecisionWriter:
    """Writes the JSON of a Routing's Decision (see the module docstring)."""

    def __init__(self) -> None:
        # Keyed by id(), each entry holding its object: (outcome, version, fields up to notify,
        # signpost), (locality, its field) and (step, its JSON).
        self._outcomes: dict[int, tuple[Outcome, str, str, str]] = {}
        self._localities: dict[int, tuple[Locality, str]] = {}
        self._steps: dict[int, tuple[TraceStep, str]] = {}
        probe = _probe()
        self.exact = tuple(Decision.model_fields) == _FIELDS and self._join(probe) == (
            probe.decision().model_dump_json()
        )

    def __call__(self, routing: Routing) -> str:
        """The JSON of `routing.decision()`."""
        if not self.exact:
            return routing.decision().model_dump_json()
        return self._join(routing)

    def _join(self, routing: Routing) -> str:
        decision: Decision | None = None  # built only when a shared part is new
        outcome = routing.outcome
        shared = self._outcomes.get(id(outcome))
        if shared is None or shared[1] != routing.rules_version:
            decision = routing.decision()
            shared = (
                outcome,
                routing.rules_version,
                _piece(decision, _SHARED),
                _piece(decision, {"signpost"}),
            )
            _keep(self._outcomes, id(outcome), shared)
        locality = self._localities.get(id(routing.locality))
        if locality is None:
            decision = decision or routing.decision()
            locality = (routing.locality, _piece(decision, {"locality"}))
            _keep(self._localities, id(routing.locality), locality)
        steps = []
        for step in routing.trace:
            known = self._steps.get(id(step))
            if known is None:
                known = (step, _STEP(step).decode())
                _keep(self._steps, id(step), known)
            steps.append(known[1])
        own = _OWN.to_json(
            {
                "referral_id": routing.referral_id,
                "submission_id": routing.submission_id,
                "decided_at": routing.decided_at,
            }
        )
        return (
            f"{own[:-1].decode()},{shared[2]},{locality[1]},"
            f'"trace":[{",".join(steps)}],{shared[3]}}}'
        )


def _keep(memo: dict[int, Any], key: int, value: Any) -> None:
    if len(memo) >= _LIMIT:
        memo.clear()
    memo[key] = value


def _probe() -> Routing:
    """A Routing that uses every kind of value a Decision holds."""
    return Routing(
        UUID("2b0c2d6e-3f4a-4b5c-8d9e-0f1a2b3c4d5e"),
        "NP-2026/000123",
        datetime(2026, 3, 29, 1, 30, 5, 120, tzinfo=timezone(timedelta(hours=1))),
        "2026-11-default",
        Outcome(
            pathway=Pathway.YOUTH_JOINT_WORKING,
            provider=Provider.JUNO,
            priority=Priority.URGENT,
            notify=(NotifyParty.NOTTS_POLICE, NotifyParty.CITY_CHILDRENS_SOCIAL_CARE),
            signpost='Juno "Café"\tline\x01 \\ 0115',
            fired=(),
        ),
        Locality(local_authority_code="E06000018", area=Area.NOTTINGHAM_CITY),
        [
            TraceStep(rule="a.b", facts={"age": 15, "area": "é", "risk_level": None, "x.y": True}),
            TraceStep(rule="c", facts={}),
        ],
    )
