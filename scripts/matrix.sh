#!/usr/bin/env bash
# The Airflow version matrix: the unit and dag.test() suites on every supported Airflow. The emulator suite
# imports no Airflow: it runs once, in `make test`.
# One virtualenv per leg under .venvs/ (made with uv, whose cache is shared between legs); each suite runs in
# its own pytest process, because dag.test() on Airflow 2 leaves process-wide state behind; both in parallel
# with pytest-xdist (XDIST workers; one file per worker for the unit suite, one test per worker for dag.test()),
# each worker with its own Airflow home.
# Usage: scripts/matrix.sh [version ...]   (default: MATRIX_VERSIONS or the whole support window)
set -uo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -gt 0 ] || read -r -a versions <<< "${MATRIX_VERSIONS:-2.11.2 3.0.6 3.1.8 3.2.2 3.3.2}"
# shellcheck source=scripts/releases.sh
. scripts/releases.sh  # released (publication dates) and pins
results=${RESULTS_DIR:-.ci-results}
mkdir -p "$results"
status=0
for version in "${versions[@]}"; do
  venv=.venvs/airflow-$version
  [ "$version" = "${AIRFLOW_VERSION:-3.3.2}" ] && venv=${VENV:-.venv}
  started=$SECONDS
  # shellcheck disable=SC2086
  if ! LATER="${later[$version]:-}" scripts/venv.sh "$venv" "$version" "${released[$version]:-}" ${pins[$version]:-}; then
    echo "!! Airflow $version: could not create $venv"
    status=1
    continue
  fi
  for labelled in "unit:tests/unit" "integration:tests/integration"; do
    suite=${labelled#*:}
    name="airflow-$version-${labelled%%:*}"
    echo "== Airflow $version: $suite"
    # shellcheck disable=SC2086
    # dag.test() tests are few and long: one test per worker balances them better than one file per worker.
    dist=loadfile
    [ "${labelled%%:*}" = integration ] && dist=load
    "$venv/bin/python" -m pytest $suite -q -m "not e2e" -n "${XDIST:-4}" --dist "$dist" --durations=15 \
      --junitxml="$results/$name.xml" || status=1
  done
  echo "== Airflow $version done in $((SECONDS - started)) s"
done
exit $status
