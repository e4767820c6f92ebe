"""The fault matrix: real processes under load, one fault per row, every referral accounted for.

`python -m tests.chaos --mode short|full|long` (`make chaos`, `make chaos-short`). It lives
under tests/ because it is test tooling: it starts the services with the same support code
as the integration tests (tests/support/pipeline.py and processes.py), rather than a copy.
"""
