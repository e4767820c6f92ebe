"""Reading the routing rules files: the version in force, or one named by path.

Rules kept here:
- the rules in force are the file `rules/current` names, unless a path is given: switching
  versions, like changing one, is a change of data, not of code;
- a rules file must carry its own name as its version (checked by `Rules`), and one that cannot
  be used is refused here, at start-up (RulesFileError, saying where and why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from services.router.domain import Rules

RULES_DIR: Final = Path(__file__).resolve().parents[1] / "rules"


def default_rules_path() -> Path:
    """The rules file in force: the one `rules/current` names."""
    return RULES_DIR / (RULES_DIR / "current").read_text(encoding="utf-8").strip()


def read_rules(path: Path | None = None) -> Rules:
    """A rules file, checked and compiled (RulesFileError if it cannot be used)."""
    path = path or default_rules_path()
    return Rules.from_json(path.read_text(encoding="utf-8"), file_stem=path.stem)
