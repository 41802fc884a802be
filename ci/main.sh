#!/usr/bin/env bash
# The main job on the embedded default (cortex-m7 under QEMU); installs what it needs first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash ci/install.sh
exec .venv/bin/pqcompile demo --target "${TARGET:-cortex-m7}" "$@"
