"""What of the facts a rules graph can observe: the key its results are memoised under.

A zen evaluation of the routing graph costs 60-400 µs; a memoised one about 1 µs. Memoising is exact
only if any two inputs with the same key get the same result, so the key is derived from the graph
itself, conservatively:
- only the fact paths the graph mentions enter the key (a column on `behaviours.violence` puts that
  one flag in, not the other ten behaviours);
- a number read only by table columns whose cells are integer comparisons, ranges, lists or null
  tests (`< 16`, `>= 2`, `[1..5]`, `3, 4`, `null`) enters the key as its interval between those
  integers: every age over 16 is one key, since no such cell can tell 17 from 70; a number used in
  any other way enters the key whole;
- a node this module does not analyse (expression, function, sub-decision), a table reading a
  sub-object, or a reference to the whole input (`$root`, `$` outside a column cell) makes the key
  the whole input: still exact, with fewer hits.
So the engine stays the only source of truth; the memo only avoids asking it the same question twice.

A graph whose tables form independent branches (no edge between them, each fed by the input node
alone: here precedence, allocation and notify on one side and priority on the other) also gets a
key per branch (`parts`): a branch's result fields depend on the facts that branch reads and on
nothing else, so the priority table's few inputs need not multiply the precedence table's keys.
Branches are used only when each table writes fields no other branch writes (none a prefix of
another's, none a fact the input passes through); otherwise the graph is one branch.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Collection, Mapping
from typing import Any, Final

from services.router.domain.expressions import STRING, names_in

_PATH: Final = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
_INT: Final = r"-?\d+"
_NUMERIC_CELL: Final = re.compile(
    rf"""^(?: (?:<|<=|>|>=|==|!=)?\s*{_INT}
            | [\[(\]]\s*{_INT}\s*\.\.\s*{_INT}\s*[\])\[]
            | {_INT}(?:\s*,\s*{_INT})+
            | null | \$\s*(?:==|!=)\s*null )$""",
    re.VERBOSE,
)


# A branch of the graph: the positions in the key of the facts it reads, the fields it writes.
Part = tuple[tuple[int, ...], tuple[tuple[str, ...], ...]]


class _WholeInput(Exception):
    """The graph does something the analysis does not follow: key on the whole input."""


class Projection:
    """Maps an engine input to the smallest key that determines the graph's result."""

    def __init__(self, graph: Mapping[str, Any], facts: Collection[str]):
        self._facts = frozenset(facts)
        self.whole_input = False
        whole: set[str] = set()
        numbers: dict[str, set[int]] = {}
        try:
            for node in graph.get("nodes", []):
                self._node(node, whole, numbers)
        except _WholeInput:
            self.whole_input = True
        self.bands = {p: tuple(sorted(n)) for p, n in numbers.items() if not _covered(p, whole)}
        self.paths = tuple(sorted(whole | set(self.bands)))
        self.parts = () if self.whole_input else self._branches(graph)
        # Per path: the path, split when nested (None: a top-level fact, one `get`), its bands.
        self._getters = tuple(
            (p, tuple(p.split(".")) if "." in p else None, self.bands.get(p)) for p in self.paths
        )

    def _branches(self, graph: Mapping[str, Any]) -> tuple[Part, ...]:
        """The graph's independent branches, each as the key positions it reads and the fields
        it writes; () when there are fewer than two or their fields are not cleanly apart."""
        inner = {
            n["id"]: n
            for n in graph.get("nodes", [])
            if n.get("type") not in ("inputNode", "outputNode") and "id" in n
        }
        group = {i: i for i in inner}

        def root(i: str) -> str:
            while group[i] != i:
                i = group[i]
            return i

        for edge in graph.get("edges", []):
            a, b = edge.get("sourceId"), edge.get("targetId")
            if a in inner and b in inner:
                group[root(a)] = root(b)
        members: dict[str, list[Mapping[str, Any]]] = {}
        for i, node in inner.items():
            members.setdefault(root(i), []).append(node)
        if len(members) < 2:
            return ()
        parts: list[Part] = []
        written: list[str] = []
        for nodes in members.values():
            whole: set[str] = set()
            numbers: dict[str, set[int]] = {}
            fields: list[str] = []
            for node in nodes:
                self._node(node, whole, numbers)
                for column in (node.get("content") or {}).get("outputs", []):
                    fields.append(str(column.get("field") or ""))
            read = whole | set(numbers)
            positions = tuple(i for i, p in enumerate(self.paths) if _covered(p, read))
            parts.append((positions, tuple(tuple(f.split(".")) for f in sorted(set(fields)))))
            written.extend(set(fields))
        distinct = set(written)
        if len(distinct) < len(written):
            return ()  # two branches write one field
        for a in distinct:
            if not _PATH.match(a) or a.split(".")[0] in self._facts:
                return ()
            if any(b.startswith(a + ".") for b in distinct):
                return ()  # a field inside another: kept whole, as one branch
        return tuple(parts)

    def _node(self, node: Mapping[str, Any], whole: set[str], numbers: dict[str, set[int]]) -> None:
        kind, content = node.get("type"), node.get("content") or {}
        if kind in ("inputNode", "outputNode"):
            return
        if kind == "switchNode":
            for statement in content.get("statements", []):
                self._uses(statement.get("condition") or "", whole, dollar_ok=False)
            return
        if kind != "decisionTableNode" or content.get("inputField"):
            raise _WholeInput(str(kind))
        rows = content.get("rules", [])
        for column in content.get("inputs", []):
            field, cells = column.get("field") or "", [str(r.get(column["id"], "")) for r in rows]
            if _PATH.match(field) and field.split(".")[0] in self._facts:
                if all(_NUMERIC_CELL.match(c.strip()) for c in cells if c.strip()):
                    numbers.setdefault(field, set()).update(
                        int(n) for c in cells for n in re.findall(_INT, c)
                    )
                else:
                    whole.add(field)
            else:
                self._uses(field, whole, dollar_ok=False)
            for cell in cells:
                self._uses(cell, whole, dollar_ok=bool(field))
        for column in content.get("outputs", []):
            for row in rows:
                self._uses(str(row.get(column["id"], "")), whole, dollar_ok=False)

    def _uses(self, expression: str, whole: set[str], *, dollar_ok: bool) -> None:
        if not dollar_ok and re.search(r"(?<![\w$])\$(?![\w$])", STRING.sub('""', expression)):
            raise _WholeInput("$")
        for name in names_in(expression):
            if name.startswith("$"):
                raise _WholeInput(name)  # $root and the like: the whole input
            if name.split(".")[0] in self._facts:
                whole.add(name)

    def key(self, context: Mapping[str, Any]) -> tuple[Any, ...]:
        if self.whole_input:
            return (_freeze(context),)
        key = []
        value: Any
        for path, parts, bands in self._getters:  # hot path: plain loops, no isinstance on ABCs
            if parts is None:
                value = context.get(path)
            else:  # as `domain.trace.walk`, inlined
                value = context
                for part in parts:
                    value = value.get(part) if type(value) is dict else None
            kind = type(value)
            if kind is int and bands:
                value = _band(value, bands)
            elif kind is dict or kind is list or kind is tuple:
                value = _freeze(value)
            key.append(value)
        return tuple(key)


def _covered(path: str, whole: set[str]) -> bool:
    return any(path == w or path.startswith(w + ".") or w.startswith(path + ".") for w in whole)


def _band(value: int, bounds: tuple[int, ...]) -> int:
    """The representative of `value`'s class: itself on a bound, else the integer just above the
    bound below it (or just below the lowest bound); integers in one class compare alike."""
    i = bisect_left(bounds, value)
    if i < len(bounds) and bounds[i] == value:
        return value
    return bounds[i - 1] + 1 if i else bounds[0] - 1


def _freeze(value: Any) -> Any:
    if type(value) is dict:
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if type(value) is list or type(value) is tuple:
        return tuple(_freeze(v) for v in value)
    return value
