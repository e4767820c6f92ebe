"""Ops tooling: read the PII-free ops topics and the services' tables, and document the topics.

`python -m services.ops tail | trace | stats | lag | asyncapi` (see `__main__`).
Rule kept here: whatever this package prints carries ids, states, codes, counts and times only;
it reads personal data from nowhere (its SQL names the columns it needs, never a body).
"""
