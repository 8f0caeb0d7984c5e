# One place that knows how to build the environment; README and CI call these targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Pinned: these exact releases install from this machine's disk (others download GBs).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test test-fast lint docs bench clean

$(BIN)/isicseg: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]' $(TORCH_PINS)
	touch $@

demo: $(BIN)/isicseg
	$(BIN)/isicseg demo

test: $(BIN)/isicseg lint
	$(BIN)/python -m pytest
	$(BIN)/sphinx-build -q -b html -n -W --keep-going docs docs/_build/html

# ruff's rules and line length are in pyproject.toml; "ruff format ." rewrites what the check refuses
lint: $(BIN)/isicseg
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# everything but the tests marked slow (training runs, CLI runs, benchmarks' smoke runs); under 2 minutes on 2 quiet cores
test-fast: $(BIN)/isicseg
	$(BIN)/python -m pytest -m "not slow" -q

docs: $(BIN)/isicseg
	$(BIN)/sphinx-build -b html -n -W --keep-going docs docs/_build/html

bench: $(BIN)/isicseg
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_trainer.py

clean:
	rm -rf $(VENV) runs docs/_build
