# One command per task. Each target sets up .venv by itself on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Crosscheck needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m demo --dir $(DEMO_DIR)

# The OpenID sign-in tests start a real OpenID Provider (oidc-provider on Node.js), installed
# from tests/oidc/package-lock.json; without npm those tests skip and say so.
OIDC_STAMP := tests/oidc/node_modules/.installed
$(OIDC_STAMP): tests/oidc/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error && touch $(OIDC_STAMP); \
	else echo "npm not found: the OpenID sign-in tests (tests/web/test_openid.py) will skip"; fi

test: $(STAMP) $(OIDC_STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

BENCH_STAMP := $(VENV)/.installed-bench

# clkhash pins cryptography < 41, so the reference encoder lives in a venv of its own.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(PYTHON) -m venv .venv-clkhash
	.venv-clkhash/bin/python -m pip install --quiet clkhash
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m pytest benchmarks -s --benchmark-only --benchmark-columns=min,mean,max,rounds

clean:
	rm -rf $(VENV) .venv-clkhash $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
