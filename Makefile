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

.PHONY: demo test install
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gateway demo

# The whole suite, every store-touching test on SQLite and on PostgreSQL.
test: $(STAMP)
	$(BIN)/python -m pytest -q
