# Strangler Kit. The two set-up commands are `make run` and `make test`; the rest are steps of them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint imports pytest test-postgres bench migrate seed clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[monolith,dev,redis,postgres]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python -m monolith.config.seed_demo

## make run: install, migrate, seed and start the stack on embedded defaults (SQLite, filesystem broker).
run: seed
	$(BIN)/python deploy/local/stack.py

lint: install
	$(BIN)/ruff check .

imports: install
	$(BIN)/lint-imports

pytest: install
	$(BIN)/pytest -q -p no:cacheprovider

## make test: install, lint, import contracts and every test (SQLite unless DATABASE_URL says otherwise).
test: lint imports pytest

## The same suite against PostgreSQL on loopback (what .ci/run does as its second pass).
test-postgres: install
	DATABASE_URL=postgresql://postgres@127.0.0.1:5432/strangler_ci $(BIN)/pytest -q -p no:cacheprovider

bench: install
	bash bench/setup.sh
	$(BIN)/python bench/proxy.py

clean:
	rm -rf var .pytest_cache .ruff_cache
