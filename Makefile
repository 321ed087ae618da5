# `make demo` and `make test` work on a fresh clone: each creates .venv when missing and installs the
# project into it first. `make demo` installs emcrowd with its runtime dependencies only (no dev extra);
# `make test` adds the dev extra (pytest, ruff, scipy, pandas, polars, dask, ...) and compiles the numba
# kernels once. Each step has its own stamp, so `make demo` then `make test` upgrades the same .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-quick bench-dask bench-relabel bench-peers lint sample-data clean

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(DEMO_STAMP)

$(STAMP): $(DEMO_STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m emcrowd.models.classification._glad_kernels  # compile GLAD's kernels once (cached beside them)
	$(BIN)/python -m emcrowd.models.classification._confusion_kernels  # ... and Dawid-Skene's and one-coin's
	$(BIN)/python -m emcrowd.models.classification._ebcc_kernels  # ... and EBCC's
	$(BIN)/python -m emcrowd.models.classification._mace_kernels  # ... and MACE's
	$(BIN)/python -m emcrowd.models.classification._machine_kernels  # ... and the crowd + machine passes
	$(BIN)/python -m emcrowd.models.numeric._kernels  # ... and the numeric models'
	touch $(STAMP)

# a synthetic crowd export (sample_data/export.csv, string ids, class names) aggregated, then scored
# against its truth
demo: $(DEMO_STAMP)
	$(BIN)/emcrowd fit sample_data/export.csv --method auto --out demo-output
	$(BIN)/emcrowd compare sample_data/export.csv --truth sample_data/export_truth.csv

test: $(STAMP)
	$(BIN)/python -m pytest -q

# everything: the speed rows, relabelling, and the Dask engine's overhead (10M) and scale (100M) rows
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/ordinal.py
	$(BIN)/python benchmarks/auto.py
	$(BIN)/python benchmarks/auto.py --simulations 1000000,10000000 --seeds 0
	$(BIN)/python benchmarks/relabel.py
	$(BIN)/python benchmarks/multilabel.py --labels 10M
	$(BIN)/python benchmarks/machines.py
	$(BIN)/python benchmarks/incremental.py
	$(BIN)/python benchmarks/numeric.py --labels 10M
	$(BIN)/python benchmarks/accel.py
	$(BIN)/python benchmarks/glad_prototype.py
	$(BIN)/python benchmarks/dask_scale.py --labels 10M
	$(BIN)/python benchmarks/dask_scale.py --labels 100M --no-memory --methods glad --partitions 32
	$(BIN)/python benchmarks/report.py

# does spending extra labels on the items `emcrowd relabel` ranks first pay? (GLAD and DS simulations)
bench-relabel: $(STAMP)
	$(BIN)/python benchmarks/relabel.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

# the Dask engine: 10M labels in memory and on a 2-worker LocalCluster side by side, then 100M labels
# on the cluster alone (3 GB per worker); the data sets are written to a temporary directory
bench-dask: $(STAMP)
	$(BIN)/python benchmarks/dask_scale.py --labels 10M
	$(BIN)/python benchmarks/dask_scale.py --labels 100M --no-memory --methods glad --partitions 32

# emcrowd against crowd-kit (installed in its own .venv-peers, never in .venv); not part of `make test`
bench-peers: $(STAMP)
	$(BIN)/python benchmarks/peers.py

lint: $(STAMP)
	$(BIN)/ruff check emcrowd tests benchmarks
	$(BIN)/ruff format --check emcrowd tests benchmarks

# sample_data/ is generated with fixed seeds; these are the commands that made it.
sample-data: $(DEMO_STAMP)
	$(BIN)/emcrowd simulate --items 500 --workers 20 --labels-per-item 5 --seed 0 --out sample_data
	$(BIN)/python benchmarks/sample_export.py --out sample_data --seed 0
	$(BIN)/python benchmarks/sample_multilabel.py --out sample_data --seed 0
	$(BIN)/emcrowd simulate --with-machine --items 1000 --workers 30 --classes 3 --crowd-share 0.8 --seed 0 --out sample_data/machines

clean:
	rm -rf $(VENV) .venv-peers demo-output .pytest_cache build *.egg-info
