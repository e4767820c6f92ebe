"""Plain-text tables: a header row, a rule, then the rows, each column as wide as its widest cell.

Rules kept here: `None` prints as `-`; numbers are right-aligned, text left-aligned; no trailing
spaces, so the output diffs and greps cleanly.
"""

from __future__ import annotations

from collections.abc import Sequence

Cell = str | int | float | None


def _text(cell: Cell) -> str:
    if cell is None:
        return "-"
    if isinstance(cell, float):
        return f"{cell:.1f}"
    return str(cell)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """The rows under their headers, one line each (header and rule even when there are none)."""
    texts = [[_text(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in texts:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(widths[i]) if numeric[i] else c.ljust(widths[i]) for i, c in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(row) for row in texts)
    return "\n".join(out)
