#!/usr/bin/env bash
# Installs everything pqcompile needs on a Debian/Ubuntu machine, idempotently:
#  - Debian toolchains (cross compilers, newlib, QEMU), without recommends;
#  - a virtualenv in .venv with pinned Python packages and pqcompile itself (editable): every pip
#    install gets -c ci/constraints.txt, the tested version of each direct and transitive package.
# Re-running it is cheap: it skips what is already there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

APT_PACKAGES=(gcc make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm qemu-user
              gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross
              clang libclang-rt-dev python3-venv)

# pip warns once per package about this machine's local index folders; keep the rest of its output.
quiet_pip() { grep -v "is ignored: it is neither a file nor a directory" || true; }

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[install] apt: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[install] virtualenv .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.pqcompile-installed
want="$(cat ci/requirements.txt ci/constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[install] python packages (ci/requirements.txt)"
  # torch first and pinned alone: any other spec pulls GBs of CUDA wheels.
  pip_install() { .venv/bin/pip install -q -c ci/constraints.txt "$@" 2>&1 | quiet_pip; }
  pip_install torch==2.13.0
  pip_install -r ci/requirements.txt
  pip_install --no-deps -e .
  echo "$want" > "$stamp"
fi
echo "[install] ok"
