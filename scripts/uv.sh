# shellcheck shell=bash
# Sourced by the scripts that make virtualenvs: sets $uv to a uv binary (a well-kept installer, many times faster
# than pip), installed into .venvs/uv with pip on first use when none is on PATH.
# uv reads no pip.conf: this machine's extra local indexes and find-links are not used, PyPI is.
uv_version=0.13.9
uv=$(command -v uv || true)
if [ -z "$uv" ]; then
  uv=$PWD/.venvs/uv/bin/uv
  if [ ! -x "$uv" ]; then
    "${PYTHON:-python3}" -m venv .venvs/uv
    .venvs/uv/bin/python -m pip install -q --disable-pip-version-check "uv==$uv_version" 2>&1 \
      | grep -v "^WARNING: Location" >&2 || true
    "$uv" --version > /dev/null || { echo "!! installing uv failed" >&2; exit 1; }
  fi
fi
export UV_NO_PROGRESS=1
# Bytecode written at install, as pip does: uv skips it by default, and where PYTHONDONTWRITEBYTECODE is set (this
# machine) every process would compile Airflow from source again (`import airflow.sdk`: 2.9 s without, 1.2 s with).
export UV_COMPILE_BYTECODE=1
