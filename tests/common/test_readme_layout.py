"""The README's "Layout" table matches the tree, both ways (issue 12).

- every folder in the table exists, and every file or folder a row names in backticks
  (`bootstrap.py`, `handlers/`, `services/common/startup.py`) exists: anywhere under the row's
  folder, or from the repository's root when it is a path;
- every module and folder at the top of each service (and of `services/common/`) is named in
  its row, so a file added or moved without the README being told fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROWS = re.compile(r"^\| `(?P<folder>[a-z_/]+/)` \| (?P<text>.+) \|$", re.MULTILINE)
NAMED = re.compile(r"`([A-Za-z0-9_./-]+(?:\.py|\.sh|/))`")
LISTED = ("services/intake/", "services/router/", "services/provider_gateway/", "services/common/")
UNLISTED = {"__init__.py", "__main__.py", "__pycache__", "config.py", "migrations"}


def _layout() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    return {m["folder"]: m["text"] for m in ROWS.finditer(section)}


def _exists(folder: str, name: str) -> bool:
    if "/" in name.rstrip("/"):
        return (ROOT / folder / name).exists() or (ROOT / name).exists()
    return any((ROOT / folder).rglob(name.rstrip("/")))  # a name inside the row's folder


def test_every_folder_and_file_the_layout_table_names_exists() -> None:
    rows = _layout()
    assert set(LISTED) <= set(rows), f"rows missing: {set(LISTED) - set(rows)}"
    missing = [
        f"{folder}{name}"
        for folder, text in rows.items()
        for name in NAMED.findall(text)
        if not _exists(folder, name)
    ]
    assert not [f for f in rows if not (ROOT / f).is_dir()], "a row names a folder that is gone"
    assert not missing, f"the README's layout table names what the tree does not have: {missing}"


@pytest.mark.parametrize("folder", LISTED)
def test_every_module_at_the_top_of_a_service_is_in_its_row(folder: str) -> None:
    named = {n.rstrip("/").rsplit("/", 1)[-1] for n in NAMED.findall(_layout()[folder])}
    here = {
        p.name
        for p in (ROOT / folder).iterdir()
        if p.name not in UNLISTED and (p.suffix == ".py" or p.is_dir())
    }
    stems = {n.removesuffix(".py") for n in named}
    unnamed = sorted(p for p in here if p not in named and p.removesuffix(".py") not in stems)
    assert not unnamed, f"{folder} has modules its README row does not name: {unnamed}"
