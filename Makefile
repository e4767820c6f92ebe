# One command to set up and run the system, one to run the tests.
#   make demo    install everything, start Kafka, PostgreSQL and the services, send sample referrals
#   make stop    stop the services, Kafka and PostgreSQL
#   make test    set up what is missing and run the whole test suite (real Kafka and PostgreSQL)
#   make lint    ruff and mypy (strict)
#   make bench   the benchmarks (figures as ratios against baselines measured in the same run)
#   make chaos   the fault matrix (kill -9 of each part, provider outage, two instances) on the
#                real stack; `make chaos-short` is the few-minute version CI runs,
#                `make chaos-long` adds a 30-minute provider outage
#   make cluster-test  a three-broker Kafka cluster loses a broker mid-load: nothing lost or duplicated

.PHONY: setup demo stop test lint bench schemas chaos chaos-short chaos-long cluster-test

setup:
	bash scripts/venv.sh
	bash scripts/web_assets.sh
	bash scripts/infra.sh up

demo: setup
	bash scripts/stack.sh up
	.venv/bin/python scripts/demo.py
	@echo "The stack is still running (logs in .dev/logs). Stop it with: make stop"

stop:
	bash scripts/stack.sh down
	bash scripts/infra.sh down

test: setup
	bash scripts/stack.sh down
	.venv/bin/pytest

lint:
	bash scripts/venv.sh
	.venv/bin/ruff check .
	.venv/bin/mypy .

bench: setup
	bash scripts/bench_tools.sh
	.venv/bin/python -m bench

chaos: setup
	.venv/bin/python -m tests.chaos --mode full

chaos-short: setup
	.venv/bin/python -m tests.chaos --mode short

chaos-long: setup
	.venv/bin/python -m tests.chaos --mode long

# Also part of `make test`; this runs it alone (three more JVMs, about 70 s on 2 busy cores).
cluster-test: setup
	.venv/bin/pytest tests/cluster

schemas:
	.venv/bin/python -m shared.schemas
