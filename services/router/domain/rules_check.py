"""Load-time checks of a rules file, so that a broken policy fails at start-up, not on a referral.

Rules kept here (the format is described in services/router/rules/README.md):
- `metadata.version` names the version (YYYY-MM-name) and, when the file's name is known, equals it,
  so a decision's `rules_version` always identifies one file;
- `metadata.project_defaults.tables` lists the tables that are project defaults, not published facts
  (domain.md: allocation and priority), and each listed table exists;
- every decision table is first-hit, has a unique lower-case name, writes `fired.<name>` with the
  row's own `_id` (the rule name a trace shows), and ends with a catch-all row, so no input falls
  through undecided;
- every cell, field and condition compiles: zen otherwise treats a broken cell as never matching;
- every name a cell reads is a fact or a value an earlier table writes: a bare `outside` instead
  of `"outside"` reads an undefined variable, which is null, and would silently match null;
- node kinds are limited to input, output, decision table, switch and expression nodes: no
  JavaScript function nodes, no sub-decisions loaded from elsewhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any, Final

import zen

from services.router.domain.expressions import names_in

_VERSION: Final = re.compile(r"^\d{4}-\d{2}-[a-z0-9][a-z0-9-]*$")
_TABLE_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_KINDS: Final = frozenset(
    {"inputNode", "outputNode", "decisionTableNode", "switchNode", "expressionNode"}
)


class RulesFileError(ValueError):
    """A rules file that cannot be used; the message says where and why."""


def check_graph(graph: Any, facts: Collection[str], file_stem: str | None) -> tuple[str, ...]:
    """Check `graph` (a parsed rules file); returns its decision tables' names in file order."""
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        raise RulesFileError("a rules file is a JDM graph: a JSON object with nodes and edges")
    version = _metadata(graph, file_stem)
    tables: list[str] = []
    written = {"fired"}
    for node in graph["nodes"]:
        kind, content = node.get("type"), node.get("content") or {}
        if kind not in _KINDS:
            raise RulesFileError(f"{version}: node {node.get('name')!r} is a {kind}; not allowed")
        if kind == "decisionTableNode":
            tables.append(_table(node.get("name"), content, version, tables))
        outputs = content.get("outputs", []) + content.get("expressions", [])
        written.update(str(o.get("field") or o.get("key") or "").split(".")[0] for o in outputs)
    for node in graph["nodes"]:
        for where, expression, unary in _expressions(node):
            _compile(expression, unary, f"{version}: {node.get('name')}: {where}")
            unknown = [n for n in names_in(expression) if not n.startswith("$")]
            unknown = [
                n
                for n in unknown
                if n.split(".")[0] not in facts and n.split(".")[0] not in written
            ]
            if unknown:
                raise RulesFileError(
                    f"{version}: {node.get('name')}: {where} reads {', '.join(unknown)}, which is "
                    'neither a fact nor a value a table writes (a string needs quotes: "outside")'
                )
    declared = graph["metadata"].get("project_defaults")
    defaults = declared.get("tables") if isinstance(declared, dict) else None
    if not isinstance(defaults, list) or not set(defaults) <= set(tables):
        raise RulesFileError(
            f"{version}: metadata.project_defaults.tables must list existing tables"
        )
    return tuple(tables)


def _metadata(graph: Mapping[str, Any], file_stem: str | None) -> str:
    meta = graph.get("metadata")
    version = meta.get("version") if isinstance(meta, dict) else None
    if not isinstance(version, str) or not _VERSION.match(version):
        raise RulesFileError("metadata.version must name the version, like 2026-11-default")
    if file_stem is not None and file_stem != version:
        raise RulesFileError(f"file {file_stem}.json says it is version {version}: rename one")
    return version


def _table(name: Any, content: Mapping[str, Any], version: str, seen: list[str]) -> str:
    where = f"{version}: table {name!r}"
    if not isinstance(name, str) or not _TABLE_NAME.match(name) or name in seen:
        raise RulesFileError(f"{where}: needs a unique lower_case name")
    if content.get("hitPolicy") != "first":
        raise RulesFileError(f"{where}: must be first-hit (hitPolicy: first)")
    fired = [o["id"] for o in content.get("outputs", []) if o.get("field") == f"fired.{name}"]
    rows, inputs = content.get("rules", []), [i["id"] for i in content.get("inputs", [])]
    if not fired or not rows:
        raise RulesFileError(f"{where}: needs rows and an output column fired.{name}")
    for row in rows:
        rule = row.get("_id")
        if not isinstance(rule, str) or _literal(row.get(fired[0], "")) != rule:
            raise RulesFileError(f"{where}: row {rule!r} must write its _id to fired.{name}")
    if any(str(rows[-1].get(i, "")).strip() for i in inputs):
        raise RulesFileError(f"{where}: the last row must be a catch-all (every input cell empty)")
    return name


def _literal(cell: Any) -> Any:
    try:
        return json.loads(str(cell))
    except ValueError:
        return None


def _expressions(node: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """(where, expression, is it a unary cell) for every expression a node holds."""
    content, out = node.get("content") or {}, []
    for statement in content.get("statements", []):
        out.append(("switch condition", str(statement.get("condition") or ""), False))
    for expression in content.get("expressions", []):
        out.append((f"expression {expression.get('key')}", str(expression.get("value", "")), False))
    columns = [(c, True) for c in content.get("inputs", [])] + [
        (c, False) for c in content.get("outputs", [])
    ]
    for column, is_input in columns:
        field = str(column.get("field") or "")
        if field and is_input:
            out.append((f"column {column.get('name')}", field, False))
        for row in content.get("rules", []):
            cell = str(row.get(column["id"], ""))
            out.append(
                (
                    f"row {row.get('_id')}, column {column.get('name')}",
                    cell,
                    is_input and bool(field),
                )
            )
    return [(w, e, u) for w, e, u in out if e.strip()]


def _compile(expression: str, unary: bool, where: str) -> None:
    try:
        (zen.compile_unary_expression if unary else zen.compile_expression)(expression)
    except RuntimeError as exc:
        problem = str(exc).split("\n", 1)[0]
        raise RulesFileError(f"{where}: {expression!r} does not compile: {problem}") from None
