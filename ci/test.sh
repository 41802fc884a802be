#!/usr/bin/env bash
# The test command: installs what it needs (idempotent), then runs the whole suite, QEMU tests included.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash ci/install.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider --timeout=900 "$@" tests
