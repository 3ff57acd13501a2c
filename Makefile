# Every target installs what it needs itself: a fresh machine only needs python3 >= 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow lint bench clean web browser

# The native NDJSON scanner (src/native) is built against Debian's simdjson with g++.
$(STAMP): pyproject.toml setup.py $(wildcard src/native/*.cpp src/native/*.hpp)
	test -f /usr/include/simdjson.h && command -v g++ >/dev/null || \
		(apt-get update && apt-get install -y libsimdjson-dev g++)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The wall's front-end libraries (web/package-lock.json) and Debian's Chromium for the
# browser tests; nothing is downloaded at run time.
WEB_STAMP := web/node_modules/.installed
$(WEB_STAMP): web/package.json web/package-lock.json
	command -v npm >/dev/null || (apt-get update && apt-get install -y nodejs npm)
	cd web && npm ci --no-audit --no-fund
	touch $(WEB_STAMP)

web: $(WEB_STAMP)

browser:
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

demo: $(STAMP) web
	$(BIN)/warroom demo

test: $(STAMP) web browser
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest -q

test-slow: $(STAMP) web browser
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

bench: $(STAMP)
	$(BIN)/warroom bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache src/warroom/*.so
