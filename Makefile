# Everything goes through the project's virtual environment in .venv/.
#   make setup            create .venv and install the project with its dependencies
#   make test             ruff + the test suite
#   make data-info        counts per split and class          (DATA=path to FER2013)
#   make run METHOD=name  train + evaluate one method          (SEED=, QUICK=1)
#   make reference        both reference methods (majority class, stratified guess)
#   make features         time landmark + HOG + Gabor extraction over all images, cold and warm
#   make baselines        the whole classical grid (features x classifiers), then the table
#   make cnn [MODEL=name] train one CNN (best_small by default); make cnns: the source CNNs
#   make table            results/comparison.{md,csv,tex} + confusion figure
# QUICK=1 uses a stratified subset (SUBSET images per class and split) and writes to
# results/quick/ so that quick numbers never mix with the committed full-data results.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   ?=
SEED   ?= 0
QUICK  ?=
SUBSET ?= 100
RESULTS ?= $(if $(QUICK),results/quick,results)

DATA_ARG   = $(if $(DATA),--data $(DATA))
SUBSET_ARG = $(if $(QUICK),--subset $(SUBSET))
FER        = $(PY) -m experiments

.PHONY: setup test lint data-info methods run reference features baselines cnn cnns table clean-cache

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .

data-info: setup
	$(FER) data info $(DATA_ARG)

methods: setup
	$(FER) methods

run: setup
	@test -n "$(METHOD)" || (echo "usage: make run METHOD=<name>; see 'make methods'" >&2; exit 2)
	$(FER) run $(METHOD) $(DATA_ARG) $(SUBSET_ARG) --seed $(SEED) --results $(RESULTS)

reference: setup
	$(FER) run majority $(DATA_ARG) $(SUBSET_ARG) --seed $(SEED) --results $(RESULTS)
	$(FER) run stratified $(DATA_ARG) $(SUBSET_ARG) --seed $(SEED) --results $(RESULTS)

# time the extraction of all three feature families over every image (cold, then warm)
features: setup
	$(FER) features $(DATA_ARG) $(SUBSET_ARG) --out $(RESULTS)/features_benchmark.json

# every feature set x classifier of baselines/config.toml, one process each (honest peak
# memory per method); finished runs are skipped, so an interrupted grid resumes.
# JOBS methods at a time: 1 for full runs (honest timings), 2 for QUICK runs.
JOBS ?= $(if $(QUICK),2,1)
baselines: setup
	$(FER) methods --branch classical --names | xargs -P $(JOBS) -I{} \
	  $(FER) run {} $(DATA_ARG) $(SUBSET_ARG) --seed $(SEED) --results $(RESULTS) --skip-done
	$(FER) table --results $(RESULTS)

# CNN branch: `make cnn` trains best_small, `make cnn MODEL=<name>` another architecture,
# `make cnns` every source architecture; QUICK=1 caps training at CNN_QUICK_EPOCHS epochs.
MODEL ?= best_small
CNN_QUICK_EPOCHS ?= 3
CNN_ENV = $(if $(QUICK),FER_CNN_EPOCHS=$(CNN_QUICK_EPOCHS))
SOURCE_CNNS = thesis_tiny ua_a ua_c nn_model1 nn_model2 bauman_4conv mini_xception

cnn: setup
	$(CNN_ENV) $(FER) run $(MODEL) $(DATA_ARG) $(SUBSET_ARG) --seed $(SEED) --results $(RESULTS) --skip-done
	$(FER) table --results $(RESULTS)

cnns: setup
	@set -e; for m in $(SOURCE_CNNS); do \
	  $(CNN_ENV) $(FER) run $$m $(DATA_ARG) $(SUBSET_ARG) --seed $(SEED) --results $(RESULTS) --skip-done; \
	done
	$(FER) table --results $(RESULTS)

table: setup
	$(FER) table --results $(RESULTS)

clean-cache:
	rm -rf .cache
