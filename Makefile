# Strangler Kit. The two set-up commands are `make run` and `make test`; the rest are steps of them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint imports pytest acceptance test-postgres bench migrate seed clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || \
		{ echo "need Python 3.11 (python3.11 or python3 on PATH; or make PYTHON=/path/to/python3.11)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt extracted/payments/pyproject.toml
	$(BIN)/pip install --quiet -c constraints.txt -e '.[monolith,dev,redis,postgres]'
	$(BIN)/pip install --quiet --no-deps -e extracted/payments
	@touch $(STAMP)

install: $(STAMP)

## Both databases: the monolith's and the payments service's (each owns its schema).
migrate: install
	$(BIN)/python deploy/local/stack.py migrate

seed: migrate
	$(BIN)/python -m monolith.config.seed_demo

## make run: install, migrate, seed and start the stack on embedded defaults (SQLite, filesystem broker).
run: seed
	$(BIN)/python deploy/local/stack.py

lint: install
	$(BIN)/ruff check .

imports: install
	$(BIN)/lint-imports
	cd extracted/payments && PYTHONPATH=.:../.. ../../$(BIN)/lint-imports

pytest: install
	$(BIN)/pytest -q -p no:cacheprovider -m "not acceptance"
	cd extracted/payments && ../../$(BIN)/pytest -q -p no:cacheprovider

## The cutover acceptance run: the whole stack on PostgreSQL + Redis on loopback, route flips under
## load, the service killed, Redis stopped. Always on PostgreSQL, so it runs once, not per pass.
acceptance: install
	$(BIN)/pytest -q -p no:cacheprovider -m acceptance -s tests/test_cutover_acceptance.py

## make test: install, lint, import contracts and every test (SQLite unless DATABASE_URL says otherwise).
test: lint imports pytest acceptance

## The same suite against PostgreSQL on loopback (what .ci/run does as its second pass).
test-postgres: install
	DATABASE_URL=postgresql://postgres@127.0.0.1:5432/strangler_ci $(MAKE) pytest

bench: install
	bash bench/setup.sh
	$(BIN)/python bench/proxy.py
	$(BIN)/python bench/backfill.py

clean:
	rm -rf var extracted/payments/var .pytest_cache .ruff_cache
