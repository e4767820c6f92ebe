"""Start-up wiring of the pure core: the rules in force and the postcode index, bound into `decide`.

Rules kept here:
- the rules come from `adapters.rules_files` (the version `rules/current` names, unless a path
  is given), the postcode index from `adapters.postcode_data` (the packaged ONSPD, or a newer
  ONSPD CSV when given; either way built once and cached);
- loading reads files; the `Router` it returns does no I/O per referral.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.router.adapters.postcode_data import load_postcode_index
from services.router.adapters.rules_files import load_rules
from services.router.domain import PostcodeDirectory, Referral, Rules, decide, received_on
from shared import Decision


@dataclass(frozen=True)
class Router:
    """`decide` bound to one rules version and one postcode directory."""

    rules: Rules
    postcodes: PostcodeDirectory

    def __call__(self, referral: Referral) -> Decision:
        return decide(referral, self.rules, received_on(referral), self.postcodes)


def load_decider(rules_path: Path | None = None, postcodes_csv: Path | None = None) -> Router:
    """The router's decide function, ready to call (this is what the service binds at start-up)."""
    return Router(load_rules(rules_path), load_postcode_index(postcodes_csv))
