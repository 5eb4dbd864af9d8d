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

# tests/run_suite.py: one broker for the whole run; every test but the timing-sensitive ones
# (marked `serial`, run alone after) on 4 pytest-xdist workers, the Kafka scenarios again fused
# (graphs that fuse a step), on Faust's stock classes (lean_transport=false) and exactly_once
# (but for the graphs it refuses, each refusal tested in tests/kafka); `make test` runs lint and
# typecheck beside the tests
pytest: $(STAMP) system-deps
	$(BIN)/python tests/run_suite.py

test: $(STAMP) system-deps
	$(BIN)/python tests/run_suite.py --lint

bench: $(STAMP)
	$(BIN)/python bench/local_engine.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/kafka_pipeline.py
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
