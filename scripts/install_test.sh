#!/usr/bin/env bash
# The install test: the wheel `make dist` built, installed as a user installs it, into a fresh virtualenv
# outside the checkout, then checked from a directory that is not the checkout (scripts/install_checks.py).
# Airflow goes in first, resolved as its constraints file would pin it (like the matrix, scripts/releases.sh);
# then the wheel with the emulator extra, with apache-airflow pinned, as Airflow's docs add a package to an
# image. What that step moves from the set Airflow was pinned to is printed, so a dependency that drags
# Airflow's pins shows up in the log.
# Installed with uv (scripts/uv.sh), whose cache is shared with every other virtualenv.
# Results: $RESULTS_DIR/install-airflow-<version>.xml.
# Usage: scripts/install_test.sh <airflow-version>
set -euo pipefail
version=$1
cd "$(dirname "$0")/.."
# shellcheck source=scripts/releases.sh
. scripts/releases.sh
# shellcheck source=scripts/uv.sh
. scripts/uv.sh
results=$(realpath -m "${RESULTS_DIR:-.ci-results}")
wheels=(dist/*.whl)
if [ ${#wheels[@]} -ne 1 ] || [ ! -f "${wheels[0]}" ]; then
  echo "!! expected exactly one wheel in dist/, found: ${wheels[*]} (run make dist)" >&2
  exit 1
fi
wheel=$(realpath "${wheels[0]}")
wheel_version=$(basename "$wheel" | cut -d- -f2)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/drpipelines-install-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$results" "$scratch/work/dags"
py=$scratch/venv/bin/python
pip_install() { "$uv" pip install -q -p "$py" "$@"; }
freeze() { "$uv" pip freeze -p "$py"; }

echo "== install test, Airflow $version: $(basename "$wheel") into $scratch/venv"
started=$SECONDS
"$uv" venv -q --seed -p python3 "$scratch/venv"
as_of=${released[$version]:-}
# shellcheck disable=SC2086  # pins are separate requirement specifiers
pip_install ${as_of:+--exclude-newer "$as_of"} "apache-airflow==$version" ${pins[$version]:-} \
  || { echo "!! installing Airflow $version failed" >&2; exit 1; }
freeze > "$scratch/airflow.txt"
pip_install "apache-airflow==$version" "${wheel}[emulator]" \
  || { echo "!! installing $(basename "$wheel") into Airflow $version failed" >&2; exit 1; }
freeze > "$scratch/installed.txt"
awk -F'==' 'NR == FNR { pinned[$1] = $2; next } ($1 in pinned) && pinned[$1] != $2 {
  print "   moved from Airflow " version "\x27s pins: " $1 " " pinned[$1] " -> " $2 }' \
  version="$version" "$scratch/airflow.txt" "$scratch/installed.txt"
pip_install -c "$scratch/installed.txt" pytest  # the checks' runner, after (and without moving) the user's install
installed=$((SECONDS - started))

cp scripts/install_checks.py "$scratch/work/test_installed_wheel.py"
cp example_dags/example_datarobot_pipeline_run.py "$scratch/work/dags/"
cp example_dags/pipelines/score_customers.py "$scratch/work/"
cd "$scratch/work"
checked=$SECONDS
status=0
env -u PYTHONPATH EXPECTED_VERSION="$wheel_version" "$py" -m pytest test_installed_wheel.py -q -p no:cacheprovider \
  --junitxml="$results/install-airflow-$version.xml" || status=1
echo "== install test, Airflow $version: installed in ${installed} s, checked in $((SECONDS - checked)) s"
exit $status
