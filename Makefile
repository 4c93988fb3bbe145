# Strangler Kit. The two set-up commands are `make run` and `make test`; the rest are steps of them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run run-monolith test tools install lint imports pytest acceptance test-postgres bench migrate seed clean can-i-deploy

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || \
		{ echo "need Python 3.11 (python3.11 or python3 on PATH; or make PYTHON=/path/to/python3.11)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt extracted/payments/pyproject.toml
	$(BIN)/pip install --quiet -c constraints.txt -e '.[monolith,dev,redis,postgres,tracing,contracts,local,coupling-test]'
	$(BIN)/pip install --quiet --no-deps -e extracted/payments
	@touch $(STAMP)

install: $(STAMP)

## Every database: the monolith's and each extracted service's (payments, catalog; each owns its schema).
migrate: install
	$(BIN)/python deploy/local/stack.py migrate

## The demo user and products, in the monolith's database only: the catalog service gets the products
## from the sync (their snapshots, once the relays run) and the backfill (which the catalog cutover runs).
seed: migrate
	$(BIN)/python -m monolith.config.seed_demo

## make run: install, migrate, seed and start the stack on embedded defaults (SQLite, an embedded
## Redis broker, supervisord restarting whatever dies).
run: seed
	$(BIN)/python deploy/local/stack.py

## The monolith alone (web, worker, relay, broker), as a team runs it before the first cut.
run-monolith: seed
	$(BIN)/python deploy/local/stack.py monolith

## The Debian tools the tests drive (never mocked), installed when missing: docker-compose validates
## the compose file, nginx checks the exported gateway config, chromium runs the browser tests.
tools:
	@bash deploy/local/debian_tools.sh docker-compose:docker-compose nginx:nginx chromium:chromium

lint: install
	$(BIN)/ruff check .

imports: install
	$(BIN)/lint-imports
	cd extracted/payments && PYTHONPATH=.:../.. ../../$(BIN)/lint-imports
	cd extracted/catalog && PYTHONPATH=.:../.. ../../$(BIN)/lint-imports

PYTEST_SELECT ?= not acceptance
pytest: install
	$(BIN)/pytest -q -p no:cacheprovider --durations=15 -m "$(PYTEST_SELECT)"
	cd extracted/payments && ../../$(BIN)/pytest -q -p no:cacheprovider
	cd extracted/catalog && ../../$(BIN)/pytest -q -p no:cacheprovider

## The cutover acceptance run: the whole stack on PostgreSQL + Redis on loopback, route flips under
## load, the service killed, Redis stopped. Always on PostgreSQL, so it runs once, not per pass.
acceptance: install
	$(BIN)/pytest -q -p no:cacheprovider -m acceptance -s tests/test_cutover_acceptance.py tests/test_catalog_acceptance.py

## Consumer-driven contracts (Pact): the consumer tests write contracts/pacts/, then the same pacts are
## verified on live servers against the monolith and against each extracted service (payments, catalog). Each
## result is appended to contracts/verifications.jsonl, which gates the strangler's canary/service flips.
.PHONY: contracts
contracts: install
	PACT_DO_NOT_TRACK=true $(BIN)/pytest -q -p no:cacheprovider contracts/consumers
	$(BIN)/python -m contracts.publish
	$(BIN)/python -m contracts.verify --against monolith
	$(BIN)/python -m contracts.verify --against service

## Can this service's code take traffic? Offline from contracts/verifications.jsonl (this pact content
## and this provider source verified against both implementations); a Pact Broker's matrix instead
## when PACT_BROKER_BASE_URL is set. Exit 0 yes, 1 no, 2 cannot tell.
## ENV=production asks about what is deployed there instead (see record-deployment).
SERVICE ?= payments
ENV ?=
.PHONY: can-i-deploy
can-i-deploy: install
	$(BIN)/python -m contracts.can_i_deploy --service $(SERVICE) $(if $(ENV),--to-environment $(ENV))

## Record, offline in contracts/verifications.jsonl, that this tree's SERVICE (or CONSUMER=name's
## pacts) is deployed in ENV: `make record-deployment ENV=production`.
.PHONY: record-deployment
record-deployment: install
	$(BIN)/python -m contracts.record_deployment --environment "$(ENV)" $(if $(CONSUMER),--consumer $(CONSUMER),--service $(SERVICE))

## make test: install (Python packages and the Debian tools the tests drive), lint, import contracts, Pact contracts and every test (SQLite unless DATABASE_URL says otherwise).
test: tools lint imports contracts pytest acceptance

## The same suite against PostgreSQL on loopback (what .ci/run does as its second pass), but for the
## tests marked db_independent: they never use DATABASE_URL, so a second pass would only repeat them.
test-postgres: install
	DATABASE_URL=postgresql://postgres@127.0.0.1:5432/strangler_ci $(MAKE) pytest PYTEST_SELECT="not acceptance and not db_independent"

bench: install
	bash bench/setup.sh
	$(BIN)/python bench/proxy.py
	$(BIN)/python bench/ws.py
	$(BIN)/python bench/sse.py
	$(BIN)/python bench/broker.py
	$(BIN)/python bench/backfill.py
	$(BIN)/python bench/coupling.py

clean:
	rm -rf var extracted/payments/var extracted/catalog/var .pytest_cache .ruff_cache
