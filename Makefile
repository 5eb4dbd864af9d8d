# streamgraph: `make run` runs the main example, `make test` installs everything and runs all checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# Graphviz (`dot`, renders graph pictures) and kcat (a direct producer in the Kafka tests)
# come from Debian; install them when missing and we are root.
system-deps:
	@command -v dot >/dev/null 2>&1 && command -v kcat >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q graphviz kcat >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q graphviz kcat >/dev/null)) || \
	    echo "warning: could not install graphviz and kcat from Debian"; \
	  else echo "warning: graphviz or kcat missing and not root: install them"; fi; }

# the whole stack (a local Kafka, the workers, the gateway), the demo answers, then exit;
# `make run RUN_ARGS=` keeps it serving until Ctrl-C. The examples are not installed: make runs
# in the repository root, the working folder `streamgraph` imports them from
RUN_ARGS ?= --exit-after-demo
run: $(STAMP)
	$(BIN)/streamgraph run topologies.trip_planner $(RUN_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check streamgraph agents topologies tests bench
	$(BIN)/ruff format --check streamgraph agents topologies tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# the Kafka scenarios run three times more: fused (STREAMGRAPH_FUSE_STEPS), on Faust's stock
# classes (lean_transport=false: the lean transport is an optimisation, never a requirement),
# and exactly_once (but for the graphs it refuses, each refusal tested in tests/kafka); the first
# run lists its slowest tests, where CI's time goes
KAFKA_SCENARIOS := -k kafka tests/scenarios tests/acceptance
pytest: $(STAMP) system-deps
	$(BIN)/pytest -q --durations=25
	STREAMGRAPH_FUSE_STEPS=true $(BIN)/pytest -q -p no:cacheprovider $(KAFKA_SCENARIOS)
	STREAMGRAPH_LEAN_TRANSPORT=false $(BIN)/pytest -q -p no:cacheprovider $(KAFKA_SCENARIOS) \
	  tests/kafka/test_lean_switch.py
	STREAMGRAPH_PROCESSING_GUARANTEE=exactly_once $(BIN)/pytest -q -p no:cacheprovider \
	  -m "not refused_under_exactly_once" $(KAFKA_SCENARIOS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/local_engine.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/kafka_pipeline.py
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
