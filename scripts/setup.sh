#!/usr/bin/env bash
# Installs the Debian packages fovea needs (only those missing) and builds it
# in Release mode into ./build. Idempotent: a second run installs nothing and
# rebuilds only what changed.
#   scripts/setup.sh            install + build
#   scripts/setup.sh --no-build install only
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache git
  libtorch-dev libopenblas0-openmp
  libhdf5-dev libmatio-dev libzip-dev zipcmp zipmerge ziptool
  libopencv-dev libplplot-dev plplot-driver-cairo
  libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libcurl4-openssl-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  python3-torch python3-numpy
  libtcmalloc-minimal4 libjemalloc2 libdnnl-dev
  chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
else
  echo "setup: all Debian packages are installed"
fi

# LibTorch parallelises with OpenMP; OpenBLAS's OpenMP build shares its thread
# pool, where the pthread build (preferred by Debian when both are installed)
# would oversubscribe the cores and make results depend on the thread count.
for lib in libblas.so.3 liblapack.so.3; do
  target="/usr/lib/x86_64-linux-gnu/openblas-openmp/${lib}"
  if [ -e "$target" ]; then
    $SUDO update-alternatives --set "${lib}-x86_64-linux-gnu" "$target" >/dev/null
  fi
done

if [ "${1:-}" = "--no-build" ]; then exit 0; fi

cd "$(dirname "$0")/.."
JOBS="${FOVEA_JOBS:-$(nproc)}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$JOBS"
echo "setup: built build/fovea"
