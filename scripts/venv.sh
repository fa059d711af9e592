#!/usr/bin/env bash
# Create (or reuse) a virtualenv with one Airflow version, the provider (editable) and the test tools.
# Usage: scripts/venv.sh <venv-dir> <airflow-version>
# Reused as long as pyproject.toml and the Airflow version are unchanged (a stamp file records both).
set -euo pipefail
venv=$1
airflow_version=$2
cd "$(dirname "$0")/.."
stamp="$venv/.drpipelines-stamp"
want="airflow=$airflow_version pyproject=$(sha256sum pyproject.toml | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo ">> creating $venv with Airflow $airflow_version" >&2
rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" >&2 || true
# pip prints one harmless warning per package for this machine's unused local index: keep the log readable.
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  "apache-airflow==$airflow_version" -e ".[emulator,dev]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
"$venv/bin/python" -c "import airflow, airflow_provider_drpipelines, fastapi, pytest" \
  || { echo "!! installing into $venv failed" >&2; exit 1; }
echo "$want" > "$stamp"
