# One entry point for people and CI. Every target creates the virtualenv it needs on first use.
AIRFLOW_VERSION ?= 3.3.2
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: venv lint test unit demo airflow e2e ui matrix bench bench-smoke clean

venv:
	@scripts/venv.sh $(VENV) $(AIRFLOW_VERSION)

lint: venv
	$(VENV)/bin/ruff check airflow_provider_drpipelines tests example_dags bench
	$(VENV)/bin/mypy

## The test command: lint, then every test (unit, emulator, dag.test() integration, real deployment) on Airflow 3.3.2;
## the browser suite is `make ui`.
test: lint
	$(PY) -m pytest tests -q -m "not ui" $(PYTEST_ARGS)

## Just the fast tests (no Airflow deployment).
unit: venv
	$(PY) -m pytest tests -q -m "not e2e and not ui" $(PYTEST_ARGS)

## The example DAG end to end on the emulator, with a readable summary.
demo: venv
	@$(PY) scripts/demo.py

## A live local Airflow 3.3.2 with the example DAGs, the emulator and a configured connection, until Ctrl-C.
airflow: venv
	@$(PY) scripts/local_airflow.py

## The real-deployment suite alone (airflow standalone + the emulator).
e2e: venv
	$(PY) -m pytest tests -q -m e2e $(PYTEST_ARGS)

## The browser suite: the Airflow UI of make airflow's deployment in headless Chromium (Debian's, installed when
## missing); screenshots in .ci-results/screenshots/.
ui: venv
	$(PY) -m pytest tests/ui -q -m ui $(PYTEST_ARGS)

## The Airflow version matrix (2.11, 3.0, 3.1, 3.2, 3.3): unit and dag.test() suites on each.
matrix:
	@scripts/matrix.sh

bench: venv
	$(PY) bench/run_all.py

bench-smoke: venv
	$(PY) bench/run_all.py --quick

clean:
	rm -rf $(VENV) .venvs .demo .airflow-local bench/results
