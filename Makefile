# Two commands do everything on a fresh machine:
#   make run   — Batchworks on its embedded default (SQLite, one worker, scheduler, web) with demo data
#   make test  — the whole test suite (DATABASE_URL / REDIS_URL select the services, see README)

# Python 3.12+: pyenv's 3.13 when present, else whatever python3.13/python3.12 is on PATH.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) \
                      $(shell command -v python3.13 python3.12 2>/dev/null))
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test lint bench lock clean

$(BIN)/.installed: requirements/dev.lock
	@test -n "$(PYTHON)" || { echo "Python 3.12+ not found: set PYTHON=/path/to/python3.13"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
	touch $@

run: $(BIN)/.installed
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py demo
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	PATH=$(abspath $(BIN)):$$PATH PORT=$(PORT) honcho start

# Most tests wait on processes they start (workers, browsers, servers), so more test
# processes than cores pay off; each has its own database, Redis database and folders.
TEST_PROCESSES ?= 4
test: $(BIN)/.installed
	$(BIN)/pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

# What CI's lint runs, and the pre-commit hooks too (.pre-commit-config.yaml).
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# Re-pin every dependency after editing pyproject.toml.
lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.13 --generate-hashes --universal -q -o requirements/base.lock
	$(BIN)/uv pip compile pyproject.toml --group pyproject.toml:dev --python-version 3.13 --generate-hashes --universal -q -o requirements/dev.lock

clean:
	rm -rf $(VENV) var/static
