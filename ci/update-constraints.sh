#!/usr/bin/env bash
# Rewrites ci/constraints.txt from the packages installed in .venv (after `bash ci/install.sh`
# and a passing `bash ci/test.sh`): run it deliberately when ci/requirements.txt or pyproject.toml
# change, and commit the result with that change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
{
  cat <<'HEAD'
# Every Python package of the tested install, at its tested version (direct and transitive).
# ci/install.sh passes this file to each pip install (-c): a fresh install gets these versions.
# A constraint installs nothing by itself. Regenerate with `bash ci/update-constraints.sh`.
# Local version labels are dropped (torch 2.13.0+cpu -> 2.13.0, which the CPU wheel satisfies).
HEAD
  .venv/bin/pip freeze --exclude-editable --disable-pip-version-check 2>/dev/null \
    | grep -v -i -E '^(pqcompile|-e |#)' | sed -E 's/\+[A-Za-z0-9.]+$//' | LC_ALL=C sort -f
} > ci/constraints.txt.tmp
mv ci/constraints.txt.tmp ci/constraints.txt
echo "wrote ci/constraints.txt ($(grep -c '==' ci/constraints.txt) packages)"
