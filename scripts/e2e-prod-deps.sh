#!/usr/bin/env bash
# What the production-shaped suite (tests/e2e_prod) needs on top of the virtualenv: PostgreSQL and Redis
# from the Debian packages, and the celery provider, the PostgreSQL drivers (psycopg2, asyncpg) and the redis client in the venv.
# Idempotent and quick when everything is there: apt-get update runs only when a package is missing,
# and the packages' own services are never started (the suite starts its own servers on free ports).
# Usage: scripts/e2e-prod-deps.sh <venv-dir> <airflow-version>
set -euo pipefail
venv=$1
airflow_version=$2
cd "$(dirname "$0")/.."

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || missing+=(postgresql)
command -v redis-server > /dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo ">> installing ${missing[*]} (Debian packages)" >&2
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  # policy-rc.d 101: the packages' post-install scripts do not start system-wide services.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" > /dev/null
    "${sudo[@]}" chmod +x "$policy"
    trap '"${sudo[@]}" rm -f "$policy"' EXIT
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

# Importing the executor's utilities checks that the celery provider works with the installed celery.
check="import asyncpg, psycopg2, redis, airflow.providers.celery.executors.celery_executor_utils"
if ! "$venv/bin/python" -c "$check" > /dev/null 2>&1; then
  echo ">> installing the e2e-prod extra into $venv" >&2
  # shellcheck source=scripts/uv.sh
  . scripts/uv.sh
  "$uv" pip install -q -p "$venv/bin/python" "apache-airflow==$airflow_version" -e ".[e2e-prod]" || true
  out=$("$venv/bin/python" -c "$check" 2>&1) \
    || { echo "$out" >&2; echo "!! installing the e2e-prod extra into $venv failed" >&2; exit 1; }
fi
