"""The router's pure core: facts from a referral, the policy as data, and `decide`.

Nothing here reads a clock, the network or (after construction) a file, and nothing logs.
"""

from services.router.domain.decide import Referral, Routing, decide, received_on, route
from services.router.domain.facts import Facts, RelationshipClass, derive_facts
from services.router.domain.postcodes import PostcodeDirectory, PostcodeIndex
from services.router.domain.replay import Comparison, compare, replay_one
from services.router.domain.rules import Outcome, RuleOutcomeError, Rules, RulesFileError

__all__ = [
    "Comparison",
    "Facts",
    "Outcome",
    "PostcodeDirectory",
    "PostcodeIndex",
    "Referral",
    "RelationshipClass",
    "Routing",
    "RuleOutcomeError",
    "Rules",
    "RulesFileError",
    "compare",
    "decide",
    "derive_facts",
    "received_on",
    "replay_one",
    "route",
]
