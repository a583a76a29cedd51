# Two set-up commands on a fresh machine (README): `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

.PHONY: demo test lint typecheck install deps browser-deps ops-deps bench
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gateway demo

# The whole suite, every store-touching test on SQLite and on PostgreSQL, browser tests included,
# on two pytest-xdist workers; tests/conftest.py says which tests a worker runs together
# (a module on one store) and in which order (the costly tiers first).
TEST_WORKERS ?= 2
test: $(STAMP) deps ops-deps
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# Lint (issue 14): ruff with the rules and reasons in pyproject.toml, and its formatter, over the
# whole tree (`ruff format .` fixes what the second line finds).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy over every package (pyproject.toml, [tool.mypy]): strict on contract, consent, profiles and
# audit, the sound baseline elsewhere. CI runs it before the tests.
typecheck: $(STAMP)
	$(BIN)/python -m mypy

# Benchmarks (issue 8): a table with the targets, JSON in benchmarks/results/ (ARGS="--soak 120").
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

# Everything the suite needs beyond Python: the browser and the test IdP (below), and the
# @medplum/core validator of the conformance tests (tests/fhir_validators, from its lock file).
deps: browser-deps
	cd tests/fhir_validators && npm ci --no-audit --no-fund

# What tests/browser needs beyond Python: Debian's Chromium and the test IdP's npm packages
# (root for apt; .ci/run calls this before `make test`, where a missing browser fails the run).
browser-deps:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)
	cd tools/oidc-provider && npm ci --no-audit --no-fund

# What tests/operations needs beyond Python: Debian's SoftHSM2 (a PKCS#11 token for the HSM
# signer tests; root for apt, as browser-deps).
ops-deps:
	test -f /usr/lib/softhsm/libsofthsm2.so || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2)
