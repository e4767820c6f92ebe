"""The router's pure core: facts from a referral, the policy as data, and `decide`.

Nothing here reads a clock, the network or (after construction) a file, nothing logs, and no
module keeps mutable state: what is remembered for speed is the engine's (services.router.engine).
"""

from services.router.domain.decide import Policy, Referral, Routing, decide, received_on, route
from services.router.domain.facts import Facts, RelationshipClass, derive_facts
from services.router.domain.postcodes import PostcodeDirectory, PostcodeIndex
from services.router.domain.replay import Comparison, compare, replay_one
from services.router.domain.rules import (
    Fired,
    Outcome,
    RuleOutcomeError,
    Rules,
    RulesFileError,
    Table,
)

__all__ = [
    "Comparison",
    "Facts",
    "Fired",
    "Outcome",
    "Policy",
    "PostcodeDirectory",
    "PostcodeIndex",
    "Referral",
    "RelationshipClass",
    "Routing",
    "RuleOutcomeError",
    "Rules",
    "RulesFileError",
    "Table",
    "compare",
    "decide",
    "derive_facts",
    "received_on",
    "replay_one",
    "route",
]
