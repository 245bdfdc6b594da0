# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_RUNS := runs
DEMO_MODEL := exports/cpu_history.onnx

# test-lowest: the declared floors (requirements-lowest.txt) in a venv of their own. Besides the unit
# tests it runs the two integration files that reach what two floors were set by: polars'
# join(maintain_order=) (watch --state on stdin) and typer.TyperException (bad usage); they train
# small models on the CPU (about 1.5 min more).
LOWEST_VENV ?= .venv-lowest
LOWEST_BIN := $(LOWEST_VENV)/bin
LOWEST_STAMP := $(LOWEST_VENV)/.installed
LOWEST_TESTS ?= tests/unit tests/integration/test_cli.py tests/integration/test_watch.py
UV ?= uv

.PHONY: demo test install clean test-lowest lock bench bench-quick

# make bench: the optional bench extra too (Darts, the peer the forecast benchmark compares with)
BENCH_STAMP := $(VENV)/.installed-bench

# Creates the virtual environment if missing and installs tsrnn with its training and test
# extras; torch is pinned in constraints.txt to the CPU build this machine type provides.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[train,dev,plot]'
	touch $(STAMP)

install: $(STAMP)

# Train on the first five days of an AWS CPU metric, export, then watch the next nine days,
# which hold a labelled incident: watch exits 1 when it finds anomalies, and the demo expects it.
demo: $(STAMP)
	$(BIN)/tsrnn train sample_data/cpu_history.csv --runs-dir $(DEMO_RUNS) --seed 0
	$(BIN)/tsrnn export cpu_history --onnx --runs-dir $(DEMO_RUNS) --out $(DEMO_MODEL)
	$(BIN)/tsrnn watch sample_data/cpu_recent.csv --model $(DEMO_MODEL) --scores-out $(DEMO_RUNS)/cpu_recent_scores.csv --channel-scores; \
	code=$$?; echo "tsrnn watch exited $$code (1: anomalies found); per-row scores in $(DEMO_RUNS)/cpu_recent_scores.csv"; \
	test $$code -eq 1
	$(BIN)/tsrnn report $(DEMO_RUNS)/cpu_recent_scores.csv --model $(DEMO_MODEL) --labels sample_data/cpu_labels.json \
		--label-key cpu_recent.csv --out $(DEMO_RUNS)/cpu_recent_report.png --html $(DEMO_RUNS)/cpu_recent_report.html

# Lint, format and types first (seconds), then the suite, then every benchmark on small inputs.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest
	$(MAKE) bench-quick

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[train,dev,plot,bench]'
	touch $(BENCH_STAMP)

# Every benchmark, one after the other (about half an hour on 2 cores; the data in ../shared):
# writes benchmarks/results.json and docs/benchmarks.md. BENCH_ARGS='--parts watch --merge' re-runs one.
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# The same code on small inputs (about a minute and a half), into build/bench-quick/: it cannot rot unseen.
bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

$(LOWEST_STAMP): pyproject.toml constraints.txt requirements-lowest.txt
	rm -rf $(LOWEST_VENV)
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_BIN)/python -m pip install --quiet --upgrade pip
	grep '^torch==' constraints.txt > $(LOWEST_VENV)/torch-pin.txt
	$(LOWEST_BIN)/python -m pip install --quiet -c requirements-lowest.txt -c $(LOWEST_VENV)/torch-pin.txt -e '.[train,dev]'
	$(LOWEST_BIN)/python -m pip check
	touch $(LOWEST_STAMP)

test-lowest: $(LOWEST_STAMP)
	$(LOWEST_BIN)/python -m pytest $(LOWEST_TESTS)

# Refreshes constraints.txt from pyproject.toml (extras train, dev and bench) with uv's resolver, on
# PyPI plus /opt/wheels (the CPU torch); the torch line is passed back in as it stands, so move torch
# by editing that line. Versions already pinned are kept while they still fit: LOCK_ARGS=--upgrade
# moves everything to the newest, LOCK_ARGS='--upgrade-package NAME' one package. Needs uv
# (`python3 -m pip install uv`, or UV=/path/to/uv). The lines above the marker are kept.
LOCK_MARKER := ^\# ---- make lock writes below this line
lock:
	@command -v $(UV) >/dev/null || { echo "make lock needs uv: $(PYTHON) -m pip install uv (or make lock UV=/path/to/uv)"; exit 2; }
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	sed '/$(LOCK_MARKER)/q' constraints.txt > $$tmp/head.txt && \
	grep -q '$(LOCK_MARKER)' $$tmp/head.txt && \
	cp constraints.txt $$tmp/lock.txt && \
	grep '^torch==' constraints.txt | $(UV) pip compile pyproject.toml --extra train --extra dev --extra plot --extra bench \
		--python-version 3.11 --find-links /opt/wheels -c - --no-header --quiet $(LOCK_ARGS) -o $$tmp/lock.txt && \
	cat $$tmp/head.txt $$tmp/lock.txt > constraints.txt

clean:
	rm -rf $(VENV) $(LOWEST_VENV) runs exports/*.onnx .pytest_cache
