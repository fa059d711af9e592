#!/usr/bin/env bash
# Create (or reuse) a virtualenv with one Airflow version, the provider (editable), the test tools and, where
# it installs, the OpenLineage provider.
# Usage: scripts/venv.sh <venv-dir> <airflow-version> [<as-of-date> [<pin> ...]]
# With a date, Airflow and its dependencies resolve as they stood then (pip --uploaded-prior-to): what the
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
want="airflow=$airflow_version${as_of:+ as-of=$as_of} pins=${pins[*]:-} pyproject=$(sha256sum pyproject.toml | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo ">> creating $venv with Airflow $airflow_version" >&2
rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" >&2 || true
# pip prints one harmless warning per package for this machine's unused local index: keep the log readable.
if [ -n "$as_of" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --uploaded-prior-to "$as_of" \
    "apache-airflow==$airflow_version" "${pins[@]}" 2>&1 | grep -v "^WARNING: Location" >&2 || true
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  "apache-airflow==$airflow_version" "${pins[@]}" -e ".[emulator,dev]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
# The optional OpenLineage provider (the `openlineage` extra) for the lineage tests, with Airflow held where it
# is: on a leg where it cannot install without moving Airflow, pip changes nothing and those tests skip.
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  "apache-airflow==$airflow_version" "${pins[@]}" -e ".[openlineage]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
"$venv/bin/python" -c "import airflow.providers.openlineage" 2>/dev/null \
  || echo ">> $venv: no OpenLineage provider for Airflow $airflow_version; the lineage tests skip" >&2
"$venv/bin/python" -c "import airflow, airflow_provider_drpipelines, fastapi, pytest" \
  || { echo "!! installing into $venv failed" >&2; exit 1; }
echo "$want" > "$stamp"
