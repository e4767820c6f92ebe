"""The router's engine: the rules in force, remembered (`CachedRules`), bound with the postcodes.

Rules kept here:
- the domain's `decide` is the policy; what makes it fast (memoised outcomes, shared trace steps
  and localities, and the memo key derived from the graph: `cached`, `projection`) is here, held
  by one `CachedRules` per loaded version, never in `domain/`;
- `load_rules` reads a rules file (`adapters.rules_files`) and wraps it; `load_decider` binds it
  with the postcode index (`adapters.postcode_data`): loading reads files once, at start-up; the
  `Router` it returns does no I/O per referral.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.router.adapters.postcode_data import load_postcode_index
from services.router.adapters.rules_files import read_rules
from services.router.domain import Policy, PostcodeDirectory, Referral, decide, received_on
from services.router.engine.cached import CachedRules
from shared import Decision

__all__ = ["CachedRules", "Router", "load_decider", "load_rules"]


def load_rules(path: Path | None = None) -> CachedRules:
    """A rules file (default: the version in force), checked, compiled and ready to remember."""
    return CachedRules(read_rules(path))


@dataclass(frozen=True)
class Router:
    """`decide` bound to one rules version and one postcode directory."""

    rules: Policy
    postcodes: PostcodeDirectory

    def __call__(self, referral: Referral) -> Decision:
        return decide(referral, self.rules, received_on(referral), self.postcodes)


def load_decider(rules_path: Path | None = None, postcodes_csv: Path | None = None) -> Router:
    """The router's decide function, ready to call (this is what the service binds at start-up)."""
    return Router(load_rules(rules_path), load_postcode_index(postcodes_csv))
