"""The router's offline tools: `decide` and `simulate` over JSON lines (or the stored referrals).

They need no broker (and `decide` no database): `commands` runs them, `jsonl` reads and answers
the lines, `decision_json` writes a Decision from its parts. `python -m services.router` parses
the command line and imports these only when an offline command is asked for.
"""
