# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_RUNS := runs
DEMO_MODEL := exports/cpu_history.onnx

.PHONY: demo test install clean

# Creates the virtual environment if missing and installs tsrnn with its training and test
# extras; torch is pinned in constraints.txt to the CPU build this machine type provides.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[train,dev]'
	touch $(STAMP)

install: $(STAMP)

# Train on the first five days of an AWS CPU metric, export, then watch the next nine days,
# which hold a labelled incident: watch exits 1 when it finds anomalies, and the demo expects it.
demo: $(STAMP)
	$(BIN)/tsrnn train sample_data/cpu_history.csv --runs-dir $(DEMO_RUNS) --seed 0
	$(BIN)/tsrnn export cpu_history --onnx --runs-dir $(DEMO_RUNS) --out $(DEMO_MODEL)
	$(BIN)/tsrnn watch sample_data/cpu_recent.csv --model $(DEMO_MODEL) --scores-out $(DEMO_RUNS)/cpu_recent_scores.csv; \
	code=$$?; echo "tsrnn watch exited $$code (1: anomalies found); per-row scores in $(DEMO_RUNS)/cpu_recent_scores.csv"; \
	test $$code -eq 1

# Lint, format and types first (seconds), then the suite.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs exports/*.onnx .pytest_cache
