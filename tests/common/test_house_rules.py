"""The house rules of issue 12, checked on the tree itself (README "Layout").

- every service is laid out the same way: `bootstrap.py`, `app.py`, `subscribers.py`,
  `ports.py`, handlers (`handlers.py` or `handlers/`), `domain/`, `adapters/`;
- a service's top level holds only the shape's modules (`bootstrap`, `app`, `config`,
  `__main__`, `subscribers`, `ports`, `handlers` and its HTTP entry points `*api.py`); the rest
  lives in its packages (`handlers/`, `domain/`, `adapters/`, `api/`, ...);
- no module of a `domain/` holds mutable state at module level (a dict, list or set built
  there: tables are `MappingProxyType`, `frozenset` or tuples);
- no file of code is over 250 lines (generated files aside: `schemas/`, `docs/`).
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "router", "provider_gateway")
CODE = (".py", ".sh", ".sql", ".html", ".js", ".css", ".lua")
MAX_LINES = 250
_MUTABLE_CALLS = {"dict", "list", "set", "defaultdict", "Counter", "deque", "OrderedDict"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_common_shape(service: str) -> None:
    home = ROOT / "services" / service
    missing = [
        name
        for name in ("bootstrap.py", "app.py", "subscribers.py", "ports.py", "domain", "adapters")
        if not (home / name).exists()
    ]
    if not ((home / "handlers.py").exists() or (home / "handlers").is_dir()):
        missing.append("handlers")
    assert missing == [], f"services/{service} lacks {missing}"


_TOP_LEVEL = frozenset(
    {"__init__", "__main__", "bootstrap", "app", "config", "subscribers", "ports", "handlers"}
)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_keeps_only_the_shapes_modules_at_its_top_level(service: str) -> None:
    home = ROOT / "services" / service
    others = sorted(
        module.name
        for module in home.glob("*.py")
        if module.stem not in _TOP_LEVEL and not module.name.endswith("api.py")
    )
    assert others == [], f"services/{service} keeps {others} outside the shape's packages"


def _mutable_globals(path: Path) -> list[str]:
    found = []
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            continue
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        name = ast.unparse(target)
        value = node.value
        literal = isinstance(
            value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp
        )
        call = isinstance(value, ast.Call) and getattr(value.func, "id", "") in _MUTABLE_CALLS
        if (literal or call) and name != "__all__":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_no_domain_module_keeps_mutable_state_at_module_level() -> None:
    modules = sorted((ROOT / "services").glob("*/domain/**/*.py"))
    assert modules
    found = [f for module in modules for f in _mutable_globals(module)]
    assert found == []


def test_no_file_of_code_is_over_250_lines() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    long = {
        name: lines
        for name in tracked
        if name.endswith(CODE)
        and not name.startswith(("schemas/", "docs/"))
        and (ROOT / name).is_file()
        and (lines := len((ROOT / name).read_text(errors="replace").splitlines())) > MAX_LINES
    }
    assert long == {}
