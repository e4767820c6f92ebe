"""The router's shape (style.md, issue 12): the policy reads as the policy, tools live apart.

Rules shown here: no module of `domain/` keeps mutable state at module level (what is remembered
for speed belongs to the engine's `CachedRules`, one per rules version); the router's top level
holds only the modules every service has, so the offline tools and the loading live in their own
folders; no module is over 250 lines.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import deque
from pathlib import Path
from types import ModuleType

import services.router
import services.router.domain

ROUTER = Path(services.router.__file__).parent
# style.md, practice 2: the modules every service has at its top level.
SERVICE_SHAPE = {
    "__init__",
    "__main__",
    "app",
    "bootstrap",
    "subscribers",
    "api",
    "handlers",
    "ports",
    "config",
}
MUTABLE = (dict, list, set, bytearray, deque)


def _domain_modules() -> list[ModuleType]:
    package = services.router.domain
    names = [m.name for m in pkgutil.iter_modules(package.__path__, package.__name__ + ".")]
    return [package, *(importlib.import_module(name) for name in names)]


def test_no_domain_module_keeps_mutable_state() -> None:
    kept = [
        f"{module.__name__}.{name}"
        for module in _domain_modules()
        for name, value in vars(module).items()
        if not name.startswith("__")
        and (isinstance(value, MUTABLE) or hasattr(value, "cache_clear"))  # dicts, lru_caches
    ]
    assert kept == []


def test_the_top_level_holds_only_the_modules_every_service_has() -> None:
    modules = {path.stem for path in ROUTER.glob("*.py")}
    assert modules <= SERVICE_SHAPE, modules - SERVICE_SHAPE
    for folder in ("domain", "adapters", "engine", "offline"):
        assert (ROUTER / folder / "__init__.py").is_file(), folder


def test_no_module_is_over_250_lines() -> None:
    lengths = {
        str(path.relative_to(ROUTER)): len(path.read_text(encoding="utf-8").splitlines())
        for path in ROUTER.rglob("*.py")
    }
    assert {path: n for path, n in lengths.items() if n > 250} == {}
