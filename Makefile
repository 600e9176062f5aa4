# The two commands of the README. Each creates .venv (Python 3.11+) and installs what it needs.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
EXPORT := examples/iris/export

.PHONY: iris test test-newest test-oldest lint bench fuzz tfserving-suite clean

$(STAMP): pyproject.toml requirements/dev.txt
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements/dev.txt
	$(VENV)/bin/python -m pip install -q --no-deps -e .
	touch $(STAMP)

## Gate the bundled Iris example: export it (raw, parsing, checkpoint, frozen), then run the plugin on it.
iris: $(STAMP)
	$(VENV)/bin/python examples/iris/iris_model.py --out $(EXPORT)
	$(VENV)/bin/python -m pytest examples/iris -p no:cacheprovider \
		--savedmodel=iris=$(EXPORT)/raw --savedmodel-parsing=iris=$(EXPORT)/parsing \
		--savedmodel-checkpoint=iris=$(EXPORT)/checkpoint/model.ckpt --savedmodel-frozen=iris=$(EXPORT)/frozen/frozen.pb \
		--savedmodel-freeze --savedmodel-eager --savedmodel-reference=iris_training_model

OLDEST := .venv-oldest
OLDEST_STAMP := $(OLDEST)/.installed

$(OLDEST_STAMP): pyproject.toml requirements/oldest.txt
	test -x $(OLDEST)/bin/python || $(PY) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q --upgrade pip
	$(OLDEST)/bin/python -m pip install -q -r requirements/oldest.txt
	$(OLDEST)/bin/python -m pip install -q --no-deps -e .
	touch $(OLDEST_STAMP)

## Run the test suite (what CI runs): on the newest TensorFlow we support, then on the oldest (TF 2.15).
test: test-newest test-oldest

test-newest: $(STAMP)
	$(VENV)/bin/python -m pytest

test-oldest: $(OLDEST_STAMP)
	$(OLDEST)/bin/python -m pytest -n 2 -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check pytest_savedmodel tests examples benchmarks scripts
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/run.py
	$(VENV)/bin/python benchmarks/emulator_speed.py
	$(VENV)/bin/python benchmarks/rare_region.py
	$(VENV)/bin/python benchmarks/bulk_rows.py
	$(VENV)/bin/python benchmarks/suite_speed.py
	$(VENV)/bin/python benchmarks/xdist_speed.py

## A bounded fuzz run of the emulator (10,000 REST and gRPC requests on loopback, 10 minutes at most).
fuzz: $(STAMP)
	$(VENV)/bin/python benchmarks/fuzz_emulator.py --requests 10000 --seconds 600

## TF Serving's own integration test (tensorflow_model_server_test.py) against the emulator. TFSERVING is a
## checkout of github.com/tensorflow/serving (see scripts/tfserving_suite.py for how to get one); nothing is fetched.
tfserving-suite: $(STAMP)
	@test -n "$(TFSERVING)" || { echo "usage: make tfserving-suite TFSERVING=/path/to/serving-checkout"; exit 2; }
	$(VENV)/bin/python scripts/tfserving_suite.py $(TFSERVING)

clean:
	rm -rf $(EXPORT) .pytest_cache .hypothesis
