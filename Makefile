# One entry point for people and CI. Every target creates the virtualenv it needs on first use.
AIRFLOW_VERSION ?= 3.3.2
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: venv lint test unit demo e2e e2e-prod matrix bench bench-smoke clean

venv:
	@scripts/venv.sh $(VENV) $(AIRFLOW_VERSION)

lint: venv
	$(VENV)/bin/ruff check airflow_provider_drpipelines tests example_dags bench
	$(VENV)/bin/mypy

## The test command: lint, then every test (unit, emulator, dag.test() integration, real deployment) on Airflow 3.3.2.
## The production-shaped suite (e2e_prod) has its own target.
test: lint
	$(PY) -m pytest tests -q -m "not e2e_prod" $(PYTEST_ARGS)

## Just the fast tests (no Airflow deployment).
unit: venv
	$(PY) -m pytest tests -q -m "not e2e and not e2e_prod" $(PYTEST_ARGS)

## The example DAG end to end on the emulator, with a readable summary.
demo: venv
	@$(PY) scripts/demo.py

## The real-deployment suite alone (airflow standalone + the emulator).
e2e: venv
	$(PY) -m pytest tests -q -m e2e $(PYTEST_ARGS)

## The production-shaped suite: CeleryExecutor, PostgreSQL, Redis, two triggerers, under kills and load (~6 min).
## Installs PostgreSQL and Redis (Debian packages) and the e2e-prod extra first when they are missing.
e2e-prod: venv
	@scripts/e2e-prod-deps.sh $(VENV) $(AIRFLOW_VERSION)
	$(PY) -m pytest tests/e2e_prod -q -m e2e_prod $(PYTEST_ARGS)

## The Airflow version matrix (2.11, 3.0, 3.1, 3.2, 3.3): unit and dag.test() suites on each.
matrix:
	@scripts/matrix.sh

bench: venv
	$(PY) bench/run_all.py

bench-smoke: venv
	$(PY) bench/run_all.py --quick

clean:
	rm -rf $(VENV) .venvs .demo bench/results
