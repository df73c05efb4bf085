# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
# Both create .venv and install the pinned dependencies (requirements.lock) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
POSTGRES_URL ?=

.PHONY: install demo test test-fast lint clean bench

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/retrain demo

# Tests run in parallel, one worker per core (pytest-xdist); a module's tests stay on one worker, so that the
# servers and homes a module prepares once are prepared once.
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto --dist loadscope

# The inner loop: lint, the architecture's contracts, unit tests and every feature on the in-memory adapters.
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto tests/test_architecture.py tests/unit tests/test_features.py

# Every benchmark of SPEC section 10, then a summary of the targets met and missed (BENCH=--quick for small sizes,
# or BENCH="ingest_bench scale_bench" for some of them); each one's log lines go to .bench-logs/.
bench: install
	$(BIN)/python -m benchmarks $(BENCH)

clean:
	rm -rf $(VENV) .retrain .pytest_cache
