"""Start-up wiring of the pure core: the rules in force and the postcode index, bound into `decide`.

Rules kept here:
- the rules in force are the file `rules/current` names, unless a path is given: switching
  versions, like changing one, is a change of data, not of code;
- a rules file must carry its own name as its version (checked by `Rules`);
- the postcode index comes from the packaged ONSPD, or from a newer ONSPD CSV when given
  (`postcode_data`); either way it is built once and cached;
- loading reads files; the `Router` it returns does no I/O per referral.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from services.router.domain import PostcodeDirectory, Referral, Rules, decide, received_on
from services.router.postcode_data import load_postcode_index
from shared import Decision

RULES_DIR: Final = Path(__file__).resolve().parent / "rules"


def default_rules_path() -> Path:
    """The rules file in force: the one `rules/current` names."""
    return RULES_DIR / (RULES_DIR / "current").read_text(encoding="utf-8").strip()


def load_rules(path: Path | None = None) -> Rules:
    """A rules file, checked and compiled (RulesFileError if it cannot be used)."""
    path = path or default_rules_path()
    return Rules.from_json(path.read_text(encoding="utf-8"), file_stem=path.stem)


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
