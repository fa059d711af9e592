# One entry point for people and CI. Every target creates the virtualenv it needs on first use.
AIRFLOW_VERSION ?= 3.3.2
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# pytest-xdist workers for the suites that are mostly waiting on the emulator (each has its own Airflow home).
XDIST ?= 4
# With JUNIT_DIR set (CI), each pytest run writes its JUnit report there, named for the Airflow version and suite.
JUNIT_DIR ?=
junit = $(if $(JUNIT_DIR),--junitxml=$(JUNIT_DIR)/airflow-$(AIRFLOW_VERSION)-$(1).xml)
# The packaging tools live in their own small virtualenv: building needs no Airflow.
DIST_VENV := .venvs/dist
INSTALL_TEST_VERSIONS ?= 3.3.2 2.11.2

.PHONY: venv lint test unit demo airflow e2e e2e-prod ui matrix dist install-test docs bench bench-smoke clean

venv:
	@scripts/venv.sh $(VENV) $(AIRFLOW_VERSION)

lint: venv
	$(VENV)/bin/ruff check airflow_provider_drpipelines tests example_dags bench docs
	$(VENV)/bin/mypy

## The test command: lint, then every test (unit, emulator, dag.test() integration, real deployment) on Airflow 3.3.2:
## the first three in parallel (pytest-xdist, one file per worker), then the real deployment on its own.
## The production-shaped suite (`make e2e-prod`) and the browser suite (`make ui`) have their own targets.
test: lint
	$(PY) -m pytest tests -q -n $(XDIST) --dist loadfile -m "not e2e and not e2e_prod and not ui" $(call junit,fast) \
	  $(PYTEST_ARGS)
	$(PY) -m pytest tests -q -m e2e $(call junit,e2e) $(PYTEST_ARGS)

## Just the fast tests (no Airflow deployment).
unit: venv
	$(PY) -m pytest tests -q -n $(XDIST) --dist loadfile -m "not e2e and not e2e_prod and not ui" $(PYTEST_ARGS)

## The example DAG end to end on the emulator, with a readable summary.
demo: venv
	@$(PY) scripts/demo.py

## A live local Airflow 3.3.2 with the example DAGs, the emulator and a configured connection, until Ctrl-C.
airflow: venv
	@$(PY) scripts/local_airflow.py

## The real-deployment suite alone (airflow standalone + the emulator).
e2e: venv
	$(PY) -m pytest tests -q -m e2e $(call junit,e2e) $(PYTEST_ARGS)

## The browser suite: the Airflow UI of make airflow's deployment in headless Chromium (Debian's, installed when
## missing); screenshots in .ci-results/screenshots/.
ui: venv
	$(PY) -m pytest tests/ui -q -m ui $(call junit,ui) $(PYTEST_ARGS)

## The production-shaped suite: CeleryExecutor, PostgreSQL, Redis, two triggerers, under kills and load (~6 min).
## Installs PostgreSQL and Redis (Debian packages) and the e2e-prod extra first when they are missing.
e2e-prod: venv
	@scripts/e2e-prod-deps.sh $(VENV) $(AIRFLOW_VERSION)
	$(PY) -m pytest tests/e2e_prod -q -m e2e_prod $(call junit,e2e-prod) $(PYTEST_ARGS)

## The Airflow version matrix (2.11, 3.0, 3.1, 3.2, 3.3): unit and dag.test() suites on each.
matrix:
	@scripts/matrix.sh

## The sdist and the wheel in dist/, then twine check --strict and the content rules (scripts/check_dist.py).
dist: $(DIST_VENV)/bin/twine
	@rm -rf dist && mkdir -p build && started=$$(date +%s) \
	  && { $(DIST_VENV)/bin/python -m build --outdir dist . >build/dist.log 2>&1 || { cat build/dist.log; exit 1; }; } \
	  && $(DIST_VENV)/bin/twine check --strict dist/* \
	  && $(DIST_VENV)/bin/python scripts/check_dist.py dist \
	  && echo "== make dist done in $$(( $$(date +%s) - started )) s"

$(DIST_VENV)/bin/twine:
	. scripts/uv.sh && "$$uv" venv -q --seed -p python3 $(DIST_VENV) \
	  && "$$uv" pip install -q -p $(DIST_VENV)/bin/python build==1.6.1 twine==7.0.0
	$(DIST_VENV)/bin/twine --version >/dev/null

## The built wheel installed, as users do, into fresh virtualenvs outside the checkout, and checked there.
install-test: dist
	@status=0; for version in $(INSTALL_TEST_VERSIONS); do scripts/install_test.sh $$version || status=1; done; \
	  exit $$status

## The API reference and guides as HTML in build/docs/html (Sphinx autodoc; every warning, a broken
## reference included, is an error). The `docs` extra is installed into the virtualenv on first use.
docs: venv
	@$(PY) -c "import sphinx, myst_parser" 2>/dev/null || { . scripts/uv.sh && "$$uv" pip install -q -p $(PY) \
	  -e ".[docs]"; $(PY) -c "import sphinx, myst_parser"; }
	@started=$$(date +%s) && $(VENV)/bin/sphinx-build -E -W --keep-going -n -q -b html docs build/docs/html \
	  && echo "== make docs done in $$(( $$(date +%s) - started )) s: build/docs/html/index.html"

bench: venv
	$(PY) bench/run_all.py

bench-smoke: venv
	$(PY) bench/run_all.py --quick

clean:
	rm -rf $(VENV) .venvs .demo .airflow-local bench/results dist build
