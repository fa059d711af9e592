# shellcheck shell=bash
# Sourced by scripts/matrix.sh and scripts/install_test.sh: how each supported Airflow release is pinned.
# Without its constraints file (not reachable from here), an old release's dependencies are resolved as they
# stood when it was published (pip --uploaded-prior-to, see scripts/venv.sh).
# shellcheck disable=SC2034  # used by the scripts that source this file
declare -A released=(
  [2.11.2]=2026-03-15T00:00:00Z [3.0.6]=2025-08-30T00:00:00Z [3.1.8]=2026-03-12T00:00:00Z
  [3.2.2]=2026-05-30T00:00:00Z [3.3.2]=""
)
# Pins a release's constraints file had that the publication date alone does not reproduce.
declare -A pins=(
  [3.0.6]="structlog>=25.5"  # see `later` below
  [3.1.8]="sqlalchemy<2.1"  # 2.1 was out, but 3.1's sqlalchemy-utils breaks on it
)
# Packages taken from after the release date (scripts/venv.sh's LATER), for the pins above that need it. Not
# from a constraints file: with the structlog of its date (25.4), 3.0.6's dag.test() prints no task log,
# which the dag.test() suite reads; a later structlog changes nothing else the tests see.
declare -A later=(
  [3.0.6]="structlog"
)
