#!/usr/bin/env bash
# Create (or reuse) a virtualenv with one Airflow version, the provider (editable), the test tools and, where
# it installs, the OpenLineage provider.
# Usage: scripts/venv.sh <venv-dir> <airflow-version> [<as-of-date> [<pin> ...]]
# Made with uv (scripts/uv.sh), with pip seeded in for the scripts and users that call `python -m pip`.
# With a date, Airflow and its dependencies resolve as they stood then (uv --exclude-newer): what the
# release's constraints file pinned, for old releases whose dependencies have since moved on. The provider
# and the test tools are installed on top without the cut-off.
# Reused as long as pyproject.toml, the Airflow version and the date are unchanged (a stamp file records them).
set -euo pipefail
venv=$1
airflow_version=$2
as_of=${3:-}
pins=("${@:4}")
cd "$(dirname "$0")/.."
stamp="$venv/.drpipelines-stamp"
want="airflow=$airflow_version${as_of:+ as-of=$as_of} pins=${pins[*]:-} later=${LATER:-} pyproject=$(sha256sum pyproject.toml | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo ">> creating $venv with Airflow $airflow_version" >&2
# shellcheck source=scripts/uv.sh
. scripts/uv.sh
rm -rf "$venv"
"$uv" venv -q --seed -p "${PYTHON:-python3}" "$venv"
install() { "$uv" pip install -q -p "$venv/bin/python" "$@"; }
if [ -n "$as_of" ]; then
  lifted=()  # LATER: space-separated packages exempt from the date (scripts/releases.sh)
  for package in ${LATER:-}; do lifted+=(--exclude-newer-package "$package=$(date -u +%Y-%m-%dT%H:%M:%SZ)"); done
  install --exclude-newer "$as_of" "${lifted[@]}" "apache-airflow==$airflow_version" "${pins[@]}"
fi
install "apache-airflow==$airflow_version" "${pins[@]}" -e ".[emulator,dev]"
# The optional OpenLineage provider (the `openlineage` extra) for the lineage tests, with Airflow held where it
# is: on a leg where it cannot install without moving Airflow, nothing changes and those tests skip.
install "apache-airflow==$airflow_version" "${pins[@]}" -e ".[openlineage]" 2>/dev/null \
  || echo ">> $venv: no OpenLineage provider for Airflow $airflow_version; the lineage tests skip" >&2
"$venv/bin/python" -c "import airflow, airflow_provider_drpipelines, fastapi, pytest" \
  || { echo "!! installing into $venv failed" >&2; exit 1; }
echo "$want" > "$stamp"
