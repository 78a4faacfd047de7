# The course's tasks. The two that matter:
#   make lab    set everything up, start the broker, create the topics, open JupyterLab on notebooks/
#   make test   set everything up and run the whole test suite (CI runs exactly this)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
NBVAL  := --nbval-lax --nbval-current-env --nbval-cell-timeout=240 -p no:cacheprovider

.PHONY: setup lab test test-unit test-embedded test-kafka test-notebooks test-notebooks-kafka slides benchmarks clean stop

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "labkit needs Python >= 3.11; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

lab: setup
	$(BIN)/labkit lab

# Unit tests, then every integration test on the embedded broker and on Apache Kafka (JVM, jars via Maven),
# then every notebook on both engines.
test: setup
	$(BIN)/python -m pytest tests
	LABKIT_TEST_ENGINE=kafka $(BIN)/python -m pytest -m broker tests
	$(BIN)/python -m pytest $(NBVAL) notebooks
	LABKIT_TEST_ENGINE=kafka $(BIN)/python -m pytest $(NBVAL) notebooks

test-unit: setup
	$(BIN)/python -m pytest -m "not broker" tests

test-embedded: setup
	$(BIN)/python -m pytest tests

test-kafka: setup
	LABKIT_TEST_ENGINE=kafka $(BIN)/python -m pytest -m broker tests

test-notebooks: setup
	$(BIN)/python -m pytest $(NBVAL) notebooks

slides: setup
	$(BIN)/python -m labkit.slides

benchmarks: setup
	$(BIN)/python benchmarks/run_all.py

stop:
	-$(BIN)/labkit broker down --all

clean: stop
	rm -rf $(VENV) build *.egg-info .pytest_cache slides
