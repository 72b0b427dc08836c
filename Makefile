# Everything goes through the project's virtual environment in .venv/.
#   make setup            create .venv and install the project with its dependencies
#   make test             ruff + the test suite
#   make data-info        counts per split and class          (DATA=path to FER2013)
#   make run METHOD=name  train + evaluate one method          (SEED=, QUICK=1)
#   make reference        both reference methods (majority class, stratified guess)
#   make features         time landmark + HOG + Gabor extraction over all images, cold and warm
#   make baselines        the whole classical grid (features x classifiers), then the table
#   make cnn [MODEL=name] train one CNN (best_small by default); make cnns: the source CNNs
#   make fusion           late fusions of the best CNN and a classical method (FUSIONS=), per seed
#   make table            comparison, claims, significance, complementarity tables + figures
#   make detectors        measure the face detectors for `predict` (results/detectors.md)
#   make latency          time the trained models' inference on their own (results/latency.md)
#   make flip [MODEL=]    a CNN's seeds with and without the test-time flip (results/flip.md)
#   make ship             copy the trained small models to results/models/ (committed)
#   make demo             predict on two portrait photos and a clip: results/demo/ (annotated)
#   make report           results/README.md, the chapter's answer, from the runs
#   make all              everything above that trains, resuming what is done; then report
#   make evaluate FOLDER=path NAME=name [MODEL=]   a labelled folder (cross-data-set row)
#   make evaluate-photos [PHOTOS_MODEL=]  PrivateTest faces set in "photos", through detector +
#                         alignment, by predict's default model (or PHOTOS_MODEL)
# SEEDS="0 1 2" repeats every seeded method (baselines, cnn, cnns) once per seed; `make all`
# does so with ALL_SEEDS (0 1 2 unless given).
# QUICK=1 uses a stratified subset (SUBSET images per class and split) and writes to
# results/quick/ so that quick numbers never mix with the committed full-data results.
# CLUSTER=tcp://host:8786 sends the runs of reference, baselines, cnn, cnns and all to a Dask
# cluster, one task per (method, seed) (README, "On a cluster"); without it all runs here.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   ?=
SEED   ?= 0
SEEDS  ?= $(SEED)
QUICK  ?=
SUBSET ?= 100
RESULTS ?= $(if $(QUICK),results/quick,results)

DATA_ARG   = $(if $(DATA),--data "$(DATA)")
SUBSET_ARG = $(if $(QUICK),--subset $(SUBSET))
FER        = $(PY) -m experiments
CLUSTER ?=
GRID       = $(FER) grid --cluster $(CLUSTER) $(DATA_ARG) $(SUBSET_ARG) --results "$(RESULTS)"

.PHONY: setup test lint data-info methods run reference features baselines cnn cnns fusion table \
        detectors latency flip ship demo report chapter tex evaluate evaluate-photos all clean-cache

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
	$(FER) run $(METHOD) $(DATA_ARG) $(SUBSET_ARG) --seed $(SEED) --results "$(RESULTS)"

reference: setup
ifneq ($(CLUSTER),)
	$(GRID) majority:0 stratified --seeds $(SEEDS)
else
	$(FER) run majority $(DATA_ARG) $(SUBSET_ARG) --seed 0 --results "$(RESULTS)" --skip-done
	@set -e; for seed in $(SEEDS); do \
	  $(FER) run stratified $(DATA_ARG) $(SUBSET_ARG) --seed $$seed --results "$(RESULTS)" --skip-done; \
	done
endif

# time the extraction of all three feature families over every image (cold, then warm)
features: setup
	$(FER) features $(DATA_ARG) $(SUBSET_ARG) --out "$(RESULTS)/features_benchmark.json"

# every feature set x classifier of baselines/config.toml, one process each (honest peak
# memory per method); finished runs are skipped, so an interrupted grid resumes.
# JOBS methods at a time: 1 for full runs (honest timings), 2 for QUICK runs.
JOBS ?= $(if $(QUICK),2,1)
baselines: setup
ifneq ($(CLUSTER),)
	$(GRID) $$($(FER) methods --branch classical --names) --seeds $(SEEDS)
else
	@set -e; for seed in $(SEEDS); do \
	  $(FER) methods --branch classical --names | xargs -P $(JOBS) -I{} \
	    $(FER) run {} $(DATA_ARG) $(SUBSET_ARG) --seed $$seed --results "$(RESULTS)" --skip-done; \
	done
endif
	$(FER) table --results "$(RESULTS)"

# CNN branch: `make cnn` trains best_small, `make cnn MODEL=<name>` another architecture,
# `make cnns` every source architecture, each to its recipe (epochs, early stopping): the
# committed results are never cut by a clock. EPOCHS=n or MINUTES=n cap a run's training
# (recorded in its manifest; a capped run is another run than the recipe's, never "done" for
# it). QUICK=1 caps training at CNN_QUICK_EPOCHS epochs.
MODEL ?= best_small
CNN_QUICK_EPOCHS ?= 3
EPOCHS ?= $(if $(QUICK),$(CNN_QUICK_EPOCHS))
MINUTES ?=
CNN_OPTS = $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(MINUTES),--minutes $(MINUTES)) \
	$(if $(BALANCE),--balance $(BALANCE))
# BALANCE=oversample|class_weight|none overrides the recipe's class balancing, and EPOCHS= /
# MINUTES= cut it: changes to the recipe, so they must go to their own results folder
# (RESULTS=results/ablations or results/equal-budget), never the study's
BALANCE ?=
ABLATION_CHECK = @test -z "$(BALANCE)$(MINUTES)$(if $(QUICK),,$(EPOCHS))" -o "$(RESULTS)" != results || \
	{ echo "BALANCE=, EPOCHS= and MINUTES= change the recipe: add RESULTS=results/ablations" >&2; exit 2; }
SOURCE_CNNS = thesis_tiny bauman_4conv nn_model1 ua_a mini_xception mini_xception_64 ua_c nn_model2  # cheapest first

# the CNNs $(1), each with every seed of SEEDS: one grid on the cluster with CLUSTER=, else one
# run after the other here; finished runs are skipped either way
train_cnns = $(if $(CLUSTER),$(GRID) $(1) --seeds $(SEEDS) $(CNN_OPTS),set -e; \
	for seed in $(SEEDS); do for m in $(1); do \
	  $(FER) run $$m $(DATA_ARG) $(SUBSET_ARG) --seed $$seed --results "$(RESULTS)" --skip-done $(CNN_OPTS); \
	done; done)

cnn: setup
	$(ABLATION_CHECK)
	@$(call train_cnns,$(MODEL))
	$(FER) table --results "$(RESULTS)"

cnns: setup
	$(ABLATION_CHECK)
	@$(call train_cnns,$(SOURCE_CNNS))
	$(FER) table --results "$(RESULTS)"

# landmarks and CNN together: the late fusion of the best CNN and the best classical method (by
# PublicTest; FUSION_CNN= / FUSION_CLASSICAL= name others), and the shippable one with the
# landmark MLP, for each seed; after cnn and baselines
FUSIONS ?= late_fusion late_fusion_mlp
FUSION_CNN ?=
FUSION_CLASSICAL ?=
fusion: setup
	@set -e; for seed in $(SEEDS); do for m in $(FUSIONS); do \
	  $(FER) run $$m $(DATA_ARG) $(SUBSET_ARG) --seed $$seed --results "$(RESULTS)" --skip-done \
	    $(if $(FUSION_CNN),--fusion-cnn $(FUSION_CNN)) \
	    $(if $(FUSION_CLASSICAL),$$(test $$m = late_fusion_mlp || echo --fusion-classical $(FUSION_CLASSICAL))); \
	done; done
	$(FER) table --results "$(RESULTS)"

table: setup
	$(FER) table --results "$(RESULTS)"

detectors: setup
	$(FER) detectors --model $(MODEL) $(DATA_ARG) --results "$(RESULTS)"

# inference latency of every seed's model on its own (results/latency.{json,md}; a run whose
# model is not here: the one shipped from it, else a CNN's network untrained); run
# it on a quiet machine: the speed targets are checked here, not in the runs' single timings.
# By default every CNN and the shipped classical and fusion models, which a fresh checkout can
# time; add e.g. late_fusion or landmarks+hog+gabor-rbf_svm where their runs' models are here
LATENCY ?= best_small best_small_long best_small_fast best_small_fast_kd best_small_fast_kd_long \
	hybrid_small $(SOURCE_CNNS) \
	late_fusion_mlp landmarks+hog+gabor-mlp
# each model's time is also given relative to this one's, round by round: the speed target's bar
LATENCY_REFERENCE ?= mini_xception_64
latency: setup
	$(FER) latency $(LATENCY) --reference $(LATENCY_REFERENCE) $(DATA_ARG) --results "$(RESULTS)"

# is best_small's test-time flip worth its second forward pass? accuracy and ms/img without it
flip: setup
	$(FER) flip $(MODEL) $(DATA_ARG) --results "$(RESULTS)"

# trained models small enough to commit (<= 8 MB each): see results/models/README.md. A fusion
# refers to its components' shipped folders and ships them with it, so it comes first here:
# a component is never re-shipped from another run under a shipped fusion that uses it
SHIP ?= late_fusion_mlp best_small best_small_long hybrid_small thesis_tiny bauman_4conv mini_xception \
	mini_xception_64 landmarks+hog+gabor-mlp
ship: setup
	$(FER) ship $(SHIP) --results "$(RESULTS)"

evaluate: setup
	@test -n "$(FOLDER)" -a -n "$(NAME)" || (echo "usage: make evaluate FOLDER=<labelled folder> NAME=<data set name> [MODEL=]" >&2; exit 2)
	$(FER) evaluate "$(FOLDER)" --name "$(NAME)" --model $(MODEL) --results "$(RESULTS)"
	$(FER) table --results "$(RESULTS)"

# FER2013's PrivateTest set as "photos" (faces upscaled inside a border), through the whole
# predict pipeline (detector, eye alignment, crop): how much the photo pipeline costs in accuracy
PHOTOS_DIR ?= .cache/photos/PrivateTest
# empty: the model `predict` uses by default (the shipped one with the best PublicTest accuracy)
PHOTOS_MODEL ?=
# make all passes EVALUATE_OPTS=--skip-done: an unchanged evaluation is not repeated
EVALUATE_OPTS ?=
evaluate-photos: setup
	test -d $(PHOTOS_DIR) || $(FER) data export --split PrivateTest --canvas --out $(PHOTOS_DIR) $(DATA_ARG)
	$(FER) evaluate $(PHOTOS_DIR) --name FER2013-PrivateTest-photos --crop detect $(if $(PHOTOS_MODEL),--model $(PHOTOS_MODEL)) --results "$(RESULTS)" $(EVALUATE_OPTS)
	$(FER) table --results "$(RESULTS)"

# predict on real portraits (shipped by scikit-image and matplotlib) and a short clip made from
# one: annotated copies and one record per face in results/demo/ (the README's picture)
DEMO ?= $(RESULTS)/demo
demo: setup
	$(FER) data portraits --out .cache/portraits
	$(FER) predict .cache/portraits --model $(MODEL) --results "$(RESULTS)" --out "$(DEMO)/faces.json" --annotate "$(DEMO)"

report: setup
	$(FER) report --results "$(RESULTS)"

# TeX for `make chapter` and the tests that compile the chapter (they skip without it): Debian's
# packages where apt-get can install them, else say what to install
TEX_PACKAGES = texlive-latex-recommended texlive-fonts-recommended
tex:
	@if command -v pdflatex >/dev/null; then echo "pdflatex is installed"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES) >/dev/null && echo "installed $(TEX_PACKAGES)"; \
	else echo "make tex: install pdflatex and bibtex yourself (Debian/Ubuntu: sudo apt install $(TEX_PACKAGES); macOS: MacTeX; Windows: MiKTeX)" >&2; exit 2; fi

# results/chapter.pdf from results/chapter.tex (written by `make report`): latexmk where it is
# installed, else pdflatex, bibtex and pdflatex twice; auxiliary files stay in results/.chapter/
CHAPTER_TEX = -interaction=nonstopmode -halt-on-error -output-directory=.chapter chapter.tex >/dev/null
chapter:
	@command -v pdflatex >/dev/null || { echo "make chapter: pdflatex not found; install TeX (Debian/Ubuntu: apt install texlive-latex-recommended texlive-fonts-recommended)" >&2; exit 2; }
	@test -f "$(RESULTS)/chapter.tex" || { echo "make chapter: $(RESULTS)/chapter.tex not found; run make table report first" >&2; exit 2; }
	@cd "$(RESULTS)" && mkdir -p .chapter && \
	  if command -v latexmk >/dev/null; then latexmk -pdf -bibtex -outdir=.chapter -interaction=nonstopmode -halt-on-error chapter.tex >/dev/null; \
	  else pdflatex $(CHAPTER_TEX) && (cd .chapter && BIBINPUTS=..: bibtex chapter >/dev/null) && pdflatex $(CHAPTER_TEX) && pdflatex $(CHAPTER_TEX); fi \
	  || { echo "make chapter: LaTeX failed; $(RESULTS)/.chapter/chapter.log says:" >&2; grep -A3 '^!' .chapter/chapter.log >&2; exit 1; }
	@mv "$(RESULTS)/.chapter/chapter.pdf" "$(RESULTS)/chapter.pdf" && echo "wrote $(RESULTS)/chapter.pdf"

# the whole study, every seeded method with each of ALL_SEEDS, resuming whatever is already
# done; EVAL_FOLDER=... EVAL_NAME=... adds a cross-data-set evaluation of best_small. With
# CLUSTER= every run before the fusion goes to the cluster as one grid (the longest first);
# the distilled students, the fusion and everything after them run here, on the landed runs.
ALL_SEEDS ?= 0 1 2
# our variants beyond best_small: the long one, the fast one, the early-fusion network; and the
# students distilled from a trained teacher (they read its run, so they train here, after it)
VARIANTS ?= best_small_long best_small_fast hybrid_small
STUDENTS ?= best_small_fast_kd best_small_fast_kd_long
all: setup
ifneq ($(CLUSTER),)
	$(ABLATION_CHECK)
	$(GRID) majority:0 stratified $$($(FER) methods --branch classical --names) \
	  $(MODEL) $(SOURCE_CNNS) $(VARIANTS) --seeds $(ALL_SEEDS) $(CNN_OPTS)
else
	$(MAKE) reference baselines cnn cnns SEEDS="$(ALL_SEEDS)"
	@set -e; for m in $(VARIANTS); do $(MAKE) cnn MODEL=$$m SEEDS="$(ALL_SEEDS)"; done
endif
	@set -e; for m in $(STUDENTS); do $(MAKE) cnn MODEL=$$m SEEDS="$(ALL_SEEDS)" CLUSTER=; done
	$(MAKE) fusion SEEDS="$(ALL_SEEDS)"
	$(if $(EVAL_FOLDER),$(FER) evaluate $(EVAL_FOLDER) --name $(EVAL_NAME) --model best_small --results "$(RESULTS)" --skip-done)
	$(MAKE) detectors evaluate-photos demo latency report EVALUATE_OPTS=--skip-done

# the project's .cache/ (exported photos) and the user cache (data, features, CNN checkpoints)
clean-cache:
	rm -rf .cache "$$($(PY) -c 'from experiments.core.data import default_cache_dir; print(default_cache_dir())')"
